//! The gate report the JUnit tests render: one of every kind of test case, shared by the schema
//! check and the viewer check.

use harness::gate::rules::RULES;
use harness::gate::{AppMode, Finding, GateFinding, GateReport, GateRun, Severity};
use harness::matrix::Outcome;

/// A report with every kind of test case the renderer writes: a passed run, a failed must,
/// an unknown run, one not run and one n/a, a static rule that fails the gate and one the
/// policy allows; text with what XML must escape.
pub fn every_kind_of_case() -> GateReport {
    let run = |case: &str, outcome: Outcome, reason: &str| GateRun {
        case: case.to_owned(),
        profile: "kubernetes".to_owned(),
        outcome,
        reason: reason.to_owned(),
        stop: "TERM".to_owned(),
        failed_musts: Vec::new(),
        // Each run's own evidence, so a viewer that showed another run's would be caught.
        evidence: format!("[after-stop-signal] {case}: caught TERM <from=runtime> & \"quoted\""),
    };
    let finding = |rule: &'static str, severity: Severity, allowed: bool| GateFinding {
        finding: Finding {
            rule,
            severity,
            finding: format!("{rule} fired"),
            fix: "exec form: ENTRYPOINT [\"tini\", \"--\"]".to_owned(),
        },
        allowed,
    };
    GateReport {
        image: "oci:image.tar".to_owned(),
        argv: vec!["/bin/sh".to_owned(), "-c".to_owned(), "app".to_owned()],
        mode: AppMode::ProbeAsApp,
        findings: vec![
            finding(RULES[0].0, Severity::Error, false),
            finding(RULES[1].0, Severity::Error, true),
        ],
        runs: vec![
            run("term-forward", Outcome::Fail, "app caught stop: not caught"),
            run("orphan-reaping", Outcome::Pass, ""),
            run("exit-code", Outcome::Unknown, "needs the kernel witness"),
            run("grace-escalation", Outcome::NotRun, "PID 1 did not start"),
            run("rtmin3", Outcome::NotApplicable, "the app is PID 1"),
        ],
        notes: Vec::new(),
        passed: false,
        runs_ms: 1200,
        failures: vec!["term-forward × kubernetes".to_owned()],
    }
}
