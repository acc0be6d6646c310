//! The harness survives any candidate (issue 6): each hostile PID 1 of `fixtures/hostile` runs
//! in a matrix beside `bare`, and for each: the run ends by its own deadline or earlier, the
//! report says what happened in one line, nothing of the run is left (no survivor in its PID
//! namespace, its pids cgroup removable, its run directory gone), the host is unchanged, and
//! `bare` in the same matrix still matches its snapshot.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Command;

use harness::conformance::{MatrixOptions, RunRecord, execute_matrix, snapshot_text};
use harness::matrix::Outcome;
use harness::sandbox::{PIDS_MAX, PidsLimit};
use harness::snapshot::{SnapshotStatus, SnapshotStore, snapshot_name};
use harness::spec::Candidate;
use harness::trace::{ActionKind, ExitStatus, RunEnd, Trace};

use crate::support::{candidate, case, dead, eventually, hostile_candidate, options, ready, root};

/// The case every hostile candidate runs: one app that exits on TERM.
const CASE: &str = "term-forward";

/// Run `hostile` and `bare` in one matrix, two at a time; check `bare` was not disturbed and
/// return the hostile run.
fn run_beside_bare(hostile: Candidate) -> RunRecord {
    let runs = [
        ready(hostile, case(CASE)),
        ready(candidate("bare"), case(CASE)),
    ];
    let options = MatrixOptions {
        jobs: 2,
        ..options()
    };
    let records = execute_matrix(&runs, &options, &|_| {});
    let [hostile, bare] = <[RunRecord; 2]>::try_from(records)
        .unwrap_or_else(|records| panic!("{} records for 2 runs", records.len()));
    assert_eq!(
        bare.result.outcome,
        Outcome::Pass,
        "bare beside a hostile run: {}",
        bare.result.reason
    );
    let store = SnapshotStore::new(root().join("reports/snapshots"));
    let status = store.check(
        &snapshot_name("bare", CASE, "docker"),
        &snapshot_text(&bare),
    );
    assert!(
        matches!(status, Ok(SnapshotStatus::Matches)),
        "bare's trace changed beside a hostile run: {status:?}"
    );
    assert_contained(&hostile);
    hostile
}

/// What every hostile run must leave behind: a trace (the harness survived), no deadline hit,
/// a one-line reason, no survivor in its namespace, its pids cgroup removed (the kernel removes
/// a cgroup only when no task is left in it), its run directory gone.
fn assert_contained(record: &RunRecord) {
    let result = &record.result;
    let Some(trace) = record.raw.as_ref() else {
        panic!("the harness produced no trace: {}", result.reason);
    };
    assert_ne!(trace.end, RunEnd::DeadlineExceeded, "{}", result.reason);
    assert!(
        !result.reason.contains('\n'),
        "the reason is not one line: {:?}",
        result.reason
    );
    if result.outcome != Outcome::Pass {
        assert!(
            !result.reason.is_empty(),
            "a {:?} without a reason",
            result.outcome
        );
    }
    assert_eq!(
        survivors(trace),
        Some(Vec::new()),
        "processes of the run's namespace survived PID 1"
    );
    match &trace.pids_limit {
        Some(PidsLimit::Cgroup { path, removed, .. }) => {
            assert_eq!(removed, &Ok(()), "the run's pids cgroup was not removed");
            assert!(!path.exists(), "{} is still there", path.display());
        }
        Some(PidsLimit::Rlimit { .. }) => {}
        other => panic!("no pids limit applied to the run: {other:?}"),
    }
    let prefix = format!("{}.{}.", result.candidate, result.case);
    let left: Vec<PathBuf> = std::fs::read_dir(options().work_dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(left, Vec::<PathBuf>::new(), "run directories left behind");
}

fn survivors(trace: &Trace) -> Option<Vec<i32>> {
    trace.actions.iter().find_map(|a| match &a.what {
        ActionKind::SurvivorScan { survivors } => Some(survivors.clone()),
        _ => None,
    })
}

fn pid1_status(trace: &Trace) -> Option<ExitStatus> {
    trace.actions.iter().find_map(|a| match a.what {
        ActionKind::Pid1Exited { status } => Some(status),
        _ => None,
    })
}

fn trace(record: &RunRecord) -> &Trace {
    record.raw.as_ref().expect("checked by assert_contained")
}

/// The hostile program's one line on the console.
fn said<'a>(record: &'a RunRecord, mode: &str) -> &'a str {
    let prefix = format!("hostile {mode}: ");
    trace(record)
        .console
        .lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| {
            panic!(
                "no `{prefix}` line on the console: {}",
                trace(record).console
            )
        })
}

