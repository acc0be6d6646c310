//! The /proc observer: which processes belong to a run's PID namespace, with their pid inside
//! it and whether they are zombies. Read from the host's /proc, so it works whatever the
//! candidate does to its own /proc mount.

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
///
/// One `fstatat` per process of the machine, relative to one open `/proc` (a path lookup per
/// process from `/` and an extra open cost twice as much, and the scan runs at least once per
/// run); only the run's own processes are read further.
pub fn scan_namespace(pid_namespace: u64) -> Vec<NamespaceProcess> {
    let Ok(proc_dir) = std::fs::File::open("/proc") else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found: Vec<NamespaceProcess> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            nix::sys::stat::fstatat(
                &proc_dir,
                format!("{pid}/ns/pid").as_str(),
                nix::fcntl::AtFlags::empty(),
            )
            .is_ok_and(|stat| stat.st_ino == pid_namespace)
        })
        .filter_map(|pid| {
            let process = procfs::process::Process::new(pid).ok()?;
            let zombie = process.stat().ok()?.state == 'Z';
            let ns_pid = *process.status().ok()?.nspid?.last()?;
            Some(NamespaceProcess {
                host_pid: pid,
                ns_pid,
                zombie,
            })
        })
        .collect();
    found.sort_by_key(|p| p.ns_pid);
    found
}
