//! The harness's side of a run: start the `pid1check-launch` helper with a [`RunSpec`], read
//! back the [`Trace`], and kill the helper (and with it, through `PR_SET_PDEATHSIG`, the whole
//! sandbox) if it overruns its deadline.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, mpsc};
use std::time::Duration;

use super::spec::RunSpec;
use crate::trace::Trace;

/// Time the launcher gets beyond the run's own deadline before the harness kills it.
const LAUNCHER_MARGIN: Duration = Duration::from_secs(5);

/// How to start the launcher: a program and leading arguments (`pid1check-launch`, or the
/// xtask binary with a hidden subcommand).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launcher {
    /// The executable.
    pub program: PathBuf,
    /// Arguments before anything else.
    pub args: Vec<OsString>,
}

/// Why a run produced no trace (a harness problem, never the candidate's verdict).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The launcher could not be started.
    #[error("starting the launcher {program}")]
    Spawn {
        /// The launcher's path.
        program: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The launcher ran past the run's deadline and was killed.
    #[error("the launcher overran the run's deadline by {margin:?} and was killed")]
    Overran {
        /// The margin it had.
        margin: Duration,
    },
    /// The launcher failed or printed no trace.
    #[error("the launcher exited with {status}: {stderr}")]
    Failed {
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The end of its stderr.
        stderr: String,
    },
    /// The run spec could not be encoded for the launcher.
    #[error("encoding the run spec")]
    Encode(#[source] serde_json::Error),
    /// Its output was not a trace.
    #[error("decoding the launcher's trace")]
    Decode(#[source] serde_json::Error),
}

/// Execute one run through the launcher and return its raw trace.
pub fn launch(launcher: &Launcher, spec: &RunSpec) -> Result<Trace, RunError> {
    // Registered under the same lock as it is started: an interrupt sees every launcher.
    let mut launchers = lock_launchers();
    let mut child = Command::new(&launcher.program)
        .args(&launcher.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| RunError::Spawn {
            program: launcher.program.clone(),
            source,
        })?;
    launchers.insert(child.id());
    drop(launchers);
    let input = serde_json::to_vec(spec).map_err(RunError::Encode)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A launcher that died early shows up below through its status and stderr.
        let _ = stdin.write_all(&input);
    }
    // Each stream on its own thread: reading one to the end before the other could block both
    // sides once the unread one fills its pipe.
    let drain = |stream: Option<Box<dyn Read + Send>>| {
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut stream) = stream {
                let _ = stream.read_to_end(&mut bytes);
            }
            let _ = sender.send(bytes);
        });
        receiver
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let limit = Duration::from_millis(spec.deadline_ms) + LAUNCHER_MARGIN;
    let Ok(out) = stdout.recv_timeout(limit) else {
        // Our own child, not yet waited for: its pid cannot have been reused.
        let _ = child.kill();
        forget_launcher(child.id());
        let _ = child.wait();
        return Err(RunError::Overran {
            margin: LAUNCHER_MARGIN,
        });
    };
    // stdout closed: the launcher is exiting, and its stderr closes with it.
    let err = stderr.recv_timeout(LAUNCHER_MARGIN).unwrap_or_default();
    forget_launcher(child.id());
    let status = child.wait().map_err(|source| RunError::Spawn {
        program: launcher.program.clone(),
        source,
    })?;
    if !status.success() || out.is_empty() {
        let stderr = String::from_utf8_lossy(&err);
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        return Err(RunError::Failed {
            status,
            stderr: tail.into_iter().rev().collect::<Vec<_>>().join(" / "),
        });
    }
    serde_json::from_slice(&out).map_err(RunError::Decode)
}

/// Launchers started and not yet reaped, so that an interrupt can end them by pid: until a
/// pid leaves this set (under its lock) it is our unreaped child and cannot have been reused.
static LAUNCHERS: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

fn lock_launchers() -> MutexGuard<'static, BTreeSet<u32>> {
    LAUNCHERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Called just before the launcher `pid` is reaped.
fn forget_launcher(pid: u32) {
    lock_launchers().remove(&pid);
}

/// On an interrupt (Ctrl-C on the harness): SIGKILL every launcher still running (each takes
/// its run's PID 1 with it, `PR_SET_PDEATHSIG`), wait until they have exited, then stop the
/// kernel witness and remove its tracefs instance, which cannot be removed while a launcher
/// holds its marker open. The launchers stay unreaped: the process is about to exit.
pub fn end_launchers() {
    let launchers = lock_launchers();
    for &pid in launchers.iter() {
        let pid = nix::unistd::Pid::from_raw(pid as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let flags = nix::sys::wait::WaitPidFlag::WEXITED | nix::sys::wait::WaitPidFlag::WNOWAIT;
        let _ = nix::sys::wait::waitid(nix::sys::wait::Id::Pid(pid), flags);
    }
    crate::observe::witness::close_collectors();
    // Keep the lock: no launcher may be reaped (and its pid reused) before the process exits.
    std::mem::forget(launchers);
}
