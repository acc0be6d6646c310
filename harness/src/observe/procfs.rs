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

/// What `/proc/PID/status` says about `signal` for host process `host_pid`: whether it is in
/// the `SigBlk` mask, and whether the process was running (state `R`) when read. `None` when
/// the process is gone or the file unreadable.
///
/// LXC reads the same mask to tell systemd (which blocks SIGRTMIN+3 for its signalfd) from
/// other inits. The mask of a process asleep in `sigtimedwait` shows the signals it waits for
/// as unblocked (kernel/signal.c, do_sigtimedwait narrows `blocked` for the wait), so it is
/// only meaningful together with the state.
pub fn blocks_signal(host_pid: i32, signal: i32) -> Option<BlockedRead> {
    let status = std::fs::read_to_string(format!("/proc/{host_pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(str::trim)
    };
    let mask = u64::from_str_radix(field("SigBlk:")?, 16).ok()?;
    let running = field("State:")?.starts_with('R');
    let bit = u32::try_from(signal.checked_sub(1)?).ok()?;
    Some(BlockedRead {
        blocked: bit < 64 && mask & (1u64 << bit) != 0,
        running,
    })
}

/// One read of a process's blocked mask, see [`blocks_signal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockedRead {
    /// The signal is in `SigBlk`.
    pub blocked: bool,
    /// The process was running, not asleep, when the mask was read.
    pub running: bool,
}

#[cfg(test)]
mod tests {
    use super::blocks_signal;

    #[test]
    fn reads_the_blocked_mask_of_a_process() {
        // The test thread blocks nothing by default; SIGRTMIN+3 is not blocked, and a
        // process that does not exist has no mask.
        let me = std::process::id() as i32;
        let read = blocks_signal(me, libc::SIGRTMIN() + 3).expect("our own status");
        assert!(!read.blocked);
        assert_eq!(blocks_signal(i32::MAX, libc::SIGTERM), None);
    }
}
