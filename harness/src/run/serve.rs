//! The launch server, `pid1check-launch --serve`: one long-lived, single-threaded process per
//! harness process (and [`super::Launcher`]) that forks each run's launcher, so that a run no
//! longer pays for the exec and dynamic loading of the launcher binary (about 2 ms of a debug
//! build's start, `cargo xtask bench`).
//!
//! The harness's end of its socket is its only way in. Each request carries the run's
//! descriptors: the launcher's stdin, stdout and stderr pipes and a reply channel. The server
//! forks; the child puts the pipes on 0, 1 and 2, closes everything else (the server's socket,
//! other runs' channels) and is from then on the launcher an exec'd `pid1check-launch` would
//! be ([`run_one`]). On the reply channel the server sends the child's pidfd, and once it has
//! reaped the child, its wait status.
//!
//! Nothing is left behind: the server dies when the harness does (end of its socket, and
//! `PR_SET_PDEATHSIG` tied to the harness thread that waits for it), each launcher dies with
//! the server (its own `PR_SET_PDEATHSIG`), and PID 1 with its launcher.

use std::io::Write as _;
use std::os::fd::{AsFd as _, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use nix::unistd::{Pid, dup2_stderr, dup2_stdin, dup2_stdout, getpid, getppid};

use super::driver::run_one;
use crate::sandbox::sys::{self, Cloned};

/// The argument that makes `pid1check-launch` a server (after the launcher's own arguments).
pub(crate) const SERVE_FLAG: &str = "--serve";

/// The request's one byte; the descriptors ride with it: [`REQUEST_FDS`] of them.
pub(super) const REQUEST: &[u8] = b"r";
/// stdin, stdout, stderr, reply channel.
pub(super) const REQUEST_FDS: usize = 4;

/// What the server says on a run's reply channel: one message each, a tag byte and an `i32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reply {
    /// The launcher was forked; its pidfd is attached.
    Started {
        /// Its host pid (for messages only: the pidfd is what is used).
        pid: i32,
    },
    /// The fork failed with this errno.
    NotStarted {
        /// The errno of `clone3`.
        errno: i32,
    },
    /// The server reaped the launcher: its raw wait status.
    Exited {
        /// As `waitpid(2)` fills it.
        wait_status: i32,
    },
}

impl Reply {
    /// Length of every encoded reply.
    pub(super) const LEN: usize = 5;

    pub(super) fn encode(self) -> [u8; Reply::LEN] {
        let (tag, value) = match self {
            Reply::Started { pid } => (b'P', pid),
            Reply::NotStarted { errno } => (b'E', errno),
            Reply::Exited { wait_status } => (b'S', wait_status),
        };
        let mut bytes = [tag, 0, 0, 0, 0];
        bytes[1..].copy_from_slice(&value.to_le_bytes());
        bytes
    }

    pub(super) fn decode(bytes: &[u8]) -> Option<Reply> {
        let (&tag, value) = bytes.split_first()?;
        let value = i32::from_le_bytes(value.try_into().ok()?);
        match tag {
            b'P' => Some(Reply::Started { pid: value }),
            b'E' => Some(Reply::NotStarted { errno: value }),
            b'S' => Some(Reply::Exited { wait_status: value }),
            _ => None,
        }
    }
}

/// A launcher forked and not yet reaped.
struct Served {
    pid: i32,
    pidfd: OwnedFd,
    reply: OwnedFd,
}

/// The server's `main`: serve requests on stdin (the socket the harness started it with) until
/// the harness closes its end. Returns the process exit code.
pub(super) fn serve() -> i32 {
    // The harness thread that started us waits for us for as long as we live: if the harness
    // dies, so do we, and every launcher after us.
    if let Err(errno) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        eprintln!("pid1check-launch --serve: PR_SET_PDEATHSIG: {errno}");
        return 2;
    }
    let stdin = std::io::stdin();
    let socket = stdin.as_fd();
    let server = getpid();
    let mut runs: Vec<Served> = Vec::new();
    loop {
        let mut fds = vec![PollFd::new(socket, PollFlags::POLLIN)];
        fds.extend(
            runs.iter()
                .map(|run| PollFd::new(run.pidfd.as_fd(), PollFlags::POLLIN)),
        );
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(errno) => {
                eprintln!("pid1check-launch --serve: poll: {errno}");
                return 2;
            }
        }
        let ready = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
        let request = ready(&fds[0]);
        let exited: Vec<bool> = fds[1..].iter().map(ready).collect();
        drop(fds);
        // Reap first: a reaped launcher's reply channel is closed before the next fork.
        let mut index = 0;
        runs.retain(|run| {
            let keep = !exited[index] || !reap(run);
            index += 1;
            keep
        });
        if !request {
            continue;
        }
        let mut buffer = [0u8; 16];
        match sys::receive_with_fds(socket, &mut buffer) {
            // The harness is gone: the launchers die with us (their PR_SET_PDEATHSIG).
            Ok(None) => return 0,
            Ok(Some((length, fds))) => {
                if &buffer[..length] == REQUEST
                    && let Ok(fds) = <[OwnedFd; REQUEST_FDS]>::try_from(fds)
                    && let Some(run) = fork_launcher(server, fds)
                {
                    runs.push(run);
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) => {
                eprintln!("pid1check-launch --serve: receiving a request: {error}");
                return 2;
            }
        }
    }
}

