//! `scripts/smoke.sh` against the local pipeline in workerd: it sends a signed, labelled booking
//! to the real producer and reads the real local ledger until the outcome (sent, or a SendGrid
//! 401 named within a minute). The ledger's other answers (no table, dead-lettered, a failure
//! still retrying) come from the wrangler stand-in (`tests/standins/wrangler.sh`).

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use e2e::pipeline::{repo_root, shared_pipeline, TEST_WEBHOOK_SECRET};
use e2e::stub::{Fault, FaultRule};

struct Smoke {
    output: Output,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Smoke {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
    fn last_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or("")
    }
}

fn smoke(args: &[&str], env: &[(&str, String)]) -> Smoke {
    let pipeline = shared_pipeline();
    let mut cmd = Command::new("bash");
    cmd.arg(repo_root().join("scripts/smoke.sh"))
        .arg(pipeline.url(""))
        .args(args)
        .env("CALCOM_WEBHOOK_SECRET", TEST_WEBHOOK_SECRET)
        .env("SMOKE_POLL_SECS", "1")
        .env("CI", "true")
        .env("WRANGLER_SEND_METRICS", "false")
        .env(
            "WRANGLER_LOG_PATH",
            pipeline.dir().join("wrangler-debug.log"),
        )
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let output = cmd.output().expect("bash scripts/smoke.sh");
    Smoke {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        output,
        took: started.elapsed(),
    }
}

/// Reads the local pipeline's own ledger with the real wrangler.
fn local_args() -> Vec<String> {
    let dir = shared_pipeline().dir();
    vec![
        "--local".into(),
        "--config".into(),
        dir.join("wrangler.consumer.toml").display().to_string(),
        "--persist-to".into(),
        dir.join("state").display().to_string(),
        "--timeout".into(),
        "60".into(),
    ]
}

fn real_wrangler() -> (&'static str, String) {
    (
        "WRANGLER",
        repo_root()
            .join("node_modules/.bin/wrangler")
            .display()
            .to_string(),
    )
}

fn uid(label: &str) -> String {
    format!("smoke-{label}-{}", std::process::id())
}

