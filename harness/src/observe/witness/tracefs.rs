//! The only part of the witness that touches the operating system: a tracefs instance
//! (`instances/pid1check-<owner pid>-<counter>`) of the harness process that owns it, so the
//! machine's global trace settings (`tracing_on`, `set_event`, the top-level buffer) are
//! never written and other tracing users are not disturbed.
//!
//! The instance records only the thread that created it and what it forks from then on
//! (`set_event_pid` with the `event-fork` option): the harness's worker threads, their
//! launchers and the runs' processes, whatever else the machine does. Creating and removing
//! an instance, clearing it or changing its pid filter each wait for RCU grace periods
//! (about 50 ms for `rmdir` here, serialised by the kernel), which would cost more than the
//! runs themselves if done per run: so one instance serves a whole matrix, set up once, and
//! runs only write marks (see [`super::collector`]).
//!
//! When tracefs is not mounted and the harness is root, it mounts it at /sys/kernel/tracing
//! and leaves it mounted: a mounted tracefs with nothing enabled traces nothing, and
//! unmounting it under another user of it would break that user.
//!
//! It is disabled and removed on drop. An owner killed before its drop runs (SIGKILL, a
//! timeout, a terminal's Ctrl-C on a test binary) leaves its instance:
//! [`remove_stale_instances`] removes those whose owner is gone; every collector calls it
//! before it creates its own instance, and `cargo xtask conformance` when it starts and ends.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Where tracefs is mounted.
pub const TRACEFS: &str = "/sys/kernel/tracing";
/// The name prefix of every instance the witness creates.
pub const INSTANCE_PREFIX: &str = "pid1check-";
/// Per-CPU ring buffer of an instance. A run records tens to a few hundred events of about
/// 100 bytes, and a reader consumes them as they come; an overrun is detected and reported,
/// never ignored.
const BUFFER_SIZE_KB: u32 = 512;
/// The tracepoints the witness enables, as `events/` subdirectories.
pub const EVENTS: [&str; 4] = [
    "signal/signal_generate",
    "signal/signal_deliver",
    "sched/sched_process_fork",
    "sched/sched_process_exit",
];

/// Instances created by this process so far: the counter of the next name.
static CREATED: AtomicU32 = AtomicU32::new(0);

/// Why the witness could not run or read its events.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// Only root (in the initial user namespace) may create tracefs instances.
    #[error("the kernel witness needs root: tracefs instances at {path} are root's")]
    NeedsRoot {
        /// Where tracefs is (or would be) mounted.
        path: PathBuf,
    },
    /// Mounting tracefs failed.
    #[error("mounting tracefs at {path}")]
    Mount {
        /// The mount point.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: nix::Error,
    },
    /// The instance directory could not be created.
    #[error("creating the tracefs instance {path}")]
    CreateInstance {
        /// The instance's directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A control file could not be written.
    #[error("writing {value:?} to {path}")]
    Write {
        /// The control file.
        path: PathBuf,
        /// What was written.
        value: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file of the instance could not be read.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The ring buffer overwrote events before they were read: the record is incomplete.
    #[error("the ring buffer overran: {lost} events were lost")]
    Overrun {
        /// Events lost, summed over the CPUs.
        lost: u64,
    },
}

/// A live tracefs instance recording the witness's events for one thread and what it forks.
#[derive(Debug)]
pub struct TraceInstance {
    dir: PathBuf,
    marker: Option<File>,
}

impl TraceInstance {
    /// Create and enable an instance of this process that records the thread `tid` of this
    /// process and every task it creates from now on (threads included). Mounts tracefs first
    /// when it is not mounted and this process is root.
    pub fn create(tid: i32) -> Result<TraceInstance, WitnessError> {
        let root = Path::new(TRACEFS);
        ensure_mounted(root)?;
        let counter = CREATED.fetch_add(1, Ordering::Relaxed);
        let owner = std::process::id();
        let dir = root
            .join("instances")
            .join(format!("{INSTANCE_PREFIX}{owner}-{counter}"));
        std::fs::create_dir(&dir).map_err(|source| WitnessError::CreateInstance {
            path: dir.clone(),
            source,
        })?;
        // From here on, drop removes the instance whatever fails next.
        let mut instance = TraceInstance { dir, marker: None };
        instance.write("tracing_on", "0")?;
        instance.write("buffer_size_kb", &BUFFER_SIZE_KB.to_string())?;
        // `mono` is CLOCK_MONOTONIC, the clock of the probes' reports and the actions.
        instance.write("trace_clock", "mono")?;
        // Wake a reader on every event, not when the buffer is half full.
        instance.write("buffer_percent", "0")?;
        instance.write("options/event-fork", "1")?;
        instance.write("set_event_pid", &tid.to_string())?;
        for event in EVENTS {
            instance.write(&format!("events/{event}/enable"), "1")?;
        }
        let marker_path = instance.dir.join("trace_marker");
        let marker = OpenOptions::new()
            .write(true)
            .open(&marker_path)
            .map_err(|source| WitnessError::Write {
                path: marker_path,
                value: String::new(),
                source,
            })?;
        instance.marker = Some(marker);
        instance.write("tracing_on", "1")?;
        Ok(instance)
    }

    /// The instance's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The instance's `trace_marker`: what a process writes there becomes a line of the trace.
    pub fn marker_path(&self) -> PathBuf {
        self.dir.join("trace_marker")
    }

    /// Write `text` into the trace.
    pub fn mark(&mut self, text: &str) -> Result<(), WitnessError> {
        let path = self.marker_path();
        match &mut self.marker {
            Some(marker) => {
                marker
                    .write_all(text.as_bytes())
                    .map_err(|source| WitnessError::Write {
                        path,
                        value: text.to_owned(),
                        source,
                    })
            }
            None => Ok(()),
        }
    }

    /// Record the process `pid` too, and what it forks from now on: its pid is added to
    /// `set_event_pid` (opened without `O_TRUNC`, which would clear the list:
    /// kernel/trace/trace_events.c, ftrace_event_set_pid_open).
    pub fn follow(&self, pid: i32) -> Result<(), WitnessError> {
        let path = self.dir.join("set_event_pid");
        let value = pid.to_string();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut file| file.write_all(value.as_bytes()))
            .map_err(|source| WitnessError::Write {
                path,
                value,
                source,
            })
    }

    /// Open the instance's `trace_pipe` for non-blocking, consuming reads.
    pub fn open_pipe(&self) -> Result<File, WitnessError> {
        let path = self.dir.join("trace_pipe");
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .map_err(|source| WitnessError::Read { path, source })
    }

    /// Events overwritten before they were read, summed over the CPUs' `stats` files.
    pub fn overruns(&self) -> Result<u64, WitnessError> {
        let per_cpu = self.dir.join("per_cpu");
        let entries = std::fs::read_dir(&per_cpu).map_err(|source| WitnessError::Read {
            path: per_cpu.clone(),
            source,
        })?;
        let mut lost = 0;
        for entry in entries.flatten() {
            let path = entry.path().join("stats");
            let stats = std::fs::read_to_string(&path)
                .map_err(|source| WitnessError::Read { path, source })?;
            lost += stats
                .lines()
                .filter_map(|line| line.strip_prefix("overrun:"))
                .filter_map(|n| n.trim().parse::<u64>().ok())
                .sum::<u64>();
        }
        Ok(lost)
    }

    fn write(&self, file: &str, value: &str) -> Result<(), WitnessError> {
        write_control(&self.dir.join(file), value)
    }
}

