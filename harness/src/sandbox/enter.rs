//! Running a command inside a running sandbox, the way `docker exec`, `runc exec` and the
//! kubelet's exec hooks do: join PID 1's namespaces, then fork, because joining a PID
//! namespace only moves the caller's future children into it (pid_namespaces(7)). The
//! command's parent stays outside the namespace, as runc's does, so inside it has ppid 0.
//!
//! Used for preStop hooks and for cases whose step is a command inside the container (a
//! process there signalling PID 1).

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};

use nix::sched::CloneFlags;

use super::spawn::{Pid1, SandboxError, open_stdio};
use super::sys::{self, Cloned};
use super::{SandboxMode, SandboxSpec};

/// A command started inside a sandbox, seen from the launcher: the joining process outside
/// the namespace, which waits for the command and exits with its status (a signal `N` as
/// `128 + N`, as a shell reports it).
#[derive(Debug)]
pub struct Inside {
    /// Host pid of the joining process.
    pub pid: i32,
    /// Its pidfd: readable once it has exited.
    pub pidfd: OwnedFd,
}

/// Start `argv` inside `pid1`'s namespaces with `env`; `argv[0]` without a slash is looked up
/// in the sandbox's `PATH` (from `env`). Output goes to the run's console.
///
/// Must be called from the single-threaded launcher (it forks).
pub fn exec_inside(
    pid1: &Pid1,
    spec: &SandboxSpec,
    argv: &[String],
    env: &[String],
) -> Result<Inside, SandboxError> {
    let prepare = |what: &str| {
        let what = what.to_owned();
        move |source| SandboxError::Prepare { what, source }
    };
    let (console, devnull) = open_stdio(spec)?;
    let candidates = program_paths(argv, env);
    let to_c = |items: &[String]| -> std::io::Result<Vec<CString>> {
        items
            .iter()
            .map(|s| CString::new(s.as_str()).map_err(std::io::Error::other))
            .collect()
    };
    let argv_c = to_c(argv).map_err(prepare("the command's argv"))?;
    let env_c = to_c(env).map_err(prepare("the command's environment"))?;
    let paths_c = to_c(&candidates).map_err(prepare("the command's path"))?;
    if argv_c.is_empty() {
        return Err(SandboxError::EmptyArgv);
    }
    let mut namespaces = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC;
    if spec.mode == SandboxMode::Unprivileged {
        namespaces |= CloneFlags::CLONE_NEWUSER;
    }
    // SAFETY: only the single-threaded pid1check-launch helper calls exec_inside, as
    // clone_into_namespaces requires.
    let cloned =
        unsafe { sys::clone_into_namespaces(0) }.map_err(|source| SandboxError::Clone {
            flags: "none (exec inside)".to_owned(),
            source,
        })?;
    match cloned {
        Cloned::Parent { pid, pidfd } => Ok(Inside { pid, pidfd }),
        Cloned::Child => {
            let code = join_and_run(
                pid1, namespaces, &paths_c, &argv_c, &env_c, &console, &devnull,
            );
            sys::exit_immediately(code)
        }
    }
}

/// Where `argv[0]` may be inside the sandbox: itself if it has a slash, else each `PATH`
/// directory of `env` in order.
fn program_paths(argv: &[String], env: &[String]) -> Vec<String> {
    let Some(program) = argv.first() else {
        return Vec::new();
    };
    if program.contains('/') {
        return vec![program.clone()];
    }
    let path = env
        .iter()
        .find_map(|entry| entry.strip_prefix("PATH="))
        .unwrap_or("/usr/bin:/bin");
    path.split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| format!("{dir}/{program}"))
        .collect()
}

/// The joining process: enter the namespaces, fork the command into them, wait for it and
/// return the exit code to leave with. Any failure before `execve` is written to the console
/// and exits 127 (126 for a program that exists but cannot run), like a shell.
fn join_and_run(
    pid1: &Pid1,
    namespaces: CloneFlags,
    paths: &[CString],
    argv: &[CString],
    env: &[CString],
    console: &std::fs::File,
    devnull: &std::fs::File,
) -> i32 {
    use std::io::Write;
    let fail = |message: String| {
        let _ = writeln!(&*console, "pid1check exec: {message}");
        127
    };
    if nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).is_err() {
        return fail("PR_SET_PDEATHSIG failed".to_owned());
    }
    if let Err(errno) = nix::sched::setns(pid1.pidfd.as_fd(), namespaces) {
        return fail(format!("setns into PID 1's namespaces: {errno}"));
    }
    // SAFETY: this process is the single-threaded child of the single-threaded launcher.
    match unsafe { sys::clone_into_namespaces(0) } {
        Err(error) => fail(format!("fork inside the namespace: {error}")),
        Ok(Cloned::Parent { pidfd, .. }) => match sys::reap_pidfd(&pidfd, false) {
            Ok(Some(pid1check_probe::ExitStatus::Exited { code })) => code,
            Ok(Some(pid1check_probe::ExitStatus::Signaled { signal, .. })) => 128 + signal,
            Ok(None) | Err(_) => fail("waiting for the command failed".to_owned()),
        },
        Ok(Cloned::Child) => {
            let standard = [
                nix::unistd::dup2_stdin(devnull),
                nix::unistd::dup2_stdout(console),
                nix::unistd::dup2_stderr(console),
            ];
            if standard.iter().any(Result::is_err) {
                sys::exit_immediately(fail("redirecting stdio".to_owned()));
            }
            if sys::reset_signal_dispositions().is_err() {
                sys::exit_immediately(fail("resetting signal dispositions".to_owned()));
            }
            let mut last = nix::errno::Errno::ENOENT;
            for path in paths {
                match nix::unistd::execve(path, argv, env) {
                    Err(nix::errno::Errno::ENOENT) => {}
                    Err(errno) => last = errno,
                    Ok(never) => match never {},
                }
            }
            let code = if last == nix::errno::Errno::ENOENT {
                127
            } else {
                126
            };
            let _ = writeln!(
                &*console,
                "pid1check exec: {}: {last}",
                argv[0].to_string_lossy()
            );
            sys::exit_immediately(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::program_paths;

    #[test]
    fn a_bare_name_is_looked_up_in_the_sandbox_path() {
        let argv = ["kill".to_owned(), "1".to_owned()];
        let env = ["HOME=/".to_owned(), "PATH=/usr/bin:/bin".to_owned()];
        assert_eq!(program_paths(&argv, &env), ["/usr/bin/kill", "/bin/kill"]);
        let argv = ["/bin/kill".to_owned()];
        assert_eq!(program_paths(&argv, &env), ["/bin/kill"]);
        assert!(program_paths(&[], &env).is_empty());
    }
}
