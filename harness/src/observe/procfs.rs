//! The /proc observer: which processes belong to a run's PID namespace, with their pid inside
//! it and whether they are zombies. Read from the host's /proc, so it works whatever the
//! candidate does to its own /proc mount.

use std::os::unix::fs::MetadataExt;

/// One process of a run's PID namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamespaceProcess {
    /// Pid on the host.
    pub host_pid: i32,
    /// Pid inside the run's namespace (the last `NSpid` entry).
    pub ns_pid: i32,
    /// State `Z`: exited, not yet reaped by its parent.
    pub zombie: bool,
}

/// Every process whose PID namespace has inode `pid_namespace`. Processes that vanish while
/// the scan reads them are skipped: they are no longer there to report.
pub fn scan_namespace(pid_namespace: u64) -> Vec<NamespaceProcess> {
    let Ok(all) = procfs::process::all_processes() else {
        return Vec::new();
    };
    let mut found: Vec<NamespaceProcess> = all
        .filter_map(Result::ok)
        .filter(|process| {
            std::fs::metadata(format!("/proc/{}/ns/pid", process.pid))
                .is_ok_and(|m| m.ino() == pid_namespace)
        })
        .filter_map(|process| {
            let zombie = process.stat().ok()?.state == 'Z';
            let ns_pid = *process.status().ok()?.nspid?.last()?;
            Some(NamespaceProcess {
                host_pid: process.pid,
                ns_pid,
                zombie,
            })
        })
        .collect();
    found.sort_by_key(|p| p.ns_pid);
    found
}

/// Whether host process `host_pid` blocks `signal` (its `SigBlk` mask in
/// `/proc/PID/status`); `None` when the process is gone or the mask unreadable. LXC reads the
/// same mask to tell systemd (which blocks SIGRTMIN+3 to read it from a signalfd) from others.
pub fn blocks_signal(host_pid: i32, signal: i32) -> Option<bool> {
    let status = std::fs::read_to_string(format!("/proc/{host_pid}/status")).ok()?;
    let mask = status
        .lines()
        .find_map(|line| line.strip_prefix("SigBlk:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())?;
    let bit = u32::try_from(signal.checked_sub(1)?).ok()?;
    Some(bit < 64 && mask & (1u64 << bit) != 0)
}

#[cfg(test)]
mod tests {
    use super::blocks_signal;

    #[test]
    fn reads_the_blocked_mask_of_a_process() {
        // The test thread blocks nothing by default; SIGRTMIN+3 is not blocked, and a
        // process that does not exist has no mask.
        let me = std::process::id() as i32;
        assert_eq!(blocks_signal(me, libc::SIGRTMIN() + 3), Some(false));
        assert_eq!(blocks_signal(i32::MAX, libc::SIGTERM), None);
    }
}
