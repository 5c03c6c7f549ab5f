//! Runs the real workers in workerd through `wrangler dev`, next to a [`Stub`] SendGrid.
//!
//! The harness does not touch the developer's `.dev.vars` or build output: it writes its own copies
//! of the wrangler configs into a temporary folder (absolute `main`, no `[build]` step, test vars
//! and secrets), builds the workers once per process, and starts one `wrangler dev` with the
//! dev-only gateway first (the only config served on the port), then the producer, the replay
//! worker and the consumer.
//! A watchdog kills wrangler's process group when the test process goes away, however it ends.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::stub::{ReceivedEmail, Stub};

/// The webhook secret the harness configures (test-only value).
pub const TEST_WEBHOOK_SECRET: &str = "whsec_e2e_test_secret";
/// A second webhook secret, configured alongside the first as during a rotation.
pub const TEST_WEBHOOK_SECRET_NEXT: &str = "whsec_e2e_rotated_secret";
/// A third webhook secret: a phrase with spaces, as a person types it into Cal.com's form. It is
/// one secret; none of its words is one.
pub const TEST_WEBHOOK_PHRASE: &str = "correct horse battery staple";
/// The SendGrid key the harness configures and the stub expects (test-only value).
pub const TEST_SENDGRID_KEY: &str = "SG.e2e-test-key";

/// The repository root (where the wrangler configs live).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// What to start and with which settings.
#[derive(Clone, Debug)]
pub struct PipelineOptions {
    /// Vars for every worker (override the configs' `[vars]`), e.g. retry delays for tests.
    pub vars: BTreeMap<String, String>,
    /// Secrets for every worker (written to `.dev.vars`).
    pub secrets: BTreeMap<String, String>,
    /// Also start the consumer (`wrangler.consumer.toml`). Without it, the gateway taps
    /// `booking-events` and posts what arrives to the stub's queue tap.
    pub with_consumer: bool,
    /// Start the dev gateway (`tests/dev/`) as the front door. Without it (and without the
    /// consumer) wrangler runs the producer alone, which serves the port itself: what the CPU
    /// probe measures. Queued messages are then dropped by the local queue.
    pub with_gateway: bool,
    /// Fixed ports for a person's local run (tests pick free ones).
    pub port: Option<u16>,
    pub stub_port: Option<u16>,
    /// The consumer's `max_batch_timeout` in seconds (production: 5; tests batch after 1).
    pub batch_timeout_secs: u32,
    /// wrangler's `--log-level`: `log` shows the workers' console.log lines (`info` does not); load runs use `warn`.
    pub log_level: &'static str,
    /// Give the producer its `BOOKING_QUEUE` binding (false: every send fails, as a queue that
    /// refuses messages would).
    pub producer_queue: bool,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        let secrets = BTreeMap::from([
            (
                "CALCOM_WEBHOOK_SECRET".to_owned(),
                format!("{TEST_WEBHOOK_SECRET},{TEST_WEBHOOK_SECRET_NEXT},{TEST_WEBHOOK_PHRASE}"),
            ),
            ("SENDGRID_API_KEY".to_owned(), TEST_SENDGRID_KEY.to_owned()),
        ]);
        // Retries in seconds, not minutes, so tests and a person trying things see them happen.
        let vars = BTreeMap::from([
            ("RETRY_BASE_DELAY_SECS".to_owned(), "1".to_owned()),
            ("RETRY_MAX_DELAY_SECS".to_owned(), "2".to_owned()),
            ("CONFIG_ERROR_RETRY_DELAY_SECS".to_owned(), "1".to_owned()),
            ("SENDGRID_TIMEOUT_MS".to_owned(), "2000".to_owned()),
        ]);
        Self {
            vars,
            secrets,
            with_consumer: true,
            with_gateway: true,
            port: None,
            stub_port: None,
            batch_timeout_secs: 1,
            log_level: "log",
            producer_queue: true,
        }
    }
}

/// A running pipeline. Dropping it stops wrangler.
pub struct Pipeline {
    pub stub: Stub,
    port: u16,
    child: Child,
    dir: PathBuf,
}

