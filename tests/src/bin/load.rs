//! `cargo run --release -p e2e --bin load -- [--n 2000] [--concurrency 32] [--fail-percent 0]
//! [--seed S] [--log-level warn] [--drain-timeout 600] [--settle 10]`
//!
//! A load benchmark of the whole local pipeline (not a test: nothing here asserts on timings).
//! Starts the dev gateway, producer and consumer in workerd through `wrangler dev` next to the
//! SendGrid stub, optionally turns on seeded chaos at the stub (`--fail-percent` of SendGrid
//! requests fail with 500/502/503/429), fires N signed `booking-created` webhooks with unique
//! uids from `--concurrency` threads, waits until every uid has an email or a dead letter at the
//! stub, and prints a report. Exits 1 if any booking was lost (or the drain timed out).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use e2e::calcom::{post_signed, sample_with_uid};
use e2e::pipeline::{repo_root, Pipeline, PipelineOptions, TEST_WEBHOOK_SECRET};
use e2e::proc_cpu::read_stat;
use e2e::stub::{Chaos, Fault};
use serde_json::Value;

const USAGE: &str = "usage: load [--n 2000] [--concurrency 32] [--fail-percent 0] [--seed S] \
[--log-level warn] [--worker-log-level L] [--drain-timeout 600] [--settle 10]
  --n N               webhooks to send (unique booking uid each)
  --concurrency C     requests in flight at once (one thread each)
  --fail-percent P    0..=100: share of SendGrid requests the stub fails (500/502/503/429)
  --seed S            chaos seed (default: from the clock; printed either way)
  --log-level L       wrangler --log-level (warn keeps workerd's per-request lines quiet)
  --worker-log-level L  the workers' own LOG_LEVEL var (error|warn|info|debug; default: as
                      configured in the wrangler configs)
  --drain-timeout S   give up waiting for emails/dead letters after S seconds
  --settle S          keep watching S seconds after the drain for late duplicates";

