//! The harness's side of a run: start the `pid1check-launch` helper with a [`RunSpec`], read
//! back the [`Trace`], and kill the helper (and with it, through `PR_SET_PDEATHSIG`, the whole
//! sandbox) if it overruns its deadline.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd as _, OwnedFd};
use std::path::PathBuf;
use std::process::{ChildStderr, ChildStdout, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::spec::RunSpec;
use crate::trace::Trace;

/// Time the launcher gets beyond the run's own deadline before the harness kills it.
const LAUNCHER_MARGIN: Duration = Duration::from_secs(5);

/// How to start the launcher: a program (`pid1check-launch`) and leading arguments (a test
/// runs it under `setpriv`, for one).
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
    let limit = Duration::from_millis(spec.deadline_ms) + LAUNCHER_MARGIN;
    let Some((out, err)) = read_outputs(child.stdout.take(), child.stderr.take(), limit) else {
        // Our own child, not yet waited for: its pid cannot have been reused.
        let _ = child.kill();
        forget_launcher(child.id());
        let _ = child.wait();
        return Err(RunError::Overran {
            margin: LAUNCHER_MARGIN,
        });
    };
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

/// Read the launcher's stdout and stderr to their ends, both at once (reading one to the end
/// before the other could block both sides once the unread one fills its pipe), in this thread:
/// a thread per stream cost each run its start and a wake-up, about a millisecond on a busy
/// machine. `None` when stdout is still open after `limit`; stderr gets up to
/// [`LAUNCHER_MARGIN`] more after stdout's end, then is taken as it is.
fn read_outputs(
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    limit: Duration,
) -> Option<(Vec<u8>, Vec<u8>)> {
    let started = Instant::now();
    let mut streams: [(Option<File>, Vec<u8>); 2] = [
        (stdout.map(|s| File::from(OwnedFd::from(s))), Vec::new()),
        (stderr.map(|s| File::from(OwnedFd::from(s))), Vec::new()),
    ];
    let mut stdout_ended: Option<Instant> = None;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let now = Instant::now();
        if streams[0].0.is_none() {
            let ended = *stdout_ended.get_or_insert(now);
            if streams[1].0.is_none() || now >= ended + LAUNCHER_MARGIN {
                break;
            }
        } else if now >= started + limit {
            return None;
        }
        let until = match stdout_ended {
            Some(ended) => ended + LAUNCHER_MARGIN,
            None => started + limit,
        };
        let open: Vec<usize> = (0..2).filter(|&i| streams[i].0.is_some()).collect();
        let mut fds: Vec<PollFd<'_>> = open
            .iter()
            .filter_map(|&i| streams[i].0.as_ref())
            .map(|file| PollFd::new(file.as_fd(), PollFlags::POLLIN))
            .collect();
        let wait = until.saturating_duration_since(now).as_millis();
        let timeout =
            PollTimeout::try_from(wait.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX);
        if poll(&mut fds, timeout).is_err() {
            // EINTR: look again.
            continue;
        }
        let ready: Vec<usize> = open
            .iter()
            .zip(&fds)
            .filter(|(_, fd)| fd.revents().is_some_and(|r| !r.is_empty()))
            .map(|(&i, _)| i)
            .collect();
        drop(fds);
        for i in ready {
            let (stream, bytes) = &mut streams[i];
            let read = stream.as_mut().map(|file| file.read(&mut chunk));
            match read {
                Some(Ok(0)) | Some(Err(_)) => *stream = None,
                Some(Ok(n)) => bytes.extend_from_slice(&chunk[..n]),
                None => {}
            }
        }
    }
    let [(_, out), (_, err)] = streams;
    Some((out, err))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spawn_sh(script: &str) -> std::process::Child {
        Command::new("sh")
            .args(["-c", script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sh starts")
    }

    #[test]
    fn both_streams_are_read_to_their_ends_even_past_a_pipes_capacity() {
        // 200 kB on stdout then 100 kB on stderr: more than a pipe holds (64 kB), so reading
        // one stream alone to its end would block the writer on the other for ever.
        let mut child =
            spawn_sh("head -c 200000 /dev/zero; head -c 100000 /dev/zero >&2; echo end >&2");
        let read = read_outputs(
            child.stdout.take(),
            child.stderr.take(),
            Duration::from_secs(30),
        );
        let status = child.wait().expect("sh is reaped");
        let (out, err) = read.expect("stdout ended within the limit");
        assert!(status.success());
        assert_eq!(out.len(), 200_000);
        assert_eq!(err.len(), 100_004);
        assert!(err.ends_with(b"end\n"));
    }

    #[test]
    fn a_stdout_still_open_at_the_limit_is_an_overrun() {
        let mut child = spawn_sh("echo partial; exec sleep 30");
        let begun = Instant::now();
        let read = read_outputs(
            child.stdout.take(),
            child.stderr.take(),
            Duration::from_millis(200),
        );
        let waited = begun.elapsed();
        // Our own unreaped child: its pid cannot have been reused.
        child.kill().expect("sleep is killed");
        child.wait().expect("sleep is reaped");
        assert!(read.is_none(), "{read:?}");
        // It gave up at the limit, not before (had it waited for the end, sleep's 30 s
        // would have closed stdout and the read would have succeeded).
        assert!(waited >= Duration::from_millis(200), "{waited:?}");
    }
}
