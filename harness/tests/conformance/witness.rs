//! The kernel witness on real runs: it sees what no probe can (the kernel's SIGKILL, a signal
//! dropped for a protected init), decides what was `unknown` without it, and leaves
//! /sys/kernel/tracing as it found it. These runs need root (the root sandbox mode): without
//! it the witness does not run and these tests fail, they do not skip.

use std::path::Path;

use harness::conformance::{RunRecord, chain, execute_witnessed};
use harness::observe::witness::{
    EVENTS, TRACEFS, WitnessCollector, WitnessLog, instance_owner, list_instances,
};
use harness::verdict::VerdictResult;

use crate::support::{candidate, case, execute, options, ready};

/// Execute, insisting that the witness ran.
fn witnessed(candidate_name: &str, case_name: &str) -> RunRecord {
    let record = execute(candidate(candidate_name), case(case_name));
    match record.raw.as_ref().map(|t| &t.witness) {
        Some(WitnessLog::Ran(_)) => record,
        Some(WitnessLog::NotRun { reason }) => {
            panic!("{candidate_name} × {case_name}: the kernel witness did not run: {reason}")
        }
        Some(WitnessLog::Collecting(_)) => {
            panic!("{candidate_name} × {case_name}: the witness's record was never completed")
        }
        None => panic!(
            "{candidate_name} × {case_name} produced no trace: {}",
            record.result.reason
        ),
    }
}

/// The signal and detail of every `event` of `role` in the normalised trace.
fn signals_of(record: &RunRecord, role: &str, event: &str) -> Vec<(Option<String>, String)> {
    record
        .normal
        .events
        .iter()
        .filter(|e| e.role == role && e.event == event)
        .map(|e| (e.signal.clone(), e.detail.clone()))
        .collect()
}

#[test]
fn tini_leaves_the_worker_in_its_own_session_to_the_kernels_sigkill() {
    let record = witnessed("tini", "grandchild-own-session");
    assert_eq!(
        signals_of(&record, "worker", "killed"),
        [(
            Some("KILL".to_owned()),
            "from=kernel code=SI_KERNEL".to_owned()
        )],
        "{}",
        record.normal.render()
    );
}

#[test]
fn a_shell_without_trap_as_pid1_has_the_stop_signal_dropped() {
    let record = witnessed("sh-script", "term-forward");
    assert_eq!(
        signals_of(&record, "pid1", "signal-dropped"),
        [(
            Some("TERM".to_owned()),
            "from=runtime code=SI_USER (protected init, no handler)".to_owned()
        )],
        "{}",
        record.normal.render()
    );
}

#[test]
fn killed_by_is_decided_with_the_witness() {
    // tini × grace-escalation: the app ignores TERM; at the deadline the runtime SIGKILLs
    // tini and the kernel SIGKILLs the app. No probe reaps the app, so only the witness tells.
    let record = witnessed("tini", "grace-escalation");
    let verdict = record
        .result
        .verdicts
        .iter()
        .find(|v| v.expectation == "app killed by KILL")
        .unwrap_or_else(|| panic!("no killed-by verdict: {:?}", record.result.verdicts));
    assert_eq!(
        (verdict.result, verdict.evidence.as_str()),
        (
            VerdictResult::Pass,
            "app: killed KILL from=kernel code=SI_KERNEL in after-escalation"
        )
    );
}

/// What the witness must leave exactly as it was: the global switches and events, and every
/// tracefs instance that is not a run's in progress.
#[derive(Debug, PartialEq, Eq)]
struct TracingState {
    tracing_on: String,
    set_event: String,
    current_tracer: String,
    witness_events_enabled: Vec<String>,
    /// Instances that are not the witness's.
    other_instances: Vec<String>,
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn tracing_state() -> TracingState {
    let root = Path::new(TRACEFS);
    let mut other_instances: Vec<String> = std::fs::read_dir(root.join("instances"))
        .unwrap_or_else(|e| panic!("listing {TRACEFS}/instances: {e}"))
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| instance_owner(name).is_none())
        .collect();
    other_instances.sort();
    TracingState {
        tracing_on: read(&root.join("tracing_on")),
        set_event: read(&root.join("set_event")),
        current_tracer: read(&root.join("current_tracer")),
        witness_events_enabled: EVENTS
            .iter()
            .map(|e| read(&root.join(format!("events/{e}/enable"))))
            .collect(),
        other_instances,
    }
}

/// Witness instances whose launcher is gone: left behind.
fn stale_instances() -> Vec<String> {
    list_instances()
        .into_iter()
        .filter(|name| {
            instance_owner(name).is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        })
        .collect()
}

