//! What a run must never do, tested negatively: write the host's file system, see the host's
//! processes, or leave a process behind. PID 1 here is a shell script that tries.

use std::path::PathBuf;

use harness::matrix::Outcome;
use harness::spec::{Candidate, CandidateKind, Install};
use harness::trace::ActionKind;

use crate::support::{case, console, execute, root};

/// A candidate whose PID 1 is `sh -c SCRIPT`, which then execs the workload (`$0`).
fn shell_candidate(name: &str, script: &str) -> Candidate {
    Candidate {
        name: name.to_owned(),
        dir: root().join("fixtures/candidates"),
        title: format!("test: {name}"),
        kind: CandidateKind::Shell,
        install: Install::Host {
            path: "/bin/sh".to_owned(),
        },
        argv: vec![
            "{bin}".to_owned(),
            "-c".to_owned(),
            format!("{script}; exec \"$0\""),
            "{workload}".to_owned(),
        ],
        stop_signal: None,
        min_grace_ms: None,
        service_stop_signal: None,
        needs: Vec::new(),
        files: Vec::new(),
        races: Vec::new(),
    }
}

/// The run was not run, for a reason that says each of `because`.
fn assert_not_run(record: &harness::conformance::RunRecord, because: &[&str]) {
    let result = &record.result;
    assert_eq!(result.outcome, Outcome::NotRun, "{result:?}");
    assert!(
        because.iter().all(|part| result.reason.contains(part)),
        "the reason does not say what failed: {}",
        result.reason
    );
}

/// None of `paths` exists on the host.
fn assert_not_on_host(paths: &[&std::path::Path]) {
    for path in paths {
        assert!(!path.exists(), "{} leaked onto the host", path.display());
    }
}

#[test]
fn a_run_cannot_write_the_hosts_tmp_or_root() {
    let marker = format!("pid1check-escape-{}", std::process::id());
    let in_tmp = PathBuf::from("/tmp").join(&marker);
    let in_root = PathBuf::from("/").join(&marker);
    let script = format!(
        "echo written-inside > {tmp} && cat {tmp} && touch {root} && echo root-written",
        tmp = in_tmp.display(),
        root = in_root.display()
    );
    let record = execute(shell_candidate("writer", &script), case("term-forward"));
    let console = console(&record);
    // The writes succeeded inside the sandbox...
    assert!(
        console.contains("written-inside"),
        "the write to /tmp failed inside: {console}"
    );
    assert!(
        console.contains("root-written"),
        "the write to / failed inside: {console}"
    );
    // ...and reached nothing outside it.
    assert_not_on_host(&[&in_tmp, &in_root]);
    assert_ne!(
        record.result.outcome,
        Outcome::NotRun,
        "{}",
        record.result.reason
    );
}

#[test]
fn pid1_sees_only_its_own_namespace() {
    let script = "echo pid=$$ processes=$(ls /proc | grep -c '^[0-9]') host=$(cat /proc/sys/kernel/hostname)";
    let record = execute(shell_candidate("looker", script), case("term-forward"));
    let console = console(&record);
    // $$ is 1: the script is PID 1; only it (and the ls/grep pipeline) is in its /proc.
    assert!(
        console.contains("pid=1 "),
        "PID 1 is not pid 1 in its namespace: {console}"
    );
    let processes: usize = console
        .split("processes=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    assert!(
        processes <= 4,
        "the sandbox's /proc shows {processes} processes: {console}"
    );
    assert!(
        console.contains("host=pid1check"),
        "no private UTS namespace: {console}"
    );
}

