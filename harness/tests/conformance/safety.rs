//! What a run must never do, tested negatively: write the host's file system, see the host's
//! processes, or leave a process behind. PID 1 here is a shell script that tries.

use std::path::PathBuf;

use harness::matrix::Outcome;
use harness::spec::{Candidate, CandidateKind, Install};
use harness::trace::ActionKind;

use crate::support::{case, execute, root};

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
    }
}

/// What PID 1 and its children wrote to stdout and stderr.
fn console(record: &harness::conformance::RunRecord) -> String {
    record
        .raw
        .as_ref()
        .map(|t| t.console.clone())
        .unwrap_or_default()
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
    assert!(
        !in_tmp.exists(),
        "{} leaked onto the host",
        in_tmp.display()
    );
    assert!(
        !in_root.exists(),
        "{} leaked onto the host",
        in_root.display()
    );
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
    assert_eq!(
        record.result.outcome,
        Outcome::NotRun,
        "{:?}",
        record.result
    );
    assert!(
        record.result.reason.contains("exec /nonexistent/init")
            && record.result.reason.contains("ENOENT"),
        "the reason does not say what failed: {}",
        record.result.reason
    );
    assert!(
        record
            .result
            .verdicts
            .iter()
            .all(|v| v.result != harness::verdict::VerdictResult::Pass)
    );
}
