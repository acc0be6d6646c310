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
    /// It has begun to exit (`PF_EXITING` in its flags) but is not a zombie yet: its files are
    /// being closed and its parent has not been told. A zombie scan that read only states
    /// would see no zombie here and stop looking a moment too early.
    pub exiting: bool,
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

/// `PF_EXITING` (include/linux/sched.h): set by `exit_signals` at the start of `do_exit`
/// (kernel/exit.c), before the files are closed and long before `exit_notify` makes the
/// process a zombie and signals its parent.
const PF_EXITING: u64 = 0x4;

/// What the scans read from a `/proc/PID/stat` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatLine {
    /// The state letter's meaning.
    pub state: ProcessState,
    /// `PF_EXITING` is set and the state is not yet `Z`.
    pub exiting: bool,
}

/// The state and exit flag in the text of a `/proc/PID/stat` file: the state is the first
/// field after the command name, which is in parentheses and may itself hold spaces and
/// parentheses, so the fields follow the last `)`; the flags are the seventh field after it
/// (proc(5): state ppid pgrp session tty_nr tpgid flags). `None` when the text is not a stat
/// line.
pub fn parse_stat(stat: &str) -> Option<StatLine> {
    let (_, after_comm) = stat.rsplit_once(')')?;
    let mut fields = after_comm.strip_prefix(' ')?.split(' ');
    let letter = fields.next()?;
    let mut letters = letter.chars();
    let (Some(letter), None) = (letters.next(), letters.next()) else {
        return None;
    };
    let state = ProcessState::from_letter(letter);
    let flags: u64 = fields.nth(5)?.parse().ok()?;
    Some(StatLine {
        state,
        exiting: flags & PF_EXITING != 0 && state != ProcessState::Zombie,
    })
}

/// Every process whose PID namespace has inode `pid_namespace`. Processes that vanish while
/// the scan reads them are skipped: they are no longer there to report.
///
/// One `readlinkat` of `PID/ns/pid` per process of the machine, relative to one open `/proc`,
/// and only the run's own processes are read further: the scan runs several times per run. The
/// link's text (`pid:[INODE]`) is formatted from the namespace's number, where a `stat` through
/// the link makes the kernel find or build the namespace's dentry and inode first
/// (fs/proc/namespaces.c, proc_ns_readlink; fs/nsfs.c, ns_get_path): that was 6 % of a
/// `cargo xtask bench` run's CPU.
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
            nix::fcntl::readlinkat(&proc_dir, format!("{pid}/ns/pid").as_str()).is_ok_and(|link| {
                link.to_str().and_then(pid_namespace_of_link) == Some(pid_namespace)
            })
        })
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let StatLine { state, exiting } = parse_stat(&stat)?;
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let ns_pid = parse_innermost_ns_pid(&status)?;
            Some(NamespaceProcess {
                host_pid: pid,
                ns_pid,
                state,
                exiting,
            })
        })
        .collect();
    found.sort_by_key(|p| p.ns_pid);
    found
}

/// What `/proc/PID/status` says about `signal` for host process `host_pid`: whether it is in
/// the `SigBlk` mask, and whether the process was at rest (asleep in an interruptible wait,
/// state `S`, or stopped) when read. `None` when the process is gone or the file unreadable.
///
/// LXC reads the same mask to tell systemd (which blocks SIGRTMIN+3 for its signalfd) from
/// other inits. The mask of a process asleep in `sigtimedwait` shows the signals it waits for
/// as unblocked (kernel/signal.c, do_sigtimedwait narrows `blocked` for the wait), so it is
/// only meaningful together with the state. Two things are stricter than one read's `State`:
/// an uninterruptible sleep (`D`: a page fault, a lock) is not a wait for signals, so only `S`
/// (or a stop) counts; and one read of the file is not one instant (fs/proc/array.c,
/// proc_pid_status writes `State` before `SigBlk`), so the file is read twice and the process
/// counts as at rest only if both reads say so with the same mask and the same number of
/// voluntary context switches (written last): then it slept throughout.
pub fn blocks_signal(host_pid: i32, signal: i32) -> Option<BlockedRead> {
    let read = || std::fs::read_to_string(format!("/proc/{host_pid}/status")).ok();
    let first = read()?;
    let second = read()?;
    blocked_between(&first, &second, signal)
}

