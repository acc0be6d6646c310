//! Every candidate × case, snapshotted: the normalised trace and the verdicts of each run must
//! match `reports/snapshots/`, the same files `cargo xtask conformance` compares and blesses.
//!
//! Four candidates are left out, because at the default time scale their traces change from
//! run to run (`cargo xtask conformance --repeat 5`), and a test that passes by luck proves
//! nothing. Their snapshots are still blessed and compared by `cargo xtask conformance`:
//! - `runit` and `systemctl-replacement` poll once a second while they stop (runit: stage 2's
//!   exit; systemctl.py: the killed service's), longer than docker's 10 s grace scaled to
//!   500 ms, so whether the runtime's SIGKILL comes first is chance. Both are stable at
//!   `--time-scale 0.3`; they belong here once a candidate can ask for a minimum grace period.
//! - `runsvdir` on SIGHUP TERMs its runsv's and `_exit`s at once (runit: src/runsvdir.c), so
//!   the kernel's SIGKILL of the namespace races runsv's forwarding of the TERM: whether the
//!   app hears it is chance at any time scale.
//! - `dumb-init-r` rewrites TERM to QUIT, which no workload process handles: a worker killed
//!   by that QUIT races the namespace's SIGKILL when dumb-init exits after the app, and the
//!   kernel witness shows which one won (a QUIT sent while the worker briefly blocks signals
//!   stays pending, and the SIGKILL ends it). The race is the init's, not the harness's.

use harness::conformance::snapshot_text;
use harness::matrix::Outcome;
use harness::snapshot::snapshot_name;
use rstest::rstest;

use crate::support::{candidate, case, execute, root};

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
        "lxc-init",
        "pid1",
        "s6-svscan",
        "sh-script",
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
        "deep-tree"
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
