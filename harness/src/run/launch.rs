//! The harness's side of a run: ask the launch server ([`super::serve`], started on first use)
//! for a launcher, hand it the [`RunSpec`], read back the [`Trace`], and kill the launcher
//! (and with it, through `PR_SET_PDEATHSIG`, the whole sandbox) if it overruns its deadline.
//! The launcher is the server's child, not ours: it is signalled and waited for through the
//! pidfd the server sends back, never by pid, and its status comes from the server, which
//! reaps it.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd as _, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};

use super::serve::{REQUEST, Reply, SERVE_FLAG};
use super::spec::RunSpec;
use crate::sandbox::sys;
use crate::trace::Trace;

/// Time the launcher gets beyond the run's own deadline before the harness kills it; also how
/// long the server may take to report a launcher's exit once it has ended.
const LAUNCHER_MARGIN: Duration = Duration::from_secs(5);

/// How to start the launcher: a program (`pid1check-launch`) and leading arguments (a test
/// runs it under `setpriv`, for one). The launch server is `program args... --serve`.
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
    /// The launch server ended (was killed) before it reported the launcher's exit; the
    /// launcher died with it.
    #[error("the launch server ended during the run: {stderr}")]
    ServerLost {
        /// The end of the launcher's stderr.
        stderr: String,
    },
    /// The run spec could not be encoded for the launcher.
    #[error("encoding the run spec")]
    Encode(#[source] serde_json::Error),
    /// Its output was not a trace.
    #[error("decoding the launcher's trace")]
    Decode(#[source] serde_json::Error),
}

/// Execute one run through a launcher forked by the launch server and return its raw trace.
pub fn launch(launcher: &Launcher, spec: &RunSpec) -> Result<Trace, RunError> {
    let input = serde_json::to_vec(spec).map_err(RunError::Encode)?;
    let spawn_error = |source: std::io::Error| RunError::Spawn {
        program: launcher.program.clone(),
        source,
    };
    let server = server_for(launcher)?;
    let (stdin_theirs, stdin) = std::io::pipe().map_err(spawn_error)?;
    let (stdout, stdout_theirs) = std::io::pipe().map_err(spawn_error)?;
    let (stderr, stderr_theirs) = std::io::pipe().map_err(spawn_error)?;
    let (reply, reply_theirs) = seqpacket_pair().map_err(spawn_error)?;
    // Registered under the same lock as it is started: an interrupt sees every launcher.
    let mut launchers = lock_launchers();
    let sent = sys::send_with_fds(
        server.socket.as_fd(),
        REQUEST,
        &[
            stdin_theirs.as_fd(),
            stdout_theirs.as_fd(),
            stderr_theirs.as_fd(),
            reply_theirs.as_fd(),
        ],
    );
    // The launcher holds them now: our copies would keep its stdout open (and the reply
    // channel from ending if the server dies).
    drop((stdin_theirs, stdout_theirs, stderr_theirs, reply_theirs));
    sent.map_err(|source| {
        server.running.store(false, Ordering::Release);
        spawn_error(source)
    })?;
    // Bounded: the lock that an interrupt needs is held meanwhile.
    let pidfd = match receive_reply(reply.as_fd(), Some(LAUNCHER_MARGIN)) {
        Ok(Some((Reply::Started { .. }, mut fds))) if fds.len() == 1 => Arc::new(fds.remove(0)),
        Ok(Some((Reply::NotStarted { errno }, _))) => {
            return Err(spawn_error(std::io::Error::from_raw_os_error(errno)));
        }
        Ok(_) => {
            // Gone or stuck: the next run starts a new one.
            server.running.store(false, Ordering::Release);
            return Err(spawn_error(std::io::Error::other(
                "the launch server did not fork the launcher",
            )));
        }
        Err(source) => return Err(spawn_error(source)),
    };
    let id = NEXT_LAUNCHER.fetch_add(1, Ordering::Relaxed);
    launchers.insert(id, Arc::clone(&pidfd));
    drop(launchers);
    let mut stdin = stdin;
    // A launcher that died early shows up below through its status and stderr.
    let _ = stdin.write_all(&input);
    drop(stdin);
    let limit = Duration::from_millis(spec.deadline_ms) + LAUNCHER_MARGIN;
    let outputs = read_outputs(Some(stdout.into()), Some(stderr.into()), limit);
    if outputs.is_none() {
        let _ = sys::pidfd_send_signal(&pidfd, libc::SIGKILL);
    }
    // Its end (through the pidfd, which stays readable once it has exited), then its status.
    wait_readable(pidfd.as_fd(), None);
    let status = receive_reply(reply.as_fd(), Some(LAUNCHER_MARGIN));
    forget_launcher(id);
    let Some((out, err)) = outputs else {
        return Err(RunError::Overran {
            margin: LAUNCHER_MARGIN,
        });
    };
    let stderr_tail = || {
        let stderr = String::from_utf8_lossy(&err);
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
    };
    let status = match status {
        Ok(Some((Reply::Exited { wait_status }, _))) => {
            std::process::ExitStatus::from_raw(wait_status)
        }
        _ => {
            server.running.store(false, Ordering::Release);
            return Err(RunError::ServerLost {
                stderr: stderr_tail(),
            });
        }
    };
    if !status.success() || out.is_empty() {
        return Err(RunError::Failed {
            status,
            stderr: stderr_tail(),
        });
    }
    serde_json::from_slice(&out).map_err(RunError::Decode)
}

/// A connected pair of close-on-exec `SOCK_SEQPACKET` Unix sockets: messages keep their
/// bounds, and a closed peer reads as the end.
fn seqpacket_pair() -> std::io::Result<(OwnedFd, OwnedFd)> {
    Ok(socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?)
}

/// One reply of the server on a run's channel, waiting up to `timeout` (forever with `None`).
/// `Ok(None)` when the channel ended (the server is gone), the time ran out, or the message is
/// not a reply.
fn receive_reply(
    channel: BorrowedFd<'_>,
    timeout: Option<Duration>,
) -> std::io::Result<Option<(Reply, Vec<OwnedFd>)>> {
    if !wait_readable(channel, timeout) {
        return Ok(None);
    }
    let mut buffer = [0u8; Reply::LEN];
    Ok(sys::receive_with_fds(channel, &mut buffer)?
        .and_then(|(length, fds)| Some((Reply::decode(&buffer[..length])?, fds))))
}

/// poll(2)'s timeout for waiting from `now` until `until` (zero once it has passed).
fn poll_timeout_until(until: Instant, now: Instant) -> PollTimeout {
    let ms = until.saturating_duration_since(now).as_millis();
    PollTimeout::try_from(ms.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
}

/// Wait until `fd` is readable (or hung up), up to `timeout` (forever with `None`); whether it
/// became so.
fn wait_readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> bool {
    let until = timeout.map(|t| Instant::now() + t);
    loop {
        let wait = match until {
            None => PollTimeout::NONE,
            Some(until) => poll_timeout_until(until, Instant::now()),
        };
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match poll(&mut fds, wait) {
            Ok(0) => return false,
            Ok(_) => return true,
            Err(Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
}

/// Which launch server: its host pid, and a number no other server of this process has (a
/// pid can be reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchServer {
    /// Its host pid.
    pub pid: i32,
    /// Counts the servers this process started.
    pub serial: u64,
}

/// The launch server that forks the launchers of `launcher`, started if none runs: the kernel
/// witness follows it.
pub fn launch_server(launcher: &Launcher) -> Result<LaunchServer, RunError> {
    Ok(server_for(launcher)?.id)
}

/// A launch server: its socket and whether it still runs.
struct Server {
    id: LaunchServer,
    launcher: Launcher,
    /// The harness's end; the server's end is its stdin.
    socket: OwnedFd,
    /// Cleared when it exits (by the thread that waits for it) or stops answering.
    running: Arc<AtomicBool>,
}

/// The launch servers of this process, one per [`Launcher`].
static SERVERS: Mutex<Vec<Arc<Server>>> = Mutex::new(Vec::new());
static NEXT_SERVER: AtomicU64 = AtomicU64::new(0);

/// The running server of `launcher`, started if there is none.
fn server_for(launcher: &Launcher) -> Result<Arc<Server>, RunError> {
    let mut servers = SERVERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    servers.retain(|server| server.running.load(Ordering::Acquire));
    if let Some(server) = servers.iter().find(|s| s.launcher == *launcher) {
        return Ok(Arc::clone(server));
    }
    let server = Arc::new(start_server(launcher)?);
    servers.push(Arc::clone(&server));
    Ok(server)
}

/// Start `program args... --serve` with its socket as stdin, from a thread of its own that
/// waits for it: `PR_SET_PDEATHSIG` fires when the *thread* that started a process ends
/// (prctl(2)), and the matrix's worker threads come and go; this one lives as long as the
/// server. The server's stderr is ours (its own errors only: each launcher gets its run's).
fn start_server(launcher: &Launcher) -> Result<Server, RunError> {
    let spawn_error = |source: std::io::Error| RunError::Spawn {
        program: launcher.program.clone(),
        source,
    };
    let (ours, theirs) = seqpacket_pair().map_err(spawn_error)?;
    let mut command = Command::new(&launcher.program);
    command
        .args(&launcher.args)
        .arg(SERVE_FLAG)
        .stdin(Stdio::from(theirs))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let running = Arc::new(AtomicBool::new(true));
    let (started, spawned) = std::sync::mpsc::channel::<std::io::Result<u32>>();
    let cleared = Arc::clone(&running);
    std::thread::Builder::new()
        .name("launch server".to_owned())
        .spawn(move || {
            let child = command.spawn();
            // Closes our copy of the server's end: the server alone holds it.
            drop(command);
            match child {
                Err(error) => {
                    cleared.store(false, Ordering::Release);
                    let _ = started.send(Err(error));
                }
                Ok(mut child) => {
                    let _ = started.send(Ok(child.id()));
                    let _ = child.wait();
                    cleared.store(false, Ordering::Release);
                }
            }
        })
        .map_err(spawn_error)?;
    let pid = spawned
        .recv()
        .unwrap_or_else(|_| Err(std::io::Error::other("the launch server's thread ended")))
        .map_err(spawn_error)?;
    Ok(Server {
        id: LaunchServer {
            pid: pid as i32,
            serial: NEXT_SERVER.fetch_add(1, Ordering::Relaxed),
        },
        launcher: launcher.clone(),
        socket: ours,
        running,
    })
}

/// Read the launcher's stdout and stderr to their ends, both at once (reading one to the end
/// before the other could block both sides once the unread one fills its pipe), in this thread:
/// a thread per stream cost each run its start and a wake-up, about a millisecond on a busy
/// machine. `None` when stdout is still open after `limit`; stderr gets up to
/// [`LAUNCHER_MARGIN`] more after stdout's end, then is taken as it is.
fn read_outputs(
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    limit: Duration,
) -> Option<(Vec<u8>, Vec<u8>)> {
    let started = Instant::now();
    let mut streams: [(Option<File>, Vec<u8>); 2] = [
        (stdout.map(File::from), Vec::new()),
        (stderr.map(File::from), Vec::new()),
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
        if poll(&mut fds, poll_timeout_until(until, now)).is_err() {
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

/// Launchers started and not yet reaped, by a number of their own, so that an interrupt can end
/// them: through their pidfds, which cannot reach another process whatever happened to the pid.
static LAUNCHERS: Mutex<BTreeMap<u64, Arc<OwnedFd>>> = Mutex::new(BTreeMap::new());
static NEXT_LAUNCHER: AtomicU64 = AtomicU64::new(0);

fn lock_launchers() -> MutexGuard<'static, BTreeMap<u64, Arc<OwnedFd>>> {
    LAUNCHERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Called once the launcher `id` has been reaped.
fn forget_launcher(id: u64) {
    lock_launchers().remove(&id);
}

/// On an interrupt (Ctrl-C on the harness): SIGKILL every launcher still running (each takes
/// its run's PID 1 with it, `PR_SET_PDEATHSIG`), wait until they have exited (their pidfds
/// readable), then stop the kernel witness and remove its tracefs instance, which cannot be
/// removed while a launcher holds its marker open. The lock is kept: no launcher starts after
/// this, the process is about to exit (and its launch servers with it).
pub fn end_launchers() {
    let launchers = lock_launchers();
    for pidfd in launchers.values() {
        let _ = sys::pidfd_send_signal(pidfd, libc::SIGKILL);
    }
    for pidfd in launchers.values() {
        wait_readable(pidfd.as_fd(), None);
    }
    crate::observe::witness::close_collectors();
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
            child.stdout.take().map(OwnedFd::from),
            child.stderr.take().map(OwnedFd::from),
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
            child.stdout.take().map(OwnedFd::from),
            child.stderr.take().map(OwnedFd::from),
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