impl Pipeline {
    /// Builds (once per process), writes configs, starts wrangler and waits until the producer
    /// answers through the gateway.
    pub fn start(options: PipelineOptions) -> io::Result<Pipeline> {
        ensure_built()?;
        let sendgrid_key = options
            .secrets
            .get("SENDGRID_API_KEY")
            .map_or(TEST_SENDGRID_KEY, String::as_str);
        let stub = Stub::start(options.stub_port.unwrap_or(0), sendgrid_key)?;
        let port = options.port.map_or_else(free_port, Ok)?;
        let inspector_port = free_port()?;
        let dir = std::env::temp_dir().join(format!("calcom-e2e-{}-{port}", std::process::id()));
        fs::create_dir_all(&dir)?;

        let mut vars = BTreeMap::from([
            ("STUB_URL".to_owned(), stub.base_url()),
            ("SENDGRID_API_BASE".to_owned(), stub.base_url()),
        ]);
        vars.extend(options.vars.clone());
        let with_consumer = options.with_consumer;
        let batch_timeout = i64::from(options.batch_timeout_secs);
        let mut configs = Vec::new();
        if options.with_gateway {
            configs.push(write_config(
                &dir,
                "tests/dev/wrangler.gateway.toml",
                &vars,
                |doc| {
                    // Without the consumer, the gateway taps booking-events so tests see what was queued.
                    if !with_consumer {
                        let mut tap = toml_edit::Table::new();
                        tap["queue"] = toml_edit::value("booking-events");
                        tap["max_batch_timeout"] = toml_edit::value(1);
                        doc["queues"]["consumers"]
                            .as_array_of_tables_mut()
                            .expect("the gateway consumes the DLQ")
                            .push(tap);
                    }
                },
            )?);
        }
        let producer_queue = options.producer_queue;
        configs.push(write_config(
            &dir,
            "wrangler.producer.toml",
            &vars,
            |doc| {
                if !producer_queue {
                    doc["queues"]
                        .as_table_mut()
                        .expect("the producer has a [queues] table")
                        .remove("producers");
                }
            },
        )?);
        if options.with_gateway {
            // The gateway forwards /admin/* to it.
            configs.push(write_config(&dir, "wrangler.replay.toml", &vars, |_| {})?);
        }
        if with_consumer {
            configs.push(write_config(
                &dir,
                "wrangler.consumer.toml",
                &vars,
                |doc| {
                    // Batches after 1 s (unless a test asks otherwise) instead of the production 5 s.
                    let consumers = doc["queues"]["consumers"].as_array_of_tables_mut();
                    for consumer in consumers.expect("consumer config").iter_mut() {
                        consumer["max_batch_timeout"] = toml_edit::value(batch_timeout);
                    }
                },
            )?);
        }
        let dev_vars: String = options
            .secrets
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect();
        fs::write(dir.join(".dev.vars"), dev_vars)?;

        let wrangler = repo_root().join("node_modules/.bin/wrangler");
        if with_consumer {
            apply_migrations(&wrangler, configs.last().expect("consumer config"), &dir)?;
        }
        let log = fs::File::create(dir.join("wrangler.out"))?;
        let mut cmd = Command::new(&wrangler);
        cmd.arg("dev");
        for c in &configs {
            cmd.arg("-c").arg(c);
        }
        cmd.args(["--ip", "127.0.0.1", "--port", &port.to_string()])
            .args(["--inspector-port", &inspector_port.to_string()])
            .arg("--persist-to")
            .arg(dir.join("state"))
            .args(["--log-level", options.log_level])
            .current_dir(&dir)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("WRANGLER_LOG_PATH", dir.join("wrangler-debug.log"))
            .env("CI", "true")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", wrangler.display())))?;
        spawn_watchdog(child.id())?;
        register_group(child.id());

        let mut pipeline = Pipeline {
            stub,
            port,
            child,
            dir,
        };
        pipeline.wait_ready(Duration::from_secs(120))?;
        Ok(pipeline)
    }

    /// wrangler's process group (it leads its own), where its Node processes and workerd run.
    pub fn process_group(&self) -> u32 {
        self.child.id()
    }

