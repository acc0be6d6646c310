//! Renderers of a [`GateReport`]: a terminal summary, JSON, JUnit XML (one test case per
//! case × profile, static findings as their own cases), a Markdown table for GitHub's step
//! summary and `::error` workflow commands. Pure: each returns text.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::GateReport;
use crate::matrix::Outcome;

/// The verdict line and everything behind it, for a terminal.
pub fn render_terminal(report: &GateReport) -> String {
    let mut out = format!(
        "image   {}\nPID 1   {}\n",
        report.image,
        report.argv.join(" ")
    );
    if report.findings.is_empty() {
        out.push_str("static  no findings\n");
    }
    for f in &report.findings {
        out.push_str(&format!(
            "static  {:<7} {:<24} {}{}\n        fix: {}\n",
            f.finding.severity.name(),
            f.finding.rule,
            f.finding.finding,
            if f.allowed {
                " (allowed by policy)"
            } else {
                ""
            },
            f.finding.fix
        ));
    }
    for run in &report.runs {
        out.push_str(&format!(
            "run     {:<8} {:<18} {:<12} {}\n",
            run.outcome.name(),
            run.case,
            run.profile,
            if run.reason.is_empty() {
                &run.stop
            } else {
                &run.reason
            }
        ));
    }
    for note in &report.notes {
        out.push_str(&format!("note    {note}\n"));
    }
    if report.passed {
        out.push_str(&format!("gate    PASS ({} runs)\n", report.runs.len()));
    } else {
        out.push_str(&format!(
            "gate    FAIL ({} reasons)\n",
            report.failures.len()
        ));
        for failure in &report.failures {
            out.push_str(&format!("        - {failure}\n"));
        }
    }
    out
}

/// The report as pretty JSON.
pub fn render_json(report: &GateReport) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(report)
}

/// The report as JUnit XML: suite `static` with one case per rule that fired, suite `runs`
/// with one case per case × profile; a failure's text holds the trace and evidence.
pub fn render_junit(report: &GateReport) -> Result<String, quick_junit::SerializeError> {
    let mut junit = Report::new("pid1check-gate");
    let mut statics = TestSuite::new("static");
    for f in &report.findings {
        let status = if f.fails() {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(f.finding.finding.clone())
                .set_type(f.finding.rule)
                .set_description(format!("{}\nfix: {}", f.finding.finding, f.finding.fix));
            status
        } else {
            TestCaseStatus::success()
        };
        let mut case = TestCase::new(f.finding.rule, status);
        case.set_classname("static");
        if !f.fails() {
            case.set_system_out(format!(
                "{}: {}\nfix: {}",
                f.finding.severity.name(),
                f.finding.finding,
                f.finding.fix
            ));
        }
        statics.add_test_case(case);
    }
    let mut runs = TestSuite::new("runs");
    for run in &report.runs {
        let status = match run.outcome {
            Outcome::Pass => TestCaseStatus::success(),
            Outcome::Fail => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status
                    .set_message(run.reason.clone())
                    .set_type("must failed")
                    .set_description(run.evidence.clone());
                status
            }
            Outcome::Unknown | Outcome::NotRun => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status
                    .set_message(format!("{}: {}", run.outcome.name(), run.reason))
                    .set_type(run.outcome.name())
                    .set_description(run.evidence.clone());
                status
            }
        };
        let mut case = TestCase::new(format!("{} × {}", run.case, run.profile), status);
        case.set_classname(format!("runs.{}", run.profile));
        if run.outcome == Outcome::Pass {
            case.set_system_out(run.evidence.clone());
        }
        runs.add_test_case(case);
    }
    junit.add_test_suite(statics).add_test_suite(runs);
    junit.to_string()
}

/// A Markdown table for `$GITHUB_STEP_SUMMARY`.
pub fn render_step_summary(report: &GateReport) -> String {
    let mut out = format!(
        "### pid1check gate: {}\n\nImage `{}`, PID 1 `{}`\n\n",
        if report.passed { "PASS" } else { "FAIL" },
        report.image,
        report.argv.join(" ")
    );
    out.push_str("| check | profile | result | detail |\n| --- | --- | --- | --- |\n");
    for f in &report.findings {
        out.push_str(&format!(
            "| `{}` | — | {}{} | {} — fix: {} |\n",
            f.finding.rule,
            f.finding.severity.name(),
            if f.allowed { " (allowed)" } else { "" },
            cell(&f.finding.finding),
            cell(&f.finding.fix)
        ));
    }
    for run in &report.runs {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            run.case,
            run.profile,
            run.outcome.name(),
            cell(if run.reason.is_empty() {
                &run.stop
            } else {
                &run.reason
            })
        ));
    }
    out
}

/// GitHub workflow commands, one `::error` line per failing finding or failed run.
pub fn render_github_errors(report: &GateReport) -> String {
    let mut out = String::new();
    for f in report.findings.iter().filter(|f| f.fails()) {
        out.push_str(&format!(
            "::error title=pid1check {}::{} (fix: {})\n",
            f.finding.rule,
            escape(&f.finding.finding),
            escape(&f.finding.fix)
        ));
    }
    for run in report.runs.iter().filter(|r| r.fails()) {
        out.push_str(&format!(
            "::error title=pid1check {} × {}::{}: {}\n",
            run.case,
            run.profile,
            run.outcome.name(),
            escape(&run.reason)
        ));
    }
    out
}

/// A Markdown table cell: no pipes, no newlines.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// A workflow command's message (GitHub's escaping of `%`, CR and LF).
fn escape(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::{AppMode, Finding, GateFinding, GateRun, Severity};

    fn report() -> GateReport {
        GateReport {
            image: "oci:x".to_owned(),
            argv: vec!["/bin/sh".to_owned(), "-c".to_owned(), "app".to_owned()],
            mode: AppMode::ProbeAsApp,
            findings: vec![GateFinding {
                finding: Finding {
                    rule: "PID1-SHELL-FORM",
                    severity: Severity::Error,
                    finding: "PID 1 is a shell | really".to_owned(),
                    fix: "exec form".to_owned(),
                },
                allowed: false,
            }],
            runs: vec![GateRun {
                case: "term-forward".to_owned(),
                profile: "kubernetes".to_owned(),
                outcome: Outcome::Fail,
                reason: "app caught stop: not caught\n100%".to_owned(),
                stop: "TERM".to_owned(),
                failed_musts: Vec::new(),
                evidence: "trace <lines> & more".to_owned(),
            }],
            notes: Vec::new(),
            passed: false,
            runs_ms: 1200,
            failures: vec!["x".to_owned()],
        }
    }

    #[test]
    fn junit_has_one_failing_case_per_rule_and_run_with_the_evidence_escaped() {
        let xml = render_junit(&report()).expect("junit");
        assert!(
            xml.contains(
                r#"<testsuite name="static" tests="1" disabled="0" errors="0" failures="1""#
            ),
            "{xml}"
        );
        assert!(
            xml.contains(
                r#"<testcase name="term-forward × kubernetes" classname="runs.kubernetes">"#
            ),
            "{xml}"
        );
        assert!(xml.contains("trace &lt;lines&gt; &amp; more"), "{xml}");
    }

    #[test]
    fn step_summary_and_annotations_escape_what_would_break_them() {
        let summary = render_step_summary(&report());
        assert!(
            summary.contains("| `PID1-SHELL-FORM` | — | error | PID 1 is a shell \\| really"),
            "{summary}"
        );
        let errors = render_github_errors(&report());
        assert_eq!(errors.lines().count(), 2, "{errors}");
        assert!(errors.contains("not caught%0A100%25"), "{errors}");
    }
}
