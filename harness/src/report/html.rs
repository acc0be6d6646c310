//! The HTML report: `index.html` (the matrix, one table per profile, every cell a link to its
//! run's page) and `runs/CANDIDATE__CASE__PROFILE.html` (the run's signal timeline, its
//! verdicts with their evidence, its normalised trace). Plain HTML with inline CSS, no script,
//! readable offline. The index holds no times, so the same results give the same file; run
//! pages hold the run's real times.

use std::fmt::Write as _;

use super::grid::Grid;
use super::markdown::outcome_text;
use super::markup::escape;
use super::timeline::{Timeline, render_svg};
use crate::matrix::{Matrix, RunResult};
use crate::normal::NormalTrace;
use crate::snapshot::snapshot_name;

const STYLE: &str = "body{font-family:'DejaVu Sans',Verdana,sans-serif;margin:1.5em;color:#24292f;\
max-width:100%}h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em}\
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #d0d7de;padding:.25em .6em;\
text-align:left;vertical-align:top}th{background:#f6f8fa}td.cell{text-align:center}\
a.pass{color:#1a7f37}a.fail{color:#cf222e;font-weight:bold}a.unknown{color:#9a6700}\
a.not-run{color:#57606a;font-style:italic}a.n-a{color:#57606a}td.pass{background:#dafbe1}td.fail{background:#ffebe9}\
td.unknown{background:#fff8c5}td.not-run{background:#f6f8fa}td.n-a{color:#57606a}\
.figure{overflow-x:auto;border:1px solid #d0d7de;padding:.5em;background:#fff}\
pre{background:#f6f8fa;padding:.8em;overflow-x:auto;font-size:.9em}.muted{color:#57606a}";

/// An outcome as a CSS class: its name, with `n/a` as `n-a`.
fn outcome_class(outcome: crate::matrix::Outcome) -> &'static str {
    match outcome {
        crate::matrix::Outcome::NotApplicable => "n-a",
        other => other.name(),
    }
}

/// The file name of a run's page: `CANDIDATE__CASE__PROFILE.html` (the snapshot's name).
pub fn run_page_name(candidate: &str, case: &str, profile: &str) -> String {
    format!("{}.html", snapshot_name(candidate, case, profile))
}

