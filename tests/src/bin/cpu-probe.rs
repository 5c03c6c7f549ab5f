//! `cargo run --release -p e2e --bin cpu-probe -- [--n 1000] [--rounds 3]`
//!
//! The producer's CPU time per request in local workerd. workerd reports none itself (a tail
//! consumer's events carry `cpuTime: 0` locally), so this reads workerd's CPU seconds from
//! `/proc` around runs of `n` sequential requests of one kind, with the producer alone in
//! `wrangler dev` (no gateway, no consumer, `LOG_LEVEL=error` so no console lines):
//!
//! - `not_found`: `GET /nope`, the fixed cost of a request through wrangler's proxy into the
//!   worker and back;
//! - `bad_signature`: the 2.5 KB sample with a wrong signature: the body read and the HMAC, then
//!   a 401;
//! - `webhook`: the same body signed (a new uid each time): verify, parse, build the message,
//!   send it to the local queue, 202.
//!
//! Per kind it prints the median over the rounds, per workerd process (wrangler runs two: its
//! proxy, and the runtime with the worker) and in total. Differences between kinds are what the
//! worker's own code costs. A benchmark: nothing is asserted.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use e2e::calcom::{post_signed, sample_with_uid};
use e2e::http;
use e2e::pipeline::{Pipeline, PipelineOptions, TEST_WEBHOOK_SECRET};
use e2e::proc_cpu::{group_processes, GroupProcess};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    NotFound,
    BadSignature,
    Webhook,
}

const KINDS: [Kind; 3] = [Kind::NotFound, Kind::BadSignature, Kind::Webhook];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::NotFound => "not_found",
            Kind::BadSignature => "bad_signature",
            Kind::Webhook => "webhook",
        }
    }

    fn expected_status(self) -> u16 {
        match self {
            Kind::NotFound => 404,
            Kind::BadSignature => 401,
            Kind::Webhook => 202,
        }
    }
}

/// One round of one kind: its wall time and the CPU seconds each workerd process used.
type Round = (Duration, Vec<f64>);

