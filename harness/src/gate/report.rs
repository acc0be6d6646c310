//! Renderers of a [`GateReport`]: a terminal summary, JSON, JUnit XML (one test case per
//! case × profile, static findings as their own cases), a Markdown table for GitHub's step
//! summary and `::error` workflow commands. Pure: each returns text.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::GateReport;
use super::rules::RULES;
use crate::matrix::Outcome;

/// The verdict line and everything behind it, for a terminal.
pub fn render_terminal(report: &GateReport) -> String {
    let mut out = format!(
        "image   {}\nPID 1   {}\n",
        report.image,
        shown_argv(&report.argv)
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

/// The report as JUnit XML: suite `static` with one case per rule (failing when it fired
/// at error level and the policy does not allow it), suite `runs` with one case per case ×
/// profile; a failure's text holds the normalised trace and every verdict.
pub fn render_junit(report: &GateReport) -> Result<String, quick_junit::SerializeError> {
    let mut junit = Report::new("pid1check-gate");
    let mut statics = TestSuite::new("static");
    for (rule, checks) in RULES {
        let fired: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.finding.rule == *rule)
            .collect();
        let lines: Vec<String> = fired
            .iter()
            .map(|f| {
                format!(
                    "{}{}: {}\nfix: {}",
                    f.finding.severity.name(),
                    if f.allowed { " (allowed)" } else { "" },
                    f.finding.finding,
                    f.finding.fix
                )
            })
            .collect();
        let status = match fired.iter().find(|f| f.fails()) {
            Some(failing) => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status
                    .set_message(failing.finding.finding.clone())
                    .set_type(*rule)
                    .set_description(lines.join("\n"));
                status
            }
            None => TestCaseStatus::success(),
        };
        let mut case = TestCase::new(*rule, status);
        case.set_classname("static");
        case.set_system_out(if lines.is_empty() {
            format!("not found: {checks}")
        } else {
            lines.join("\n")
        });
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
            Outcome::NotApplicable => {
                let mut status = TestCaseStatus::skipped();
                status.set_message(format!("n/a: {}", run.reason));
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
    junit.to_string().map(without_disabled)
}

/// quick-junit writes `disabled="N"` on every `<testsuite>`, counting its skipped test cases
/// (the gate's `n/a` runs), an attribute the common JUnit schema (Jenkins' `junit-10.xsd`,
/// vendored in fixtures/gate/) does not have, so a strict reader rejects the file. The schema's
/// name for that count is `skipped`: a count of 0 is dropped, any other is renamed. Every start
/// tag is on a line of its own and text escapes `<`, so a line that starts with `<testsuite `
/// is a tag.
fn without_disabled(xml: String) -> String {
    let mut out = xml
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("<testsuite ") {
                skipped_for_disabled(line)
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    if xml.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// A `<testsuite ...>` tag with its ` disabled="N"` attribute dropped (N = 0) or renamed to
/// ` skipped="N"`.
fn skipped_for_disabled(tag: &str) -> String {
    const ATTRIBUTE: &str = " disabled=\"";
    let Some(start) = tag.find(ATTRIBUTE) else {
        return tag.to_owned();
    };
    let value_start = start + ATTRIBUTE.len();
    let Some(value_len) = tag[value_start..].find('"') else {
        return tag.to_owned();
    };
    let value = &tag[value_start..value_start + value_len];
    let rest = &tag[value_start + value_len + 1..];
    if value == "0" {
        format!("{}{rest}", &tag[..start])
    } else {
        format!("{} skipped=\"{value}\"{rest}", &tag[..start])
    }
}

/// A Markdown table for `$GITHUB_STEP_SUMMARY`.
pub fn render_step_summary(report: &GateReport) -> String {
    let mut out = format!(
        "### pid1check gate: {}\n\nImage `{}`, PID 1 `{}`\n\n",
        if report.passed { "PASS" } else { "FAIL" },
        report.image,
        shown_argv(&report.argv)
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
            escape_property(f.finding.rule),
            escape(&f.finding.finding),
            escape(&f.finding.fix)
        ));
    }
    for run in report.runs.iter().filter(|r| r.fails()) {
        out.push_str(&format!(
            "::error title=pid1check {}::{}: {}\n",
            escape_property(&format!("{} × {}", run.case, run.profile)),
            run.outcome.name(),
            escape(&run.reason)
        ));
    }
    out
}

/// An argv as a shell would need it typed: arguments with spaces or quotes single-quoted.
fn shown_argv(argv: &[String]) -> String {
    argv.iter()
        .map(|arg| {
            if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || "'\"$;&|".contains(c))
            {
                format!("'{}'", arg.replace('\'', r"'\''"))
            } else {
                arg.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A workflow command's property value: the message's escaping, and `:` and `,` too.
fn escape_property(text: &str) -> String {
    escape(text).replace(':', "%3A").replace(',', "%2C")
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
        let statics = format!(
            r#"<testsuite name="static" tests="{}" errors="0" failures="1">"#,
            RULES.len()
        );
        assert!(xml.contains(&statics), "{xml}");
        assert!(!xml.contains("disabled"), "{xml}");
        assert!(
            xml.contains(
                r#"<testcase name="term-forward × kubernetes" classname="runs.kubernetes">"#
            ),
            "{xml}"
        );
        assert!(xml.contains("trace &lt;lines&gt; &amp; more"), "{xml}");
    }

    #[test]
    fn junit_counts_n_a_runs_as_skipped_in_the_schemas_attribute() {
        let mut report = report();
        report.runs[0].outcome = Outcome::NotApplicable;
        let xml = render_junit(&report).expect("junit");
        assert!(
            xml.contains(
                r#"<testsuite name="runs" tests="1" skipped="1" errors="0" failures="0">"#
            ),
            "{xml}"
        );
        assert!(!xml.contains("disabled"), "{xml}");
    }

    /// The rows of every table in `markdown` as GitHub renders it (CommonMark with the GFM
    /// table extension), each row its cells' text.
    fn rendered_table_rows(markdown: &str) -> Vec<Vec<String>> {
        use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
        let mut rows = Vec::new();
        let (mut row, mut cell, mut in_cell) = (Vec::new(), String::new(), false);
        for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
            match event {
                Event::Start(Tag::TableCell) => (cell, in_cell) = (String::new(), true),
                Event::End(TagEnd::TableCell) => {
                    row.push(std::mem::take(&mut cell));
                    in_cell = false;
                }
                Event::End(TagEnd::TableHead | TagEnd::TableRow) => {
                    rows.push(std::mem::take(&mut row));
                }
                Event::Text(text) | Event::Code(text) if in_cell => cell.push_str(&text),
                _ => {}
            }
        }
        rows
    }

    #[test]
    fn step_summary_renders_as_one_table_with_a_row_per_finding_and_run() {
        let rows = rendered_table_rows(&render_step_summary(&report()));
        assert_eq!(
            rows,
            [
                vec!["check", "profile", "result", "detail"],
                vec![
                    "PID1-SHELL-FORM",
                    "—",
                    "error",
                    "PID 1 is a shell | really — fix: exec form"
                ],
                vec![
                    "term-forward",
                    "kubernetes",
                    "fail",
                    "app caught stop: not caught 100%"
                ],
            ]
        );
        // The check can fail: an unescaped pipe in a cell makes an extra cell, which GFM drops.
        let broken = "| a | b |\n| --- | --- |\n| x | y | z |\n";
        assert_eq!(rendered_table_rows(broken)[1], ["x", "y"]);
    }

    #[test]
    fn step_summary_and_annotations_escape_what_would_break_them() {
        let summary = render_step_summary(&report());
        assert!(summary.contains("PID 1 `/bin/sh -c app`"), "{summary}");
        assert_eq!(
            shown_argv(&["/bin/sh".to_owned(), "-c".to_owned(), "a; b".to_owned()]),
            "/bin/sh -c 'a; b'"
        );
        assert!(
            summary.contains("| `PID1-SHELL-FORM` | — | error | PID 1 is a shell \\| really"),
            "{summary}"
        );
        let errors = render_github_errors(&report());
        assert_eq!(errors.lines().count(), 2, "{errors}");
        assert!(errors.contains("not caught%0A100%25"), "{errors}");
    }
}