impl Drop for TraceInstance {
    fn drop(&mut self) {
        self.marker = None;
        disable_and_remove(&self.dir);
    }
}

fn write_control(path: &Path, value: &str) -> Result<(), WitnessError> {
    std::fs::write(path, value).map_err(|source| WitnessError::Write {
        path: path.to_path_buf(),
        value: value.to_owned(),
        source,
    })
}

/// How many times removing an instance is tried while the kernel says it is busy (10 ms apart).
const REMOVE_ATTEMPTS: u32 = 50;

/// Turn an instance off and remove it. Best effort: an instance that cannot be removed is
/// found again by [`remove_stale_instances`].
fn disable_and_remove(dir: &Path) {
    let _ = write_control(&dir.join("tracing_on"), "0");
    for event in EVENTS {
        let _ = write_control(&dir.join(format!("events/{event}/enable")), "0");
    }
    // The kernel refuses (EBUSY) while a file of the instance is open (kernel/trace/trace.c:
    // __remove_instance checks tr->ref). The holder is short-lived, most likely a child that
    // another thread is spawning (until it execs it holds copies of the reader's and the
    // marker's descriptors): tests spawn while other tests drop collectors. Without
    // this retry, 3 of 57 runs of the witness tests under load left an instance that went
    // stale when the test binary exited; with it, every refusal (5 in 40 runs) was over at the
    // first retry.
    for _ in 0..REMOVE_ATTEMPTS {
        match std::fs::remove_dir(dir) {
            Err(error) if error.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            _ => return,
        }
    }
}

fn ensure_mounted(root: &Path) -> Result<(), WitnessError> {
    if !nix::unistd::geteuid().is_root() {
        return Err(WitnessError::NeedsRoot {
            path: root.to_path_buf(),
        });
    }
    if root.join("instances").is_dir() {
        return Ok(());
    }
    nix::mount::mount(
        Some("tracefs"),
        root,
        Some("tracefs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|source| WitnessError::Mount {
        path: root.to_path_buf(),
        source,
    })
}

/// The owner's pid in an instance name `pid1check-<pid>-<counter>`.
pub fn instance_owner(name: &str) -> Option<i32> {
    let rest = name.strip_prefix(INSTANCE_PREFIX)?;
    let (pid, counter) = rest.split_once('-')?;
    counter.parse::<u32>().ok()?;
    pid.parse().ok()
}

/// The witness's instances present now, by name.
pub fn list_instances() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(Path::new(TRACEFS).join("instances")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| instance_owner(name).is_some())
        .collect();
    names.sort();
    names
}

/// Remove every witness instance whose owner is gone (no such process, or a zombie: it can
/// no longer use it). Returns the names removed. Instances of live owners are left alone:
/// they belong to runs in progress, possibly of another harness.
pub fn remove_stale_instances() -> Vec<String> {
    let instances = Path::new(TRACEFS).join("instances");
    list_instances()
        .into_iter()
        .filter(|name| instance_owner(name).is_some_and(|pid| !process_alive(pid)))
        .filter(|name| {
            let dir = instances.join(name);
            disable_and_remove(&dir);
            !dir.exists()
        })
        .collect()
}

/// Whether `pid` is a live process (present and not a zombie).
fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the comm's closing parenthesis.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::instance_owner;

    #[test]
    fn only_names_of_our_shape_are_ours() {
        assert_eq!(instance_owner("pid1check-4242-0"), Some(4242));
        assert_eq!(instance_owner("pid1check-4242-17"), Some(4242));
        assert_eq!(instance_owner("pid1check-probe-manual"), None);
        assert_eq!(instance_owner("pid1check-4242"), None);
        assert_eq!(instance_owner("other-4242-0"), None);
    }
}