/// [`blocks_signal`] from two consecutive texts of the same `/proc/PID/status`.
fn blocked_between(first: &str, second: &str, signal: i32) -> Option<BlockedRead> {
    let look = |status: &str| -> Option<(u64, bool, Option<u64>)> {
        let mask = parse_signal_mask(status, "SigBlk")?;
        // Asleep waiting for signals (S), or stopped (T, t): its mask cannot change until it
        // runs again.
        let running = !status_field(status, "State")?.starts_with(['S', 'T', 't']);
        let switches =
            status_field(status, "voluntary_ctxt_switches").and_then(|count| count.parse().ok());
        Some((mask, running, switches))
    };
    let (mask, running, switches) = look(second)?;
    let (first_mask, first_running, first_switches) = look(first)?;
    let slept_throughout =
        !running && !first_running && mask == first_mask && switches == first_switches;
    let bit = u32::try_from(signal.checked_sub(1)?).ok()?;
    Some(BlockedRead {
        blocked: bit < 64 && mask & (1u64 << bit) != 0,
        running: !slept_throughout,
    })
}

/// The signals host process `host_pid` ignores (`SigIgn` of `/proc/PID/status`, bit N-1 for
/// signal N); `None` when it is gone or the file unreadable.
pub fn ignored_signals(host_pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{host_pid}/status")).ok()?;
    parse_signal_mask(&status, "SigIgn")
}

/// The value of field `name` in a `/proc/PID/status` text (`Name:\tvalue` lines, proc(5)),
/// trimmed. Read directly: the procfs crate's parse of the whole file cost a debug build
/// about half a millisecond per process, and the scans run several times per run.
fn status_field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status.lines().find_map(|line| {
        let (field, value) = line.split_once(':')?;
        (field == name).then(|| value.trim())
    })
}

/// A hexadecimal signal mask field of a `/proc/PID/status` text (`SigBlk`, `SigIgn`, ...).
fn parse_signal_mask(status: &str, name: &str) -> Option<u64> {
    u64::from_str_radix(status_field(status, name)?, 16).ok()
}

/// The inode number in a `/proc/PID/ns/pid` link's text, `pid:[4026531836]`.
fn pid_namespace_of_link(link: &str) -> Option<u64> {
    link.strip_prefix("pid:[")?.strip_suffix(']')?.parse().ok()
}

/// A process's pid in the innermost PID namespace it belongs to: the last entry of `NSpid`
/// in a `/proc/PID/status` text (pid_namespaces(7): one pid per nesting level, outermost
/// first, as seen from the reader's namespace).
fn parse_innermost_ns_pid(status: &str) -> Option<i32> {
    status_field(status, "NSpid")?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}

/// One read of a process's blocked mask, see [`blocks_signal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockedRead {
    /// The signal is in `SigBlk`.
    pub blocked: bool,
    /// The process was running, in an uninterruptible sleep, or woke while the mask was read:
    /// not a mask at rest.
    pub running: bool,
}

#[cfg(test)]
mod tests {
    use super::{
        BlockedRead, ProcessState, blocked_between, blocks_signal, ignored_signals,
        parse_innermost_ns_pid, parse_signal_mask, parse_stat, pid_namespace_of_link,
    };

    /// The fields as a kernel writes them (tab after the colon), around look-alike names.
    const STATUS: &str = "Name:\tprobe\nState:\tS (sleeping)\nTgid:\t4242\n\
        NStgid:\t4242\t7\t1\nPid:\t4242\nNSpid:\t4242\t7\t1\nNSpgid:\t4242\t7\t3\n\
        SigQ:\t0/63431\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n\
        SigBlk:\t0000000000010000\nSigIgn:\t0000000000001004\nSigCgt:\t0000000000000002\n";

    #[test]
    fn the_namespace_link_names_the_inode_that_stat_sees() {
        use std::os::unix::fs::MetadataExt;
        let link = std::fs::read_link("/proc/self/ns/pid").expect("our own namespace link");
        let inode = std::fs::metadata("/proc/self/ns/pid")
            .expect("stat through the link")
            .ino();
        assert_eq!(
            link.to_str().and_then(pid_namespace_of_link),
            Some(inode),
            "{link:?}"
        );
        for malformed in ["net:[4026531840]", "pid:[]", "pid:[12", "pid:[x]", ""] {
            assert_eq!(pid_namespace_of_link(malformed), None, "{malformed}");
        }
    }

    #[test]
    fn status_fields_are_read_by_their_exact_name() {
        // NSpid, not NStgid or NSpgid: the last entry is the innermost namespace's pid.
        assert_eq!(parse_innermost_ns_pid(STATUS), Some(1));
        assert_eq!(
            parse_innermost_ns_pid("NSpid:\t4242\n"),
            Some(4242),
            "a process of the reader's own namespace has one entry"
        );
        // SIGCHLD (17) blocked; SIGQUIT (3) and SIGPIPE (13) ignored.
        assert_eq!(parse_signal_mask(STATUS, "SigBlk"), Some(1 << 16));
        assert_eq!(
            parse_signal_mask(STATUS, "SigIgn"),
            Some((1 << 2) | (1 << 12))
        );
        for broken in ["", "NSpid:\n", "SigIgn:\tzz\n", "NSpids:\t3\n"] {
            assert_eq!(parse_innermost_ns_pid(broken), None, "{broken:?}");
            assert_eq!(parse_signal_mask(broken, "SigIgn"), None, "{broken:?}");
        }
    }