/// `index.html`: the matrix, one table per profile (candidates × cases); each cell links to
/// `runs/NAME.html`.
pub fn render_index(matrix: &Matrix) -> String {
    let mut out = page_head("pid1check conformance matrix");
    out.push_str("<h1>pid1check conformance matrix</h1>\n");
    let observers = if matrix.observers.is_empty() {
        "none".to_owned()
    } else {
        matrix.observers.join(", ")
    };
    let _ = writeln!(
        out,
        "<p>Observers that ran: {}. Sandbox mode: {}. Time scale: {}. Each cell links to the \
         run's page: its signal timeline, verdicts and trace.</p>",
        escape(&observers),
        escape(&matrix.sandbox_mode),
        matrix.time_scale
    );
    let grid = Grid::of(matrix);
    if matrix.runs.is_empty() {
        out.push_str("<p>No runs.</p>\n");
    }
    for profile in &grid.profiles {
        let title = matrix
            .profiles
            .iter()
            .find(|p| p.name == *profile)
            .map(|p| format!(": {}", p.title))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<h2 id=\"profile-{0}\">Profile {0}{1}</h2>\n<table class=\"matrix\" data-profile=\"{0}\">",
            escape(profile),
            escape(&title)
        );
        out.push_str("<tr><th>candidate</th>");
        for case in &grid.cases {
            let _ = write!(out, "<th>{}</th>", escape(case));
        }
        out.push_str("</tr>\n");
        for candidate in &grid.candidates {
            let version = matrix
                .candidates
                .iter()
                .find(|c| c.name == *candidate)
                .map(|c| c.version.as_str())
                .unwrap_or_default();
            let _ = write!(
                out,
                "<tr><th>{} <span class=\"muted\">{}</span></th>",
                escape(candidate),
                escape(version)
            );
            for case in &grid.cases {
                match grid.cells.get(&(*candidate, *case, *profile)) {
                    Some(run) => {
                        let word = outcome_class(run.outcome);
                        let _ = write!(
                            out,
                            "<td class=\"cell {word}\"><a class=\"{word}\" href=\"runs/{}\" \
                             title=\"{}\">{}</a></td>",
                            escape(&run_page_name(candidate, case, profile)),
                            escape(&run.reason),
                            outcome_text(run.outcome)
                        );
                    }
                    None => out.push_str("<td class=\"cell\"></td>"),
                }
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// A run's page: what ran, the timeline (when the run left a trace), the verdicts with their
/// evidence, and the normalised trace. Links back to `../index.html`.
pub fn render_run_page(matrix: &Matrix, run: &RunResult, timeline: Option<&Timeline>) -> String {
    let title = format!("{} × {} × {}", run.candidate, run.case, run.profile);
    let mut out = page_head(&title);
    let _ = writeln!(
        out,
        "<p><a href=\"../index.html#profile-{}\">← matrix</a></p>\n<h1>{}</h1>",
        escape(&run.profile),
        escape(&title)
    );
    let word = outcome_class(run.outcome);
    let _ = writeln!(
        out,
        "<p>Outcome: <a class=\"{word}\">{}</a>{}</p>",
        outcome_text(run.outcome),
        if run.reason.is_empty() {
            String::new()
        } else {
            format!(" — {}", escape(&run.reason))
        }
    );
    out.push_str("<table class=\"facts\">\n");
    let case_title = matrix
        .cases
        .iter()
        .find(|c| c.name == run.case)
        .map(|c| format!(": {}", c.title))
        .unwrap_or_default();
    let profile_title = matrix
        .profiles
        .iter()
        .find(|p| p.name == run.profile)
        .map(|p| format!(": {}", p.title))
        .unwrap_or_default();
    let mut fact = |name: &str, value: String| {
        let _ = writeln!(
            out,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(name),
            escape(&value)
        );
    };
    fact(
        "candidate",
        format!("{} {}", run.candidate, run.candidate_version),
    );
    fact("case", format!("{}{case_title}", run.case));
    fact("profile", format!("{}{profile_title}", run.profile));
    if let Some(hook) = &run.pre_stop {
        fact("preStop hook", hook.clone());
    }
    fact(
        "stop signal",
        format!("{} ({})", run.stop_signal, run.stop_why),
    );
    fact("grace period", format!("{} ms (scaled)", run.grace_ms));
    if !run.killed_without_cleanup.is_empty() {
        fact(
            "killed before cleanup",
            run.killed_without_cleanup.join(", "),
        );
    }
    out.push_str("</table>\n<h2>Signal timeline</h2>\n");
    match timeline {
        Some(timeline) => {
            out.push_str(
                "<p class=\"muted\">One lane per process; the runtime's actions are dashed \
                 vertical lines; each signal is an arrow from sender to receiver, labelled with \
                 what became of it. Successive instants are at least a few pixels apart and \
                 long idle stretches are compressed (shaded, ≈): read times on the axis or in \
                 the tooltips.</p>\n<div class=\"figure\">\n",
            );
            out.push_str(&render_svg(timeline));
            out.push_str("</div>\n");
            for note in &timeline.notes {
                let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(note));
            }
        }
        None => out.push_str("<p class=\"note\">No trace: the run did not get that far.</p>\n"),
    }
    out.push_str("<h2>Verdicts</h2>\n");
    if let Some(kind) = run.reading {
        let _ = writeln!(
            out,
            "<p class=\"note\">The case's {} reading applied.</p>",
            kind.name()
        );
    }
    if run.verdicts.is_empty() {
        out.push_str("<p>None.</p>\n");
    } else {
        out.push_str(
            "<table class=\"verdicts\"><tr><th>level</th><th>expectation</th><th>result</th>\
             <th>evidence</th></tr>\n",
        );
        for verdict in &run.verdicts {
            let result = verdict.result.name();
            let class = result.replace('/', "-");
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"{class}\">{result}</td><td>{}</td></tr>",
                verdict.level.name(),
                escape(&verdict.expectation),
                escape(&verdict.evidence)
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("<h2>Normalised trace</h2>\n<pre class=\"trace\">");
    let trace = NormalTrace {
        events: run.trace.clone(),
    };
    out.push_str(&escape(&trace.render()));
    out.push_str("</pre>\n</body>\n</html>\n");
    out
}

/// The document's start, with its inline style.
fn page_head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(title)
    )
}

#[cfg(test)]
mod tests {
    use super::{render_index, render_run_page};
    use crate::report::markdown::tests::matrix;
    use crate::spec::Level;
    use crate::verdict::{Verdict, VerdictResult};

    #[test]
    fn every_run_is_a_linked_cell_of_its_profiles_table() {
        let index = render_index(&matrix());
        assert_eq!(index.matches("<table class=\"matrix\"").count(), 1);
        assert_eq!(index.matches("href=\"runs/").count(), 5, "{index}");
        for page in [
            "sh__graceful-term__docker.html",
            "sh__zombie-reaping__docker.html",
            "systemd__graceful-term__docker.html",
            "tini__graceful-term__docker.html",
            "tini__zombie-reaping__docker.html",
        ] {
            assert!(index.contains(&format!("href=\"runs/{page}\"")), "{page}");
        }
        // systemd has no zombie-reaping run: an empty cell, no link.
        assert!(index.contains("<td class=\"cell\"></td>"));
        assert!(index.contains(">not run</a>") && index.contains(">FAIL</a>"));
        // Titles from the data are escaped.
        assert!(index.contains("<span class=\"muted\">0.19.0-1+b3</span>"));
    }

    #[test]
    fn a_run_page_has_its_verdicts_escaped_and_says_when_there_is_no_trace() {
        let matrix = matrix();
        let mut run = matrix.runs[0].clone();
        run.verdicts = vec![Verdict {
            expectation: "app caught TERM".to_owned(),
            level: Level::Must,
            result: VerdictResult::Fail,
            evidence: "app: killed <KILL> & gone".to_owned(),
        }];
        let page = render_run_page(&matrix, &run, None);
        assert!(page.contains("<td class=\"fail\">fail</td>"), "{page}");
        assert!(page.contains("app: killed &lt;KILL&gt; &amp; gone"));
        assert!(page.contains("No trace"));
        assert!(page.contains("href=\"../index.html#profile-docker\""));
        assert!(!page.contains("<svg"));
    }
}
