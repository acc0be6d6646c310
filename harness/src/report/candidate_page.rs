//! `reports/candidates/NAME.md`: one page per candidate — its version, how it was run, what it
//! does with signals and orphans as this matrix showed it, and its row of the matrix with the
//! reason for every failure. Pure: the caller passes the matrix, the candidate and the timer
//! notes of its file, and writes the text.

use std::fmt::Write as _;

use crate::matrix::{Matrix, Outcome, RunResult};
use crate::normal::{NormalEvent, event};
use crate::spec::Candidate;

/// The case that answers "does the stop signal reach the app, and what exit code comes out".
const TERM_FORWARD: &str = "term-forward";
/// The case that answers "does it reach a worker in the app's process group".
const SAME_PGRP: &str = "grandchild-same-pgrp";
/// The case that answers "does it reach a worker in a session of its own".
const OWN_SESSION: &str = "grandchild-own-session";
/// The case that answers "are adopted orphans reaped".
const ORPHAN_REAPING: &str = "orphan-reaping";
/// The case that answers "what comes out when the app ignores the stop signal".
const GRACE_ESCALATION: &str = "grace-escalation";
/// The case that answers "does it run as a child of another PID 1, and who adopts orphans
/// there"; its orphan's role.
const NOT_PID1: (&str, &str) = ("not-pid1", "daemon");

/// Renders the page of `candidate` from the runs of `matrix`; `timers` are the candidate file's
/// `# timer:` notes ([`timer_notes`]).
pub fn render_candidate_page(matrix: &Matrix, candidate: &Candidate, timers: &[String]) -> String {
    let name = &candidate.name;
    let runs: Vec<&RunResult> = matrix
        .runs
        .iter()
        .filter(|run| &run.candidate == name)
        .collect();
    let summary = matrix.candidates.iter().find(|c| &c.name == name);
    let mut out = String::new();
    let _ = writeln!(out, "# {name}\n\n{}\n", candidate.title);
    match summary {
        Some(summary) => {
            let _ = writeln!(out, "- version: {} ({})", summary.version, summary.source);
        }
        None => out.push_str("- version: not in this matrix\n"),
    }
    let _ = writeln!(out, "- kind: {}", candidate.kind.name());
    let _ = writeln!(out, "- argv: `{}`", candidate.argv.join(" "));
    let wanted = candidate
        .stop_signal
        .as_deref()
        .map_or_else(|| "none declared".to_owned(), |s| format!("`{s}`"));
    let _ = writeln!(out, "- STOPSIGNAL it declares: {wanted}");
    if let Some(ms) = candidate.min_grace_ms {
        let _ = writeln!(out, "- grace it needs for its own timers: {ms} ms");
    }
    // One line per profile: what that runtime sent it and how long it waited.
    let mut seen: Vec<&str> = Vec::new();
    for run in &runs {
        if seen.contains(&run.profile.as_str()) {
            continue;
        }
        seen.push(&run.profile);
        let hook = run
            .pre_stop
            .as_ref()
            .map(|command| format!("preStop `{command}`, then "))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "- stopped by {}: {hook}{} ({}), SIGKILL after {} ms (time scale {})",
            run.profile, run.stop_signal, run.stop_why, run.grace_ms, matrix.time_scale
        );
    }
    if timers.is_empty() {
        out.push_str("- timers of its own: none noted\n");
    } else {
        for timer in timers {
            let _ = writeln!(out, "- timer of its own: {timer}");
        }
    }

    out.push_str("\n## Behaviour, as this matrix showed it\n\n");
    if !timers.is_empty() {
        out.push_str(
            "Its own timers (above) may be longer than the scaled waits of these runs: there, \
             a `no` can mean \"not yet\", and a SIGKILL can be the runtime's grace running out \
             first.\n\n",
        );
    }
    // The behaviour is read from one profile's runs: docker's when it ran, else the first.
    let profile = runs
        .iter()
        .find(|run| run.profile == "docker")
        .or(runs.first())
        .map(|run| run.profile.clone())
        .unwrap_or_default();
    let _ = writeln!(out, "Read from the runs under the {profile} profile.\n");
    out.push_str("| question | answer | case |\n| --- | --- | --- |\n");
    let find = |case: &str| {
        runs.iter()
            .copied()
            .find(|run| run.case == case && run.profile == profile)
    };
    let rows = [
        (
            "forwards the stop signal to its child",
            TERM_FORWARD,
            reached(find(TERM_FORWARD), "app"),
        ),
        (
            "… to a worker in the child's process group",
            SAME_PGRP,
            reached(find(SAME_PGRP), "worker"),
        ),
        (
            "… to a worker in a session of its own",
            OWN_SESSION,
            reached(find(OWN_SESSION), "worker"),
        ),
        (
            "reaps the orphans it adopts",
            ORPHAN_REAPING,
            reaps(find(ORPHAN_REAPING)),
        ),
        (
            "as a child of another PID 1: runs, and adopts orphans there",
            NOT_PID1.0,
            as_child(find(NOT_PID1.0)),
        ),
        (
            "exit code when the app exits 0 on the stop signal",
            TERM_FORWARD,
            exit_status(find(TERM_FORWARD)),
        ),
        (
            "exit code when the app ignores the stop signal",
            GRACE_ESCALATION,
            exit_status(find(GRACE_ESCALATION)),
        ),
    ];
    for (question, case, answer) in rows {
        let answer = match candidate.declared_race(case, &profile) {
            Some(_) => format!("{answer} (chance: a declared race, below)"),
            None => answer,
        };
        let _ = writeln!(out, "| {question} | {} | {case} |", cell(&answer));
    }
    render_races(&mut out, candidate);

    out.push_str("\n## Its row of the matrix\n\n");
    out.push_str("| case | profile | outcome | why |\n| --- | --- | --- | --- |\n");
    for run in &runs {
        let mut why = match run.outcome {
            Outcome::Pass => String::new(),
            _ => run.reason.clone(),
        };
        if candidate.declared_race(&run.case, &run.profile).is_some() {
            why = format!("chance (a declared race, above). {why}");
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            run.case,
            run.profile,
            outcome_text(run.outcome),
            cell(&why)
        );
    }
    if runs.is_empty() {
        out.push_str("| - | - | not in this matrix | |\n");
    }
    out
}