    /// `http://127.0.0.1:PORT` + path: the gateway, which forwards to the producer.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The folder with this run's wrangler configs (`wrangler.consumer.toml`, …) and its local
    /// state (`state/`, for `--persist-to`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file wrangler's and the workers' output goes to.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("wrangler.out")
    }

    /// Everything wrangler and the workers printed so far.
    pub fn logs(&self) -> String {
        fs::read_to_string(self.dir.join("wrangler.out")).unwrap_or_default()
    }

    /// Polls the workers' output until it contains `needle` (log lines arrive asynchronously).
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        poll_until(timeout, || self.logs().contains(needle).then_some(())).is_some()
    }

    /// Runs SQL on the delivery ledger the way an operator would
    /// (`wrangler d1 execute booking-deliveries --local --command …`) and returns the result rows.
    pub fn ledger_sql(&self, sql: &str) -> io::Result<Vec<serde_json::Value>> {
        let out = Command::new(repo_root().join("node_modules/.bin/wrangler"))
            .args([
                "d1",
                "execute",
                "booking-deliveries",
                "--local",
                "--json",
                "--command",
                sql,
            ])
            .arg("-c")
            .arg(self.dir.join("wrangler.consumer.toml"))
            .arg("--persist-to")
            .arg(self.dir.join("state"))
            .current_dir(&self.dir)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("WRANGLER_LOG_PATH", self.dir.join("wrangler-debug.log"))
            .env("CI", "true")
            .stdin(Stdio::null())
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "d1 execute failed:\n{stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let parsed: serde_json::Value = serde_json::from_str(&stdout)
            .map_err(|e| io::Error::other(format!("{e}: {stdout}")))?;
        Ok(parsed[0]["results"].as_array().cloned().unwrap_or_default())
    }

    /// How many lines of the workers' output contain every one of `needles`.
    pub fn count_log_lines(&self, needles: &[&str]) -> usize {
        self.logs()
            .lines()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .count()
    }

    /// Polls until at least `n` log lines contain every one of `needles`.
    pub fn wait_for_log_lines(&self, needles: &[&str], n: usize, timeout: Duration) -> bool {
        poll_until(timeout, || {
            (self.count_log_lines(needles) >= n).then_some(())
        })
        .is_some()
    }

    /// The emails the stub accepted for booking `uid` (their `custom_args.booking_uid`).
    pub fn emails_for(&self, uid: &str) -> Vec<ReceivedEmail> {
        self.stub
            .emails()
            .into_iter()
            .filter(|e| e.body["custom_args"]["booking_uid"] == uid)
            .collect()
    }

    /// Dead letters (the consumer's wrapper bodies, as the dev gateway observed them on the DLQ)
    /// whose original is booking `uid`.
    pub fn dead_letters_for(&self, uid: &str) -> Vec<serde_json::Value> {
        self.stub
            .dead_letters()
            .into_iter()
            .map(|r| r["body"].clone())
            .filter(|b| b["original"]["booking"]["uid"] == uid)
            .collect()
    }

    /// The first dead letter of booking `uid`; panics with the workers' logs if none comes.
    pub fn wait_dead_letter(&self, uid: &str, timeout: Duration) -> serde_json::Value {
        poll_until(timeout, || self.dead_letters_for(uid).into_iter().next())
            .unwrap_or_else(|| panic!("no dead letter for {uid}; logs:\n{}", self.logs()))
    }

    fn wait_ready(&mut self, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        let probe = self.url("/__ready");
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "wrangler exited ({status}):\n{}",
                    self.logs()
                )));
            }
            // The producer answers unknown paths with a JSON 404: then the gateway and the
            // producer are both up.
            if let Ok((404, body)) = crate::http::get(&probe) {
                if body.contains("not_found") {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Err(io::Error::other(format!(
            "wrangler not ready after {timeout:?}:\n{}",
            self.logs()
        )))
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        kill_group(self.child.id());
        let _ = self.child.wait();
        unregister_group(self.child.id());
    }
}

/// The process groups of wrangler commands this process started and has not yet stopped.
static RUNNING_GROUPS: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

fn register_group(group: u32) {
    RUNNING_GROUPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(group);
}

fn unregister_group(group: u32) {
    RUNNING_GROUPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|g| *g != group);
}

/// Stops every wrangler this process started, including the migrations or the `wrangler dev` of
/// a [`Pipeline::start`] still in progress (for a signal handler that must exit now).
pub fn stop_all() {
    let groups = std::mem::take(&mut *RUNNING_GROUPS.lock().unwrap_or_else(|e| e.into_inner()));
    for group in groups {
        kill_group(group);
    }
}

/// Calls `check` every 100 ms until it returns `Some` or `timeout` passes.
pub fn poll_until<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One full pipeline per test process, started on first use (tests share it and tell their
/// bookings apart by uid).
pub fn shared_pipeline() -> &'static Pipeline {
    static PIPELINE: OnceLock<Pipeline> = OnceLock::new();
    PIPELINE.get_or_init(|| {
        Pipeline::start(PipelineOptions::default()).unwrap_or_else(|e| panic!("pipeline: {e}"))
    })
}

