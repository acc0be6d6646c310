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