    #[test]
    fn the_signals_a_process_ignores_are_read_from_proc() {
        // A child that ignores SIGTERM and nothing else it was not given: sh's `trap '' TERM`.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "trap '' TERM; exec sleep 30"])
            .spawn()
            .expect("sh starts");
        let pid = child.id() as i32;
        let mut ignored = None;
        for _ in 0..200 {
            ignored = ignored_signals(pid);
            if ignored.is_some_and(|mask| mask & (1 << 14) != 0) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // Our own unreaped child: its pid cannot have been reused.
        child.kill().expect("sleep is killed");
        child.wait().expect("sleep is reaped");
        assert!(
            ignored.is_some_and(|mask| mask & (1 << 14) != 0),
            "SIGTERM (15) not ignored: {ignored:x?}"
        );
        assert_eq!(ignored_signals(i32::MAX), None);
    }

    #[test]
    fn the_state_is_the_field_after_the_last_parenthesis() {
        // A command name may hold spaces, parentheses and state-like letters. Flags 0x400100
        // (PF_FORKNOEXEC | PF_RANDOMIZE) are a live process's, 0x400104 one that is exiting.
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
            let line = format!("4242 ({comm}) {letter} 1 4242 4242 0 -1 4194560 88 0");
            let read = parse_stat(&line);
            assert_eq!(read.map(|r| r.state), Some(state), "{line}");
            assert_eq!(read.map(|r| r.exiting), Some(false), "{line}");
        }
        for broken in [
            "",
            "4242",
            "4242 (probe)",
            "4242 (probe)T",
            "4242 probe T",
            "4242 (probe) T 1 4242 4242 0 -1",
            "4242 (probe) TS 1 4242 4242 0 -1 4194560",
            "4242 (probe) S 1 4242 4242 0 -1 0x400100",
        ] {
            assert_eq!(parse_stat(broken), None, "{broken:?}");
        }
    }

    #[test]
    fn exiting_is_pf_exiting_before_the_zombie_state() {
        let read = |letter: char, flags: u64| {
            parse_stat(&format!("7 (sleep) {letter} 1 7 7 0 -1 {flags} 0 0"))
                .map(|line| line.exiting)
        };
        assert_eq!(read('R', 0x0040_0104), Some(true), "closing its files");
        assert_eq!(read('D', 0x0040_0104), Some(true), "asleep in do_exit");
        assert_eq!(
            read('Z', 0x0040_0104),
            Some(false),
            "a zombie is past exiting"
        );
        assert_eq!(read('S', 0x0040_0100), Some(false), "alive");
        // Bit 2 alone: PF_EXITING is 0x4, not 0x2 (PF_IDLE) or 0x8 (PF_POSTCOREDUMP).
        assert_eq!(read('R', 0x2), Some(false));
        assert_eq!(read('R', 0x8), Some(false));
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
            parse_stat(&stat).expect("a stat line").state
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

    /// tini asleep in sigtimedwait shows SIGRTMIN+3 (signal 37, bit 36) unblocked; awake, every
    /// signal blocked. A read that caught it waking (asleep, then its waking mask), two reads
    /// with a context switch between them, and a process running or in an uninterruptible
    /// sleep are not a mask at rest.
    #[test]
    fn a_mask_counts_as_at_rest_only_if_both_reads_slept_through_the_same_sleep() {
        let status = |state: &str, mask: &str, switches: u32| {
            format!("State:\t{state}\nSigBlk:\t{mask}\nvoluntary_ctxt_switches:\t{switches}\n")
        };
        let waiting = "ffffffeffffbfeff";
        let awake = "fffffffffffbfeff";
        let rt3 = libc::SIGRTMIN() + 3;
        let asleep = status("S (sleeping)", waiting, 40);
        assert_eq!(
            blocked_between(&asleep, &asleep, rt3),
            Some(BlockedRead {
                blocked: false,
                running: false
            })
        );
        let torn = status("S (sleeping)", awake, 40);
        let after = status("S (sleeping)", waiting, 41);
        for (first, second) in [(&asleep, &torn), (&torn, &after), (&asleep, &after)] {
            assert_eq!(
                blocked_between(first, second, rt3).map(|read| read.running),
                Some(true),
                "{first:?} then {second:?}"
            );
        }
        for state in ["R (running)", "D (disk sleep)"] {
            let awake = status(state, awake, 40);
            assert_eq!(
                blocked_between(&awake, &awake, rt3),
                Some(BlockedRead {
                    blocked: true,
                    running: true
                }),
                "{state}"
            );
        }
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
