//! CPU seconds of processes and threads, read from Linux's `/proc` (for the load and CPU tools;
//! workerd reports no CPU time of its own locally).

use std::path::Path;

/// Clock ticks per second, the unit of `utime` and `stime` in `/proc/.../stat`.
pub fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// (comm, ppid, pgrp, cpu seconds) from a `/proc/.../stat` file.
pub fn read_stat(path: &Path) -> Option<(String, i64, i64, f64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_owned();
    let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // After ")": state(0) ppid(1) pgrp(2) ... utime(11) stime(12).
    let ppid = fields.get(1)?.parse().ok()?;
    let pgrp = fields.get(2)?.parse().ok()?;
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((comm, ppid, pgrp, (utime + stime) / clock_ticks()))
}

/// A process in a process group, with the CPU seconds it has used so far.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupProcess {
    pub pid: i64,
    pub comm: String,
    /// Its command line, arguments joined with spaces.
    pub cmdline: String,
    pub cpu_seconds: f64,
}

/// Every process of process group `pgrp`.
pub fn group_processes(pgrp: i64) -> Vec<GroupProcess> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i64>().ok())
        else {
            continue;
        };
        let Some((comm, _, group, cpu_seconds)) = read_stat(&entry.path().join("stat")) else {
            continue;
        };
        if group == pgrp {
            let cmdline = std::fs::read(entry.path().join("cmdline"))
                .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
                .unwrap_or_default();
            found.push(GroupProcess {
                pid,
                comm,
                cmdline: cmdline.trim_end().to_owned(),
                cpu_seconds,
            });
        }
    }
    found.sort_by_key(|p| p.pid);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_found_in_its_group_with_its_cpu_time() {
        let me = i64::from(std::process::id());
        let (comm, _, pgrp, cpu) = read_stat(Path::new("/proc/self/stat")).unwrap();
        assert!(!comm.is_empty());
        assert!(cpu >= 0.0);
        let group = group_processes(pgrp);
        assert!(group.iter().any(|p| p.pid == me), "{group:?}");
    }
}