struct Args {
    n: usize,
    rounds: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut parsed = Args { n: 1000, rounds: 3 };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut number = || -> Result<usize, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .filter(|v| *v > 0)
                .ok_or_else(|| format!("{flag} needs a positive whole number"))
        };
        match flag.as_str() {
            "--n" => parsed.n = number()?,
            "--rounds" => parsed.rounds = number()?,
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    Ok(parsed)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(problem) => {
            eprintln!("cpu-probe: {problem}\nusage: cpu-probe [--n N] [--rounds R]");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("cpu-probe: {problem}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let mut options = PipelineOptions {
        with_consumer: false,
        with_gateway: false,
        log_level: "warn",
        ..PipelineOptions::default()
    };
    options.vars.insert("LOG_LEVEL".into(), "error".into());
    let pipeline = Pipeline::start(options).map_err(|e| format!("pipeline: {e}"))?;
    let group = i64::from(pipeline.process_group());
    let workerds = || -> Vec<GroupProcess> {
        group_processes(group)
            .into_iter()
            .filter(|p| p.comm == "workerd")
            .collect()
    };
    let labels: Vec<(i64, String)> = workerds().iter().map(|p| (p.pid, label(p))).collect();
    if labels.is_empty() {
        return Err("no workerd process in wrangler's process group".into());
    }

    let body = std::fs::read(e2e::pipeline::repo_root().join("samples/booking-created.json"))
        .map_err(|e| format!("samples/booking-created.json: {e}"))?;
    let mut counter = 0usize;
    let mut request = |kind: Kind| -> Result<(), String> {
        counter += 1;
        let status = match kind {
            Kind::NotFound => http::send("GET", &pipeline.url("/nope"), &[], Vec::new()),
            Kind::BadSignature => http::send(
                "POST",
                &pipeline.url("/api/calcom-webhook"),
                &[("X-Cal-Signature-256", &"0".repeat(64))],
                body.clone(),
            ),
            Kind::Webhook => {
                let sample = sample_with_uid("booking-created", &format!("cpu-probe-{counter}"));
                let signed = serde_json::to_vec(&sample).expect("sample serializes");
                post_signed(
                    &pipeline.url("/api/calcom-webhook"),
                    TEST_WEBHOOK_SECRET,
                    &signed,
                )
            }
        }
        .map_err(|e| format!("{}: {e}", kind.name()))?
        .status;
        if status == kind.expected_status() {
            Ok(())
        } else {
            Err(format!("{}: answered {status}", kind.name()))
        }
    };

    for kind in KINDS {
        for _ in 0..50 {
            request(kind)?; // warm-up: isolate, wasm compiled, connections open
        }
    }
    let loadavg_start = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut results: Vec<(Kind, Vec<Round>)> = KINDS.iter().map(|k| (*k, Vec::new())).collect();
    for _ in 0..args.rounds {
        for (kind, rounds) in &mut results {
            let before = cpu_by_pid(&workerds(), &labels);
            let started = Instant::now();
            for _ in 0..args.n {
                request(*kind)?;
            }
            let wall = started.elapsed();
            let after = cpu_by_pid(&workerds(), &labels);
            let used = after.iter().zip(&before).map(|(a, b)| a - b).collect();
            rounds.push((wall, used));
        }
    }
    let loadavg_end = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();

    println!("== producer CPU per request in local workerd ==");
    println!(
        "{} sequential requests per kind and round, {} rounds; medians over the rounds",
        args.n, args.rounds
    );
    println!("loadavg at start {}", loadavg_start.trim());
    println!("loadavg at end   {}", loadavg_end.trim());
    for (pid, label) in &labels {
        println!("workerd pid {pid}: {label}");
    }
    let mut header = format!("{:<14} {:>9} {:>12}", "kind", "req/s", "total ms/req");
    for (pid, _) in &labels {
        header.push_str(&format!(" {:>14}", format!("pid {pid} ms/req")));
    }
    println!("{header}");
    let per_request = |rounds: &[Round], index: Option<usize>| -> f64 {
        let mut values: Vec<f64> = rounds
            .iter()
            .map(|(_, used)| index.map_or_else(|| used.iter().sum(), |i| used[i]))
            .map(|seconds| seconds * 1000.0 / args.n as f64)
            .collect();
        median(&mut values)
    };
    let mut totals = Vec::new();
    for (kind, rounds) in &results {
        let mut rates: Vec<f64> = rounds
            .iter()
            .map(|(wall, _)| args.n as f64 / wall.as_secs_f64())
            .collect();
        let total = per_request(rounds, None);
        totals.push(total);
        let mut line = format!(
            "{:<14} {:>9.0} {:>12.2}",
            kind.name(),
            median(&mut rates),
            total
        );
        for index in 0..labels.len() {
            line.push_str(&format!(" {:>14.2}", per_request(rounds, Some(index))));
        }
        println!("{line}");
    }
    println!(
        "webhook - not_found       {:.2} ms of CPU per webhook beyond a request's fixed cost",
        totals[2] - totals[0]
    );
    println!(
        "bad_signature - not_found {:.2} ms (body read, HMAC, 401)",
        totals[1] - totals[0]
    );
    println!(
        "webhook - bad_signature   {:.2} ms (parse, message, queue send, 202)",
        totals[2] - totals[1]
    );
    Ok(())
}

/// Which of wrangler's workerd processes this is, from its entry socket.
fn label(process: &GroupProcess) -> String {
    let entry = process
        .cmdline
        .split_whitespace()
        .find_map(|arg| arg.strip_prefix("--socket-addr=entry="))
        .unwrap_or("?");
    if entry.ends_with(":0") {
        format!("entry {entry}: the runtime the worker runs in")
    } else {
        format!("entry {entry}: wrangler's proxy in front of it")
    }
}

fn cpu_by_pid(processes: &[GroupProcess], labels: &[(i64, String)]) -> Vec<f64> {
    labels
        .iter()
        .map(|(pid, _)| {
            processes
                .iter()
                .find(|p| p.pid == *pid)
                .map_or(0.0, |p| p.cpu_seconds)
        })
        .collect()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
