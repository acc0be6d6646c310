//! `reports/matrix.md`: the matrix for people. One table per runtime profile (candidates ×
//! cases), then why runs failed, which processes were killed before finishing their cleanup,
//! and what the candidates and cases are. Plain words rather than symbols, so diffs and screen
//! readers read it; no dates or durations, so the same results give the same file.

use std::fmt::Write as _;

use super::grid::Grid;
use crate::matrix::{Matrix, Outcome, RunResult};

/// Renders `reports/matrix.md`.
pub fn render_markdown(matrix: &Matrix) -> String {
    let mut out = String::new();
    out.push_str("# pid1check conformance matrix\n\n");
    let observers = if matrix.observers.is_empty() {
        "none".to_owned()
    } else {
        matrix.observers.join(", ")
    };
    push_line(
        &mut out,
        &format!(
            "Observers that ran: {observers}. Sandbox mode: {}. Time scale: {}.",
            matrix.sandbox_mode, matrix.time_scale
        ),
    );
    out.push('\n');

    render_tables(&mut out, matrix);
    render_stop_signals(&mut out, matrix);
    render_failures(&mut out, matrix);
    render_killed(&mut out, matrix);
    render_candidates(&mut out, matrix);
    render_cases(&mut out, matrix);
    out
}

/// One table per profile: rows are candidates (with version), columns are cases.
fn render_tables(out: &mut String, matrix: &Matrix) {
    if matrix.runs.is_empty() {
        out.push_str("## Results\n\nNo runs.\n\n");
        return;
    }
    let Grid {
        candidates,
        cases,
        profiles,
        cells,
    } = Grid::of(matrix);

    for profile in profiles {
        let _ = writeln!(out, "## Results: profile {}\n", single_line(profile));
        out.push_str("| candidate |");
        for case in &cases {
            let _ = write!(out, " {} |", cell(case));
        }
        out.push_str("\n| --- |");
        out.push_str(&" --- |".repeat(cases.len()));
        out.push('\n');
        for candidate in &candidates {
            let _ = write!(out, "| {} |", cell(&candidate_label(matrix, candidate)));
            for case in &cases {
                let word = cells
                    .get(&(*candidate, *case, profile))
                    .map_or("", |run| outcome_word(run.outcome));
                let _ = write!(out, " {word} |");
            }
            out.push('\n');
        }
        out.push('\n');
    }
}

/// "Stop signals": per candidate and profile, the signal the runtime sent and the grace
/// period it allowed (scaled), so a row shows at once what each runtime does to that init.
fn render_stop_signals(out: &mut String, matrix: &Matrix) {
    if matrix.runs.is_empty() {
        return;
    }
    let Grid {
        candidates,
        profiles,
        ..
    } = Grid::of(matrix);
    out.push_str(
        "## Stop signals

",
    );
    push_line(
        out,
        "What each runtime sends each candidate's PID 1, and the grace period before SIGKILL \
         (after scaling). Why the runtime chose that signal is in results.json (`stop_why`).",
    );
    out.push_str("\n| candidate |");
    for profile in &profiles {
        let _ = write!(out, " {} |", cell(profile));
    }
    out.push_str("\n| --- |");
    out.push_str(&" --- |".repeat(profiles.len()));
    out.push('\n');
    for candidate in &candidates {
        let _ = write!(out, "| {} |", cell(candidate));
        for profile in &profiles {
            let text = matrix
                .runs
                .iter()
                .find(|run| run.candidate == *candidate && run.profile == *profile)
                .map(|run| {
                    let hook = run
                        .pre_stop
                        .as_ref()
                        .map(|command| format!("preStop `{command}`, then "))
                        .unwrap_or_default();
                    format!("{hook}{}, {} ms", run.stop_signal, run.grace_ms)
                })
                .unwrap_or_default();
            let _ = write!(out, " {} |", cell(&text));
        }
        out.push('\n');
    }
    out.push('\n');
}

