//! `cargo run -p e2e --bin send-sample -- <sample> [--url URL] [--secret SECRET]`
//!
//! Signs a delivery from `samples/` exactly as Cal.com does and posts it. The secret defaults to
//! the first one in `.dev.vars` (or `.dev.vars.example`); the URL to the local pipeline. A fresh
//! booking uid is used unless `--keep-uid` is given, so every run is a new notification.

use e2e::calcom::{post_signed, sample, SAMPLES};
use e2e::pipeline::repo_root;

fn default_secret() -> Option<String> {
    [".dev.vars", ".dev.vars.example"].iter().find_map(|name| {
        let text = std::fs::read_to_string(repo_root().join(name)).ok()?;
        text.lines().find_map(|l| {
            let value = l.trim().strip_prefix("CALCOM_WEBHOOK_SECRET=")?;
            value
                .trim_matches('"')
                .split([',', ' '])
                .find(|s| !s.is_empty())
                .map(str::to_owned)
        })
    })
}

fn usage() -> ! {
    eprintln!(
        "usage: send-sample <{}> [--url URL] [--secret SECRET] [--keep-uid]",
        SAMPLES.join("|")
    );
    std::process::exit(2);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut name = None;
    let mut url = String::from("http://127.0.0.1:8787/api/calcom-webhook");
    let mut secret = None;
    let mut keep_uid = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--url" => url = args.next().unwrap_or_else(|| usage()),
            "--secret" => secret = Some(args.next().unwrap_or_else(|| usage())),
            "--keep-uid" => keep_uid = true,
            s if SAMPLES.contains(&s) && name.is_none() => name = Some(s.to_owned()),
            _ => usage(),
        }
    }
    let name = name.unwrap_or_else(|| usage());
    let secret = secret.or_else(default_secret).unwrap_or_else(|| {
        eprintln!("no secret: pass --secret or set CALCOM_WEBHOOK_SECRET in .dev.vars");
        std::process::exit(2);
    });
    let mut body = sample(&name);
    if !keep_uid && body["payload"]["uid"].is_string() {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        body["payload"]["uid"] = format!(
            "{}-{stamp}",
            body["payload"]["uid"].as_str().unwrap_or("sample")
        )
        .into();
    }
    let bytes = serde_json::to_vec(&body).expect("sample serializes");
    match post_signed(&url, &secret, &bytes) {
        Ok(answer) => {
            println!("{} {}", answer.status, answer.body);
            if answer.status >= 400 {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("POST {url} failed: {e} (is `scripts/dev.sh` running?)");
            std::process::exit(1);
        }
    }
}