#[test]
fn a_run_leaves_no_process_behind() {
    // PID 1 starts a session leader that ignores SIGTERM and would sleep for 10 minutes;
    // nothing of it may outlive the run.
    let script = "setsid sh -c 'trap \"\" TERM; sleep 600' &";
    let record = execute(shell_candidate("leaver", script), case("term-forward"));
    let trace = record.raw.expect("the run produced a trace");
    let survivors = trace.actions.iter().find_map(|a| match &a.what {
        ActionKind::SurvivorScan { survivors } => Some(survivors.clone()),
        _ => None,
    });
    assert_eq!(
        survivors,
        Some(Vec::new()),
        "processes of the run survived PID 1"
    );
    // The sleeper really was there while the run lived (else the test proves nothing).
    assert!(
        trace
            .actions
            .iter()
            .any(|a| matches!(a.what, ActionKind::Pid1Exited { .. })),
        "PID 1 never exited"
    );
}

#[test]
fn a_candidate_that_cannot_start_is_not_run_with_the_reason() {
    let mut candidate = shell_candidate("missing", "true");
    candidate.argv = vec!["/nonexistent/init".to_owned(), "{workload}".to_owned()];
    let record = execute(candidate, case("term-forward"));
    assert_not_run(&record, &["exec /nonexistent/init", "ENOENT"]);
    assert!(
        record
            .result
            .verdicts
            .iter()
            .all(|v| v.result != harness::verdict::VerdictResult::Pass)
    );
}

/// The systemd candidate with one more unit, started before the app (which `Requires=` it):
/// a oneshot that empties /tmp (as systemd-tmpfiles' boot cleanup would), checks that the
/// canary the test put in the host's /tmp is not there, writes markers in /tmp and / and
/// rewrites /etc/machine-id. If any of that failed inside, the app never starts and the run is `not run`; so a
/// run that passes its start proves the writes happened, and the host must show none of them.
/// (A systemd booted on the host's real file system once cleaned the host's /tmp:
/// shared/DESIGN.md, "Facts measured".)
#[test]
fn a_systemd_run_cannot_touch_the_hosts_tmp_or_root() {
    let tag = format!("pid1check-systemd-{}", std::process::id());
    let canary = PathBuf::from("/tmp").join(format!("{tag}-canary"));
    let in_tmp = PathBuf::from("/tmp").join(format!("{tag}-marker"));
    let in_root = PathBuf::from("/").join(format!("{tag}-marker"));
    std::fs::write(&canary, "host").expect("writing the canary in the host's /tmp");
    let machine_id = std::fs::read("/etc/machine-id").ok();

    // Under target/, not /tmp: the unit empties the sandbox's /tmp.
    let image = tempfile::tempdir_in(root().join("target"))
        .expect("a directory for the test image's files");
    let units = image.path().join("units");
    std::fs::create_dir(&units).expect("units/");
    let fixture = root().join("fixtures/candidates/systemd-units");
    for unit in ["pid1check.target", "default.target"] {
        std::fs::copy(fixture.join(unit), units.join(unit)).expect("copying a unit");
    }
    let app = std::fs::read_to_string(fixture.join("pid1check-app.service"))
        .expect("reading the app's unit")
        .replace(
            "[Unit]\n",
            "[Unit]\nRequires=escape.service\nAfter=escape.service\n",
        );
    std::fs::write(units.join("pid1check-app.service"), app).expect("writing the app's unit");
    let script = format!(
        "find /tmp -xdev -mindepth 1 -delete 2>/dev/null; ! test -e {canary} && echo inside > {tmp} \
         && touch {root} && echo 0123456789abcdef0123456789abcdef > /etc/machine-id",
        canary = canary.display(),
        tmp = in_tmp.display(),
        root = in_root.display()
    );
    std::fs::write(
        units.join("escape.service"),
        format!(
            "[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\nRemainAfterExit=yes\n\
             ExecStart=/bin/sh -c '{script}'\n"
        ),
    )
    .expect("writing the escape unit");
    let mut systemd = crate::support::candidate("systemd-stopsignal");
    systemd.name = "systemd-escape".to_owned();
    systemd.dir = image.path().to_path_buf();
    systemd.files = vec![harness::spec::ImageFile {
        source: "units".to_owned(),
        at: "/etc/systemd/system".to_owned(),
    }];

    let record = crate::support::execute_with(
        systemd,
        case("term-forward"),
        crate::support::profile("podman"),
        &crate::support::options(),
    );
    let canary_left = std::fs::read_to_string(&canary).ok();
    let _ = std::fs::remove_file(&canary);
    assert_ne!(
        record.result.outcome,
        Outcome::NotRun,
        "the escape unit failed inside, so this proves nothing: {}",
        record.result.reason
    );
    assert_eq!(
        canary_left.as_deref(),
        Some("host"),
        "the host's /tmp was touched"
    );
    assert_not_on_host(&[&in_tmp, &in_root]);
    assert_eq!(
        std::fs::read("/etc/machine-id").ok(),
        machine_id,
        "the host's /etc/machine-id changed"
    );
}

