//! Starting PID 1: clone into new namespaces, build the root from the mount plan, exec the
//! candidate. The parent learns of any failure before `execve` through a close-on-exec pipe,
//! so "could not start" is always told apart from "started and misbehaved".

use std::ffi::CString;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use nix::sys::statvfs::FsFlags;
use pid1check_probe::PROBE_FILE;

use super::cgroup::RunCgroup;
use super::console::ConsoleTty;
use super::mounts::{HostSide, MountOp, mount_plan};
use super::pids::{PidsLimit, PidsPlan};
use super::sys::{self, Cloned};
use super::{SandboxMode, SandboxNeed, SandboxSpec};

/// Why PID 1 could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A file the sandbox needs could not be prepared.
    #[error("preparing {what}")]
    Prepare {
        /// What was being prepared.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// `clone3` into the new namespaces failed.
    #[error("creating the namespaces (clone3 with {flags})")]
    Clone {
        /// Namespace flags asked for.
        flags: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Writing the user namespace's id maps failed.
    #[error("writing {path}")]
    IdMap {
        /// The map file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// There is nothing to exec.
    #[error("PID 1's argv is empty")]
    EmptyArgv,
    /// A step inside the new namespaces failed before `execve` (reported by the child).
    #[error("{0}")]
    Child(String),
}

/// A started PID 1, seen from its parent.
#[derive(Debug)]
pub struct Pid1 {
    /// Host pid.
    pub pid: i32,
    /// pidfd: signals and waits go through it.
    pub pidfd: OwnedFd,
    /// Inode of its PID namespace: identifies every process of the run in the host's /proc.
    pub pid_namespace: u64,
    /// An open handle on that namespace: while it is held, the kernel cannot give its inode
    /// number to another run's namespace, so a scan after PID 1's death finds only this run's.
    pub pid_namespace_handle: std::fs::File,
    /// The run's own cgroup, when the candidate needs cgroup2; removed when this is dropped,
    /// after PID 1 (and so every process of the run) is gone.
    pub cgroup: Option<RunCgroup>,
    /// The terminal behind the sandbox's `/dev/console`, when the candidate needs one.
    pub console: Option<ConsoleTty>,
    /// The run's pids limit, until [`Pid1::finish_pids_limit`] reads and removes it.
    pids: Option<PidsPlan>,
}

impl Pid1 {
    /// Once PID 1 is reaped: what the run's pids limit saw, and its cgroup removed. `None`
    /// when called a second time.
    pub fn finish_pids_limit(&mut self) -> Option<PidsLimit> {
        self.pids.take().map(PidsPlan::finish)
    }
}

/// Start PID 1 as `spec` describes.
///
/// Must be called from a single-threaded process (the `pid1check-launch` helper): the child
/// of `clone3` continues on a copy of the caller, like after `fork`.
pub fn spawn_pid1(spec: &SandboxSpec) -> Result<Pid1, SandboxError> {
    let prepare = |what: &str| {
        let what = what.to_owned();
        move |source| SandboxError::Prepare { what, source }
    };
    std::fs::create_dir_all(spec.channel_dir()).map_err(prepare("the channel directory"))?;
    // The probe's mount point, made here because the channel is read-only inside.
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(spec.channel_dir().join(PROBE_FILE))
        .map_err(prepare("the probe's mount point"))?;
    std::fs::create_dir_all(spec.scratch_dir()).map_err(prepare("the scratch directory"))?;
    let (console, devnull) = open_stdio(spec)?;
    let cgroup = if spec.needs(SandboxNeed::Cgroup2) {
        Some(RunCgroup::create().map_err(prepare("the run's cgroup (cgroup2)"))?)
    } else {
        None
    };
    let console_tty = if spec.needs(SandboxNeed::Console) {
        Some(ConsoleTty::open().map_err(prepare("a terminal for /dev/console"))?)
    } else {
        None
    };
    let plan = mount_plan(
        spec,
        spec.root_view(),
        HostSide {
            run_cgroup: cgroup.as_ref().map(RunCgroup::path),
            console: console_tty.as_ref().map(ConsoleTty::slave_path),
        },
    );
    let argv = cstrings(&spec.argv).map_err(prepare("PID 1's argv"))?;
    let env = cstrings(&spec.env).map_err(prepare("PID 1's environment"))?;
    if argv.is_empty() {
        return Err(SandboxError::EmptyArgv);
    }
    let (go_read, go_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| prepare("a pipe")(e.into()))?;
    let (err_read, err_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| prepare("a pipe")(e.into()))?;

    let mut flags =
        libc::CLONE_NEWPID | libc::CLONE_NEWNS | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC;
    if spec.mode == SandboxMode::Unprivileged {
        flags |= libc::CLONE_NEWUSER;
    }
    let pids = PidsPlan::prepare(
        spec.mode,
        &format!("{}{}", super::pids::CGROUP_PREFIX, std::process::id()),
    );
    let rlimit = match &pids {
        PidsPlan::Rlimit(max) => Some(*max),
        _ => None,
    };
    let self_join = match &pids {
        PidsPlan::Cgroup(cgroup) => cgroup.self_join(),
        _ => None,
    };
    // SAFETY: spawn_pid1 is only called by the single-threaded pid1check-launch helper, which
    // is what clone_into_namespaces requires (no other thread's half-done state is copied).
    let cloned = match unsafe { sys::clone_into_namespaces(flags) } {
        Ok(cloned) => cloned,
        Err(source) => {
            pids.finish();
            return Err(SandboxError::Clone {
                flags: namespace_names(flags),
                source,
            });
        }
    };
    let (pid, pidfd) = match cloned {
        Cloned::Child => {
            drop(go_write);
            drop(err_read);
            let child = ChildSetup {
                spec,
                plan: &plan,
                argv: &argv,
                env: &env,
                console: &console,
                devnull: &devnull,
                rlimit,
                self_join,
            };
            let failure = become_pid1(&child, go_read);
            let mut pipe = std::fs::File::from(err_write);
            // Nothing more can be done if even this write fails: the exit code still tells.
            let _ = pipe.write_all(failure.as_bytes());
            sys::exit_immediately(127);
        }
        Cloned::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(go_read);
    drop(err_write);
    // The child waits on `go` until its namespace is held and its ids are mapped; if that
    // fails it is never released (closing `go` makes it give up).
    let started = hold_namespace(pid).and_then(|namespace| {
        if spec.mode == SandboxMode::Unprivileged {
            write_id_maps(pid)?;
        }
        // Where PID 1 cannot join by itself (cgroup2), while it builds its root: moving
        // another task between cgroups can wait for an RCU grace period (0.05 ms median
        // here, but 20 ms seen on a busy machine), so it overlaps the mounts instead of
        // preceding them. The child does not fork before execve, so nothing escapes the count.
        let join_cgroup = || match &pids {
            PidsPlan::Cgroup(cgroup) if cgroup.self_join().is_none() => {
                cgroup.add(pid).map_err(|source| SandboxError::Prepare {
                    what: "putting PID 1 in its pids cgroup".to_owned(),
                    source,
                })
            }
            _ => Ok(()),
        };
        release_and_await_exec(go_write, err_read, join_cgroup)?;
        Ok(namespace)
    });
    match started {
        Ok((pid_namespace, pid_namespace_handle)) => Ok(Pid1 {
            pid,
            pidfd,
            pid_namespace,
            pid_namespace_handle,
            pids: Some(pids),
            cgroup,
            console: console_tty,
        }),
        Err(error) => {
            // Our own unreaped child, named exactly by its pidfd: kill and reap it so nothing
            // of a failed start lingers.
            let _ = sys::pidfd_send_signal(&pidfd, libc::SIGKILL);
            let _ = sys::reap_pidfd(&pidfd, false);
            pids.finish();
            Err(error)
        }
    }
}

/// The run's console log (for stdout and stderr, created if needed) and /dev/null (for
/// stdin): what PID 1 and commands run inside it get.
pub(super) fn open_stdio(
    spec: &SandboxSpec,
) -> Result<(std::fs::File, std::fs::File), SandboxError> {
    let prepare = |what: &str| {
        let what = what.to_owned();
        move |source| SandboxError::Prepare { what, source }
    };
    let console = OpenOptions::new()
        .create(true)
        .append(true)
        .open(spec.console_path())
        .map_err(prepare("the console log"))?;
    let devnull = OpenOptions::new()
        .read(true)
        .open("/dev/null")
        .map_err(prepare("/dev/null"))?;
    Ok((console, devnull))
}

/// What the child needs to become PID 1 (all prepared before `clone3`).
#[derive(Clone, Copy)]
struct ChildSetup<'a> {
    spec: &'a SandboxSpec,
    plan: &'a [MountOp],
    argv: &'a [CString],
    env: &'a [CString],
    console: &'a std::fs::File,
    devnull: &'a std::fs::File,
    /// `RLIMIT_NPROC` to set, when that is the run's pids limit.
    rlimit: Option<u64>,
    /// The pids cgroup's `tasks` file, when the child moves itself into the cgroup.
    self_join: Option<&'a std::fs::File>,
}

/// Open PID 1's PID namespace: its inode identifies the run's processes, and holding it keeps
/// that inode from being reused.
fn hold_namespace(pid: i32) -> Result<(u64, std::fs::File), SandboxError> {
    std::fs::File::open(format!("/proc/{pid}/ns/pid"))
        .and_then(|handle| Ok((handle.metadata()?.ino(), handle)))
        .map_err(|source| SandboxError::Prepare {
            what: "opening PID 1's namespace".to_owned(),
            source,
        })
}

/// Let the child build its root, do `meanwhile`, let it exec, then wait until it has exec'd
/// (the close-on-exec error pipe reaches EOF with nothing in it) or reports why it could not.
/// If `meanwhile` fails the child is never let exec (closing `go` makes it give up).
fn release_and_await_exec(
    go: OwnedFd,
    errors: OwnedFd,
    meanwhile: impl FnOnce() -> Result<(), SandboxError>,
) -> Result<(), SandboxError> {
    let mut go = std::fs::File::from(go);
    let released = go.write_all(b"g");
    let prepared = meanwhile();
    let released = match prepared {
        Ok(()) => released.and_then(|()| go.write_all(b"x")),
        Err(_) => released,
    };
    drop(go);
    let mut failure = String::new();
    let read = std::fs::File::from(errors).read_to_string(&mut failure);
    prepared?;
    match (failure.is_empty(), released.and(read.map(drop))) {
        (true, Ok(())) => Ok(()),
        (true, Err(source)) => Err(SandboxError::Prepare {
            what: "releasing PID 1".to_owned(),
            source,
        }),
        (false, _) => Err(SandboxError::Child(failure)),
    }
}

/// The child's side: wait for the parent, build the root, exec. Returns only on failure, with
/// a sentence naming the step.
fn become_pid1(setup: &ChildSetup<'_>, go: OwnedFd) -> String {
    let ChildSetup {
        spec,
        plan,
        argv,
        env,
        console,
        devnull,
        rlimit,
        self_join,
    } = *setup;
    // If the launcher dies (killed at its deadline, or with the harness on Ctrl-C), PID 1 and
    // with it the whole namespace must die too: nothing else would ever stop them. Set first,
    // so that a launcher dying before this line is seen below as EOF on `go`. Kept across
    // execve (prctl(2): cleared only for set-user-ID and similar binaries).
    if let Err(errno) = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL) {
        return format!("sandbox setup: PR_SET_PDEATHSIG: {errno}");
    }
    let mut go = std::fs::File::from(go);
    let mut byte = [0u8; 1];
    if go.read_exact(&mut byte).is_err() {
        return "the launcher went away before releasing PID 1".to_owned();
    }
    // First, before anything can fork: "0" is this thread, and this process has no other.
    if let Some(mut tasks) = self_join
        && let Err(error) = tasks.write_all(b"0")
    {
        return format!("sandbox setup: joining the run's pids cgroup: {error}");
    }
    for op in plan {
        if let Err(errno) = apply(op) {
            return format!("sandbox setup: {}: {errno}", describe(op));
        }
    }
    if let Some(dir) = &spec.working_dir
        && let Err(errno) = nix::unistd::chdir(dir.as_path())
    {
        return format!("sandbox setup: chdir {}: {errno}", dir.display());
    }
    if let Err(errno) = nix::unistd::sethostname(&spec.hostname) {
        return format!("sandbox setup: sethostname: {errno}");
    }
    // PID 1 of a container leads its own session (runc calls setsid for the container
    // process); it also detaches the run from the harness's terminal.
    if let Err(errno) = nix::unistd::setsid() {
        return format!("sandbox setup: setsid: {errno}");
    }
    // The originals stay close-on-exec; the duplicates on 0, 1, 2 do not.
    let standard = [
        nix::unistd::dup2_stdin(devnull),
        nix::unistd::dup2_stdout(console),
        nix::unistd::dup2_stderr(console),
    ];
    if let Some(Err(errno)) = standard.iter().find(|r| r.is_err()) {
        return format!("sandbox setup: redirecting stdin/stdout/stderr: {errno}");
    }
    // Container runtimes other than LXC and nspawn drop CAP_SYS_BOOT; the bounding set is what
    // execve leaves a root process (capabilities(7), "Transformation of capabilities").
    if !spec.cap_sys_boot
        && let Err(error) = sys::drop_bounding_capability(sys::CAP_SYS_BOOT)
    {
        return format!("sandbox setup: dropping CAP_SYS_BOOT: {error}");
    }
    // Last, once nothing needs root any more: the image's user, without root's groups.
    if let Some((uid, gid)) = spec.user {
        let gid = nix::unistd::Gid::from_raw(gid);
        let switched = nix::unistd::setgroups(&[gid])
            .and_then(|()| nix::unistd::setgid(gid))
            .and_then(|()| nix::unistd::setuid(nix::unistd::Uid::from_raw(uid)));
        if let Err(errno) = switched {
            return format!("sandbox setup: switching to uid {uid} gid {gid}: {errno}");
        }
    }
    if let Err(error) = sys::reset_signal_dispositions() {
        return format!("sandbox setup: resetting signal dispositions: {error}");
    }
    if let Some(max) = rlimit
        && let Err(error) = sys::limit_processes(max)
    {
        return format!("sandbox setup: setting RLIMIT_NPROC to {max}: {error}");
    }
    if let Err(error) = sys::close_other_fds_on_exec() {
        return format!("sandbox setup: marking inherited descriptors close-on-exec: {error}");
    }
    // The second byte: the launcher has finished its part (the pids cgroup).
    if go.read_exact(&mut byte).is_err() {
        return "the launcher did not let PID 1 exec (its preparation failed)".to_owned();
    }
    drop(go);
    let errno = match nix::unistd::execve(&argv[0], argv, env) {
        Err(errno) => errno,
        Ok(never) => match never {},
    };
    format!("exec {}: {errno}", argv[0].to_string_lossy())
}

/// Apply one mount operation (in the child).
fn apply(op: &MountOp) -> nix::Result<()> {
    use nix::mount::mount;
    const NONE: Option<&str> = None;
    match op {
        MountOp::MakePrivate => mount(NONE, "/", NONE, MsFlags::MS_REC | MsFlags::MS_PRIVATE, NONE),
        MountOp::Tmpfs { target, mode } => mount(
            Some("tmpfs"),
            target,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(format!("mode={mode:o},size=512m").as_str()),
        ),
        MountOp::Mkdir { path } => std::fs::create_dir_all(path).map_err(io_errno),
        MountOp::Touch { path } => OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(drop)
            .map_err(io_errno),
        MountOp::Overlay {
            lower,
            upper,
            work,
            target,
        } => mount(
            Some("overlay"),
            target,
            Some("overlay"),
            MsFlags::empty(),
            Some(
                format!(
                    "lowerdir={},upperdir={},workdir={}",
                    lower.display(),
                    upper.display(),
                    work.display()
                )
                .as_str(),
            ),
        ),
        MountOp::Bind {
            source,
            target,
            recursive,
            read_only,
        } => {
            let rec = if *recursive {
                MsFlags::MS_REC
            } else {
                MsFlags::empty()
            };
            mount(
                Some(source.as_path()),
                target,
                NONE,
                MsFlags::MS_BIND | rec,
                NONE,
            )?;
            if *read_only {
                // A remount must repeat the flags the kernel locked on the source (nosuid,
                // nodev, noexec) or a user namespace gets EPERM.
                let kept = nix::sys::statvfs::statvfs(target.as_path())?.flags();
                let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
                for (fs, ms) in [
                    (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
                    (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
                    (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
                ] {
                    if kept.contains(fs) {
                        flags |= ms;
                    }
                }
                mount(NONE, target, NONE, flags, NONE)?;
            }
            Ok(())
        }
        MountOp::Proc { target } => mount(
            Some("proc"),
            target,
            Some("proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            NONE,
        ),
        MountOp::EnterCgroup { cgroup } => {
            std::fs::write(cgroup.join("cgroup.procs"), "0").map_err(io_errno)?;
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
        }
        MountOp::Sysfs { target } => mount(
            Some("sysfs"),
            target,
            Some("sysfs"),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            NONE,
        ),
        MountOp::Cgroup2 { target } => mount(
            Some("cgroup2"),
            target,
            Some("cgroup2"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            NONE,
        ),
        MountOp::Devpts { target } => mount(
            Some("devpts"),
            target,
            Some("devpts"),
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            Some("newinstance,ptmxmode=0666,mode=620"),
        ),
        MountOp::Symlink { points_to, path } => {
            std::os::unix::fs::symlink(points_to, path).map_err(io_errno)
        }
        MountOp::PivotRoot { new_root } => {
            // pivot_root(".", ".") stacks the old root on top of the new one; detaching it
            // leaves no path back to the host's tree (pivot_root(2), NOTES).
            nix::unistd::chdir(new_root.as_path())?;
            nix::unistd::pivot_root(".", ".")?;
            nix::mount::umount2(".", MntFlags::MNT_DETACH)?;
            nix::unistd::chdir("/")
        }
    }
}

fn io_errno(error: std::io::Error) -> nix::errno::Errno {
    nix::errno::Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO))
}

/// One step in words, for the "not run: REASON" line.
fn describe(op: &MountOp) -> String {
    match op {
        MountOp::MakePrivate => "making mounts private".to_owned(),
        MountOp::Tmpfs { target, .. } => format!("mounting tmpfs on {}", target.display()),
        MountOp::Mkdir { path } => format!("creating {}", path.display()),
        MountOp::Touch { path } => format!("creating {}", path.display()),
        MountOp::Overlay { lower, target, .. } => {
            format!(
                "mounting an overlay of {} on {}",
                lower.display(),
                target.display()
            )
        }
        MountOp::Bind { source, target, .. } => {
            format!("bind-mounting {} on {}", source.display(), target.display())
        }
        MountOp::Proc { target } => format!("mounting proc on {}", target.display()),
        MountOp::Devpts { target } => format!("mounting devpts on {}", target.display()),
        MountOp::EnterCgroup { cgroup } => format!(
            "entering the cgroup {} and a new cgroup namespace",
            cgroup.display()
        ),
        MountOp::Sysfs { target } => format!("mounting sysfs on {}", target.display()),
        MountOp::Cgroup2 { target } => format!("mounting cgroup2 on {}", target.display()),
        MountOp::Symlink { path, .. } => format!("creating the link {}", path.display()),
        MountOp::PivotRoot { new_root } => format!("pivot_root into {}", new_root.display()),
    }
}

/// Map the caller's uid and gid to 0 in the child's user namespace (one id each, which is all
/// an unprivileged writer may map; setgroups must be denied first: user_namespaces(7)).
fn write_id_maps(pid: i32) -> Result<(), SandboxError> {
    let uid = nix::unistd::geteuid();
    let gid = nix::unistd::getegid();
    for (file, content) in [
        ("setgroups", "deny".to_owned()),
        ("uid_map", format!("0 {uid} 1")),
        ("gid_map", format!("0 {gid} 1")),
    ] {
        let path = Path::new("/proc").join(pid.to_string()).join(file);
        std::fs::write(&path, content).map_err(|source| SandboxError::IdMap { path, source })?;
    }
    Ok(())
}

fn cstrings(items: &[String]) -> std::io::Result<Vec<CString>> {
    items
        .iter()
        .map(|s| CString::new(s.as_str()).map_err(std::io::Error::other))
        .collect()
}

fn namespace_names(flags: libc::c_int) -> String {
    [
        (libc::CLONE_NEWUSER, "user"),
        (libc::CLONE_NEWPID, "pid"),
        (libc::CLONE_NEWNS, "mount"),
        (libc::CLONE_NEWUTS, "uts"),
        (libc::CLONE_NEWIPC, "ipc"),
    ]
    .iter()
    .filter(|(flag, _)| flags & flag != 0)
    .map(|(_, name)| *name)
    .collect::<Vec<_>>()
    .join("+")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the child would read from `go` when `meanwhile` gives `outcome`, and the result.
    fn release_with(outcome: Result<(), SandboxError>) -> (Vec<u8>, Result<(), SandboxError>) {
        let (go_read, go_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("a pipe");
        let (err_read, err_write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("a pipe");
        // A child that exec'd: its end of the error pipe is closed with nothing written.
        drop(err_write);
        let result = release_and_await_exec(go_write, err_read, || outcome);
        let mut seen = Vec::new();
        std::fs::File::from(go_read)
            .read_to_end(&mut seen)
            .expect("reading the go pipe");
        (seen, result)
    }

    #[test]
    fn the_child_may_exec_only_after_the_launchers_part_succeeded() {
        let (seen, result) = release_with(Ok(()));
        assert_eq!(seen, b"gx");
        assert!(result.is_ok(), "{result:?}");
        let failed = SandboxError::Prepare {
            what: "putting PID 1 in its pids cgroup".to_owned(),
            source: std::io::Error::from_raw_os_error(libc::EACCES),
        };
        let (seen, result) = release_with(Err(failed));
        // Released to build its root, never let exec: it reads EOF where "x" would be.
        assert_eq!(seen, b"g");
        assert!(
            matches!(&result, Err(SandboxError::Prepare { what, .. }) if what.contains("pids cgroup")),
            "{result:?}"
        );
    }
}