#[test]
fn a_working_pipeline_reports_sent_and_staff_get_one_labelled_email() {
    let uid = uid("ok");
    let mut args = local_args();
    args.extend(["--uid".into(), uid.clone()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = smoke(&args, &[real_wrangler()]);
    assert!(run.output.status.success(), "{}", run.all());
    assert_eq!(run.last_line(), "smoke result: sent", "{}", run.all());
    assert!(!run.all().contains(TEST_WEBHOOK_SECRET), "secret printed");
    let emails = shared_pipeline().emails_for(&uid);
    assert_eq!(emails.len(), 1, "one email for {uid}");
    let subject = emails[0].body["subject"].as_str().unwrap_or_default();
    assert!(subject.contains("SMOKE TEST"), "labelled: {subject}");
}

#[test]
fn a_consumer_whose_key_sendgrid_refuses_is_named_within_a_minute() {
    let uid = uid("401");
    shared_pipeline()
        .stub
        .push_fault(FaultRule::always(Fault::status(401)).matching(uid.clone()));
    let mut args = local_args();
    args.extend(["--uid".into(), uid.clone()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = smoke(&args, &[real_wrangler()]);
    assert!(!run.output.status.success(), "{}", run.all());
    let last = run.last_line();
    assert!(
        last.starts_with("smoke result: retrying: ") && last.contains("401"),
        "{}",
        run.all()
    );
    assert!(run.took < Duration::from_secs(60), "took {:?}", run.took);
    assert!(shared_pipeline().emails_for(&uid).is_empty());
}

/// A consumer config for the stand-in (only its path is used) and the stand-in's environment.
fn standin(label: &str, ledger: &[(&str, &str)]) -> (PathBuf, Vec<(&'static str, String)>) {
    let dir = std::env::temp_dir().join(format!("calcom-smoke-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("wrangler.consumer.toml");
    std::fs::write(&config, "name = \"calcom-booking-consumer\"\n").unwrap();
    let mut env = vec![
        (
            "WRANGLER",
            format!(
                "bash {}",
                repo_root().join("tests/standins/wrangler.sh").display()
            ),
        ),
        ("STANDIN_STATE", dir.join("account").display().to_string()),
    ];
    for (k, v) in ledger {
        let key: &'static str = match *k {
            "state" => "STANDIN_LEDGER_STATE",
            "note" => "STANDIN_LEDGER_NOTE",
            "status" => "STANDIN_LEDGER_STATUS",
            "after" => "STANDIN_LEDGER_AFTER",
            "busy" => "STANDIN_LEDGER_BUSY",
            other => panic!("{other}"),
        };
        env.push((key, (*v).to_owned()));
    }
    (config, env)
}

fn ledger_calls(env: &[(&str, String)]) -> Vec<String> {
    let state = &env.iter().find(|(k, _)| *k == "STANDIN_STATE").unwrap().1;
    std::fs::read_to_string(PathBuf::from(state).join("calls"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.replace('\x1f', " "))
        .collect()
}

#[test]
fn the_ledger_outcomes_are_reported_with_their_reasons() {
    // (label, the ledger's row, the last line, --timeout, exit 0)
    type Case<'a> = (
        &'a str,
        &'a [(&'a str, &'a str)],
        &'a str,
        Option<&'a str>,
        bool,
    );
    let cases: [Case; 4] = [
        (
            "sent",
            // Busy once (read again), then no row yet, then sent.
            &[("state", "sent"), ("status", "202"), ("busy", "1"), ("after", "2")],
            "smoke result: sent",
            None,
            true,
        ),
        (
            "dead",
            &[
                ("state", "dead"),
                ("note", "SendGrid rejected the email (400 Bad Request): from.email"),
                ("status", "400"),
            ],
            "smoke result: dead-lettered: SendGrid rejected the email (400 Bad Request): from.email; last SendGrid status 400",
            None,
            false,
        ),
        (
            "forbidden",
            &[
                ("state", "failed"),
                ("note", "SendGrid refused to send (403): unverified sender"),
                ("status", "403"),
            ],
            "smoke result: retrying: SendGrid refused to send (403): unverified sender; last SendGrid status 403",
            None,
            false,
        ),
        (
            "still-failing",
            &[
                ("state", "failed"),
                ("note", "SendGrid unavailable (503)"),
                ("status", "503"),
            ],
            "smoke result: retrying: SendGrid unavailable (503); last SendGrid status 503",
            Some("3"),
            false,
        ),
    ];
    for (label, ledger, expected, timeout, ok) in cases {
        let (config, env) = standin(label, ledger);
        let uid = uid(label);
        let config = config.display().to_string();
        let mut args = vec!["--config", &config, "--uid", &uid];
        if let Some(t) = timeout {
            args.extend(["--timeout", t]);
        }
        let run = smoke(&args, &env);
        assert_eq!(run.output.status.success(), ok, "{label}: {}", run.all());
        assert_eq!(run.last_line(), expected, "{label}: {}", run.all());
        let calls = ledger_calls(&env);
        let sql = format!(
            "d1 execute booking-deliveries --remote --json -c {config} --command SELECT state, note, last_status FROM deliveries WHERE booking_uid = '{uid}'"
        );
        assert!(
            !calls.is_empty() && calls.iter().all(|c| *c == sql),
            "{label}: {calls:?}"
        );
    }
}

#[test]
fn a_missing_ledger_table_is_named_with_the_command_that_fixes_it() {
    let (config, env) = standin("no-table", &[("state", "no-table")]);
    let config = config.display().to_string();
    let uid = uid("no-table");
    let run = smoke(&["--config", &config, "--uid", &uid], &env);
    assert!(!run.output.status.success());
    assert!(
        run.stderr.contains("no table 'deliveries'")
            && run.stderr.contains(&format!(
                "npx wrangler d1 migrations apply booking-deliveries --remote -c {config}"
            )),
        "{}",
        run.all()
    );
}

#[test]
fn a_ledger_that_cannot_be_read_is_reported_at_once() {
    let (config, env) = standin("not-logged-in", &[("state", "not-logged-in")]);
    let config = config.display().to_string();
    let uid = uid("not-logged-in");
    let run = smoke(&["--config", &config, "--uid", &uid], &env);
    assert!(!run.output.status.success());
    assert!(
        run.stderr.contains("reading the ledger failed") && run.stderr.contains("Not logged in"),
        "{}",
        run.all()
    );
    assert!(run.took < Duration::from_secs(30), "took {:?}", run.took);
    assert_eq!(ledger_calls(&env).len(), 1, "not read again");
}

#[test]
fn refuses_an_unsafe_uid_a_wrong_secret_and_a_missing_secret() {
    let (config, env) = standin("refusals", &[("state", "sent")]);
    let config = config.display().to_string();
    let run = smoke(
        &[
            "--config",
            &config,
            "--uid",
            "x'; DROP TABLE deliveries; --",
        ],
        &env,
    );
    assert!(!run.output.status.success());
    assert!(run.stderr.contains("--uid: only letters"), "{}", run.all());

    let mut wrong = env.clone();
    wrong.push((
        "CALCOM_WEBHOOK_SECRET",
        "whsec_not_the_producers".to_owned(),
    ));
    let run = smoke(&["--config", &config], &wrong);
    assert!(!run.output.status.success());
    assert!(
        run.stderr.contains("refused the signature"),
        "{}",
        run.all()
    );
    assert!(!run.all().contains("whsec_not_the_producers"));

    let mut none = env.clone();
    none.push(("CALCOM_WEBHOOK_SECRET", String::new()));
    let run = smoke(&["--config", &config], &none);
    assert!(!run.output.status.success());
    assert!(
        run.stderr.contains("set CALCOM_WEBHOOK_SECRET"),
        "{}",
        run.all()
    );
    assert!(ledger_calls(&env).is_empty(), "the ledger was read");
}