/// The run's cgroup goes when the launcher is done with it, with every cgroup PID 1 made below
/// it (systemd makes init.scope and system.slice/…).
#[test]
fn a_runs_cgroup_is_removed_with_what_pid1_made_below_it() {
    let cgroup = harness::sandbox::RunCgroup::create().expect("creating a run cgroup");
    let path = cgroup.path().to_path_buf();
    let nested = path.join("system.slice").join("pid1check-app.service");
    std::fs::create_dir_all(&nested).expect("creating cgroups below it, as systemd does");
    assert!(nested.is_dir());
    drop(cgroup);
    assert!(!path.exists(), "{} is left on the host", path.display());
}

/// A container frozen by SIGSTOP (every process in state T, PID 1 included) still ends at the
/// runtime's SIGKILL, and the kernel's SIGKILL of the namespace reaches the stopped rest: no
/// process is left, and PID 1 is gone soon after the escalation.
#[test]
fn a_frozen_container_ends_at_the_sigkill_and_leaves_no_stopped_process() {
    let record = execute(crate::support::candidate("tini"), case("stop-while-frozen"));
    let raw = record.raw.as_ref().expect("the run got as far as a trace");
    let at = |wanted: fn(&ActionKind) -> bool| {
        raw.actions
            .iter()
            .find(|a| wanted(&a.what))
            .map(|a| (a.mono_ns, a.what.clone()))
    };
    let froze = at(|a| matches!(a, ActionKind::Froze { .. }));
    let Some((_, ActionKind::Froze { stopped, running })) = froze else {
        panic!("no freeze in {:?}", raw.actions);
    };
    assert!(stopped.contains(&1), "PID 1 was not stopped: {stopped:?}");
    assert_eq!(stopped.len(), 3, "pid1, app and worker: {stopped:?}");
    assert_eq!(running, Vec::<i32>::new());
    let (escalated, _) =
        at(|a| matches!(a, ActionKind::Escalated)).expect("the runtime had to escalate");
    let exited = at(|a| matches!(a, ActionKind::Pid1Exited { .. }));
    let Some((exited, ActionKind::Pid1Exited { status })) = exited else {
        panic!("PID 1's exit was not seen: {:?}", raw.actions);
    };
    assert_eq!(
        status,
        harness::trace::ExitStatus::Signaled {
            signal: libc::SIGKILL,
            core_dumped: false
        }
    );
    // SIGKILL wakes a stopped task at once; a second is far more than it needs.
    let latency_ms = exited.saturating_sub(escalated) as f64 / 1e6;
    eprintln!("SIGKILL to PID 1's exit, frozen container: {latency_ms:.2} ms");
    assert!(latency_ms < 1000.0, "{latency_ms} ms");
    let survivors = at(|a| matches!(a, ActionKind::SurvivorScan { .. }));
    assert!(
        matches!(survivors, Some((_, ActionKind::SurvivorScan { ref survivors })) if survivors.is_empty()),
        "{survivors:?}"
    );
    assert_eq!(
        record.result.outcome,
        Outcome::Pass,
        "{}",
        record.result.reason
    );
}