/// A hostile run that execs the workload after its misdeed must look exactly like `bare`.
fn assert_same_as_bare(record: &RunRecord) {
    let store = SnapshotStore::new(root().join("reports/snapshots"));
    let status = store.check(
        &snapshot_name("bare", CASE, "docker"),
        &snapshot_text(record),
    );
    assert!(
        matches!(status, Ok(SnapshotStatus::Matches)),
        "{} does not behave like bare once it became the workload: {status:?}",
        record.result.candidate
    );
}

#[test]
fn pid1_that_exits_at_once_is_not_run_with_its_status() {
    let record = run_beside_bare(hostile_candidate("hostile-exit-now"));
    assert_eq!(record.result.outcome, Outcome::NotRun);
    assert!(
        record.result.reason.contains("never became ready")
            && record.result.reason.contains("PID 1 ended with exit:0"),
        "{}",
        record.result.reason
    );
}

#[test]
fn pid1_that_crashes_with_sigsegv_fails_and_says_so() {
    let record = run_beside_bare(hostile_candidate("hostile-segv"));
    assert_eq!(
        pid1_status(trace(&record)),
        Some(ExitStatus::Signaled {
            signal: libc::SIGSEGV,
            core_dumped: false
        })
    );
    assert_eq!(record.result.outcome, Outcome::Fail);
    assert!(
        record.result.reason.contains("SEGV"),
        "the reason does not name the crash: {}",
        record.result.reason
    );
}

#[test]
fn pid1_that_ignores_every_signal_is_killed_at_the_grace_period() {
    let record = run_beside_bare(hostile_candidate("hostile-hang"));
    let trace = trace(&record);
    assert!(
        trace
            .actions
            .iter()
            .any(|a| matches!(a.what, ActionKind::Escalated)),
        "no SIGKILL escalation: {trace:?}"
    );
    assert_eq!(
        pid1_status(trace),
        Some(ExitStatus::Signaled {
            signal: libc::SIGKILL,
            core_dumped: false
        })
    );
    assert_eq!(record.result.outcome, Outcome::Fail);
    assert!(said(&record, "hang").contains("ignoring every signal"));
}

#[test]
fn a_fork_bomb_hits_the_runs_pids_limit() {
    let record = run_beside_bare(hostile_candidate("hostile-fork-bomb"));
    let line = said(&record, "fork-bomb");
    eprintln!("{line}; {:?}", trace(&record).pids_limit);
    assert!(
        line.contains("before fork failed: Resource temporarily unavailable"),
        "the bomb was not stopped by a limit: {line}"
    );
    if let Some(PidsLimit::Cgroup {
        peak,
        refused_forks,
        max,
        ..
    }) = &trace(&record).pids_limit
    {
        assert_eq!(*max, PIDS_MAX);
        assert!(refused_forks.is_some_and(|n| n > 0), "{refused_forks:?}");
        assert!(peak.is_some_and(|n| n <= PIDS_MAX), "{peak:?}");
    }
}

#[test]
fn pid1_that_closes_every_fd_runs_the_workload_like_bare() {
    let record = run_beside_bare(hostile_candidate("hostile-close-fds"));
    // Only stdin, stdout and stderr reach PID 1: no descriptor of the harness leaks in.
    assert!(
        said(&record, "close-fds").starts_with("open fds before closing: 0 1 2;"),
        "{}",
        said(&record, "close-fds")
    );
    assert_same_as_bare(&record);
}

#[test]
fn processes_in_new_sessions_and_groups_die_with_the_namespace() {
    let record = run_beside_bare(hostile_candidate("hostile-setsid"));
    let line = said(&record, "setsid");
    assert!(
        line.contains("child in a new session: ok; child in a new group: ok"),
        "the escapes did not happen, so the test proves nothing: {line}"
    );
    assert_same_as_bare(&record);
}

/// The marker file `hostile write-everywhere` creates in every directory it can.
const MARKER: &str = ".pid1check-hostile-was-here";

/// Directories of the host, breadth first from `/` as the hostile program walks them (more of
/// them), outside the kernel's /proc and /sys.
fn host_directories(limit: usize) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut queue = VecDeque::from([PathBuf::from("/")]);
    while let Some(dir) = queue.pop_front() {
        if found.len() == limit {
            break;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut children: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        children.sort();
        for child in children {
            let skip = child == Path::new("/proc") || child == Path::new("/sys");
            if !skip && std::fs::symlink_metadata(&child).is_ok_and(|m| m.is_dir()) {
                queue.push_back(child);
            }
        }
        found.push(dir);
    }
    found
}