/// The witness's own instance is gone once it is dropped, the machine's tracing is as it was,
/// and no instance of a process that is gone appeared. Other tests of this binary run at the
/// same time with instances of their own (all owned by this live process, so never stale);
/// an instance that was stale before this test began is a killed predecessor's, which
/// [`a_harness_killed_before_its_cleanup_leaves_nothing_for_the_next`] covers.
#[test]
fn runs_leave_the_kernels_tracing_as_they_found_it() {
    let stale_before = stale_instances();
    let before = tracing_state();
    let witness = WitnessCollector::start().map_err(|e| chain(&e));
    let instance = match &witness {
        Ok(collector) => collector
            .marker_path()
            .and_then(|marker| marker.parent().map(Path::to_path_buf))
            .expect("a live collector has an instance"),
        Err(reason) => panic!("the kernel witness cannot start: {reason}"),
    };
    assert!(instance.is_dir(), "{}", instance.display());
    for (candidate_name, case_name) in [
        ("tini", "term-forward"),
        ("dumb-init", "grandchild-same-pgrp"),
        ("sh-script", "grace-escalation"),
        ("tini-g", "orphan-reaping"),
    ] {
        let record = execute_witnessed(
            &ready(candidate(candidate_name), case(case_name)),
            &options(),
            &witness,
        );
        let ran = record.raw.as_ref().and_then(|t| t.witness.ran());
        assert!(
            ran.is_some(),
            "{candidate_name} × {case_name}: {:?}",
            record.raw
        );
    }
    drop(witness);
    assert!(!instance.exists(), "{} was left", instance.display());
    assert_eq!(tracing_state(), before);
    let left: Vec<String> = stale_instances()
        .into_iter()
        .filter(|name| !stale_before.contains(name))
        .collect();
    assert_eq!(left, Vec::<String>::new());
}

/// A harness killed before its collector's drop (SIGKILL, a timeout, Ctrl-C on the test
/// binary) leaves its instance, recording, owned by a pid that is gone. That is what a
/// fresh-clone CI run once found and failed on. The next collector removes it before it
/// creates its own, so no later run, test or `cargo xtask conformance` trips over it.
#[test]
fn a_harness_killed_before_its_cleanup_leaves_nothing_for_the_next() {
    // A pid that is gone: a child that exited and was reaped.
    let mut child = std::process::Command::new("true")
        .spawn()
        .expect("spawning true");
    let dead = child.id();
    child.wait().expect("reaping true");
    let leftover = Path::new(TRACEFS)
        .join("instances")
        .join(format!("pid1check-{dead}-0"));
    // What the killed harness left: a real instance, with an event on.
    std::fs::create_dir(&leftover)
        .unwrap_or_else(|e| panic!("creating {}: {e}", leftover.display()));
    let enable = leftover.join(format!("events/{}/enable", EVENTS[0]));
    std::fs::write(&enable, "1").unwrap_or_else(|e| panic!("{}: {e}", enable.display()));
    let witness = WitnessCollector::start().map_err(|e| chain(&e));
    let gone = !leftover.exists();
    drop(witness);
    assert!(gone, "{} survived a new collector", leftover.display());
}

#[test]
fn parallel_runs_sharing_the_witness_keep_to_their_own_processes() {
    let runs: Vec<_> = [
        ("tini", "grandchild-own-session"),
        ("dumb-init", "grandchild-same-pgrp"),
        ("tini-g", "orphan-reaping"),
        ("sh-script", "term-forward"),
    ]
    .into_iter()
    .map(|(candidate_name, case_name)| ready(candidate(candidate_name), case(case_name)))
    .collect();
    let options = harness::conformance::MatrixOptions {
        jobs: runs.len(),
        ..options()
    };
    let records = harness::conformance::execute_matrix(&runs, &options, &|_| {});
    let mut seen = std::collections::BTreeSet::new();
    for record in &records {
        let name = format!("{} × {}", record.result.candidate, record.result.case);
        let run = record
            .raw
            .as_ref()
            .and_then(|t| t.witness.ran())
            .unwrap_or_else(|| panic!("{name}: the witness did not run"));
        let own: std::collections::BTreeSet<i32> =
            run.processes.iter().map(|p| p.host_pid).collect();
        // Every run has processes of its own, none shared with another run...
        assert!(own.len() >= 2, "{name}: {:?}", run.processes);
        assert!(seen.is_disjoint(&own), "{name} shares processes: {own:?}");
        seen.extend(own.iter().copied());
        // ...and every signal it kept went to one of them.
        for event in &run.events {
            if let harness::observe::witness::WitnessKind::Generate { receiver, .. } = event.kind {
                assert!(own.contains(&receiver), "{name}: {event:?}");
            }
        }
    }
}
