//! `cargo run -p e2e --bin pipeline`: the whole pipeline on this machine, for a person to try.
//!
//! Starts the SendGrid stub (inbox at http://127.0.0.1:8025/) and one `wrangler dev` with the
//! dev gateway, the producer and the consumer (http://127.0.0.1:8787/api/calcom-webhook), using
//! secrets and vars from `.dev.vars` (or `.dev.vars.example` when there is none). Prints the
//! workers' output until Ctrl-C.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::time::Duration;

use e2e::pipeline::{repo_root, Pipeline, PipelineOptions};

fn read_dev_vars() -> (String, BTreeMap<String, String>) {
    for name in [".dev.vars", ".dev.vars.example"] {
        if let Ok(text) = std::fs::read_to_string(repo_root().join(name)) {
            let vars = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
                .collect();
            return (name.to_owned(), vars);
        }
    }
    (String::from("(none)"), BTreeMap::new())
}

fn main() {
    let (source, mut secrets) = read_dev_vars();
    // The stub stands in for SendGrid: these two always point at it locally.
    secrets.remove("SENDGRID_API_BASE");
    let options = PipelineOptions {
        secrets,
        port: Some(8787),
        stub_port: Some(8025),
        ..PipelineOptions::default()
    };
    println!("starting: SendGrid stub, then wrangler dev (gateway + producer + consumer); secrets from {source}");
    let pipeline = Pipeline::start(options).unwrap_or_else(|e| {
        eprintln!("pipeline failed to start: {e}");
        std::process::exit(1);
    });
    println!();
    println!("  webhook:  POST {}", pipeline.url("/api/calcom-webhook"));
    println!(
        "  inbox:    {}/   (the emails that reached the SendGrid stub)",
        pipeline.stub.base_url()
    );
    println!("  send a signed sample booking from another terminal:");
    println!("    cargo run -q -p e2e --bin send-sample -- booking-created");
    println!("    (also: booking-rescheduled, booking-cancelled, booking-requested, ping, meeting-started)");
    println!("  Ctrl-C stops everything.");
    println!();

    // Follow the workers' output.
    let mut file = std::fs::File::open(pipeline.log_path()).expect("wrangler output");
    file.seek(SeekFrom::Start(0)).ok();
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => std::thread::sleep(Duration::from_millis(200)),
            Ok(_) => print!("{line}"),
            Err(_) => break,
        }
    }
}
