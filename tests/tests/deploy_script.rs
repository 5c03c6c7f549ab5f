//! `scripts/deploy.sh` against a local stand-in for the wrangler CLI (`tests/standins/wrangler.sh`,
//! which answers like wrangler does against an account kept in files and records every call):
//! retention per plan, an idempotent re-run, placeholders refused, the consumer deployed before the
//! producer, secrets only on stdin and never printed, the webhook URL printed, and a dry run that
//! calls nothing.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e::pipeline::poll_until;

use e2e::pipeline::repo_root;

const SENDGRID_KEY: &str = "SG.standin-key-Zq81xP";
const WEBHOOK_SECRET: &str = "whsec_standin_secret_4Ke9";
const REAL_VALUES: &str = "EMAIL_FROM=\"Bookings <bookings@northwind-clinic.org>\"\n\
                           EMAIL_TO=front-desk@northwind-clinic.org, owner@northwind-clinic.org\n";

/// One account (the stand-in's state) and one operator folder (deploy.env, generated configs).
struct Account {
    dir: PathBuf,
}

struct Run {
    output: Output,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl Account {
    fn new(name: &str, deploy_env: Option<&str>) -> Account {
        let dir = std::env::temp_dir().join(format!("calcom-deploy-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        if let Some(text) = deploy_env {
            fs::write(dir.join("deploy.env"), text).unwrap();
        }
        Account { dir }
    }

    fn state(&self) -> PathBuf {
        self.dir.join("account")
    }

    /// The environment deploy.sh runs in: the stand-in as wrangler, this account, no secrets.
    fn environment(&self, cmd: &mut Command, plan: &str) {
        cmd.env(
            "WRANGLER",
            format!(
                "bash {}",
                repo_root().join("tests/standins/wrangler.sh").display()
            ),
        )
        .env("STANDIN_STATE", self.state())
        .env("STANDIN_PLAN", plan)
        .env("DEPLOY_OUT_DIR", self.dir.join("generated"))
        .env_remove("SENDGRID_API_KEY")
        .env_remove("CALCOM_WEBHOOK_SECRET");
    }

    fn deploy(&self, args: &[&str], plan: &str, secrets_in_env: bool) -> Run {
        let mut cmd = Command::new("bash");
        cmd.arg(repo_root().join("scripts/deploy.sh"))
            .args(args)
            .arg("--env-file")
            .arg(self.dir.join("deploy.env"))
            .stdin(Stdio::null());
        self.environment(&mut cmd, plan);
        if secrets_in_env {
            cmd.env("SENDGRID_API_KEY", SENDGRID_KEY)
                .env("CALCOM_WEBHOOK_SECRET", WEBHOOK_SECRET);
        }
        let output = cmd.output().expect("bash scripts/deploy.sh");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        Run {
            output,
            stdout,
            stderr,
        }
    }

    /// Every wrangler invocation so far, as argument lists.
    fn calls(&self) -> Vec<Vec<String>> {
        fs::read_to_string(self.state().join("calls"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.split('\x1f').map(str::to_owned).collect())
            .collect()
    }

    fn stdin_of(&self, call: usize) -> String {
        fs::read_to_string(self.state().join(format!("stdin-{}", call + 1))).unwrap_or_default()
    }

    fn generated(&self, name: &str) -> String {
        fs::read_to_string(self.dir.join("generated").join(name)).unwrap()
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn position(calls: &[Vec<String>], prefix: &[&str]) -> Option<usize> {
    calls
        .iter()
        .position(|c| c.starts_with(&prefix.iter().map(|s| s.to_string()).collect::<Vec<_>>()))
}

fn count(calls: &[Vec<String>], prefix: &[&str]) -> usize {
    calls
        .iter()
        .filter(|c| c.starts_with(&prefix.iter().map(|s| s.to_string()).collect::<Vec<_>>()))
        .count()
}

fn ends_with_config(call: &[String], name: &str) -> bool {
    call.iter().any(|a| Path::new(a).ends_with(name))
}

fn first_deploy(plan: &str, retention: &str) {
    let account = Account::new(plan, Some(REAL_VALUES));
    let run = account.deploy(&["--plan", plan], plan, true);
    assert!(run.output.status.success(), "deploy failed:\n{}", run.all());
    let calls = account.calls();

    // Queues: both created, with the plan's retention.
    for queue in ["booking-events", "booking-events-dlq"] {
        let create = calls
            .iter()
            .find(|c| c[..2] == ["queues", "create"] && c[2] == queue)
            .unwrap_or_else(|| panic!("{queue} not created: {calls:?}"));
        assert_eq!(
            create[3..],
            ["--message-retention-period-secs", retention],
            "{queue}"
        );
    }

    // The database: created once, its id recorded in deploy.env and written into the generated
    // consumer config (never into the tracked one), then the remote migrations.
    assert_eq!(count(&calls, &["d1", "create", "booking-deliveries"]), 1);
    let env = fs::read_to_string(account.dir.join("deploy.env")).unwrap();
    let id_line = env
        .lines()
        .find(|l| l.starts_with("D1_DATABASE_ID="))
        .expect("id recorded in deploy.env");
    let id = id_line.trim_start_matches("D1_DATABASE_ID=");
    let consumer = account.generated("wrangler.consumer.toml");
    assert!(
        consumer.contains(&format!("database_id = \"{id}\"")),
        "{consumer}"
    );
    assert!(consumer.contains("EMAIL_FROM = \"Bookings <bookings@northwind-clinic.org>\""));
    assert!(consumer
        .contains("EMAIL_TO = \"front-desk@northwind-clinic.org, owner@northwind-clinic.org\""));
    assert!(!consumer.contains("example.com"), "{consumer}");
    // Free: one message per consumer invocation (10 ms of CPU); Paid: the tracked batch of 10.
    let batch = if plan == "free" { 1 } else { 10 };
    assert!(
        consumer.contains(&format!("\nmax_batch_size = {batch}\n")),
        "{consumer}"
    );
    let tracked = fs::read_to_string(repo_root().join("wrangler.consumer.toml")).unwrap();
    assert!(!tracked.contains(id));
    let migrate = position(
        &calls,
        &[
            "d1",
            "migrations",
            "apply",
            "booking-deliveries",
            "--remote",
        ],
    )
    .expect("remote migrations applied");
    assert!(ends_with_config(
        &calls[migrate],
        "generated/wrangler.consumer.toml"
    ));

    // The consumer is deployed before the producer, then the replay worker, all from the
    // generated configs, and after the queues and the migrations.
    let deploy_consumer = calls
        .iter()
        .position(|c| c[0] == "deploy" && ends_with_config(c, "wrangler.consumer.toml"))
        .expect("consumer deployed");
    let deploy_producer = calls
        .iter()
        .position(|c| c[0] == "deploy" && ends_with_config(c, "wrangler.producer.toml"))
        .expect("producer deployed");
    let deploy_replay = calls
        .iter()
        .position(|c| c[0] == "deploy" && ends_with_config(c, "wrangler.replay.toml"))
        .expect("replay worker deployed");
    assert!(
        migrate < deploy_consumer
            && deploy_consumer < deploy_producer
            && deploy_producer < deploy_replay,
        "{calls:?}"
    );
    assert!(ends_with_config(
        &calls[deploy_replay],
        "generated/wrangler.replay.toml"
    ));
    assert!(ends_with_config(
        &calls[deploy_producer],
        "generated/wrangler.producer.toml"
    ));

    // Secrets: on stdin, never in argv, never printed.
    for (name, value, config) in [
        ("SENDGRID_API_KEY", SENDGRID_KEY, "wrangler.consumer.toml"),
        (
            "CALCOM_WEBHOOK_SECRET",
            WEBHOOK_SECRET,
            "wrangler.producer.toml",
        ),
    ] {
        let put = position(&calls, &["secret", "put", name])
            .unwrap_or_else(|| panic!("{name} not put: {calls:?}"));
        assert!(ends_with_config(&calls[put], config));
        assert_eq!(account.stdin_of(put), value, "{name} arrives on stdin");
    }
    for call in &calls {
        for secret in [SENDGRID_KEY, WEBHOOK_SECRET] {
            assert!(
                !call.iter().any(|a| a.contains(secret)),
                "secret in argv: {call:?}"
            );
        }
    }
    for secret in [SENDGRID_KEY, WEBHOOK_SECRET] {
        assert!(
            !run.all().contains(secret),
            "secret printed:\n{}",
            run.all()
        );
        assert!(!consumer.contains(secret) && !env.contains(secret));
    }

    assert!(
        run.stdout
            .contains("https://calcom-booking-producer.standin-sub.workers.dev/api/calcom-webhook"),
        "webhook URL not printed:\n{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("POST https://calcom-booking-replay.standin-sub.workers.dev/admin/replay"),
        "replay URL not printed:\n{}",
        run.stdout
    );

    // A second run, with no secrets at hand: creates nothing, asks for nothing, deploys again.
    let before = calls.len();
    let again = account.deploy(&["--plan", plan], plan, false);
    assert!(
        again.output.status.success(),
        "re-run failed:\n{}",
        again.all()
    );
    let calls = account.calls();
    let rerun = &calls[before..];
    for creating in [
        &["queues", "create"][..],
        &["d1", "create"],
        &["secret", "put"],
    ] {
        assert_eq!(
            count(rerun, creating),
            0,
            "re-run called {creating:?}: {rerun:?}"
        );
    }
    assert_eq!(count(rerun, &["deploy"]), 3, "{rerun:?}");
    let env_after = fs::read_to_string(account.dir.join("deploy.env")).unwrap();
    assert_eq!(env_after, env, "deploy.env unchanged by a re-run");
}

#[test]
fn free_plan_queues_keep_messages_24_hours_and_a_rerun_creates_nothing() {
    first_deploy("free", "86400");
}

#[test]
fn paid_plan_queues_keep_messages_14_days_and_a_rerun_creates_nothing() {
    first_deploy("paid", "1209600");
}

#[test]
fn placeholders_and_a_missing_deploy_env_are_refused_before_anything_is_called() {
    for (name, env, expected) in [
        (
            "placeholder-from",
            Some("EMAIL_FROM=\"Bookings <bookings@example.com>\"\nEMAIL_TO=desk@northwind-clinic.org\n"),
            "EMAIL_FROM",
        ),
        (
            "placeholder-to",
            Some("EMAIL_FROM=bookings@northwind-clinic.org\nEMAIL_TO=desk@northwind-clinic.org, staff@example.org\n"),
            "EMAIL_TO",
        ),
        (
            "your-domain",
            Some("EMAIL_FROM=bookings@your-domain\nEMAIL_TO=desk@northwind-clinic.org\n"),
            "EMAIL_FROM",
        ),
        ("missing-to", Some("EMAIL_FROM=bookings@northwind-clinic.org\n"), "EMAIL_TO"),
        ("no-file", None, "deploy.env not found"),
        (
            "secret-in-file",
            Some("EMAIL_FROM=bookings@northwind-clinic.org\nEMAIL_TO=desk@northwind-clinic.org\nSENDGRID_API_KEY=SG.oops-in-a-file\n"),
            "SENDGRID_API_KEY is a secret",
        ),
    ] {
        let account = Account::new(name, env);
        let run = account.deploy(&["--plan", "free"], "free", true);
        assert!(!run.output.status.success(), "{name}: deployed anyway:\n{}", run.all());
        assert!(run.stderr.contains(expected), "{name}: {}", run.stderr);
        assert!(account.calls().is_empty(), "{name}: called {:?}", account.calls());
        assert!(!run.all().contains("SG.oops-in-a-file"), "{name}");
    }
}

#[test]
fn without_a_plan_and_no_terminal_it_refuses() {
    let account = Account::new("no-plan", Some(REAL_VALUES));
    let run = account.deploy(&[], "free", true);
    assert!(!run.output.status.success());
    assert!(
        run.stderr.contains("--plan free|paid is required"),
        "{}",
        run.stderr
    );
    assert!(account.calls().is_empty());
    let bad = account.deploy(&["--plan", "enterprise"], "free", true);
    assert!(!bad.output.status.success());
    assert!(bad.stderr.contains("free or paid"), "{}", bad.stderr);
}

#[test]
fn dry_run_prints_the_whole_plan_and_calls_nothing() {
    for (plan, retention) in [("free", "86400"), ("paid", "1209600")] {
        // A fresh clone: no deploy.env yet. The plan is still printed, with what would stop.
        let account = Account::new(&format!("dry-{plan}"), None);
        let run = account.deploy(&["--plan", plan, "--dry-run"], plan, false);
        assert!(run.output.status.success(), "{}", run.all());
        assert!(
            account.calls().is_empty(),
            "dry run called {:?}",
            account.calls()
        );
        assert!(
            run.stderr.contains("a real run would stop here"),
            "{}",
            run.stderr
        );
        for expected in [
            format!("queues create booking-events --message-retention-period-secs {retention}"),
            format!("queues create booking-events-dlq --message-retention-period-secs {retention}"),
            "d1 create booking-deliveries".to_owned(),
            "d1 migrations apply booking-deliveries --remote -c".to_owned(),
            "secret list -c wrangler.consumer.toml".to_owned(),
            "secret put SENDGRID_API_KEY".to_owned(),
            "secret put CALCOM_WEBHOOK_SECRET".to_owned(),
        ] {
            assert!(
                run.stdout.contains(&expected),
                "{plan}: missing {expected:?}:\n{}",
                run.stdout
            );
        }
        let consumer_line = run
            .stdout
            .lines()
            .position(|l| l.contains("deploy -c") && l.contains("wrangler.consumer.toml"));
        let producer_line = run
            .stdout
            .lines()
            .position(|l| l.contains("deploy -c") && l.contains("wrangler.producer.toml"));
        let replay_line = run
            .stdout
            .lines()
            .position(|l| l.contains("deploy -c") && l.contains("wrangler.replay.toml"));
        assert!(
            consumer_line.is_some() && consumer_line < producer_line && producer_line < replay_line,
            "{}",
            run.stdout
        );
    }
}

/// `npx wrangler deploy --dry-run` (the real wrangler, offline: it builds and bundles, uploads
/// nothing) accepts the tracked configs and the ones deploy.sh generates from them.
#[test]
fn tracked_and_generated_configs_pass_wrangler_deploy_dry_run() {
    let account = Account::new(
        "wrangler-dry-run",
        Some(&format!(
            "{REAL_VALUES}D1_DATABASE_ID=5d4c3b2a-1111-4222-8333-000000000001\n"
        )),
    );
    let plan = account.deploy(&["--plan", "free", "--dry-run"], "free", false);
    assert!(plan.output.status.success(), "{}", plan.all());
    // The tracked configs run their [build] command (one at a time: each rebuilds its worker's
    // build/). The generated ones carry the same [build]; copies without it check the rest (the
    // absolute paths, the database id, the vars) against the build just made.
    let names = [
        "wrangler.producer.toml",
        "wrangler.consumer.toml",
        "wrangler.replay.toml",
    ];
    let mut configs: Vec<_> = names.iter().map(|n| repo_root().join(n)).collect();
    for name in names {
        let text = account.generated(name);
        assert!(text.contains("[build]\ncwd = "), "{text}");
        let mut in_build = false;
        let without_build: String = text
            .lines()
            .filter(|l| {
                if l.starts_with('[') {
                    in_build = *l == "[build]";
                }
                !in_build
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let copy = account.dir.join(format!("no-build-{name}"));
        fs::write(&copy, without_build).unwrap();
        configs.push(copy);
    }
    let wrangler = repo_root().join("node_modules/.bin/wrangler");
    for config in configs {
        let out = Command::new(&wrangler)
            .args(["deploy", "--dry-run", "--outdir"])
            .arg(account.dir.join("bundle"))
            .arg("-c")
            .arg(&config)
            .current_dir(repo_root())
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CI", "true")
            .env("WRANGLER_LOG_PATH", account.dir.join("wrangler-debug.log"))
            .stdin(Stdio::null())
            .output()
            .expect("wrangler deploy --dry-run");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && text.contains("--dry-run: exiting now."),
            "{}:\n{text}",
            config.display()
        );
    }
}

/// From a terminal (a pseudo-terminal from util-linux `script`), deploy.sh asks for the plan and
/// for each missing secret; the secrets are typed after the prompt with echo off, so the
/// terminal's transcript never shows them, and they reach wrangler on stdin.
#[test]
fn from_a_terminal_it_asks_for_the_plan_and_the_secrets_without_echoing_them() {
    let account = Account::new("terminal", Some(REAL_VALUES));
    let inner = format!(
        "bash {} --env-file {}",
        repo_root().join("scripts/deploy.sh").display(),
        account.dir.join("deploy.env").display()
    );
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c", &inner, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    account.environment(&mut cmd, "paid");
    let mut child = cmd.spawn().expect("script (util-linux)");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let transcript = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&transcript);
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let answer = |prompt: &str, text: &str, stdin: &mut std::process::ChildStdin| {
        let seen = poll_until(Duration::from_secs(30), || {
            transcript.lock().unwrap().contains(prompt).then_some(())
        });
        assert!(
            seen.is_some(),
            "no prompt {prompt:?}:\n{}",
            transcript.lock().unwrap()
        );
        stdin.write_all(format!("{text}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    };
    answer("free or paid?", "paid", &mut stdin);
    answer(
        "SENDGRID_API_KEY for the consumer (input hidden)",
        SENDGRID_KEY,
        &mut stdin,
    );
    answer(
        "CALCOM_WEBHOOK_SECRET for the producer (input hidden)",
        WEBHOOK_SECRET,
        &mut stdin,
    );
    let status = poll_until(Duration::from_secs(60), || child.try_wait().ok().flatten());
    if status.is_none() {
        let _ = child.kill();
    }
    drop(stdin);
    reader.join().unwrap();
    let transcript = transcript.lock().unwrap().clone();
    assert!(
        status.is_some_and(|s| s.success()),
        "deploy.sh from a terminal:\n{transcript}"
    );
    assert!(
        transcript.contains("paid\r\n"),
        "the plan is echoed as typed"
    );
    for secret in [SENDGRID_KEY, WEBHOOK_SECRET] {
        assert!(!transcript.contains(secret), "secret echoed:\n{transcript}");
    }
    let calls = account.calls();
    let create = position(&calls, &["queues", "create", "booking-events"]).unwrap();
    assert_eq!(calls[create][4], "1209600");
    for (name, value) in [
        ("SENDGRID_API_KEY", SENDGRID_KEY),
        ("CALCOM_WEBHOOK_SECRET", WEBHOOK_SECRET),
    ] {
        let put = position(&calls, &["secret", "put", name]).unwrap();
        assert_eq!(account.stdin_of(put), value);
    }
    assert!(transcript
        .contains("https://calcom-booking-producer.standin-sub.workers.dev/api/calcom-webhook"));
}
