//! `reports/cases.md`: what every case means, without opening its TOML: its title, why it
//! matters, its sources, the stop steps and each expectation in words, `must` before `should`,
//! for the default reading and for each kind of candidate with a reading of its own.

use std::fmt::Write as _;

use crate::spec::{Case, Expectation, Pid1Process, Step, WorkloadExec};
use crate::verdict::describe;

/// What `[sandbox] pid1 = "parent"` means, for a reader of the page.
const PARENT_WORDS: &str = "PID 1 is a parent that starts the candidate as its child (`init` in \
    traces), forwards every signal to it and waits for it alone.\n\n";

/// Renders `reports/cases.md` for `cases`, in the order given.
pub fn render_cases(cases: &[Case]) -> String {
    let mut out = String::from("# Cases\n\n");
    out.push_str(
        "Each case is a file in `cases/`. `stop` names the signal the run's runtime sends \
         (TERM under docker, RTMIN+3 for systemd under podman, ...).\n",
    );
    for case in cases {
        let _ = writeln!(out, "\n## {}\n\n{}\n", case.name, one_line(&case.title));
        let _ = writeln!(out, "{}\n", one_line(&case.why));
        if case.sandbox.pid1 == Pid1Process::Parent {
            out.push_str(PARENT_WORDS);
        }
        match case.workload.exec {
            WorkloadExec::Probe => out.push_str("Steps after the workload is ready: "),
            WorkloadExec::Missing => out.push_str(
                "The workload's path names nothing (`exec = \"missing\"`); PID 1 gets a moment \
                 to exit by itself, then: ",
            ),
            WorkloadExec::NotExecutable => out.push_str(
                "The workload's path is a file without an execute bit (`exec = \
                 \"not-executable\"`); PID 1 gets a moment to exit by itself, then: ",
            ),
        }
        let steps: Vec<String> = case.stop.steps.iter().map(step_words).collect();
        out.push_str(&steps.join(", then "));
        if case.reading.is_empty() {
            out.push_str(".\n\nExpectations:\n\n");
        } else {
            out.push_str(
                ".\n\nExpectations (the default reading: every kind of candidate without a \
                 reading of its own):\n\n",
            );
        }
        push_expectations(&mut out, &case.default_expectations());
        for (kind, reading) in &case.reading {
            match &reading.not_applicable {
                Some(reason) => {
                    let _ = writeln!(
                        out,
                        "\nNot applicable to {} candidates (their runs read n/a and are not \
                         executed): {}",
                        kind.name(),
                        one_line(reason)
                    );
                }
                None => {
                    let _ = writeln!(out, "\nThe {} reading:\n", kind.name());
                    if let crate::spec::Applies::Judge { expectations, .. } =
                        case.expectations(*kind)
                    {
                        push_expectations(&mut out, &expectations);
                    }
                }
            }
        }
        out.push_str("\nSources:\n\n");
        for source in &case.sources {
            let _ = writeln!(out, "- {}", one_line(source));
        }
    }
    out
}

/// One line per expectation: `- must: app caught TERM`.
fn push_expectations(out: &mut String, expectations: &[Expectation]) {
    if expectations.is_empty() {
        out.push_str("- none\n");
    }
    for expectation in expectations {
        let _ = writeln!(
            out,
            "- {}: {}",
            expectation.level.name(),
            describe(&expectation.kind)
        );
    }
}