/// `reports/profiles.md`: each runtime profile as a table row, then its sources.
pub fn render_profiles(matrix: &Matrix) -> String {
    let mut out = String::new();
    out.push_str("# Runtime profiles\n\n");
    push_line(
        &mut out,
        &format!(
            "How each runtime stops a container, as pid1check reproduces it. Grace periods are \
             the runtime's own; runs multiply them by the time scale ({}), never below a \
             candidate's own timers.",
            matrix.time_scale
        ),
    );
    out.push_str(
        "\n| profile | runtime | explicit signal | preStop | grace | what it does |\n\
         | --- | --- | --- | --- | --- | --- |\n",
    );
    for profile in &matrix.profiles {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} ms | {} |",
            cell(&profile.name),
            cell(&profile.runtime),
            cell(profile.signal.as_deref().unwrap_or("none")),
            cell(profile.pre_stop.as_deref().unwrap_or("none")),
            profile.grace_ms,
            cell(&profile.title)
        );
    }
    for profile in &matrix.profiles {
        let _ = writeln!(out, "\n## {}\n", single_line(&profile.name));
        for source in &profile.sources {
            push_line(&mut out, &format!("- {source}"));
        }
    }
    out
}

/// "Why it failed": every run that did not pass and was not `n/a`, with its reason; then the
/// `n/a` runs, one line per case and reason.
fn render_failures(out: &mut String, matrix: &Matrix) {
    out.push_str("## Why it failed\n\n");
    let mut any = false;
    for run in matrix
        .runs
        .iter()
        .filter(|run| !matches!(run.outcome, Outcome::Pass | Outcome::NotApplicable))
    {
        any = true;
        let reason = if run.reason.is_empty() {
            "no reason recorded"
        } else {
            &run.reason
        };
        push_line(
            out,
            &format!(
                "- {} — {}: {reason}",
                outcome_text(run.outcome),
                run_label(run)
            ),
        );
    }
    if !any {
        out.push_str("Every run passed.\n");
    }
    out.push('\n');
    render_not_applicable(out, matrix);
}

/// "Not applicable": which candidates a case's reading leaves out, and why; these runs were
/// not executed.
fn render_not_applicable(out: &mut String, matrix: &Matrix) {
    let mut groups: Vec<(&str, &str, Vec<&str>)> = Vec::new();
    for run in matrix
        .runs
        .iter()
        .filter(|run| run.outcome == Outcome::NotApplicable)
    {
        let found = groups
            .iter_mut()
            .find(|(case, reason, _)| *case == run.case && *reason == run.reason);
        match found {
            Some((_, _, candidates)) if candidates.contains(&run.candidate.as_str()) => {}
            Some((_, _, candidates)) => candidates.push(&run.candidate),
            None => groups.push((&run.case, &run.reason, vec![&run.candidate])),
        }
    }
    if groups.is_empty() {
        return;
    }
    out.push_str("## Not applicable\n\n");
    push_line(
        out,
        "Runs a case's reading for the candidate's kind leaves out; they were not executed.",
    );
    out.push('\n');
    for (case, reason, candidates) in groups {
        push_line(
            out,
            &format!("- {case} ({}): {reason}", candidates.join(", ")),
        );
    }
    out.push('\n');
}

/// "Killed without cleanup": runs where a workload process ended before finishing its exit path.
fn render_killed(out: &mut String, matrix: &Matrix) {
    out.push_str("## Killed without cleanup\n\n");
    let mut any = false;
    for run in matrix
        .runs
        .iter()
        .filter(|run| !run.killed_without_cleanup.is_empty())
    {
        any = true;
        push_line(
            out,
            &format!(
                "- {}: {}",
                run_label(run),
                run.killed_without_cleanup.join(", ")
            ),
        );
    }
    if !any {
        out.push_str("No process was killed before finishing its cleanup.\n");
    }
    out.push('\n');
}

fn render_candidates(out: &mut String, matrix: &Matrix) {
    out.push_str("## Candidates\n\n");
    if matrix.candidates.is_empty() {
        out.push_str("None.\n\n");
        return;
    }
    out.push_str("| name | version | source | title |\n| --- | --- | --- | --- |\n");
    for candidate in &matrix.candidates {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            cell(&candidate.name),
            cell(&candidate.version),
            cell(&candidate.source),
            cell(&candidate.title)
        );
    }
    out.push('\n');
}

fn render_cases(out: &mut String, matrix: &Matrix) {
    out.push_str("## Cases\n\n");
    if matrix.cases.is_empty() {
        out.push_str("None.\n");
        return;
    }
    out.push_str("| name | title |\n| --- | --- |\n");
    for case in &matrix.cases {
        let _ = writeln!(out, "| {} | {} |", cell(&case.name), cell(&case.title));
    }
}