/// The launch server is killed in the middle of two runs (tini × grace-escalation at time
/// scale 1: a 10 s grace the app waits out): they are not run, with the reason, and nothing of
/// them is left: the launchers die with the server, PID 1 with its launcher, the app with PID
/// 1's namespace. Before that, neither launcher holds a socket of the server's (the one it
/// serves on, the other run's reply channel). The next run starts a new server. The server is
/// this test's own (a copy of the launcher), so the other tests' runs do not lose theirs.
#[test]
fn killing_the_launch_server_mid_run_leaves_no_process_of_the_run() {
    use std::collections::BTreeSet;

    use harness::conformance::MatrixOptions;
    use harness::matrix::Outcome;
    use harness::run::Launcher;
    use harness::spec::Profile;
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    use crate::support::{ProcessId, candidate, descendants, eventually, execute_with, options};

    const RUNS: usize = 2;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let program = dir.path().join("pid1check-launch");
    std::fs::copy(env!("CARGO_BIN_EXE_pid1check-launch"), &program).expect("copying");
    let options = MatrixOptions {
        launcher: Launcher {
            program: program.clone(),
            args: Vec::new(),
        },
        time_scale: 1.0,
        ..options()
    };
    let runs: Vec<_> = (0..RUNS)
        .map(|_| {
            let options = options.clone();
            std::thread::spawn(move || {
                let case = case("grace-escalation");
                execute_with(candidate("tini"), case, Profile::docker(), &options)
            })
        })
        .collect();
    // Our server (its command line names the copy) and its children, the launchers.
    let ours = |p: &ProcessId| {
        std::fs::read(format!("/proc/{}/cmdline", p.pid))
            .is_ok_and(|cmdline| cmdline.starts_with(program.as_os_str().as_encoded_bytes()))
    };
    let children = |pid: i32| -> Vec<i32> {
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|child| child.parse().ok())
            .collect()
    };
    // Up: each run's launcher, tini and app.
    let mut up: Option<(ProcessId, Vec<ProcessId>)> = None;
    let started = eventually(60, || {
        up = descendants(std::process::id() as i32)
            .into_iter()
            .find(ours)
            .map(|server| (server.clone(), descendants(server.pid)));
        up.as_ref()
            .is_some_and(|(_, below)| below.len() >= 3 * RUNS)
            || runs.iter().any(|run| run.is_finished())
    });
    let Some((server, run_processes)) =
        up.filter(|_| started && !runs.iter().any(|run| run.is_finished()))
    else {
        panic!("the runs never came up under their own launch server");
    };
    let sockets = |pid: i32| -> BTreeSet<String> {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .map(|link| link.to_string_lossy().into_owned())
            .filter(|link| link.starts_with("socket:"))
            .collect()
    };
    let server_sockets = sockets(server.pid);
    let launchers = children(server.pid);
    assert_eq!(launchers.len(), RUNS, "{launchers:?}");
    // Its own socket and a reply channel per run.
    assert!(server_sockets.len() > RUNS, "{server_sockets:?}");
    for launcher in launchers {
        let held = sockets(launcher);
        assert!(
            server_sockets.is_disjoint(&held),
            "launcher {launcher} holds sockets of the server's {server_sockets:?}: {held:?}"
        );
    }
    // Our child (through the thread that waits for it), not yet reaped: the pid is its own.
    kill(Pid::from_raw(server.pid), Signal::SIGKILL).expect("killing the launch server");
    for run in runs {
        let record = run.join().expect("the run's thread");
        assert_not_run(&record, &["launch server ended"]);
    }
    // Each dies of the SIGKILL the kernel sends when its parent dies.
    eventually(10, || !run_processes.iter().any(ProcessId::running));
    let left: Vec<&ProcessId> = run_processes.iter().filter(|p| p.running()).collect();
    assert_eq!(left, Vec::<&ProcessId>::new(), "of {run_processes:?}");
    // The next run gets a new server.
    let options = MatrixOptions {
        time_scale: harness::plan::DEFAULT_TIME_SCALE,
        ..options
    };
    let record = execute_with(
        candidate("tini"),
        case("term-forward"),
        Profile::docker(),
        &options,
    );
    assert_eq!(record.result.outcome, Outcome::Pass, "{:?}", record.result);
}
