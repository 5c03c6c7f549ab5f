//! `cargo run -p e2e --bin pipeline [-- --port N --stub-port N]`: the whole pipeline on this
//! machine, for a person to try (what `scripts/dev.sh` runs).
//!
//! Starts the SendGrid stub (inbox at http://127.0.0.1:8025/) and one `wrangler dev` with the
//! dev gateway, the producer and the consumer (http://127.0.0.1:8787/api/calcom-webhook), using
//! secrets and vars from `.dev.vars` (or `.dev.vars.example` when there is none). Prints the
//! workers' output until SIGINT (Ctrl-C), SIGTERM or SIGHUP, then stops wrangler and its workerd
//! processes before exiting. wrangler runs in its own process group (so that it can be stopped
//! as a whole), which a terminal's Ctrl-C does not reach: stopping it is this program's job.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
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

const USAGE: &str = "usage: pipeline [--port N] [--stub-port N]\n\
  --port N        the webhook (gateway) port on 127.0.0.1 (default 8787)\n\
  --stub-port N   the SendGrid stub's port (default 8025)";

fn parse_ports(mut args: impl Iterator<Item = String>) -> Result<(u16, u16), String> {
    let (mut port, mut stub_port) = (8787, 8025);
    while let Some(arg) = args.next() {
        let target = match arg.as_str() {
            "--port" => &mut port,
            "--stub-port" => &mut stub_port,
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument: {other:?}")),
        };
        let raw = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
        *target = raw
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("{arg}: not a port number: {raw:?}"))?;
    }
    Ok((port, stub_port))
}

/// Set once the pipeline is up: from then on a signal stops it through `main`.
static STARTED: AtomicBool = AtomicBool::new(false);
/// Set when a signal arrived during start-up: the signal thread stops everything and exits.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Waits for SIGINT, SIGTERM or SIGHUP on a thread of its own; the handlers are installed when
/// this returns. Before the pipeline is up, a signal stops any wrangler already spawned and exits;
/// after, it is handed to `main`, which stops everything.
fn watch_signals() -> mpsc::Receiver<&'static str> {
    let (installed_tx, installed_rx) = mpsc::channel();
    let (signal_tx, signal_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                let _ = installed_tx.send(Err(e));
                return;
            }
        };
        runtime.block_on(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let streams = (|| {
                Ok::<_, std::io::Error>((
                    signal(SignalKind::interrupt())?,
                    signal(SignalKind::terminate())?,
                    signal(SignalKind::hangup())?,
                ))
            })();
            let (mut int, mut term, mut hup) = match streams {
                Ok(streams) => {
                    let _ = installed_tx.send(Ok(()));
                    streams
                }
                Err(e) => {
                    let _ = installed_tx.send(Err(e));
                    return;
                }
            };
            let name = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
                _ = hup.recv() => "SIGHUP",
            };
            if !STARTED.load(Ordering::SeqCst) {
                STOPPING.store(true, Ordering::SeqCst);
                eprintln!("pipeline: {name} while starting, stopping wrangler");
                e2e::pipeline::stop_all();
                eprintln!("pipeline: stopped");
                std::process::exit(1);
            }
            let _ = signal_tx.send(name);
        });
    });
    match installed_rx.recv() {
        Ok(Ok(())) => signal_rx,
        Ok(Err(e)) => {
            eprintln!("pipeline: cannot watch signals: {e}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("pipeline: the signal thread ended");
            std::process::exit(1);
        }
    }
}

fn main() {
    let (port, stub_port) = parse_ports(std::env::args().skip(1)).unwrap_or_else(|e| {
        if !e.is_empty() {
            eprintln!("pipeline: {e}");
        }
        eprintln!("{USAGE}");
        std::process::exit(2);
    });
    let signals = watch_signals();
    let (source, mut secrets) = read_dev_vars();
    // The stub stands in for SendGrid: these two always point at it locally.
    secrets.remove("SENDGRID_API_BASE");
    let options = PipelineOptions {
        secrets,
        port: Some(port),
        stub_port: Some(stub_port),
        ..PipelineOptions::default()
    };
    println!("starting: SendGrid stub, then wrangler dev (gateway + producer + replay + consumer); secrets from {source}");
    let pipeline = Pipeline::start(options).unwrap_or_else(|e| {
        if STOPPING.load(Ordering::SeqCst) {
            // Start-up failed because the signal thread is stopping it: that thread exits.
            loop {
                std::thread::park();
            }
        }
        eprintln!("pipeline failed to start: {e}");
        std::process::exit(1);
    });
    STARTED.store(true, Ordering::SeqCst);
    println!();
    println!("  webhook:  POST {}", pipeline.url("/api/calcom-webhook"));
    println!(
        "  replay:   POST {}   (the replay worker; needs ADMIN_TOKEN)",
        pipeline.url("/admin/replay")
    );
    println!(
        "  inbox:    {}/   (the emails that reached the SendGrid stub)",
        pipeline.stub.base_url()
    );
    println!("  send a signed sample booking from another terminal:");
    println!("    cargo run -q -p e2e --bin send-sample -- booking-created");
    println!("    (also: booking-rescheduled, booking-cancelled, booking-requested, ping, meeting-started)");
    println!("  Ctrl-C stops everything.");
    println!();

    // Follow the workers' output on a thread of its own; main waits for a signal.
    let mut file = std::fs::File::open(pipeline.log_path()).expect("wrangler output");
    file.seek(SeekFrom::Start(0)).ok();
    std::thread::spawn(move || {
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
    });

    let signal = signals.recv().unwrap_or("the signal thread ended");
    eprintln!("\npipeline: {signal}, stopping wrangler, workerd and the stub");
    // Stops wrangler's whole process group and waits for wrangler; the stub lives in this process.
    drop(pipeline);
    eprintln!("pipeline: stopped");
    std::process::exit(match signal {
        "SIGINT" => 130,
        "SIGHUP" => 129,
        _ => 143,
    });
}
