//! The gate's JUnit file in a real JUnit viewer: junit2html (PyPI, maintained), pip-installed
//! by the tests into a venv of its own at target/tools/junit2html/venv (never the machine's
//! Python), renders it as HTML, and the page is read back as structure: every test case of the
//! report is shown under its name with the outcome the report gives it, and a failure shows its
//! message and its evidence. Fails, never skips, when the viewer cannot be installed (it needs
//! PyPI on first use).

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::OnceLock;

use harness::gate::GateReport;
use harness::gate::report::render_junit;
use harness::gate::rules::RULES;
use harness::install::{InstalledTool, install_junit2html};
use harness::matrix::Outcome;
use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};

use super::every_kind::every_kind_of_case;
use super::root;

/// junit2html, installed once per test binary; a failure to install it fails the test.
fn junit2html() -> &'static InstalledTool {
    static JUNIT2HTML: OnceLock<InstalledTool> = OnceLock::new();
    JUNIT2HTML.get_or_init(|| {
        install_junit2html(&root())
            .unwrap_or_else(|e| panic!("installing junit2html: {}", harness::error_chain(&e)))
    })
}

/// `xml` as junit2html renders it: the HTML page.
fn render(xml: &str) -> String {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (input, page) = (dir.path().join("junit.xml"), dir.path().join("junit.html"));
    std::fs::write(&input, xml).expect("writing the JUnit file");
    let tool = junit2html();
    let output = Command::new(&tool.bin)
        .arg(&input)
        .arg(&page)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", tool.bin.display()));
    assert!(
        output.status.success(),
        "junit2html {} exited {}: {}",
        tool.version,
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("reading {}: {e}", page.display()))
}

/// One test case as junit2html shows it: its table of properties (`Test case:`, `Outcome:`,
/// and `Failed` or `Skipped` for the message) and its preformatted blocks (the failure's
/// text, the case's stdout), entities resolved.
#[derive(Debug, Default)]
struct ShownCase {
    properties: BTreeMap<String, String>,
    blocks: Vec<String>,
}

impl ShownCase {
    fn property(&self, header: &str) -> &str {
        self.properties.get(header).map_or("", String::as_str)
    }

    /// The message beside the outcome: a failure's or a skip's.
    fn message(&self) -> &str {
        match self.property("Outcome:") {
            "Failed" => self.property("Failed"),
            "Skipped" => self.property("Skipped"),
            _ => "",
        }
    }
}