#[test]
fn writes_everywhere_reach_nothing_on_the_host() {
    let hostile = hostile_candidate("hostile-write-everywhere");
    let watched: Vec<PathBuf> = ["/etc/passwd", "/etc/hosts", "/etc/hostname"]
        .iter()
        .map(PathBuf::from)
        .chain([crate::support::probe().to_path_buf()])
        .collect();
    let before: Vec<Option<Vec<u8>>> = watched.iter().map(|p| std::fs::read(p).ok()).collect();
    let directories = host_directories(5000);
    let marked = |dirs: &[PathBuf]| -> Vec<PathBuf> {
        dirs.iter()
            .map(|d| d.join(MARKER))
            .filter(|m| m.exists())
            .collect()
    };
    assert_eq!(
        marked(&directories),
        Vec::<PathBuf>::new(),
        "markers before the run"
    );

    let record = run_beside_bare(hostile);
    let line = said(&record, "write-everywhere");
    eprintln!("{line}");
    let created: usize = line
        .strip_prefix("created ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    // It really wrote inside (else the test proves nothing)...
    assert!(created > 100, "{line}");
    // ...and the channel and the binaries were refused.
    assert!(line.contains("Read-only file system"), "{line}");
    // ...and nothing of it is on the host.
    assert_eq!(
        marked(&directories),
        Vec::<PathBuf>::new(),
        "markers on the host"
    );
    let after: Vec<Option<Vec<u8>>> = watched.iter().map(|p| std::fs::read(p).ok()).collect();
    for ((path, before), after) in watched.iter().zip(&before).zip(&after) {
        assert!(before == after, "{} changed on the host", path.display());
    }
    assert_same_as_bare(&record);
}

#[test]
fn kill_from_inside_reaches_no_process_outside() {
    let mut sentinel = Command::new("sleep")
        .arg("600")
        .spawn()
        .expect("starting a sentinel process");
    let mut hostile = hostile_candidate("hostile-kill-others");
    // Name the sentinel and this test process by their host pids: kill(2) from inside the
    // namespace must not reach them.
    let at = hostile.argv.len() - 1;
    hostile.argv.insert(at, sentinel.id().to_string());
    hostile.argv.insert(at, std::process::id().to_string());
    let record = run_beside_bare(hostile);
    let alive = matches!(sentinel.try_wait(), Ok(None));
    // Our own child, not yet waited for: its pid cannot have been reused.
    let _ = sentinel.kill();
    let _ = sentinel.wait();
    assert!(alive, "the sentinel outside the namespace was killed");
    let line = said(&record, "kill-others");
    eprintln!("{line}");
    assert!(
        line.starts_with("kill(-1, SIGKILL): No such process"),
        "{line}"
    );
    assert!(line.contains(": 0 delivered"), "{line}");
    assert_same_as_bare(&record);
}

/// Without a pids cgroup (an unprivileged user may not create one), the fork bomb is bounded by
/// `RLIMIT_NPROC`, which the kernel enforces inside the run's user namespace. The launcher runs
/// as `nobody` through `setpriv`, from copies of the binaries in a directory nobody owns.
#[test]
fn an_unprivileged_fork_bomb_hits_rlimit_nproc() {
    use std::os::unix::fs::chown;

    use harness::plan::{PlannedRun, Resolution, resolve};
    use harness::run::{Launcher, launch};
    use harness::sandbox::SandboxMode;

    const NOBODY: u32 = 65534;
    let ready = ready(hostile_candidate("hostile-fork-bomb"), case(CASE));
    let hostile = ready.install.as_ref().expect("installed").bin.clone();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let copy = |from: &Path| {
        let to = dir.path().join(from.file_name().expect("a file name"));
        std::fs::copy(from, &to).expect("copying a binary");
        chown(&to, Some(NOBODY), Some(NOBODY)).expect("chown");
        to
    };
    let probe = copy(crate::support::probe());
    let bin = copy(&hostile);
    let launcher = copy(Path::new(env!("CARGO_BIN_EXE_pid1check-launch")));
    let run_dir = dir.path().join("run");
    std::fs::create_dir(&run_dir).expect("the run directory");
    for path in [dir.path(), run_dir.as_path()] {
        chown(path, Some(NOBODY), Some(NOBODY)).expect("chown");
    }
    let mut run: PlannedRun = ready.run.clone();
    run.candidate.dir = dir.path().to_path_buf();
    let spec = resolve(
        &run,
        &Resolution {
            time_scale: harness::plan::DEFAULT_TIME_SCALE,
            mode: SandboxMode::Unprivileged,
            bin,
            read_only_paths: vec![dir.path().to_path_buf()],
            probe,
            run_dir,
        },
    )
    .expect("docker accepts the candidate");
    let as_nobody = Launcher {
        program: PathBuf::from("setpriv"),
        args: ["--reuid=65534", "--regid=65534", "--clear-groups"]
            .iter()
            .map(Into::into)
            .chain([launcher.into_os_string()])
            .collect(),
    };
    let trace = launch(&as_nobody, &spec).expect("the unprivileged launcher ran");
    assert_eq!(trace.end, RunEnd::Completed, "{}", trace.console);
    assert_eq!(
        trace.pids_limit,
        Some(PidsLimit::Rlimit { max: PIDS_MAX }),
        "{}",
        trace.console
    );
    assert!(
        trace
            .console
            .contains("before fork failed: Resource temporarily unavailable"),
        "the bomb was not stopped by the limit: {}",
        trace.console
    );
    assert_eq!(survivors(&trace), Some(Vec::new()));
}

/// A launcher killed in the middle of a run (at the harness's deadline, or with the harness on
/// Ctrl-C) takes its PID 1 and the whole namespace with it, even a PID 1 that ignores every
/// signal; the next run removes the pids cgroup it left.
#[test]
fn killing_the_launcher_kills_the_run() {
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;
    use std::process::Stdio;

    use harness::plan::{PlannedRun, Resolution, resolve};

    let ready = ready(hostile_candidate("hostile-hang"), case(CASE));
    let installed = ready.install.as_ref().expect("installed").clone();
    let run: PlannedRun = ready.run.clone();
    let work = options().work_dir;
    std::fs::create_dir_all(&work).expect("the work directory");
    let run_dir = tempfile::Builder::new()
        .prefix("killed-launcher.")
        .tempdir_in(&work)
        .expect("a run directory");
    // A grace period of hours: the run is still going when the launcher is killed.
    let spec = resolve(
        &run,
        &Resolution {
            time_scale: 1000.0,
            mode: options().mode,
            bin: installed.bin.clone(),
            read_only_paths: options().read_only_paths,
            probe: crate::support::probe().to_path_buf(),
            run_dir: run_dir.path().to_path_buf(),
        },
    )
    .expect("docker accepts the candidate");
    let mut launcher = Command::new(env!("CARGO_BIN_EXE_pid1check-launch"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the launcher");
    let input = serde_json::to_vec(&spec).expect("encoding the run spec");
    launcher
        .stdin
        .take()
        .expect("a stdin pipe")
        .write_all(&input)
        .expect("writing the run spec");
    let children = format!("/proc/{0}/task/{0}/children", launcher.id());
    let mut pid1 = None;
    let console = spec.sandbox.console_path();
    let hanging = eventually(10, || {
        pid1 = std::fs::read_to_string(&children)
            .ok()
            .and_then(|text| text.split_whitespace().next()?.parse::<i32>().ok());
        std::fs::read_to_string(&console).is_ok_and(|c| c.contains("ignoring every signal"))
    });
    let pid1 = pid1.expect("the launcher started PID 1");
    assert!(hanging, "PID 1 never got to ignoring signals");
    let namespace = std::fs::metadata(format!("/proc/{pid1}/ns/pid"))
        .expect("PID 1's namespace")
        .ino();

    // Our own child, not yet waited for: its pid cannot have been reused.
    launcher.kill().expect("killing the launcher");
    launcher.wait().expect("reaping the launcher");
    let died = eventually(10, || dead(pid1));
    if !died {
        // Started by this test (through its launcher): do not leave it behind.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid1),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(died, "PID 1 (host pid {pid1}) outlived its launcher");
    // Whatever is left of the namespace is dead, waiting for the host's init to reap it.
    let alive: Vec<_> = harness::observe::scan_namespace(namespace)
        .into_iter()
        .filter(|p| !p.zombie())
        .collect();
    assert_eq!(
        alive,
        Vec::new(),
        "processes of the run outlived its launcher"
    );

    let stale = Path::new("/sys/fs/cgroup/pids").join(format!("pid1check-{}", launcher.id()));
    if options().mode == harness::sandbox::SandboxMode::Root && stale.exists() {
        run_beside_bare(hostile_candidate("hostile-exit-now"));
        assert!(!stale.exists(), "{} was not removed", stale.display());
    }
}