/// The races the candidate's file declares: on those runs this init's result is chance, and
/// the reader is told why.
fn render_races(out: &mut String, candidate: &Candidate) {
    if candidate.races.is_empty() {
        return;
    }
    out.push_str(
        "\n## Declared races\n\nOn these runs this init's trace, and so its result, can \
         differ from run to run by its own design (`--repeat` found them): the result shown is \
         one draw, not a property.\n\n| cases | profiles | why |\n| --- | --- | --- |\n",
    );
    for race in &candidate.races {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            cell(&race.cases.join(", ")),
            cell(&race.profiles.join(", ")),
            cell(&race.why)
        );
    }
}

/// The `# timer: ...` notes of a candidate file, each with its continuation comment lines
/// (the `# ` lines right after it) joined into one line.
pub fn timer_notes(candidate_file: &str) -> Vec<String> {
    let mut notes: Vec<String> = Vec::new();
    let mut open = false;
    for line in candidate_file.lines() {
        let trimmed = line.trim();
        if let Some(note) = trimmed.strip_prefix("# timer:") {
            notes.push(note.trim().to_owned());
            open = true;
        } else if let (true, Some(more), Some(last)) =
            (open, trimmed.strip_prefix("# "), notes.last_mut())
        {
            last.push(' ');
            last.push_str(more.trim());
        } else {
            open = false;
        }
    }
    notes
}