/// A step in words.
fn step_words(step: &Step) -> String {
    match step {
        Step::Stop => "the runtime's stop sequence".to_owned(),
        Step::Signal {
            signal,
            target,
            count: 1,
        } => format!("{signal} to {}", target.name()),
        Step::Signal {
            signal,
            target,
            count,
        } => format!("{signal} to {}, {count} times back to back", target.name()),
        Step::Exec { command, .. } => format!("`{}` run inside", command.join(" ")),
        Step::WaitExit { role, within_ms } => format!("wait for {role} to exit ({within_ms} ms)"),
        Step::ScanZombies { label, settle_ms } => {
            format!("scan for zombies ({label}, {settle_ms} ms to settle)")
        }
        Step::ScanStates { label, settle_ms } => {
            format!("scan for stopped processes ({label}, after {settle_ms} ms)")
        }
        Step::Freeze { within_ms } => {
            format!("SIGSTOP to every process of the container (within {within_ms} ms)")
        }
        Step::Pause { ms } => format!("pause {ms} ms"),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::render_cases;

    #[test]
    fn a_case_reads_as_title_why_steps_expectations_and_sources() {
        let text = "title = \"TERM reaches the app\"\nwhy = \"Because.\"\n\
                    sources = [\"krallin/tini: src/tini.c\"]\n[workload]\nrole = \"app\"\n\
                    on.stop = { action = \"exit\" }\n[[must]]\nkind = \"caught\"\n\
                    role = \"app\"\nsignal = \"stop\"\n[[should]]\nkind = \"no-survivors\"\n";
        let case =
            crate::spec::parse_case(std::path::Path::new("term.toml"), text).expect("a valid case");
        let page = render_cases(&[case]);
        for line in [
            "## term",
            "TERM reaches the app",
            "Because.",
            "Steps after the workload is ready: the runtime's stop sequence.",
            "- must: app caught the stop signal",
            "- should: no process of the run survives PID 1",
            "- krallin/tini: src/tini.c",
        ] {
            assert!(
                page.lines().any(|l| l == line),
                "no line {line:?} in:\n{page}"
            );
        }
        assert!(!page.contains("PID 1 is a parent"), "{page}");
        let parent = text.replace("[workload]", "[sandbox]\npid1 = \"parent\"\n[workload]");
        let case = crate::spec::parse_case(std::path::Path::new("term.toml"), &parent)
            .expect("a valid case");
        let page = render_cases(&[case]);
        assert!(
            page.contains(
                "\n\nPID 1 is a parent that starts the candidate as its child (`init` in traces), \
                 forwards every signal to it and waits for it alone.\n\nSteps after"
            ),
            "{page}"
        );
    }

    #[test]
    fn a_case_with_readings_documents_each_and_says_which_kinds_are_left_out() {
        let text = "title = \"t\"\nwhy = \"w\"\nsources = [\"s\"]\n[workload]\nrole = \"app\"\n\
                    exec = \"missing\"\n[[must]]\nkind = \"pid1-exit-nonzero\"\n\
                    [reading.system-manager]\nmust = [{ kind = \"no-escalation\" }]\n\
                    [reading.app]\nnot_applicable = \"the app is PID 1\"\n";
        let case =
            crate::spec::parse_case(std::path::Path::new("x.toml"), text).expect("a valid case");
        let page = render_cases(&[case]);
        let expected = "Expectations (the default reading: every kind of candidate without a \
                        reading of its own):\n\n\
                        - must: PID 1 exits by itself with a non-zero code\n\n\
                        Not applicable to app candidates (their runs read n/a and are not \
                        executed): the app is PID 1\n\n\
                        The system-manager reading:\n\n\
                        - must: no SIGKILL escalation needed\n";
        assert!(page.contains(expected), "{page}");
        assert!(
            page.contains("The workload's path names nothing (`exec = \"missing\"`)"),
            "{page}"
        );
    }

    #[test]
    fn freezes_and_state_scans_read_as_what_they_do() {
        let text = "title = \"t\"\nwhy = \"w\"\nsources = [\"s\"]\n[workload]\nrole = \"app\"\n\
                    [stop]\nsteps = [{ kind = \"freeze\", within_ms = 1000 }, \
                    { kind = \"scan-states\", label = \"frozen\", settle_ms = 50 }, \
                    { kind = \"stop\" }]\n[[must]]\nkind = \"not-stopped\"\n\
                    scan = \"frozen\"\nrole = \"pid1\"\n";
        let case = crate::spec::parse_case(std::path::Path::new("frozen.toml"), text)
            .expect("a valid case");
        let page = render_cases(&[case]);
        for line in [
            "Steps after the workload is ready: SIGSTOP to every process of the container \
             (within 1000 ms), then scan for stopped processes (frozen, after 50 ms), then the \
             runtime's stop sequence.",
            "- must: pid1 not stopped at frozen",
        ] {
            assert!(
                page.lines().any(|l| l == line),
                "no line {line:?} in:\n{page}"
            );
        }
    }
}
