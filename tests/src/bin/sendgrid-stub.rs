//! `sendgrid-stub [--port N] [--api-key KEY]`: serves the SendGrid stub until Ctrl-C/SIGTERM.
//!
//! Defaults: port 8025, key from `SENDGRID_API_KEY` or `SG.local-dev-key`. Prints one line per
//! mail-send attempt (status, subject, masked recipients).

use e2e::stub::{describe_attempt, Stub};
use std::process::ExitCode;

const USAGE: &str = "usage: sendgrid-stub [--port N] [--api-key KEY]\n\
  --port N        port on 127.0.0.1 to listen on (default 8025; 0 picks a free one)\n\
  --api-key KEY   the only accepted Bearer key (default: $SENDGRID_API_KEY or SG.local-dev-key)";

struct Options {
    port: u16,
    api_key: String,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        port: 8025,
        api_key: std::env::var("SENDGRID_API_KEY")
            .ok()
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| "SG.local-dev-key".to_owned()),
    };
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        let mut value = |flag: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match name.as_str() {
            "--port" | "-p" => {
                let raw = value("--port")?;
                options.port = raw
                    .parse()
                    .map_err(|_| format!("--port: not a port number: {raw:?}"))?;
            }
            "--api-key" | "-k" => options.api_key = value("--api-key")?,
            "--help" | "-h" => return Ok(None),
            other => return Err(format!("unknown argument: {other:?}")),
        }
    }
    Ok(Some(options))
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("sendgrid-stub: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let stub = match Stub::start(options.port, &options.api_key) {
        Ok(stub) => stub,
        Err(e) => {
            eprintln!(
                "sendgrid-stub: cannot listen on 127.0.0.1:{}: {e}",
                options.port
            );
            return ExitCode::FAILURE;
        }
    };
    let url = stub.base_url();
    println!("sendgrid-stub listening on {url} (inbox: {url}/)");

    let attempts = stub.watch_attempts();
    std::thread::spawn(move || {
        for attempt in attempts {
            println!("mail-send {}", describe_attempt(&attempt));
        }
    });

    match wait_for_signal() {
        Ok(signal) => eprintln!("sendgrid-stub: {signal}, stopping"),
        Err(e) => {
            eprintln!("sendgrid-stub: cannot wait for signals: {e}");
            return ExitCode::FAILURE;
        }
    }
    drop(stub);
    ExitCode::SUCCESS
}

/// Blocks until Ctrl-C (or SIGTERM on Unix); returns which one.
fn wait_for_signal() -> std::io::Result<&'static str> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r.map(|()| "interrupted"),
                _ = term.recv() => Ok("terminated"),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.map(|()| "interrupted")
        }
    })
}