/// The test cases of a junit2html page, in page order: each is a `<div class="test outcome
/// outcome-...">`. The page is HTML, not XML (`<meta>`, `<br>` are never closed), so end
/// tags are not matched to start tags; only `div`s are counted, to know where a case ends.
fn shown_cases(html: &str) -> Result<Vec<ShownCase>, String> {
    let mut reader = Reader::from_str(html);
    reader.config_mut().check_end_names = false;
    let at = |reader: &Reader<&[u8]>, e: &dyn std::fmt::Display| {
        format!("byte {}: {e}", reader.buffer_position())
    };
    let mut cases = Vec::new();
    let mut current: Option<ShownCase> = None;
    // `div`s open inside the current case, its own included.
    let mut depth = 0usize;
    let mut header = String::new();
    // The text of the `th`, `td` or `pre` being read.
    let mut text: Option<String> = None;
    loop {
        match reader.read_event().map_err(|e| at(&reader, &e))? {
            Event::Start(tag) => match tag.name().as_ref() {
                b"div" if current.is_some() => depth += 1,
                b"div" if has_class(&tag, "test") => {
                    current = Some(ShownCase::default());
                    depth = 1;
                }
                b"th" | b"td" | b"pre" if current.is_some() => text = Some(String::new()),
                _ => {}
            },
            Event::End(tag) => match (tag.name().as_ref(), current.as_mut()) {
                (b"div", Some(_)) => {
                    depth -= 1;
                    if depth == 0 {
                        cases.extend(current.take());
                    }
                }
                (b"th", Some(_)) => header = text.take().unwrap_or_default().trim().to_owned(),
                (b"td", Some(case)) => {
                    let value = text.take().unwrap_or_default().trim().to_owned();
                    case.properties.insert(std::mem::take(&mut header), value);
                }
                (b"pre", Some(case)) => case.blocks.extend(text.take()),
                _ => {}
            },
            Event::Text(part) => {
                if let Some(text) = text.as_mut() {
                    text.push_str(&part.html_content().map_err(|e| at(&reader, &e))?);
                }
            }
            Event::GeneralRef(entity) => {
                if let Some(text) = text.as_mut() {
                    match entity.resolve_char_ref().map_err(|e| at(&reader, &e))? {
                        Some(c) => text.push(c),
                        None => {
                            let name = entity.decode().map_err(|e| at(&reader, &e))?;
                            let resolved = resolve_predefined_entity(&name)
                                .ok_or_else(|| at(&reader, &format!("entity &{name};")))?;
                            text.push_str(resolved);
                        }
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(cases)
}

/// Whether the tag's `class` attribute holds `class`.
fn has_class(tag: &BytesStart<'_>, class: &str) -> bool {
    tag.try_get_attribute("class")
        .ok()
        .flatten()
        .and_then(|attribute| attribute.unescape_value().ok())
        .is_some_and(|value| value.split_whitespace().any(|word| word == class))
}

/// What the viewer must show of one test case: its outcome, words its message must hold, and
/// texts that must appear in its blocks.
struct Expected {
    name: String,
    outcome: &'static str,
    message: Vec<String>,
    texts: Vec<String>,
}

/// The test cases `report` holds, from the report itself (not from the JUnit text): one per
/// static rule, failing when a finding of it fails the gate, and one per run. junit2html has
/// no outcome of its own for a JUnit `<error>`: it shows one as Failed, which keeps unknown
/// and not-run runs from looking passed.
fn expected_cases(report: &GateReport) -> Vec<Expected> {
    let rules = RULES.iter().map(|(rule, _)| {
        let fired: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.finding.rule == *rule)
            .collect();
        let failing = fired.iter().find(|f| f.fails());
        Expected {
            name: (*rule).to_owned(),
            outcome: if failing.is_some() {
                "Failed"
            } else {
                "Passed"
            },
            message: failing
                .map(|f| f.finding.finding.clone())
                .into_iter()
                .collect(),
            texts: fired
                .iter()
                .flat_map(|f| [f.finding.finding.clone(), f.finding.fix.clone()])
                .collect(),
        }
    });
    let runs = report.runs.iter().map(|run| {
        let (outcome, message, texts) = match run.outcome {
            Outcome::Pass => ("Passed", vec![], vec![run.evidence.clone()]),
            Outcome::Fail => (
                "Failed",
                vec![run.reason.clone()],
                vec![run.evidence.clone()],
            ),
            Outcome::Unknown | Outcome::NotRun => (
                "Failed",
                vec![run.outcome.name().to_owned(), run.reason.clone()],
                vec![run.evidence.clone()],
            ),
            Outcome::NotApplicable => ("Skipped", vec![run.reason.clone()], vec![]),
        };
        Expected {
            name: format!("{} × {}", run.case, run.profile),
            outcome,
            message,
            texts,
        }
    });
    rules.chain(runs).collect()
}

/// Every way the page disagrees with the report, one sentence each; empty when it shows the
/// report faithfully.
fn problems(report: &GateReport, shown: &[ShownCase]) -> Vec<String> {
    let expected = expected_cases(report);
    let mut problems = Vec::new();
    if shown.len() != expected.len() {
        problems.push(format!(
            "{} test cases shown, the report has {}",
            shown.len(),
            expected.len()
        ));
    }
    for want in &expected {
        let Some(case) = shown.iter().find(|c| c.property("Test case:") == want.name) else {
            problems.push(format!("{}: not shown", want.name));
            continue;
        };
        let outcome = case.property("Outcome:");
        if outcome != want.outcome {
            problems.push(format!(
                "{}: shown as {outcome:?}, the report says {}",
                want.name, want.outcome
            ));
        }
        for word in want.message.iter().filter(|w| !case.message().contains(*w)) {
            problems.push(format!(
                "{}: message {:?} lacks {word:?}",
                want.name,
                case.message()
            ));
        }
        for text in want
            .texts
            .iter()
            .filter(|t| !case.blocks.iter().any(|b| b.contains(*t)))
        {
            problems.push(format!("{}: {text:?} is not shown", want.name));
        }
    }
    problems
}

/// The cases junit2html shows for `xml`, or the test fails with the page.
fn rendered_cases(xml: &str) -> Vec<ShownCase> {
    let html = render(xml);
    shown_cases(&html).unwrap_or_else(|e| panic!("reading junit2html's page: {e}\n{html}"))
}

#[test]
fn junit2html_shows_every_case_of_the_gate_with_its_outcome_and_evidence() {
    let report = every_kind_of_case();
    let xml = render_junit(&report).expect("rendering the JUnit file");
    let shown = rendered_cases(&xml);
    let problems = problems(&report, &shown);
    assert!(
        problems.is_empty(),
        "junit2html {} misshows the gate's JUnit file:\n{}\n{xml}",
        junit2html().version,
        problems.join("\n")
    );
}

/// The check can fail: a file whose failure was dropped, whose case was renamed or whose
/// evidence was replaced renders without what the report says, and the check names it.
#[test]
fn a_junit_file_that_misstates_the_report_is_caught() {
    let report = every_kind_of_case();
    let xml = render_junit(&report).expect("rendering the JUnit file");
    let failed = report
        .runs
        .iter()
        .find(|run| run.outcome == Outcome::Fail)
        .expect("the report has a failed run");
    let name = format!("{} × {}", failed.case, failed.profile);
    let (start, end) = failure_of(&xml, &name);
    let without_failure = format!("{}{}", &xml[..start], &xml[end..]);
    let renamed = xml.replacen(&format!("name=\"{name}\""), "name=\"another\"", 1);
    // The evidence as XML escapes it (`<`, `&`, `"`), replaced in the failure only.
    let escaped = failed
        .evidence
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let failure = &xml[start..end];
    assert!(failure.contains(&escaped), "{failure}");
    let other_evidence = format!(
        "{}{}{}",
        &xml[..start],
        failure.replace(&escaped, "other evidence"),
        &xml[end..]
    );
    for (fault, broken, said) in [
        (
            "the failure dropped",
            without_failure,
            format!("{name}: shown as \"Passed\", the report says Failed"),
        ),
        ("the case renamed", renamed, format!("{name}: not shown")),
        (
            "the evidence replaced",
            other_evidence,
            format!("{name}: {:?} is not shown", failed.evidence),
        ),
    ] {
        let problems = problems(&report, &rendered_cases(&broken));
        assert!(
            problems.contains(&said),
            "{fault}: expected {said:?} among {problems:#?}"
        );
    }
}

/// The byte range of the `<failure ...>...</failure>` element of test case `name` in `xml`.
fn failure_of(xml: &str, name: &str) -> (usize, usize) {
    let case = xml
        .find(&format!("<testcase name=\"{name}\""))
        .unwrap_or_else(|| panic!("no test case {name} in\n{xml}"));
    let start = case + xml[case..].find("<failure ").expect("a failure element");
    let end = start + xml[start..].find("</failure>").expect("an end tag") + "</failure>".len();
    (start, end)
}
