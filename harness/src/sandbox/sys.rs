//! Every `unsafe` block of the harness: the raw syscalls nix does not wrap (clone3 with a
//! pidfd, pidfd_send_signal, real-time signal dispositions, waitpid's raw status) and taking
//! ownership of descriptors the kernel hands over (SCM_RIGHTS). Each block says why it is sound.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd as _, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};

/// Result of [`clone_into_namespaces`], as for `fork`.
pub(crate) enum Cloned {
    /// We are the new process.
    Child,
    /// We are the caller; the child has this host pid and pidfd.
    Parent {
        /// Host pid of the child.
        pid: i32,
        /// A pidfd for the child: signals and waits through it cannot hit a recycled pid.
        pidfd: OwnedFd,
    },
}

/// `struct clone_args` of `clone3(2)` (linux/sched.h), version 0 layout plus `set_tid`.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `clone3` with fork semantics (no new stack) into the namespaces in `flags`, returning a
/// pidfd for the child (`CLONE_PIDFD`). The child receives `SIGCHLD`-style exit notification.
///
/// # Safety
/// The calling process must be single-threaded: like `fork`, the child continues with a copy
/// of the caller's memory, and locks held by other threads would never be released there.
pub(crate) unsafe fn clone_into_namespaces(flags: libc::c_int) -> io::Result<Cloned> {
    let mut pidfd: RawFd = -1;
    let mut args = CloneArgs {
        flags: (flags as u64) | (libc::CLONE_PIDFD as u64),
        pidfd: std::ptr::addr_of_mut!(pidfd) as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    // SAFETY: `args` is a valid, fully initialised clone_args of the size we pass; stack = 0
    // gives fork semantics, so the child returns here on a copy of this stack; the caller
    // guarantees there are no other threads whose state the child would inherit half-done.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            std::ptr::addr_of_mut!(args),
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Cloned::Child),
        pid => {
            // SAFETY: with CLONE_PIDFD the kernel stored a fresh, owned fd in `pidfd`.
            let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
            Ok(Cloned::Parent {
                pid: pid as i32,
                pidfd,
            })
        }
    }
}

/// `fork` that also returns a pidfd for the child (`clone3` with `CLONE_PIDFD` and no
/// namespace flags): no window in which the child's pid could be reused before it is held.
///
/// # Safety
/// As [`clone_into_namespaces`]: the calling process must be single-threaded.
pub(crate) unsafe fn fork_with_pidfd() -> io::Result<Cloned> {
    // SAFETY: the caller guarantees this process is single-threaded.
    unsafe { clone_into_namespaces(0) }
}