/// Whether `role` caught a signal after the stop, from `run`'s trace.
fn reached(run: Option<&RunResult>, role: &str) -> String {
    let Some(run) = ran(run) else {
        return unanswered(run);
    };
    let caught: Vec<&NormalEvent> = run
        .trace
        .iter()
        .filter(|e| e.role == role && e.event == event::CAUGHT)
        .collect();
    match caught.first() {
        Some(first) => format!(
            "yes: {role} caught {} ({})",
            first.signal.as_deref().unwrap_or("-"),
            first.detail
        ),
        None => format!("no: {role} caught no signal before the end of the run"),
    }
}

/// Whether the orphan-reaping run passed its musts.
fn reaps(run: Option<&RunResult>) -> String {
    let Some(run) = ran(run) else {
        return unanswered(run);
    };
    match run.outcome {
        Outcome::Pass => "yes".to_owned(),
        _ => format!("no: {}", run.reason),
    }
}

/// Whether the candidate ran under a parent PID 1, who adopted the orphan (its `started`
/// line's `ppid`: `init` when the candidate is a subreaper) and whether it was reaped.
fn as_child(run: Option<&RunResult>) -> String {
    let Some(run) = ran(run) else {
        return unanswered(run);
    };
    if run.trace.iter().any(|e| e.event == event::RUN_END) {
        return format!("no: {}", run.reason);
    }
    let adopter = run
        .trace
        .iter()
        .find(|e| e.role == NOT_PID1.1 && e.event == event::STARTED)
        .and_then(|e| {
            e.detail
                .split_whitespace()
                .find_map(|word| word.strip_prefix("ppid="))
        });
    let reaped = run
        .trace
        .iter()
        .any(|e| e.event == event::ZOMBIE_SCAN && e.detail.ends_with("zombies=[]"));
    let fate = if reaped { "reaped" } else { "left a zombie" };
    match adopter {
        Some("init") => format!("yes; a child subreaper: it adopted the orphan, {fate}"),
        Some("pid1") => format!("yes; not a subreaper: the orphan went to PID 1, {fate}"),
        Some(other) => format!("yes; the orphan was adopted by {other}, {fate}"),
        None => "yes; the orphan's adopter was not observed".to_owned(),
    }
}

/// PID 1's exit status in `run`, and whether the runtime had to SIGKILL it.
fn exit_status(run: Option<&RunResult>) -> String {
    let Some(run) = ran(run) else {
        return unanswered(run);
    };
    let escalated = run.trace.iter().any(|e| e.event == event::ESCALATED);
    let exited = run
        .trace
        .iter()
        .find(|e| e.role == "pid1" && e.event == event::EXITED)
        .map_or("PID 1's exit was not observed", |e| e.detail.as_str());
    if escalated {
        format!("{exited}, after the runtime's SIGKILL at the grace deadline")
    } else {
        format!("{exited}, without SIGKILL")
    }
}

/// The run, if it ran.
fn ran(run: Option<&RunResult>) -> Option<&RunResult> {
    run.filter(|run| !matches!(run.outcome, Outcome::NotRun | Outcome::NotApplicable))
}

/// Why a question has no answer: the case was not in the matrix, or did not run.
fn unanswered(run: Option<&RunResult>) -> String {
    match run {
        Some(run) if run.outcome == Outcome::NotApplicable => format!("n/a: {}", run.reason),
        Some(run) => format!("not run: {}", run.reason),
        None => "case not in this matrix".to_owned(),
    }
}

/// An outcome as the page shows it.
fn outcome_text(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "pass",
        Outcome::Fail => "**FAIL**",
        Outcome::Unknown => "unknown",
        Outcome::NotRun => "not run",
        Outcome::NotApplicable => "n/a",
    }
}