/// Reap `run` if it has exited and send its status; whether it was reaped.
fn reap(run: &Served) -> bool {
    match sys::reap_raw(run.pid) {
        Ok(Some(wait_status)) => {
            // A harness thread that stopped listening needs no answer.
            let _ = send_reply(run.reply.as_fd(), Reply::Exited { wait_status }, &[]);
            true
        }
        Ok(None) => false,
        // Not our child any more (cannot happen: only this loop reaps): stop watching it.
        Err(_) => true,
    }
}

fn send_reply(
    channel: BorrowedFd<'_>,
    reply: Reply,
    fds: &[BorrowedFd<'_>],
) -> std::io::Result<()> {
    sys::send_with_fds(channel, &reply.encode(), fds)
}

/// Fork the launcher of one request; the parent's record of it, or `None` if the fork failed
/// (the harness was told why).
fn fork_launcher(server: Pid, fds: [OwnedFd; REQUEST_FDS]) -> Option<Served> {
    // SAFETY: the server is single-threaded (its `main` starts no thread).
    match unsafe { sys::fork_with_pidfd() } {
        Ok(Cloned::Child) => become_launcher(server, fds),
        Ok(Cloned::Parent { pid, pidfd }) => {
            let [stdin, stdout, stderr, reply] = fds;
            // The launcher holds the pipes now; the server keeps only what it answers on.
            drop((stdin, stdout, stderr));
            // A harness thread that stopped listening still gets its launcher reaped.
            let _ = send_reply(reply.as_fd(), Reply::Started { pid }, &[pidfd.as_fd()]);
            Some(Served { pid, pidfd, reply })
        }
        Err(error) => {
            let errno = error.raw_os_error().unwrap_or(libc::EIO);
            let _ = send_reply(fds[3].as_fd(), Reply::NotStarted { errno }, &[]);
            None
        }
    }
}

/// In the forked child: become the run's launcher, as an exec'd `pid1check-launch` would be,
/// and exit without ever returning into the server's loop.
fn become_launcher(server: Pid, fds: [OwnedFd; REQUEST_FDS]) -> ! {
    // Die with the server; if it died before the prctl, the parent is already someone else.
    if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err() || getppid() != server {
        sys::exit_immediately(2);
    }
    let [stdin, stdout, stderr, _reply] = &fds;
    if dup2_stdin(stdin).is_err() || dup2_stdout(stdout).is_err() || dup2_stderr(stderr).is_err() {
        sys::exit_immediately(2);
    }
    drop(fds);
    // What is left above stderr is the server's: other runs' reply channels and pidfds, which
    // this process must not hold (a harness waits for their end). Their owners in this copy of
    // the server's memory are never dropped: the child leaves through `_exit`.
    if sys::close_fds_from(3).is_err() {
        sys::exit_immediately(2);
    }
    // A panic must not unwind into the copy of the server's loop.
    let code = std::panic::catch_unwind(run_one).unwrap_or(101);
    let _ = std::io::stdout().flush();
    sys::exit_immediately(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_survive_their_encoding() {
        for reply in [
            Reply::Started { pid: 4_194_304 },
            Reply::NotStarted {
                errno: libc::EAGAIN,
            },
            Reply::Exited { wait_status: 0x8b },
            Reply::Exited { wait_status: -1 },
        ] {
            assert_eq!(Reply::decode(&reply.encode()), Some(reply));
        }
        assert_eq!(Reply::decode(b"S\0\0\0"), None, "too short");
        assert_eq!(Reply::decode(b"X\0\0\0\0"), None, "unknown tag");
    }
}