struct Args {
    n: usize,
    concurrency: usize,
    fail_percent: u32,
    seed: Option<u64>,
    log_level: String,
    worker_log_level: Option<String>,
    drain_timeout: Duration,
    settle: Duration,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        n: 2000,
        concurrency: 32,
        fail_percent: 0,
        seed: None,
        log_level: "warn".to_owned(),
        worker_log_level: None,
        drain_timeout: Duration::from_secs(600),
        settle: Duration::from_secs(10),
    };
    fn number<T: std::str::FromStr>(flag: &str, raw: Option<String>) -> Result<T, String> {
        let raw = raw.ok_or_else(|| format!("{flag} needs a value"))?;
        raw.parse()
            .map_err(|_| format!("{flag}: not a valid number: {raw:?}"))
    }
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        let mut value = || inline.clone().or_else(|| args.next());
        match flag.as_str() {
            "--n" => parsed.n = number(&flag, value())?,
            "--concurrency" => parsed.concurrency = number(&flag, value())?,
            "--fail-percent" => parsed.fail_percent = number(&flag, value())?,
            "--seed" => parsed.seed = Some(number(&flag, value())?),
            "--log-level" => {
                parsed.log_level = value().ok_or("--log-level needs a value")?;
            }
            "--worker-log-level" => {
                parsed.worker_log_level = Some(value().ok_or("--worker-log-level needs a value")?);
            }
            "--drain-timeout" => {
                parsed.drain_timeout = Duration::from_secs(number(&flag, value())?);
            }
            "--settle" => parsed.settle = Duration::from_secs(number(&flag, value())?),
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument: {other:?}")),
        }
    }
    if parsed.n == 0 || parsed.concurrency == 0 {
        return Err("--n and --concurrency must be at least 1".to_owned());
    }
    if parsed.fail_percent > 100 {
        return Err("--fail-percent must be within 0..=100".to_owned());
    }
    Ok(parsed)
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("load: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("load: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One webhook's outcome at the producer.
struct Sent {
    index: usize,
    started_ms: u64,
    latency: Duration,
    /// The HTTP status, or the transport error.
    status: Result<u16, String>,
}

/// What the stub saw for one booking uid.
#[derive(Default, Clone)]
struct Seen {
    emails: u32,
    dead_letters: u32,
    first_email_ms: Option<u64>,
    /// When the uid was first accounted for (email received, or dead letter observed).
    done_ms: Option<u64>,
}

fn run(args: &Args) -> Result<bool, String> {
    let seed = args.seed.unwrap_or_else(clock_seed);
    let machine = machine_info();
    let version = pipeline_version();
    eprintln!(
        "load: starting the pipeline (wrangler dev, --log-level {})",
        args.log_level
    );
    let started = Instant::now();
    let log_level: &'static str = Box::leak(args.log_level.clone().into_boxed_str());
    let mut options = PipelineOptions {
        log_level,
        ..Default::default()
    };
    if let Some(level) = &args.worker_log_level {
        options.vars.insert("LOG_LEVEL".to_owned(), level.clone());
    }
    let vars: Vec<String> = options
        .vars
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let pipeline =
        Pipeline::start(options).map_err(|e| format!("pipeline failed to start: {e}"))?;
    let startup = started.elapsed();
    let chaos = (args.fail_percent > 0).then(|| Chaos {
        seed,
        share_percent: args.fail_percent,
        faults: vec![
            status(500, None),
            status(502, None),
            status(503, None),
            status(429, Some(1)),
        ],
    });
    pipeline.stub.set_chaos(chaos.clone());

    // Bodies first, so the timed phase only signs and sends.
    // Uids (and so idempotency keys) follow from the seed: the same seed replays the same chaos
    // decisions. Each run has its own fresh local state, so repeating uids across runs is fine.
    let uids: Vec<String> = (0..args.n)
        .map(|i| format!("load-{seed:016x}-{i:05}"))
        .collect();
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        uids.iter()
            .map(|uid| serde_json::to_vec(&sample_with_uid("booking-created", uid)).expect("JSON"))
            .collect(),
    );
    let uid_index: HashMap<&str, usize> = uids
        .iter()
        .enumerate()
        .map(|(i, uid)| (uid.as_str(), i))
        .collect();
    let url = pipeline.url("/api/calcom-webhook");
    // Builds the shared HTTP client and warms the gateway/producer isolates (answers 404).
    let _ = e2e::http::get(&pipeline.url("/__ready"));

    eprintln!(
        "load: sending {} webhooks, concurrency {}{}",
        args.n,
        args.concurrency,
        chaos.as_ref().map_or(String::new(), |_| format!(
            ", chaos {}% seed {seed}",
            args.fail_percent
        ))
    );
    let cpu_before = cpu_snapshot();
    let first_request_ms = now_ms();
    let send_started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..args.concurrency.min(args.n))
        .map(|w| {
            let (next, bodies, url) = (next.clone(), bodies.clone(), url.clone());
            std::thread::Builder::new()
                .name(format!("load-{w}"))
                .spawn(move || {
                    let mut sent = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        if index >= bodies.len() {
                            break;
                        }
                        let started_ms = now_ms();
                        let t = Instant::now();
                        let answer = post_signed(&url, TEST_WEBHOOK_SECRET, &bodies[index]);
                        sent.push(Sent {
                            index,
                            started_ms,
                            latency: t.elapsed(),
                            status: answer.map(|a| a.status).map_err(|e| e.to_string()),
                        });
                    }
                    (sent, thread_cpu())
                })
                .expect("spawn sender")
        })
        .collect();
    let mut sent: Vec<Sent> = Vec::with_capacity(args.n);
    let mut sender_cpu = 0.0;
    for worker in workers {
        let (part, cpu) = worker.join().map_err(|_| "a sender thread panicked")?;
        sent.extend(part);
        sender_cpu += cpu;
    }
    let send_elapsed = send_started.elapsed();
    let cpu_sent = cpu_snapshot();
    sent.sort_by_key(|s| s.index);
    eprintln!(
        "load: sent in {:.2} s; waiting for emails / dead letters",
        send_elapsed.as_secs_f64()
    );

    // Drain: every uid gets an email or a dead letter.
    let mut seen = vec![Seen::default(); args.n];
    let mut cursors = (0usize, 0usize);
    let mut foreign = 0usize;
    let drain_deadline = Instant::now() + args.drain_timeout;
    let mut last_progress = Instant::now();
    let drained_ms = loop {
        foreign += absorb(&pipeline, &uid_index, &mut seen, &mut cursors);
        let missing = seen
            .iter()
            .filter(|s| s.emails == 0 && s.dead_letters == 0)
            .count();
        if missing == 0 {
            break Some(seen.iter().filter_map(|s| s.done_ms).max().unwrap_or(0));
        }
        if Instant::now() >= drain_deadline {
            break None;
        }
        if last_progress.elapsed() >= Duration::from_secs(15) {
            eprintln!("load: {missing} bookings still without an email or dead letter");
            last_progress = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let cpu_drained = cpu_snapshot();
    let dup_before_settle: u32 = seen.iter().map(|s| s.emails.saturating_sub(1)).sum();
    if drained_ms.is_some() && !args.settle.is_zero() {
        eprintln!(
            "load: drained; watching {} s more for late duplicates",
            args.settle.as_secs()
        );
        let until = Instant::now() + args.settle;
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(250));
            foreign += absorb(&pipeline, &uid_index, &mut seen, &mut cursors);
        }
    }
    let attempts = pipeline.stub.attempts();
    let wrangler_out = pipeline.logs();
    let loadavg_end = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let log_path = pipeline.log_path();

    // ---- report ----
    let mut r = String::new();
    let w = &mut r;
    let _ = writeln!(w, "== load report ==");
    let _ = writeln!(w, "machine");
    for (k, v) in &machine {
        let _ = writeln!(w, "  {k:<22} {v}");
    }
    let _ = writeln!(
        w,
        "  {:<22} {}",
        "loadavg at end",
        loadavg_end
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let _ = writeln!(w, "pipeline");
    for (k, v) in &version {
        let _ = writeln!(w, "  {k:<22} {v}");
    }
    let _ = writeln!(
        w,
        "  {:<22} {:.1} s",
        "wrangler startup",
        startup.as_secs_f64()
    );
    let _ = writeln!(w, "parameters");
    let _ = writeln!(w, "  {:<22} {}", "webhooks (n)", args.n);
    let _ = writeln!(w, "  {:<22} {}", "concurrency", args.concurrency);
    let _ = writeln!(w, "  {:<22} {}", "wrangler --log-level", args.log_level);
    match &chaos {
        Some(c) => {
            let faults: Vec<String> = c.faults.iter().map(Fault::label).collect();
            let _ = writeln!(
                w,
                "  {:<22} {}% of SendGrid requests, seed {}, faults {}",
                "chaos",
                c.share_percent,
                c.seed,
                faults.join(" ")
            );
        }
        None => {
            let _ = writeln!(w, "  {:<22} off (seed {seed}: uids only)", "chaos");
        }
    }
    let _ = writeln!(w, "  {:<22} {}", "worker vars (harness)", vars.join(" "));
    let _ = writeln!(w, "  {:<22} {}", "queue consumer", queue_settings());

    let mut latencies: Vec<Duration> = sent.iter().map(|s| s.latency).collect();
    latencies.sort();
    let accepted = sent.iter().filter(|s| s.status == Ok(202)).count();
    let mut other_statuses: BTreeMap<String, usize> = BTreeMap::new();
    for s in sent.iter().filter(|s| s.status != Ok(202)) {
        let label = match &s.status {
            Ok(code) => code.to_string(),
            Err(e) => format!("error: {}", truncate(e, 80)),
        };
        *other_statuses.entry(label).or_default() += 1;
    }
    let _ = writeln!(
        w,
        "producer (POST /api/calcom-webhook through the dev gateway)"
    );
    let _ = writeln!(
        w,
        "  {:<22} {:.2} s for {} requests = {:.0} req/s",
        "send phase",
        send_elapsed.as_secs_f64(),
        args.n,
        args.n as f64 / send_elapsed.as_secs_f64()
    );
    let _ = writeln!(
        w,
        "  {:<22} p50 {} | p90 {} | p99 {} | max {}",
        "latency",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 90.0)),
        ms(percentile(&latencies, 99.0)),
        ms(*latencies.last().unwrap_or(&Duration::ZERO))
    );
    let _ = writeln!(
        w,
        "  {:<22} {} accepted, {} not ({})",
        "answers",
        accepted,
        args.n - accepted,
        if other_statuses.is_empty() {
            "none".to_owned()
        } else {
            other_statuses
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );

    let with_email = seen.iter().filter(|s| s.emails > 0).count();
    let dead_only = seen
        .iter()
        .filter(|s| s.emails == 0 && s.dead_letters > 0)
        .count();
    let both = seen
        .iter()
        .filter(|s| s.emails > 0 && s.dead_letters > 0)
        .count();
    let dead_lettered = seen.iter().filter(|s| s.dead_letters > 0).count();
    let emails_total: u32 = seen.iter().map(|s| s.emails).sum();
    let duplicates: u32 = seen.iter().map(|s| s.emails.saturating_sub(1)).sum();
    let dup_uids = seen.iter().filter(|s| s.emails > 1).count();
    let lost = args.n
        - seen
            .iter()
            .filter(|s| s.emails > 0 || s.dead_letters > 0)
            .count();
    // Mail-send attempts per booking uid, to split delivery times by retries.
    let mut tries_per_uid = vec![0u32; args.n];
    for a in &attempts {
        let uid = a
            .body
            .pointer("/custom_args/booking_uid")
            .and_then(Value::as_str);
        if let Some(&i) = uid.and_then(|uid| uid_index.get(uid)) {
            tries_per_uid[i] += 1;
        }
    }
    let mut e2e: Vec<Duration> = Vec::new();
    let mut e2e_first: Vec<Duration> = Vec::new();
    let mut e2e_retried: Vec<Duration> = Vec::new();
    for (i, (s, x)) in seen.iter().zip(&sent).enumerate() {
        let Some(first) = s.first_email_ms else {
            continue;
        };
        let d = Duration::from_millis(first.saturating_sub(x.started_ms));
        e2e.push(d);
        if tries_per_uid[i] <= 1 {
            e2e_first.push(d);
        } else {
            e2e_retried.push(d);
        }
    }
    e2e.sort();
    e2e_first.sort();
    e2e_retried.sort();
    let last_email_ms = seen.iter().filter_map(|s| s.first_email_ms).max();
    let _ = writeln!(w, "delivery (consumer -> SendGrid stub)");
    match drained_ms {
        Some(done) => {
            let drain = Duration::from_millis(done.saturating_sub(first_request_ms));
            let _ = writeln!(
                w,
                "  {:<22} {:.2} s (first request -> last email/dead letter) = {:.0} bookings/s",
                "time to drain",
                drain.as_secs_f64(),
                args.n as f64 / drain.as_secs_f64().max(0.001)
            );
        }
        None => {
            let _ = writeln!(
                w,
                "  {:<22} NOT DRAINED within {} s",
                "time to drain",
                args.drain_timeout.as_secs()
            );
        }
    }
    if let Some(last) = last_email_ms {
        let _ = writeln!(
            w,
            "  {:<22} {:.2} s after the first request",
            "last first-email",
            last.saturating_sub(first_request_ms) as f64 / 1000.0
        );
    }
    for (label, values) in [
        ("webhook -> 1st email", &e2e),
        ("  sent on 1st attempt", &e2e_first),
        ("  after retries", &e2e_retried),
    ] {
        let _ = writeln!(w, "  {label:<22} {}", spread(values));
    }
    let _ = writeln!(
        w,
        "  {:<22} {} ({} bookings with an email)",
        "emails sent", emails_total, with_email
    );
    let _ = writeln!(
        w,
        "  {:<22} {} (emails beyond the first per uid, over {} uids; {} seen before the {} s settle)",
        "duplicates",
        duplicates,
        dup_uids,
        dup_before_settle,
        args.settle.as_secs()
    );
    let _ = writeln!(
        w,
        "  {:<22} {} ({} without an email, {} with an email too)",
        "dead-lettered", dead_lettered, dead_only, both
    );
    let _ = writeln!(
        w,
        "  {:<22} {} (n - uids with an email or a dead letter)",
        "lost", lost
    );
    if foreign > 0 {
        let _ = writeln!(w, "  {:<22} {}", "foreign records", foreign);
    }

    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    let mut per_key: HashMap<&str, u32> = HashMap::new();
    for a in &attempts {
        *by_status.entry(a.status).or_default() += 1;
        if let Some(key) = &a.key {
            *per_key.entry(key.as_str()).or_default() += 1;
        }
    }
    let faulted = attempts.iter().filter(|a| a.fault.is_some()).count();
    let mut per_key_hist: BTreeMap<u32, usize> = BTreeMap::new();
    for count in per_key.values() {
        *per_key_hist.entry(*count).or_default() += 1;
    }
    let _ = writeln!(w, "SendGrid stub");
    let _ = writeln!(
        w,
        "  {:<22} {} ({} failed by chaos)",
        "attempts",
        attempts.len(),
        faulted
    );
    let _ = writeln!(
        w,
        "  {:<22} {}",
        "by status",
        by_status
            .iter()
            .map(|(s, c)| format!(
                "{}: {c}",
                if *s == 0 {
                    "none".into()
                } else {
                    s.to_string()
                }
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        w,
        "  {:<22} {}",
        "attempts per key",
        per_key_hist
            .iter()
            .map(|(n, c)| format!("{n}x: {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let _ = writeln!(w, "CPU seconds (user+sys) while sending | while draining");
    for (label, (during_send, during_drain)) in cpu_delta(&cpu_before, &cpu_sent, &cpu_drained) {
        let _ = writeln!(w, "  {label:<26} {during_send:>7.2} | {during_drain:>7.2}");
    }
    let _ = writeln!(
        w,
        "  {:<26} {:>7.2} |       -",
        "load: sender threads", sender_cpu
    );
    let out_lines: Vec<&str> = wrangler_out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    let _ = writeln!(w, "wrangler output ({})", log_path.display());
    let _ = writeln!(
        w,
        "  {:<22} {} lines, {} bytes",
        "size",
        out_lines.len(),
        wrangler_out.len()
    );
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for line in &out_lines {
        *kinds.entry(line_kind(line)).or_default() += 1;
    }
    for (kind, count) in kinds.iter().take(12) {
        let _ = writeln!(w, "  {count:>6} x {kind}");
    }
    let debug_log = log_path.with_file_name("wrangler-debug.log");
    let mut inspector = inspector_events(&debug_log);
    let _ = writeln!(
        w,
        "wrangler's inspector proxy (debug log {:.1} MB)",
        inspector.bytes as f64 / 1_048_576.0
    );
    let _ = writeln!(
        w,
        "  {:<22} {} ({} console events; log lines by worker: {})",
        "attached to",
        inspector.attached(),
        inspector.console_events,
        if inspector.lines_by_worker.is_empty() {
            "none".to_owned()
        } else {
            inspector
                .lines_by_worker
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    let _ = writeln!(
        w,
        "  {:<22} {}",
        "fetches it traced",
        if inspector.fetches.is_empty() {
            "none"
        } else {
            "(per URL, digits folded)"
        }
    );
    for (url, count) in &inspector.fetches {
        let _ = writeln!(w, "  {count:>8} x {url}");
    }
    let _ = writeln!(
        w,
        "workers' own timings (duration_ms of their log lines; none when LOG_LEVEL hides them)"
    );
    for ((worker, event), values) in &mut inspector.durations {
        values.sort();
        let _ = writeln!(
            w,
            "  {:<30} {}",
            format!("{worker} {event}"),
            spread(values)
        );
    }

    if lost > 0 {
        let _ = writeln!(w, "missing bookings (first 20 of {lost})");
        for (i, s) in seen.iter().enumerate() {
            if s.emails == 0 && s.dead_letters == 0 {
                let tries = attempts
                    .iter()
                    .filter(|a| {
                        a.body
                            .pointer("/custom_args/booking_uid")
                            .and_then(Value::as_str)
                            == Some(uids[i].as_str())
                    })
                    .map(|a| a.status.to_string())
                    .collect::<Vec<_>>();
                let producer = match &sent[i].status {
                    Ok(code) => code.to_string(),
                    Err(e) => truncate(e, 60),
                };
                let _ = writeln!(
                    w,
                    "  {} producer {} stub attempts [{}]",
                    uids[i],
                    producer,
                    tries.join(",")
                );
            }
        }
    }
    print!("{}", truncate_missing(&r));
    Ok(lost == 0)
}

/// Keeps at most 20 "missing" lines.
fn truncate_missing(report: &str) -> String {
    let mut out = String::new();
    let mut missing = 0;
    let mut in_missing = false;
    for line in report.lines() {
        if line.starts_with("missing bookings") {
            in_missing = true;
        } else if in_missing {
            missing += 1;
            if missing > 20 {
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// What wrangler's inspector proxy saw, from its debug log. wrangler dev (4.86, several configs)
/// attaches its inspector to one worker only, and which one varies from run to run; that worker's
/// console calls and outbound fetches (`Network.*` events, about four per fetch) all pass
/// through wrangler's node process, on top of the log lines every worker writes anyway.
#[derive(Default)]
struct InspectorEvents {
    bytes: u64,
    console_events: usize,
    /// `Network.requestWillBeSent` per URL (digit runs folded to `#`).
    fetches: BTreeMap<String, usize>,
    /// Log entries carrying `"worker":"<name>"` (the workers' JSON log lines).
    lines_by_worker: BTreeMap<String, usize>,
    /// `duration_ms` of the workers' log lines per (worker, event).
    durations: BTreeMap<(String, String), Vec<Duration>>,
}

impl InspectorEvents {
    /// The worker the inspector is attached to: every worker's log lines reach wrangler, but only
    /// the attached one's also arrive as console events, so it is the worker whose line count is
    /// closest to the number of console events.
    /// Without console events (LOG_LEVEL silenced them), the consumer is recognised by its
    /// SendGrid fetches.
    fn attached(&self) -> String {
        let by_lines = (self.console_events > 0)
            .then(|| {
                self.lines_by_worker
                    .iter()
                    .min_by_key(|(_, count)| count.abs_diff(self.console_events))
            })
            .flatten();
        match by_lines {
            Some((name, _)) => name.clone(),
            None if self.fetches.keys().any(|url| url.contains("/mail/send")) => {
                "consumer (by its fetches)".to_owned()
            }
            None => "unknown".to_owned(),
        }
    }
}

fn inspector_events(path: &std::path::Path) -> InspectorEvents {
    use std::io::BufRead;
    let mut events = InspectorEvents::default();
    let Ok(file) = std::fs::File::open(path) else {
        return events;
    };
    events.bytes = file.metadata().map_or(0, |m| m.len());
    let mut in_request = false;
    let mut in_debug_entry = false;
    for line in std::io::BufReader::new(file).lines().map_while(Result::ok) {
        if line.starts_with("--- ") {
            in_debug_entry = line.ends_with(" debug");
            in_request = false;
            continue;
        }
        if line.contains("'Network.requestWillBeSent'") {
            in_request = true;
        } else if line.contains("'Runtime.consoleAPICalled'") {
            events.console_events += 1;
        } else if in_request {
            if let Some(start) = line.find("url: '") {
                let rest = &line[start + 6..];
                let url = &rest[..rest.find('\'').unwrap_or(rest.len())];
                *events.fetches.entry(fold_digits(url)).or_default() += 1;
                in_request = false;
            }
        } else if !in_debug_entry {
            if let Some(worker) = json_field(&line, "worker") {
                *events.lines_by_worker.entry(worker.to_owned()).or_default() += 1;
                let event = json_field(&line, "event").unwrap_or("?");
                if let Some(ms) = json_field(&line, "duration_ms").and_then(|v| v.parse().ok()) {
                    events
                        .durations
                        .entry((worker.to_owned(), event.to_owned()))
                        .or_default()
                        .push(Duration::from_millis(ms));
                }
            }
        }
    }
    events
}

/// The value of `"name":"value"` or `"name":123` in a JSON log line (no unescaping).
fn json_field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!("\"{name}\":");
    let start = line.find(&needle)? + needle.len();
    let rest = &line[start..];
    if let Some(quoted) = rest.strip_prefix('"') {
        return Some(&quoted[..quoted.find('"')?]);
    }
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim())
}

/// `http://127.0.0.1:4321/v3/x` → `http://#.#.#.#:#/v#/x`.
fn fold_digits(text: &str) -> String {
    let mut folded = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !folded.ends_with('#') {
                folded.push('#');
            }
        } else {
            folded.push(c);
        }
    }
    folded
}

/// Takes the stub's new emails and dead letters into `seen`; returns records for other uids.
fn absorb(
    pipeline: &Pipeline,
    uid_index: &HashMap<&str, usize>,
    seen: &mut [Seen],
    cursors: &mut (usize, usize),
) -> usize {
    let mut foreign = 0;
    let emails = pipeline.stub.emails_since(cursors.0);
    cursors.0 += emails.len();
    for email in emails {
        let uid = email
            .body
            .pointer("/custom_args/booking_uid")
            .and_then(Value::as_str);
        match uid.and_then(|uid| uid_index.get(uid)) {
            Some(&i) => {
                let s = &mut seen[i];
                s.emails += 1;
                s.first_email_ms.get_or_insert(email.received_at_ms);
                s.done_ms.get_or_insert(email.received_at_ms);
            }
            None => foreign += 1,
        }
    }
    let letters = pipeline.stub.dead_letters_since(cursors.1);
    cursors.1 += letters.len();
    let now = now_ms();
    for letter in letters {
        match dead_letter_uid(&letter).and_then(|uid| uid_index.get(uid.as_str())) {
            Some(&i) => {
                let s = &mut seen[i];
                s.dead_letters += 1;
                s.done_ms.get_or_insert(now);
            }
            None => foreign += 1,
        }
    }
    foreign
}

/// The booking uid of a dead-letter record posted by the dev gateway (`{queue, id, attempts,
/// body}`): `body.original.booking.uid` when the consumer wrapped it, `body.booking.uid` when
/// the queue moved it unchanged (a JSON string body is parsed first).
fn dead_letter_uid(record: &Value) -> Option<String> {
    let mut body = record.get("body").cloned().unwrap_or(Value::Null);
    if let Some(text) = body.as_str() {
        body = serde_json::from_str(text).unwrap_or(Value::Null);
    }
    body.pointer("/original/booking/uid")
        .or_else(|| body.pointer("/booking/uid"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn status(status: u16, retry_after: Option<u32>) -> Fault {
    Fault::Status {
        status,
        retry_after,
    }
}

/// A short class of a wrangler output line, for counting what was printed.
fn line_kind(line: &str) -> String {
    if let Some(start) = line.find("\"event\":\"") {
        let rest = &line[start + 9..];
        let end = rest.find('"').unwrap_or(rest.len());
        return format!("event {}", &rest[..end]);
    }
    let cleaned: String = strip_ansi(line)
        .chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect();
    truncate(cleaned.trim(), 90)
}

/// Drops terminal colour sequences (`ESC [ ... letter`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}…")
}

/// `p50 .. | p90 .. | p99 .. | max .. (count)` of sorted values.
fn spread(sorted: &[Duration]) -> String {
    if sorted.is_empty() {
        return "-".to_owned();
    }
    format!(
        "p50 {} | p90 {} | p99 {} | max {} ({})",
        ms(percentile(sorted, 50.0)),
        ms(percentile(sorted, 90.0)),
        ms(percentile(sorted, 99.0)),
        ms(*sorted.last().expect("not empty")),
        sorted.len()
    )
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// A seed from the clock and the pid, spread out by SplitMix64.
fn clock_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let mut z = nanos ^ (u64::from(std::process::id()) << 32);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

// ---- machine and version ----

fn machine_info() -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb = |name: &str| -> Option<f64> {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .trim_start_matches(':')
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    let gib =
        |kb: Option<f64>| kb.map_or("?".to_owned(), |kb| format!("{:.1} GiB", kb / 1048576.0));
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    vec![
        ("nproc".into(), nproc.to_string()),
        ("cpu".into(), model),
        (
            "memory".into(),
            format!(
                "{} total, {} available",
                gib(mem_kb("MemTotal")),
                gib(mem_kb("MemAvailable"))
            ),
        ),
        ("kernel".into(), kernel.trim().to_owned()),
        (
            "loadavg at start".into(),
            loadavg
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
        ),
    ]
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(repo_root())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn package_version(package: &str) -> String {
    let path = repo_root()
        .join("node_modules")
        .join(package)
        .join("package.json");
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// What exactly was measured: commit, local changes, the consumer's D1 ledger, the wasm builds.
fn pipeline_version() -> Vec<(String, String)> {
    let head =
        command_output("git", &["log", "-1", "--format=%h %s"]).unwrap_or_else(|| "?".into());
    let dirty = command_output("git", &["status", "--porcelain"])
        .map_or_else(|| "?".to_owned(), |s| s.lines().count().to_string());
    let consumer_toml =
        std::fs::read_to_string(repo_root().join("wrangler.consumer.toml")).unwrap_or_default();
    let d1 = if consumer_toml.contains("[[d1_databases]]") {
        "yes ([[d1_databases]] in wrangler.consumer.toml)"
    } else {
        "no"
    };
    let mut rows = vec![
        ("git HEAD".into(), truncate(&head, 70)),
        (
            "working tree".into(),
            format!("{dirty} changed/new paths (git status)"),
        ),
        ("consumer D1 ledger".into(), d1.to_owned()),
    ];
    for krate in ["producer", "consumer"] {
        let wasm = std::fs::read_dir(repo_root().join(krate).join("build"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "wasm"));
        let described = wasm
            .and_then(|p| {
                let meta = std::fs::metadata(&p).ok()?;
                let modified = meta
                    .modified()
                    .ok()?
                    .duration_since(UNIX_EPOCH)
                    .ok()?
                    .as_secs();
                let when = command_output(
                    "date",
                    &["-u", "-d", &format!("@{modified}"), "+%Y-%m-%dT%H:%M:%SZ"],
                )
                .unwrap_or_else(|| modified.to_string());
                Some(format!("{} KB wasm, built {when}", meta.len() / 1024))
            })
            .unwrap_or_else(|| "?".into());
        rows.push((format!("{krate} build"), described));
    }
    rows.push((
        "wrangler / workerd".into(),
        format!(
            "{} / {}",
            package_version("wrangler"),
            package_version("workerd")
        ),
    ));
    rows.push((
        "node".into(),
        command_output("node", &["--version"]).unwrap_or_else(|| "?".into()),
    ));
    rows
}

/// The consumer's `[[queues.consumers]]` settings from `wrangler.consumer.toml`, with the
/// harness's override.
fn queue_settings() -> String {
    let text =
        std::fs::read_to_string(repo_root().join("wrangler.consumer.toml")).unwrap_or_default();
    let Ok(doc) = text.parse::<toml_edit::DocumentMut>() else {
        return "?".to_owned();
    };
    let Some(consumer) = doc
        .get("queues")
        .and_then(|q| q.get("consumers"))
        .and_then(|c| c.as_array_of_tables())
        .and_then(|c| c.iter().next())
    else {
        return "?".to_owned();
    };
    let mut parts: Vec<String> = [
        "max_batch_size",
        "max_retries",
        "max_concurrency",
        "retry_delay",
    ]
    .iter()
    .filter_map(|k| {
        Some(format!(
            "{k}={}",
            consumer.get(k)?.as_value()?.to_string().trim()
        ))
    })
    .collect();
    parts.push("max_batch_timeout=1 (harness)".to_owned());
    parts.join(" ")
}

// ---- CPU accounting from /proc (e2e::proc_cpu) ----

/// CPU seconds per label: processes in wrangler's process group (by command name) and this
/// process's long-lived threads (the stub's server thread, the HTTP client's runtime).
type CpuSnapshot = BTreeMap<String, f64>;

fn cpu_snapshot() -> CpuSnapshot {
    let me = i64::from(std::process::id());
    let mut procs = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<i64>().ok()) else {
            continue;
        };
        if let Some(stat) = read_stat(&entry.path().join("stat")) {
            procs.push((pid, stat));
        }
    }
    // wrangler: our child that leads its own process group (the harness starts it that way).
    let groups: Vec<i64> = procs
        .iter()
        .filter(|(pid, (_, ppid, pgrp, _))| *ppid == me && pgrp == pid)
        .map(|(pid, _)| *pid)
        .collect();
    let mut snapshot = CpuSnapshot::new();
    for (_, (comm, _, pgrp, cpu)) in &procs {
        if groups.contains(pgrp) && comm != "bash" && comm != "sleep" {
            *snapshot
                .entry(format!("wrangler group: {comm}"))
                .or_default() += cpu;
        }
    }
    for entry in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Some((comm, _, _, cpu)) = read_stat(&entry.path().join("stat")) {
            let label = if comm.starts_with("sendgrid-stub") {
                "load: stub thread"
            } else if comm.starts_with("reqwest") {
                "load: http client rt"
            } else if comm.starts_with("load-") {
                continue; // counted by the threads themselves
            } else {
                "load: other threads"
            };
            *snapshot.entry(label.to_owned()).or_default() += cpu;
        }
    }
    snapshot
}

/// Per label: (sending, draining) CPU seconds.
fn cpu_delta(a: &CpuSnapshot, b: &CpuSnapshot, c: &CpuSnapshot) -> BTreeMap<String, (f64, f64)> {
    let mut labels: Vec<&String> = a.keys().chain(b.keys()).chain(c.keys()).collect();
    labels.sort();
    labels.dedup();
    labels
        .into_iter()
        .map(|label| {
            let at = |s: &CpuSnapshot| s.get(label).copied().unwrap_or(0.0);
            (
                label.clone(),
                ((at(b) - at(a)).max(0.0), (at(c) - at(b)).max(0.0)),
            )
        })
        .collect()
}

/// CPU seconds the calling thread has used.
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc == 0 {
        ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn args_defaults_and_flags() {
        let args = parse_args(std::iter::empty()).unwrap();
        assert_eq!((args.n, args.concurrency, args.fail_percent), (2000, 32, 0));
        assert_eq!(args.log_level, "warn");
        let args = parse_args(
            [
                "--n",
                "10",
                "--concurrency=4",
                "--fail-percent",
                "20",
                "--seed",
                "7",
            ]
            .map(String::from)
            .into_iter(),
        )
        .unwrap();
        assert_eq!(
            (args.n, args.concurrency, args.fail_percent, args.seed),
            (10, 4, 20, Some(7))
        );
        assert!(parse_args(["--fail-percent", "101"].map(String::from).into_iter()).is_err());
        assert!(parse_args(["--bogus"].map(String::from).into_iter()).is_err());
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&values, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&values, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&values[..1], 99.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn dead_letter_uids_wrapped_unchanged_or_text() {
        let wrapped = json!({"body": {"dead_letter": {}, "original": {"booking": {"uid": "a"}}}});
        let moved = json!({"body": {"booking": {"uid": "b"}}});
        let text = json!({"body": "{\"booking\":{\"uid\":\"c\"}}"});
        assert_eq!(dead_letter_uid(&wrapped).as_deref(), Some("a"));
        assert_eq!(dead_letter_uid(&moved).as_deref(), Some("b"));
        assert_eq!(dead_letter_uid(&text).as_deref(), Some("c"));
        assert_eq!(dead_letter_uid(&json!({"body": 1})), None);
    }

    #[test]
    fn log_line_fields() {
        let line = r#"[calcom-booking-consumer] {"attempt":1,"duration_ms":160,"event":"message_sent","worker":"consumer"}"#;
        assert_eq!(json_field(line, "duration_ms"), Some("160"));
        assert_eq!(json_field(line, "event"), Some("message_sent"));
        assert_eq!(json_field(line, "worker"), Some("consumer"));
        assert_eq!(json_field(line, "missing"), None);
        assert_eq!(
            fold_digits("http://127.0.0.1:4321/v3/mail/send"),
            "http://#.#.#.#:#/v#/mail/send"
        );
        assert_eq!(
            strip_ansi("\u{1b}[33m▲ \u{1b}[43;30m[WARNING]\u{1b}[0m x"),
            "▲ [WARNING] x"
        );
    }
}
