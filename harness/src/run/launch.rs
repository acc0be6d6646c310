//! The harness's side of a run: start the `pid1check-launch` helper with a [`RunSpec`], read
//! back the [`Trace`], and kill the helper (and with it, through `PR_SET_PDEATHSIG`, the whole
//! sandbox) if it overruns its deadline.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
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
        remove_witness_instances(&child);
        let _ = child.wait();
        return Err(RunError::Overran {
            margin: LAUNCHER_MARGIN,
        });
    };
    // stdout closed: the launcher is exiting, and its stderr closes with it.
    let err = stderr.recv_timeout(LAUNCHER_MARGIN).unwrap_or_default();
    remove_witness_instances(&child);
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

/// Once the launcher has exited (waited for without reaping it, so its pid cannot be reused
/// meanwhile), remove any witness instance it left: a launcher killed before its drop ran
/// leaves one.
fn remove_witness_instances(child: &std::process::Child) {
    remove_instances_once_exited(child.id() as i32);
}

/// Wait until our child `pid` has exited, without reaping it, then remove its witness
/// instances.
fn remove_instances_once_exited(pid: i32) -> Vec<String> {
    let flags = nix::sys::wait::WaitPidFlag::WEXITED | nix::sys::wait::WaitPidFlag::WNOWAIT;
    let id = nix::sys::wait::Id::Pid(nix::unistd::Pid::from_raw(pid));
    match nix::sys::wait::waitid(id, flags) {
        Ok(_) => crate::observe::witness::remove_instances_of(pid),
        Err(_) => Vec::new(),
    }
}

/// On an interrupt (Ctrl-C on the harness): end every launcher of this process that has a
/// witness instance, and remove the instances. A launcher dies of SIGINT or of
/// `PR_SET_PDEATHSIG` without running its drop, so its instance would stay; killing it here
/// first (it is our own child: its pid cannot have been reused) and waiting for it to exit
/// lets the instance be removed before the harness exits. Returns the instances removed.
pub fn end_witnessed_launchers() -> Vec<String> {
    let me = std::process::id() as i32;
    let mut removed = Vec::new();
    for name in crate::observe::witness::list_instances() {
        let Some(pid) = crate::observe::witness::instance_launcher(&name) else {
            continue;
        };
        let ours = procfs::process::Process::new(pid)
            .and_then(|p| p.stat())
            .is_ok_and(|stat| stat.ppid == me);
        if !ours {
            continue;
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        removed.extend(remove_instances_once_exited(pid));
    }
    removed
}