/// Builds both workers once per process (skipped with `E2E_SKIP_BUILD=1` when the caller, like
/// `.ci/run`, just built them).
pub fn ensure_built() -> io::Result<()> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if std::env::var_os("E2E_SKIP_BUILD").is_some() {
                return Ok(());
            }
            for krate in ["producer", "consumer", "replay"] {
                let out = Command::new("bash")
                    .arg(repo_root().join("scripts/build-worker.sh"))
                    .arg(krate)
                    .output()
                    .map_err(|e| e.to_string())?;
                if !out.status.success() {
                    return Err(format!(
                        "building {krate} failed:\n{}{}",
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
            }
            Ok(())
        })
        .clone()
        .map_err(io::Error::other)
}

/// Creates the delivery ledger's tables in the local D1 state that `wrangler dev` will use.
fn apply_migrations(wrangler: &Path, consumer_config: &Path, dir: &Path) -> io::Result<()> {
    let child = Command::new(wrangler)
        .args(["d1", "migrations", "apply", "booking-deliveries", "--local"])
        .arg("-c")
        .arg(consumer_config)
        .arg("--persist-to")
        .arg(dir.join("state"))
        .current_dir(dir)
        .env("WRANGLER_SEND_METRICS", "false")
        .env("WRANGLER_LOG_PATH", dir.join("wrangler-debug.log"))
        .env("CI", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, registered while it runs: a signal during start-up stops it too.
        .process_group(0)
        .spawn()?;
    let group = child.id();
    register_group(group);
    let out = child.wait_with_output();
    unregister_group(group);
    let out = out?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "applying D1 migrations failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// Copies a wrangler config with an absolute `main`, without `[build]`, and with `vars` merged
/// into `[vars]`.
fn write_config(
    dir: &Path,
    relative: &str,
    vars: &BTreeMap<String, String>,
    edit: impl FnOnce(&mut toml_edit::DocumentMut),
) -> io::Result<PathBuf> {
    let source = repo_root().join(relative);
    let text = fs::read_to_string(&source)?;
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(io::Error::other)?;
    let main = doc["main"]
        .as_str()
        .ok_or_else(|| io::Error::other(format!("{relative}: no main")))?;
    let main = source.parent().expect("config has a folder").join(main);
    doc["main"] = toml_edit::value(main.to_string_lossy().as_ref());
    doc.remove("build");
    if !doc.contains_key("vars") {
        doc["vars"] = toml_edit::table();
    }
    for (k, v) in vars {
        doc["vars"][k.as_str()] = toml_edit::value(v.as_str());
    }
    // D1 migrations live in the repository, relative to the real config.
    if let Some(databases) = doc
        .get_mut("d1_databases")
        .and_then(|d| d.as_array_of_tables_mut())
    {
        for db in databases.iter_mut() {
            if let Some(dir) = db.get("migrations_dir").and_then(|d| d.as_str()) {
                let dir = source.parent().expect("config has a folder").join(dir);
                db["migrations_dir"] = toml_edit::value(dir.to_string_lossy().as_ref());
            }
        }
    }
    edit(&mut doc);
    let name = Path::new(relative).file_name().expect("config file name");
    let target = dir.join(name);
    fs::write(&target, doc.to_string())?;
    Ok(target)
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Stops wrangler and the workerd processes it started (they share its process group).
fn kill_group(pgid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    // A group id of 0 or 1 would signal our own group or every process: never.
    if pgid <= 1 {
        return;
    }
    // SAFETY: kill(2) with a negative pid signals exactly that process group.
    unsafe { libc::kill(-pgid, libc::SIGTERM) };
    std::thread::sleep(Duration::from_millis(500));
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
}

/// A shell that outlives us only long enough to stop wrangler when this process is gone (a
/// `static` pipeline is never dropped, and a panicking or killed test run skips destructors).
fn spawn_watchdog(pgid: u32) -> io::Result<()> {
    if pgid <= 1 {
        return Err(io::Error::other("refusing to watch process group <= 1"));
    }
    // bash, not sh: dash's `kill` misreads a negative group id as options.
    // When the group is already gone (the owner stopped it) the watchdog ends at once; else it
    // gives wrangler 3 s to stop its workerd processes before killing what is left.
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 1; done; kill -TERM -- -{pgid} 2>/dev/null || exit 0; \
         for _ in $(seq 30); do kill -0 -- -{pgid} 2>/dev/null || exit 0; sleep 0.1; done; kill -KILL -- -{pgid} 2>/dev/null",
        me = std::process::id()
    );
    Command::new("bash")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()?;
    Ok(())
}
