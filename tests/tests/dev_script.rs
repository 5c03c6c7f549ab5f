//! `scripts/dev.sh` stops everything it started, on a terminal's Ctrl-C (SIGINT to its process
//! group) and on SIGTERM to the script, and a second start on the same ports then succeeds.
//!
//! The real script runs, told by its environment to skip what the test process already did (the
//! tool set-up, the release build of the workers, compiling the pipeline program). While it
//! serves, the test records every process descending from it (wrangler's Node processes, the
//! workerd processes, the harness's watchdog) from `/proc`; after the signal, each of them must
//! be gone (or a zombie) within a bounded time, and so must every member of the script's own
//! process group.

use std::collections::BTreeMap;
use std::fs;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::pipeline::{ensure_built, poll_until, repo_root};

/// One process as `/proc/PID/stat` shows it.
#[derive(Clone, Debug, PartialEq)]
struct Proc {
    pid: i32,
    ppid: i32,
    pgrp: i32,
    state: char,
    /// Start time in clock ticks since boot: tells a process from a later one with its pid.
    start: u64,
    comm: String,
    cmdline: String,
}

fn read_proc(pid: i32) -> Option<Proc> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // After ")": state(0) ppid(1) pgrp(2) ... starttime(19).
    let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .unwrap_or_default();
    Some(Proc {
        pid,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        state: fields.first()?.chars().next()?,
        start: fields.get(19)?.parse().ok()?,
        comm: text[open + 1..close].to_owned(),
        cmdline: cmdline.trim_end().to_owned(),
    })
}

fn all_procs() -> Vec<Proc> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter_map(read_proc)
        .collect()
}

/// `root` and every process descending from it.
fn tree(root: i32) -> Vec<Proc> {
    let procs = all_procs();
    let mut children: BTreeMap<i32, Vec<&Proc>> = BTreeMap::new();
    for p in &procs {
        children.entry(p.ppid).or_default().push(p);
    }
    let mut found: Vec<Proc> = procs.iter().filter(|p| p.pid == root).cloned().collect();
    let mut next = 0;
    while next < found.len() {
        let pid = found[next].pid;
        found.extend(
            children
                .get(&pid)
                .into_iter()
                .flatten()
                .map(|p| (*p).clone()),
        );
        next += 1;
    }
    found
}