/// Text safe inside a table cell: one line, pipes escaped.
fn cell(text: &str) -> String {
    text.replace('\n', " ").replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::{CandidateSummary, SCHEMA_VERSION};
    use crate::normal::Phase;

    fn event(role: &str, name: &str, signal: Option<&str>, detail: &str) -> NormalEvent {
        NormalEvent {
            count: 1,
            phase: Phase::AfterStopSignal,
            role: role.into(),
            event: name.into(),
            signal: signal.map(str::to_owned),
            detail: detail.into(),
        }
    }

    fn run(case: &str, outcome: Outcome, reason: &str, trace: Vec<NormalEvent>) -> RunResult {
        RunResult {
            candidate: "tini".into(),
            candidate_version: "0.19.0-1+b3".into(),
            case: case.into(),
            profile: "docker".into(),
            outcome,
            reading: None,
            reason: reason.into(),
            stop_signal: "TERM".into(),
            stop_why: "default TERM".into(),
            pre_stop: None,
            grace_ms: 500,
            killed_without_cleanup: Vec::new(),
            verdicts: Vec::new(),
            trace,
        }
    }

    fn candidate() -> Candidate {
        let text = "title = \"tini: forwards to its child\"\nkind = \"forwarder\"\n\
                    argv = [\"{bin}\", \"--\", \"{workload}\"]\n\
                    [install]\nkind = \"debian\"\npackage = \"tini\"\nbinary = \"usr/bin/tini\"\n";
        let mut candidate: Candidate = toml::from_str(text).expect("a valid candidate");
        candidate.name = "tini".into();
        candidate
    }

    fn matrix(runs: Vec<RunResult>) -> Matrix {
        Matrix {
            schema: SCHEMA_VERSION,
            observers: vec!["probe".into()],
            time_scale: 0.05,
            sandbox_mode: "root".into(),
            candidates: vec![CandidateSummary {
                name: "tini".into(),
                title: "tini: forwards to its child".into(),
                version: "0.19.0-1+b3".into(),
                source: "debian:tini".into(),
                races: Vec::new(),
            }],
            cases: Vec::new(),
            profiles: Vec::new(),
            runs,
        }
    }

    #[test]
    fn the_page_answers_from_the_traces_and_lists_every_failure() {
        let matrix = matrix(vec![
            run(
                TERM_FORWARD,
                Outcome::Pass,
                "",
                vec![
                    event("app", "caught", Some("TERM"), "from=pid1 code=SI_USER"),
                    event("pid1", "exited", None, "status=exit:0"),
                ],
            ),
            run(
                SAME_PGRP,
                Outcome::Fail,
                "worker caught TERM: worker never caught TERM",
                vec![
                    event("app", "caught", Some("TERM"), "from=pid1 code=SI_USER"),
                    event("runtime", "escalated", None, "SIGKILL to pid1"),
                    event("pid1", "exited", None, "status=signal:KILL"),
                ],
            ),
            run(
                ORPHAN_REAPING,
                Outcome::NotRun,
                "the workload never became ready",
                Vec::new(),
            ),
            run(
                NOT_PID1.0,
                Outcome::Pass,
                "",
                vec![
                    event("daemon", "started", None, "ppid=pid1 pgid=app sid=pid1"),
                    event(
                        "runtime",
                        "zombie-scan",
                        None,
                        "label=after-daemon-exit zombies=[daemon]",
                    ),
                ],
            ),
        ]);
        let page = render_candidate_page(&matrix, &candidate(), &["1 s poll".into()]);
        for line in [
            "# tini\n",
            "- version: 0.19.0-1+b3 (debian:tini)",
            "- argv: `{bin} -- {workload}`",
            "- STOPSIGNAL it declares: none declared",
            "- stopped by docker: TERM (default TERM), SIGKILL after 500 ms (time scale 0.05)",
            "- timer of its own: 1 s poll",
            "a `no` can mean \"not yet\"",
            "| forwards the stop signal to its child | yes: app caught TERM (from=pid1 \
             code=SI_USER) | term-forward |",
            "| … to a worker in the child's process group | no: worker caught no signal before \
             the end of the run | grandchild-same-pgrp |",
            "| … to a worker in a session of its own | case not in this matrix | \
             grandchild-own-session |",
            "| reaps the orphans it adopts | not run: the workload never became ready | \
             orphan-reaping |",
            "| exit code when the app exits 0 on the stop signal | status=exit:0, without \
             SIGKILL | term-forward |",
            "| grandchild-same-pgrp | docker | **FAIL** | worker caught TERM: worker never \
             caught TERM |",
            "| orphan-reaping | docker | not run | the workload never became ready |",
            "| as a child of another PID 1: runs, and adopts orphans there | yes; not a \
             subreaper: the orphan went to PID 1, left a zombie | not-pid1 |",
            "| term-forward | docker | pass |  |",
        ] {
            assert!(page.contains(line), "no line {line:?} in:\n{page}");
        }
        let without_timers = render_candidate_page(&matrix, &candidate(), &[]);
        assert!(without_timers.contains("- timers of its own: none noted"));
        assert!(!without_timers.contains("not yet"), "{without_timers}");
    }

    #[test]
    fn under_a_parent_the_page_says_who_adopted_the_orphan_or_that_it_refused() {
        let answer = |outcome, reason: &str, trace| {
            let matrix = matrix(vec![run(NOT_PID1.0, outcome, reason, trace)]);
            render_candidate_page(&matrix, &candidate(), &[])
        };
        let subreaper = answer(
            Outcome::Pass,
            "",
            vec![
                event("daemon", "started", None, "ppid=init pgid=app sid=pid1"),
                event("runtime", "zombie-scan", None, "label=x zombies=[]"),
            ],
        );
        assert!(
            subreaper.contains("| yes; a child subreaper: it adopted the orphan, reaped |"),
            "{subreaper}"
        );
        let refused = answer(
            Outcome::Fail,
            "the candidate ended as a child of another PID 1 before its workload started",
            vec![event(
                "runtime",
                "run-end",
                None,
                "never-ready missing=[app]",
            )],
        );
        assert!(
            refused.contains(
                "| no: the candidate ended as a child of another PID 1 before its workload \
                 started | not-pid1 |"
            ),
            "{refused}"
        );
    }

    #[test]
    fn a_declared_race_marks_its_answers_and_rows_as_chance_and_gives_its_reason() {
        let matrix = matrix(vec![
            run(
                TERM_FORWARD,
                Outcome::Fail,
                "app caught TERM: never",
                Vec::new(),
            ),
            run(ORPHAN_REAPING, Outcome::Pass, "", Vec::new()),
        ]);
        let mut racy = candidate();
        racy.races.push(crate::spec::Race {
            cases: vec![TERM_FORWARD.to_owned()],
            profiles: vec!["*".to_owned()],
            why: "it exits at once | racing the SIGKILL".to_owned(),
            rare: false,
        });
        let page = render_candidate_page(&matrix, &racy, &[]);
        for line in [
            "| forwards the stop signal to its child | no: app caught no signal before the end \
             of the run (chance: a declared race, below) | term-forward |",
            "Read from the runs under the docker profile.\n\n| question | answer | case |\n",
            "## Declared races",
            "| term-forward | * | it exits at once \\| racing the SIGKILL |",
            "| term-forward | docker | **FAIL** | chance (a declared race, above). app caught \
             TERM: never |",
            "| orphan-reaping | docker | pass |  |",
        ] {
            assert!(page.contains(line), "no line {line:?} in:\n{page}");
        }
        let plain = render_candidate_page(&matrix, &candidate(), &[]);
        assert!(!plain.contains("Declared races"), "{plain}");
        assert!(!plain.contains("chance"), "{plain}");
    }

    #[test]
    fn timer_notes_join_their_continuation_lines() {
        let text = "# busybox init.\n# timer: 1 s between TERM and KILL,\n#   then 1 s more.\n\
                    title = \"x\"\n# timer: second\n#\n# not part of it\n";
        assert_eq!(
            timer_notes(text),
            ["1 s between TERM and KILL, then 1 s more.", "second"]
        );
    }
}
