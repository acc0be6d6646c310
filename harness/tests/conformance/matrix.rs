//! Every candidate × case of the harness issue, snapshotted: the normalised trace and the
//! verdicts of each run must match `reports/snapshots/`, the same files `cargo xtask
//! conformance` compares and blesses.

use harness::conformance::snapshot_text;
use harness::matrix::Outcome;
use harness::snapshot::snapshot_name;
use rstest::rstest;

use crate::support::{candidate, case, execute, root};

#[rstest]
fn matches_its_snapshot(
    #[values("bare", "sh-script", "tini", "tini-g", "dumb-init", "dumb-init-c")]
    candidate_name: &str,
    #[values(
        "term-forward",
        "grandchild-same-pgrp",
        "grandchild-own-session",
        "orphan-reaping",
        "grace-escalation"
    )]
    case_name: &str,
) {
    let record = execute(candidate(candidate_name), case(case_name));
    assert_ne!(
        record.result.outcome,
        Outcome::NotRun,
        "{candidate_name} × {case_name} did not run: {}",
        record.result.reason
    );
    let name = snapshot_name(candidate_name, case_name, "docker");
    let trace = snapshot_text(&record);
    insta::with_settings!({
        snapshot_path => root().join("reports/snapshots"),
        prepend_module_to_snapshot => false,
        omit_expression => false,
    }, {
        insta::assert_snapshot!(name, trace);
    });
}