/// `tini 0.19.0-1+b3`: the candidate's name and the version its summary (or a run) records.
fn candidate_label(matrix: &Matrix, name: &str) -> String {
    let version = matrix
        .candidates
        .iter()
        .find(|candidate| candidate.name == name)
        .map(|candidate| candidate.version.as_str())
        .or_else(|| {
            matrix
                .runs
                .iter()
                .find(|run| run.candidate == name)
                .map(|run| run.candidate_version.as_str())
        })
        .unwrap_or("");
    if version.is_empty() {
        name.to_owned()
    } else {
        format!("{name} {version}")
    }
}

/// `candidate × case (profile)`.
fn run_label(run: &RunResult) -> String {
    format!("{} × {} ({})", run.candidate, run.case, run.profile)
}

/// A table cell's word; a failure stands out in bold.
fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "pass",
        Outcome::Fail => "**FAIL**",
        Outcome::Unknown => "unknown",
        Outcome::NotRun => "not run",
        Outcome::NotApplicable => "n/a",
    }
}

/// The outcome at the start of a "Why it failed" line (and in an HTML cell).
pub(super) fn outcome_text(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Fail => "FAIL",
        other => outcome_word(other),
    }
}

/// Text for a table cell: one line, `|` escaped so it does not end the cell.
fn cell(text: &str) -> String {
    single_line(text).replace('|', "\\|")
}

/// Text on one line: a newline would end a bullet or a heading.
fn single_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn push_line(out: &mut String, line: &str) {
    out.push_str(&single_line(line));
    out.push('\n');
}

#[cfg(test)]
pub(super) mod tests {
    use super::render_markdown;
    use crate::matrix::{CandidateSummary, CaseSummary, Matrix, Outcome, RunResult};

    fn run(
        candidate: &str,
        case: &str,
        profile: &str,
        outcome: Outcome,
        reason: &str,
    ) -> RunResult {
        RunResult {
            candidate: candidate.to_owned(),
            candidate_version: String::new(),
            case: case.to_owned(),
            profile: profile.to_owned(),
            outcome,
            reading: None,
            reason: reason.to_owned(),
            stop_signal: "TERM".to_owned(),
            stop_why: "default TERM".to_owned(),
            pre_stop: None,
            grace_ms: 1000,
            killed_without_cleanup: Vec::new(),
            verdicts: Vec::new(),
            trace: Vec::new(),
        }
    }

    fn candidate(name: &str, version: &str, source: &str, title: &str) -> CandidateSummary {
        CandidateSummary {
            name: name.to_owned(),
            title: title.to_owned(),
            version: version.to_owned(),
            source: source.to_owned(),
            races: Vec::new(),
        }
    }

    /// Five runs of three candidates (one not run) × two cases, all with profile docker.
    pub(in crate::report) fn matrix() -> Matrix {
        let mut killed = run(
            "sh",
            "graceful-term",
            "docker",
            Outcome::Fail,
            "app was SIGKILLed",
        );
        killed.killed_without_cleanup = vec!["app".to_owned(), "worker".to_owned()];
        Matrix {
            schema: 1,
            observers: vec![
                "probe".to_owned(),
                "procfs".to_owned(),
                "exit-status".to_owned(),
            ],
            time_scale: 0.1,
            sandbox_mode: "root".to_owned(),
            candidates: vec![
                candidate("tini", "0.19.0-1+b3", "debian:tini", "tiny init | with -g"),
                candidate("sh", "5.2.15", "host:/bin/sh", "a plain shell script"),
                candidate("systemd", "", "debian:systemd", "systemd"),
            ],
            cases: vec![
                CaseSummary {
                    name: "graceful-term".to_owned(),
                    title: "TERM reaches the app".to_owned(),
                },
                CaseSummary {
                    name: "zombie-reaping".to_owned(),
                    title: "orphans are reaped".to_owned(),
                },
            ],
            profiles: Vec::new(),
            runs: vec![
                killed,
                run(
                    "sh",
                    "zombie-reaping",
                    "docker",
                    Outcome::Unknown,
                    "no kernel witness",
                ),
                run(
                    "systemd",
                    "graceful-term",
                    "docker",
                    Outcome::NotRun,
                    "debian package systemd: not installable",
                ),
                run("tini", "graceful-term", "docker", Outcome::Pass, ""),
                run("tini", "zombie-reaping", "docker", Outcome::Pass, ""),
            ],
        }
    }

