//! The /proc observer: which processes belong to a run's PID namespace, with their pid inside
//! it and their state (zombie, stopped, ...). Read from the host's /proc, so it works whatever
//! the candidate does to its own /proc mount.

/// One process of a run's PID namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamespaceProcess {
    /// Pid on the host.
    pub host_pid: i32,
    /// Pid inside the run's namespace (the last `NSpid` entry).
    pub ns_pid: i32,
    /// Its state when read.
    pub state: ProcessState,
}

impl NamespaceProcess {
    /// State `Z`: exited, not yet reaped by its parent.
    pub fn zombie(&self) -> bool {
        self.state == ProcessState::Zombie
    }

    /// State `T`: stopped by a stop signal (job control), until SIGCONT or SIGKILL.
    pub fn stopped(&self) -> bool {
        self.state == ProcessState::Stopped
    }
}

/// A process's state, the third field of `/proc/PID/stat` (proc(5)). Only the states the
/// scans act on are told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessState {
    /// `R`: running or runnable.
    Running,
    /// `S` or `D`: asleep (waiting for a signal, a child, I/O).
    Sleeping,
    /// `T`: stopped by SIGSTOP, SIGTSTP, SIGTTIN or SIGTTOU.
    Stopped,
    /// `t`: stopped by a tracer (ptrace), which is not job control.
    TracingStop,
    /// `Z`: exited, not yet reaped.
    Zombie,
    /// Any other letter (`X` dead, `I` idle, ...).
    Other(char),
}

impl ProcessState {
    /// The state a `/proc/PID/stat` letter stands for.
    pub fn from_letter(letter: char) -> ProcessState {
        match letter {
            'R' => ProcessState::Running,
            'S' | 'D' => ProcessState::Sleeping,
            'T' => ProcessState::Stopped,
            't' => ProcessState::TracingStop,
            'Z' => ProcessState::Zombie,
            other => ProcessState::Other(other),
        }
    }
}

/// The state in the text of a `/proc/PID/stat` file: the first field after the command name,
/// which is in parentheses and may itself hold spaces and parentheses, so the state follows
/// the last `)`. `None` when the text is not a stat line.
pub fn parse_stat_state(stat: &str) -> Option<ProcessState> {
    let (_, after_comm) = stat.rsplit_once(')')?;
    let letter = after_comm.strip_prefix(' ')?.chars().next()?;
    Some(ProcessState::from_letter(letter))
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
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let state = parse_stat_state(&stat)?;
            let process = procfs::process::Process::new(pid).ok()?;
            let ns_pid = *process.status().ok()?.nspid?.last()?;
            Some(NamespaceProcess {
                host_pid: pid,
                ns_pid,
                state,
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
    use super::{ProcessState, blocks_signal, parse_stat_state};

    #[test]
    fn the_state_is_the_field_after_the_last_parenthesis() {
        // A command name may hold spaces, parentheses and state-like letters.
        let table = [
            ("probe", 'T', ProcessState::Stopped),
            ("a) Z (b", 'S', ProcessState::Sleeping),
            ("T) T", 'Z', ProcessState::Zombie),
            ("x", 'D', ProcessState::Sleeping),
            ("x", 'R', ProcessState::Running),
            // A tracing stop is not a job-control stop.
            ("gdb target", 't', ProcessState::TracingStop),
            ("x", 'X', ProcessState::Other('X')),
        ];
        for (comm, letter, state) in table {
            let line = format!("4242 ({comm}) {letter} 1 4242 4242 0 -1");
            assert_eq!(parse_stat_state(&line), Some(state), "{line}");
        }
        for broken in ["", "4242", "4242 (probe)", "4242 (probe)T", "4242 probe T"] {
            assert_eq!(parse_stat_state(broken), None, "{broken:?}");
        }
    }

    #[test]
    fn reads_the_state_of_a_stopped_child_from_proc() {
        // A child of the test, stopped and then read through /proc as the scans read it.
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("start sleep");
        let pid = child.id() as i32;
        let state = || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("its stat");
            parse_stat_state(&stat).expect("a stat line")
        };
        let nix_pid = nix::unistd::Pid::from_raw(pid);
        nix::sys::signal::kill(nix_pid, nix::sys::signal::Signal::SIGSTOP).expect("SIGSTOP");
        // WUNTRACED returns once it has stopped.
        let waited = nix::sys::wait::waitpid(nix_pid, Some(nix::sys::wait::WaitPidFlag::WUNTRACED));
        assert!(
            matches!(waited, Ok(nix::sys::wait::WaitStatus::Stopped(_, _))),
            "{waited:?}"
        );
        assert_eq!(state(), ProcessState::Stopped);
        let _ = child.kill();
        let _ = child.wait();
    }

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