/// `waitpid(pid, WNOHANG)`: reap the child `pid` if it has exited, returning its raw wait
/// status (as `std::os::unix::process::ExitStatusExt::from_raw` takes it); `None` while it
/// runs.
pub(crate) fn reap_raw(pid: i32) -> io::Result<Option<i32>> {
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` is a valid int for waitpid to fill.
        let ret = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        match ret {
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            -1 => return Err(io::Error::last_os_error()),
            0 => return Ok(None),
            _ => return Ok(Some(status)),
        }
    }
}

/// Close every descriptor from `first` up (`close_range(first, ~0, 0)`): a forked launcher
/// keeps its own 0, 1 and 2 and nothing of the server's (its socket, other runs' channels).
pub(crate) fn close_fds_from(first: u32) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments; the caller no longer uses (nor will drop)
    // any descriptor in the range.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0 as libc::c_uint) };
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Send `bytes` as one message on a Unix socket with `fds` attached (`SCM_RIGHTS`). Never
/// raises SIGPIPE: a closed peer is `EPIPE`.
pub(crate) fn send_with_fds(
    socket: BorrowedFd<'_>,
    bytes: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<()> {
    let raw: Vec<RawFd> = fds.iter().map(|fd| fd.as_raw_fd()).collect();
    let rights = [ControlMessage::ScmRights(&raw)];
    let cmsgs: &[ControlMessage<'_>] = if raw.is_empty() { &[] } else { &rights };
    let iov = [IoSlice::new(bytes)];
    loop {
        match sendmsg::<()>(
            socket.as_raw_fd(),
            &iov,
            cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Err(nix::errno::Errno::EINTR) => {}
            Err(errno) => return Err(errno.into()),
            Ok(_) => return Ok(()),
        }
    }
}

/// Most descriptors one message may carry to [`receive_with_fds`].
const MAX_RECEIVED_FDS: usize = 8;

/// Receive one message from a Unix socket into `buffer`, with the descriptors attached to it,
/// close-on-exec (`MSG_CMSG_CLOEXEC`). `Ok(None)` at the end of the stream (a seqpacket socket
/// whose peer closed).
pub(crate) fn receive_with_fds(
    socket: BorrowedFd<'_>,
    buffer: &mut [u8],
) -> io::Result<Option<(usize, Vec<OwnedFd>)>> {
    let mut space = nix::cmsg_space!([RawFd; MAX_RECEIVED_FDS]);
    let (length, raw) = loop {
        let mut iov = [IoSliceMut::new(buffer)];
        let message = match recvmsg::<()>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => return Err(errno.into()),
            Ok(message) => message,
        };
        let mut raw: Vec<RawFd> = Vec::new();
        // A truncated control message (more descriptors than we make room for) is an error:
        // the peer is our own harness or server, which never sends that many.
        for cmsg in message.cmsgs()? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                raw.extend(fds);
            }
        }
        break (message.bytes, raw);
    };
    // SAFETY: the kernel has just installed these descriptors in this process for this
    // message (SCM_RIGHTS); nothing else knows or owns them.
    let fds = raw
        .into_iter()
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect::<Vec<_>>();
    if length == 0 && fds.is_empty() {
        return Ok(None);
    }
    Ok(Some((length, fds)))
}

/// `pidfd_send_signal(2)`: signal the process behind `pidfd` (no pid reuse race).
pub(crate) fn pidfd_send_signal(pidfd: &OwnedFd, signal: i32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: plain syscall on a pidfd we own; a null siginfo means "as kill(2) would".
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `pidfd_open(2)` for a host pid.
pub(crate) fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        // SAFETY: on success the kernel returned a fresh fd that we now own.
        Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
    }
}

/// Reset every catchable signal, real-time ones included, to `SIG_DFL` and unblock them all,
/// so PID 1 starts with the dispositions a container runtime gives it, not the launcher's
/// (Rust ignores SIGPIPE at startup, and `SIG_IGN` survives `execve`).
pub(crate) fn reset_signal_dispositions() -> io::Result<()> {
    for signal in 1..=64 {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        // SAFETY: a zeroed sigaction with sa_sigaction = SIG_DFL and an empty mask is valid.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = libc::SIG_DFL;
        // SAFETY: `action` is initialised; a null old-action pointer is allowed. Signals 32
        // and 33 may be refused by the C library wrapper (EINVAL): they stay default anyway.
        let ret = unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) };
        if ret == -1 && !(32..=33).contains(&signal) {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: an empty set, filled by sigemptyset, is a valid argument to sigprocmask.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        if libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `CAP_SYS_BOOT` (linux/capability.h): allows reboot(2), which in a child PID namespace ends
/// the namespace instead of the machine (pid_namespaces(7)).
pub(crate) const CAP_SYS_BOOT: libc::c_int = 22;

/// Drop `capability` from this process's bounding set (`PR_CAPBSET_DROP`, prctl(2)): after
/// `execve` not even root gets it back.
pub(crate) fn drop_bounding_capability(capability: libc::c_int) -> io::Result<()> {
    // SAFETY: prctl with PR_CAPBSET_DROP takes an integer capability and unused zeros.
    let ret = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, capability as libc::c_ulong, 0, 0, 0) };
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Whether this process lives in the initial user namespace (where root is really root).
pub(crate) fn in_initial_user_namespace() -> bool {
    // The initial user namespace maps the whole uid range onto itself.
    std::fs::read_to_string("/proc/self/uid_map")
        .map(|map| {
            let fields: Vec<&str> = map.split_whitespace().collect();
            fields == ["0", "0", "4294967295"]
        })
        .unwrap_or(false)
}

/// `_exit(2)`: leave a forked child at once, without running the parent's atexit handlers or
/// flushing buffers copied from it.
pub(crate) fn exit_immediately(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe, takes an integer and never returns.
    unsafe { libc::_exit(code) }
}

/// `waitid(P_PIDFD, ..., WEXITED)`: reap the child behind `pidfd`. With `no_hang`, `None`
/// means it has not exited yet. Raw because nix's `WaitStatus` cannot hold a real-time signal
/// as the cause of death.
pub(crate) fn reap_pidfd(
    pidfd: &OwnedFd,
    no_hang: bool,
) -> io::Result<Option<pid1check_probe::ExitStatus>> {
    use pid1check_probe::ExitStatus;
    use std::os::fd::AsRawFd;
    // SAFETY: siginfo_t is plain data; zeroed is a valid "nothing reported" value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | if no_hang { libc::WNOHANG } else { 0 };
    loop {
        // SAFETY: `info` is a valid siginfo_t to fill; P_PIDFD takes the fd as the id.
        let ret = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                flags,
            )
        };
        if ret == -1 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        break;
    }
    // SAFETY: after a successful waitid, si_pid and si_status are the valid union members
    // for a child state change (si_pid 0 means nothing changed under WNOHANG).
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if pid == 0 {
        return Ok(None);
    }
    Ok(Some(match info.si_code {
        libc::CLD_EXITED => ExitStatus::Exited { code: status },
        code => ExitStatus::Signaled {
            signal: status,
            core_dumped: code == libc::CLD_DUMPED,
        },
    }))
}

/// `setrlimit(RLIMIT_NPROC)`: at most `max` processes for this process's real uid (in its user
/// namespace), soft and hard.
pub(crate) fn limit_processes(max: u64) -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: max,
        rlim_max: max,
    };
    // SAFETY: `limit` is a valid, initialised rlimit read by the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_NPROC, &limit) } == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Mark every descriptor above stderr close-on-exec (`close_range(3, ~0,
/// CLOSE_RANGE_CLOEXEC)`), so PID 1 starts with 0, 1 and 2 only, as runc does
/// (libcontainer/utils: CloseExecFrom): whatever the launcher inherited (a test runner's
/// jobserver pipes) must not leak into the sandbox. The failure pipe to the parent was
/// close-on-exec already and keeps working until `execve`.
pub(crate) fn close_other_fds_on_exec() -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments; it changes only descriptor flags.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC as libc::c_uint,
        )
    };
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