    #[test]
    fn matrix_md_has_title_settings_and_table() {
        let text = render_markdown(&matrix());
        assert!(
            text.starts_with("# pid1check conformance matrix\n\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "Observers that ran: probe, procfs, exit-status. Sandbox mode: root. Time scale: 0.1.\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "## Results: profile docker\n\n| candidate | graceful-term | zombie-reaping |\n| --- | --- | --- |\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("| tini 0.19.0-1+b3 | pass | pass |\n"),
            "{text}"
        );
        assert!(
            text.contains("| sh 5.2.15 | **FAIL** | unknown |\n"),
            "{text}"
        );
        // No run of systemd × zombie-reaping: an empty cell, not a made-up outcome.
        assert!(text.contains("| systemd | not run |  |\n"), "{text}");
    }

    #[test]
    fn matrix_md_explains_failures_and_kills() {
        let text = render_markdown(&matrix());
        assert!(
            text.contains(
                "## Why it failed\n\n\
                 - FAIL — sh × graceful-term (docker): app was SIGKILLed\n\
                 - unknown — sh × zombie-reaping (docker): no kernel witness\n\
                 - not run — systemd × graceful-term (docker): debian package systemd: not installable\n\n"
            ),
            "{text}"
        );
        assert!(
            !text.contains("tini × "),
            "passing runs are not listed: {text}"
        );
        assert!(
            text.contains(
                "## Killed without cleanup\n\n- sh × graceful-term (docker): app, worker\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn matrix_md_lists_n_a_runs_apart_from_failures_once_per_case_and_reason() {
        let mut matrix = matrix();
        for (candidate, profile) in [
            ("systemd", "docker"),
            ("systemd", "podman"),
            ("sh", "docker"),
        ] {
            let mut run = run(
                candidate,
                "zombie-reaping",
                profile,
                Outcome::NotApplicable,
                "a manager restarts what fails",
            );
            run.reading = Some(crate::spec::CandidateKind::SystemManager);
            matrix.runs.push(run);
        }
        let text = render_markdown(&matrix);
        assert!(text.contains("| systemd | not run | n/a |\n"), "{text}");
        assert!(!text.contains("- n/a"), "n/a is no failure: {text}");
        assert!(
            text.contains(
                "## Not applicable\n\nRuns a case's reading for the candidate's kind leaves out; \
                 they were not executed.\n\n\
                 - zombie-reaping (systemd, sh): a manager restarts what fails\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn matrix_md_lists_candidates_and_cases_with_pipes_escaped() {
        let text = render_markdown(&matrix());
        assert!(
            text.contains(
                "## Candidates\n\n| name | version | source | title |\n| --- | --- | --- | --- |\n\
                 | tini | 0.19.0-1+b3 | debian:tini | tiny init \\| with -g |\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("## Cases\n\n| name | title |\n| --- | --- |\n| graceful-term | TERM reaches the app |\n"),
            "{text}"
        );
        assert!(
            text.ends_with("| zombie-reaping | orphans are reaped |\n"),
            "{text}"
        );
    }

    #[test]
    fn matrix_md_has_one_table_per_profile() {
        let mut matrix = matrix();
        matrix.runs.push(run(
            "tini",
            "graceful-term",
            "kubernetes",
            Outcome::Fail,
            "a\nb",
        ));
        let text = render_markdown(&matrix);
        assert!(text.contains("## Results: profile docker\n"), "{text}");
        assert!(text.contains("## Results: profile kubernetes\n"), "{text}");
        assert!(
            text.contains("- FAIL — tini × graceful-term (kubernetes): a b\n"),
            "newlines in a reason stay on one line: {text}"
        );
        let kubernetes = text
            .split("## Results: profile kubernetes\n")
            .nth(1)
            .unwrap_or_default();
        assert!(
            kubernetes.contains("| tini 0.19.0-1+b3 | **FAIL** |  |\n"),
            "{text}"
        );
        assert!(kubernetes.contains("| sh 5.2.15 |  |  |\n"), "{text}");
    }

    #[test]
    fn matrix_md_is_deterministic_and_says_when_all_passed() {
        let mut matrix = matrix();
        matrix.runs.retain(|run| run.outcome == Outcome::Pass);
        let text = render_markdown(&matrix);
        assert_eq!(text, render_markdown(&matrix));
        assert!(
            text.contains("## Why it failed\n\nEvery run passed.\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "## Killed without cleanup\n\nNo process was killed before finishing its cleanup.\n"
            ),
            "{text}"
        );
    }
}