/// Still running: the same process (same start time) and not a zombie.
fn alive(p: &Proc) -> bool {
    read_proc(p.pid).is_some_and(|now| now.start == p.start && now.state != 'Z')
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[derive(Clone, Copy, Debug)]
enum Stop {
    /// A terminal's Ctrl-C: SIGINT to the script's whole process group.
    InterruptGroup,
    /// SIGTERM to the script's pid only.
    TerminateScript,
}

/// `scripts/dev.sh`, started as a terminal would: leading its own process group.
struct DevScript {
    child: Child,
    output: PathBuf,
    /// Every process seen under the script (see `tree`), for the clean-up of a failed test.
    seen: Vec<Proc>,
}

impl DevScript {
    fn start(port: u16, stub_port: u16, output: PathBuf) -> DevScript {
        let log = fs::File::create(&output).expect("output file");
        let child = Command::new("bash")
            .arg(repo_root().join("scripts/dev.sh"))
            .env("DEV_PORT", port.to_string())
            .env("DEV_STUB_PORT", stub_port.to_string())
            .env("DEV_SKIP_SETUP", "1")
            .env("DEV_PIPELINE_BIN", env!("CARGO_BIN_EXE_pipeline"))
            .env("E2E_SKIP_BUILD", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("output file"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("bash scripts/dev.sh");
        DevScript {
            child,
            output,
            seen: Vec::new(),
        }
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits")
    }

    fn output(&self) -> String {
        fs::read_to_string(&self.output).unwrap_or_default()
    }

    /// Waits until the script says it is ready (after which Ctrl-C takes the serving path), the
    /// webhook answers through the gateway and the stub's inbox answers.
    fn wait_serving(&mut self, port: u16, stub_port: u16) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("dev.sh exited early ({status}):\n{}", self.output());
            }
            let producer = e2e::http::get(&format!("http://127.0.0.1:{port}/__ready"));
            let inbox = e2e::http::get(&format!("http://127.0.0.1:{stub_port}/"));
            if matches!(&producer, Ok((404, body)) if body.contains("not_found"))
                && matches!(inbox, Ok((200, _)))
                && self.output().contains("Ctrl-C stops everything")
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "dev.sh not serving after 120 s:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn signal(&self, stop: Stop) {
        let pid = self.pid();
        assert!(pid > 1);
        // SAFETY: kill(2) with a positive pid signals that process; with a negative one, exactly
        // that process group (the script leads its own, see `start`).
        let rc = unsafe {
            match stop {
                Stop::InterruptGroup => libc::kill(-pid, libc::SIGINT),
                Stop::TerminateScript => libc::kill(pid, libc::SIGTERM),
            }
        };
        assert_eq!(rc, 0, "kill {stop:?}");
    }
}

impl Drop for DevScript {
    /// A failed test still leaves nothing behind: kill whatever of the tree is left.
    fn drop(&mut self) {
        let pid = self.pid();
        let mut left: Vec<Proc> = self.seen.iter().filter(|p| alive(p)).cloned().collect();
        left.extend(tree(pid));
        for p in left {
            if p.pid > 1 {
                // SAFETY: signals one process of the script's own tree.
                unsafe { libc::kill(p.pid, libc::SIGKILL) };
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Signals the script, waits for it to exit, then until nothing it started is left: no process
/// seen under it (same start time, not a zombie), and no member of any process group they were
/// in (the script's own, wrangler's, the watchdog's), which also covers a workerd spawned after
/// the snapshot.
fn stop_and_check_gone(dev: &mut DevScript, stop: Stop, what: &str) {
    let pid = dev.pid();
    let mut started = tree(pid);
    dev.seen.extend(started.iter().cloned());
    dev.signal(stop);
    let exited = poll_until(Duration::from_secs(20), || {
        dev.child.try_wait().ok().flatten()
    });
    assert!(
        exited.is_some(),
        "{what}: dev.sh still running 20 s after {stop:?}:\n{}",
        dev.output()
    );
    // Anything that appeared between the snapshot and the signal.
    started.extend(tree(pid));
    let mut groups: Vec<i32> = started.iter().map(|p| p.pgrp).collect();
    groups.push(pid);
    groups.retain(|g| *g > 1);
    // wrangler gets 0.5 s to stop its workerd processes, then its group is killed; the watchdog
    // notices within a second that it has nothing left to do.
    let survivors = || -> Vec<String> {
        started
            .iter()
            .filter(|p| alive(p))
            .cloned()
            .chain(
                all_procs()
                    .into_iter()
                    .filter(|p| groups.contains(&p.pgrp) && p.state != 'Z'),
            )
            .map(|p| format!("{} {} (group {}): {}", p.pid, p.comm, p.pgrp, p.cmdline))
            .collect()
    };
    if poll_until(Duration::from_secs(15), || {
        survivors().is_empty().then_some(())
    })
    .is_none()
    {
        panic!(
            "{what}: 15 s after {stop:?} these are still running:\n{}\noutput:\n{}",
            survivors().join("\n"),
            dev.output()
        );
    }
    let output = dev.output();
    assert!(
        output.contains("stopping wrangler") && output.contains("pipeline: stopped"),
        "{what}: dev.sh did not say it stopped:\n{output}"
    );
}

fn stop_and_check(stop: Stop) {
    ensure_built().expect("workers built");
    let (port, stub_port) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("calcom-dev-script-{}-{port}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();

    // Signalled while starting: as soon as wrangler runs, before the workers are up.
    let mut early = DevScript::start(port, stub_port, dir.join("dev-starting.out"));
    let wrangler_seen = poll_until(Duration::from_secs(60), || {
        tree(early.pid())
            .iter()
            .any(|p| p.cmdline.contains("wrangler"))
            .then_some(())
    });
    assert!(
        wrangler_seen.is_some(),
        "wrangler never started:\n{}",
        early.output()
    );
    stop_and_check_gone(&mut early, stop, "while starting");

    // Then twice while serving, on the same ports: the second start proves they were released.
    for round in 1..=2 {
        let what = format!("serving, round {round}");
        let mut dev = DevScript::start(port, stub_port, dir.join(format!("dev-{round}.out")));
        dev.wait_serving(port, stub_port);
        let started = tree(dev.pid());
        let names: Vec<String> = started.iter().map(|p| p.comm.clone()).collect();
        assert!(
            started.iter().any(|p| p.comm.starts_with("workerd")),
            "{what}: no workerd under dev.sh: {names:?}"
        );
        assert!(
            started.iter().any(|p| p.cmdline.contains("wrangler")),
            "{what}: no wrangler under dev.sh: {names:?}"
        );
        stop_and_check_gone(&mut dev, stop, &what);
    }
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn ctrl_c_to_the_process_group_stops_everything_and_a_restart_works() {
    stop_and_check(Stop::InterruptGroup);
}

#[test]
fn sigterm_to_the_script_stops_everything_and_a_restart_works() {
    stop_and_check(Stop::TerminateScript);
}
