//! The same inputs give the same results however they are run (issue 6, DESIGN.md rule 4):
//! one run at a time or sixteen, and on a machine whose every core is busy with something
//! else. Compared through the snapshot texts (normalised trace and verdicts), against each
//! other and against the committed snapshots.

use std::process::{Child, Command};

use harness::conformance::{MatrixOptions, ReadyRun, RunRecord, execute_matrix, snapshot_text};
use harness::matrix::Outcome;
use harness::snapshot::{SnapshotStatus, SnapshotStore, snapshot_name};

use crate::support::{candidate, case, options, ready, root};

/// Four candidates × three cases: forwarding, escalation after the grace period, and a
/// zombie scan after a workload delay (the timing-sensitive parts of a run).
fn small_matrix() -> Vec<ReadyRun> {
    let mut runs = Vec::new();
    for candidate_name in ["bare", "tini", "dumb-init", "sh-script"] {
        for case_name in ["term-forward", "grace-escalation", "orphan-reaping"] {
            runs.push(ready(candidate(candidate_name), case(case_name)));
        }
    }
    runs
}

/// Each run's snapshot text, after checking it ran.
fn snapshot_texts(records: &[RunRecord]) -> Vec<(String, String)> {
    records
        .iter()
        .map(|record| {
            let r = &record.result;
            assert_ne!(
                r.outcome,
                Outcome::NotRun,
                "{} × {}: {}",
                r.candidate,
                r.case,
                r.reason
            );
            (
                snapshot_name(&r.candidate, &r.case, &r.profile),
                snapshot_text(record),
            )
        })
        .collect()
}

/// Every text matches its committed snapshot.
fn assert_match_committed(texts: &[(String, String)], when: &str) {
    let store = SnapshotStore::new(root().join("reports/snapshots"));
    for (name, text) in texts {
        let status = store.check(name, text);
        assert!(
            matches!(status, Ok(SnapshotStatus::Matches)),
            "{name} {when}: {status:?}"
        );
    }
}

fn run_matrix(runs: &[ReadyRun], jobs: usize) -> Vec<(String, String)> {
    let options = MatrixOptions { jobs, ..options() };
    snapshot_texts(&execute_matrix(runs, &options, &|_| {}))
}

#[test]
fn one_job_and_sixteen_jobs_give_the_same_snapshots() {
    let runs = small_matrix();
    let one = run_matrix(&runs, 1);
    let sixteen = run_matrix(&runs, 16);
    assert_eq!(one.len(), runs.len());
    for ((name, alone), (_, together)) in one.iter().zip(&sixteen) {
        assert_eq!(alone, together, "{name}: --jobs 1 vs --jobs 16");
    }
    assert_match_committed(&one, "with --jobs 1");
}

/// Busy loops, one per core, killed (by their pids: our own children) when dropped, even if
/// the test fails.
struct Burners(Vec<Child>);

impl Burners {
    /// One busy loop per core.
    fn start() -> Burners {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Burners(
            (0..cores)
                .map(|_| {
                    Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .spawn()
                        .expect("starting a busy loop")
                })
                .collect(),
        )
    }

    /// Whether every busy loop is still running (else the load was not there).
    fn all_running(&mut self) -> bool {
        self.0
            .iter_mut()
            .all(|child| matches!(child.try_wait(), Ok(None)))
    }
}

impl Drop for Burners {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn a_machine_busy_on_every_core_gives_the_same_snapshots() {
    let runs = small_matrix();
    let mut burners = Burners::start();
    // The default of `cargo xtask conformance`: four runs per core.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let loaded = run_matrix(&runs, 4 * cores);
    assert!(
        burners.all_running(),
        "the load went away during the matrix"
    );
    drop(burners);
    assert_match_committed(&loaded, "with every core busy");
}
