//! Every candidate × case, snapshotted: the normalised trace and the verdicts of each run must
//! match `reports/snapshots/`, the same files `cargo xtask conformance` compares and blesses.
//!
//! Every candidate of `fixtures/candidates/` runs every case, except `systemd` and
//! `systemd-stopsignal`, whose runs under every runtime `systemd.rs` checks event by event
//! (they need cgroup2 and a second or more per run). Some inits are nondeterministic by their
//! own design: their file declares each race (`[[races]]`: the cases, the profiles and why,
//! citing the init's source), found with `cargo xtask conformance --repeat 5`. On a run a race
//! covers, the snapshot shows one draw, so comparing with it would pass or fail by luck: the
//! test checks only what does not depend on the draw (the run ran and its snapshot is blessed)
//! and prints `SKIPPED snapshot comparison` with the declared reason. That is a skip, not a
//! pass; `cargo xtask conformance` still compares those snapshots, and `--repeat` reports the
//! races under their declaration. A race declared `rare` (about once in thousands of runs) is
//! compared all the same: a run that differs gets one rerun, which must match.

use harness::conformance::snapshot_text;
use harness::matrix::Outcome;
use harness::snapshot::{SnapshotStatus, SnapshotStore, snapshot_name};
use rstest::rstest;

use crate::support::{candidate, candidates, case, cases, execute, root};

#[rstest]
fn matches_its_snapshot(
    #[values(
        "bare",
        "bash-exec",
        "busybox-init",
        "catatonit",
        "catatonit-g",
        "docker-init",
        "dumb-init",
        "dumb-init-c",
        "dumb-init-r",
        "lxc-init",
        "pid1",
        "runit",
        "runsvdir",
        "s6-svscan",
        "sh-script",
        "systemctl-replacement",
        "sysvinit",
        "tini",
        "tini-g",
        "tini-s"
    )]
    candidate_name: &str,
    #[values(
        "term-forward",
        "grandchild-same-pgrp",
        "grandchild-own-session",
        "orphan-reaping",
        "grace-escalation",
        "hup-forward",
        "int-forward",
        "quit-forward",
        "usr1-forward",
        "usr2-forward",
        "winch-forward",
        "sigchld-not-forwarded",
        "kill-from-inside",
        "exit-code",
        "exit-by-signal",
        "slow-cleanup",
        "double-stop",
        "main-exits-first",
        "zombie-storm",
        "deep-tree",
        "not-pid1",
        "rtmin3",
        "rtmin4",
        "exec-failure",
        "exec-not-executable",
        "job-control",
        "stop-while-frozen",
        "signal-burst",
        "reboot-syscall",
        "reboot-syscall-no-cap"
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
    let subject = candidate(candidate_name);
    let race = subject.declared_race(case_name, "docker");
    if let Some(race) = race.filter(|race| !race.rare) {
        let file = root()
            .join("reports/snapshots")
            .join(format!("{name}.snap"));
        assert!(
            file.exists(),
            "{candidate_name} × {case_name} declares a race but has no snapshot {}",
            file.display()
        );
        eprintln!(
            "SKIPPED snapshot comparison of {candidate_name} × {case_name} (docker): a race \
             {candidate_name} declares: {}",
            race.why
        );
        return;
    }
    if record.result.outcome == Outcome::NotApplicable {
        // Not executed: like a run that did not run, it has no snapshot.
        let file = root()
            .join("reports/snapshots")
            .join(format!("{name}.snap"));
        assert!(
            !file.exists(),
            "{candidate_name} × {case_name} is n/a but {} exists",
            file.display()
        );
        return;
    }
    let mut trace = snapshot_text(&record);
    if let Some(race) = race.filter(|race| race.rare) {
        let store = SnapshotStore::new(root().join("reports/snapshots"));
        if let Ok(SnapshotStatus::Differs { diff }) = store.check(&name, &trace) {
            eprintln!(
                "{candidate_name} × {case_name} (docker) differs, in a rare race \
                 {candidate_name} declares ({}); running it once more:\n{diff}",
                race.why
            );
            trace = snapshot_text(&execute(candidate(candidate_name), case(case_name)));
        }
    }
    insta::with_settings!({
        snapshot_path => root().join("reports/snapshots"),
        prepend_module_to_snapshot => false,
        omit_expression => false,
    }, {
        insta::assert_snapshot!(name, trace);
    });
}

/// The lists above are every case of `cases/` and every candidate of `fixtures/candidates/`
/// but the two systemd ones: a new file cannot go unsnapshotted by being forgotten here.
#[test]
fn the_snapshot_test_lists_every_case_and_candidate() {
    let source = include_str!("matrix.rs");
    let listed = |name: &str| {
        source.contains(&format!("        \"{name}\","))
            || source.contains(&format!("        \"{name}\"\n"))
    };
    let missing: Vec<&str> = cases()
        .iter()
        .map(|c| c.name.as_str())
        .chain(
            candidates()
                .iter()
                .map(|c| c.name.as_str())
                .filter(|name| !["systemd", "systemd-stopsignal"].contains(name)),
        )
        .filter(|name| !listed(name))
        .collect();
    assert!(
        missing.is_empty(),
        "not in the lists of matches_its_snapshot: {missing:?}"
    );
}
