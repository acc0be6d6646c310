//! `reports/cases.md`: what every case means, without opening its TOML: its title, why it
//! matters, its sources, the stop steps and each expectation in words, `must` before `should`.

use std::fmt::Write as _;

use crate::spec::{Case, Step};
use crate::verdict::describe;

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
        out.push_str("Steps after the workload is ready: ");
        let steps: Vec<String> = case.stop.steps.iter().map(step_words).collect();
        out.push_str(&steps.join(", then "));
        out.push_str(".\n\nExpectations:\n\n");
        for expectation in case.expectations() {
            let _ = writeln!(
                out,
                "- {}: {}",
                expectation.level.name(),
                describe(&expectation.kind)
            );
        }
        out.push_str("\nSources:\n\n");
        for source in &case.sources {
            let _ = writeln!(out, "- {}", one_line(source));
        }
    }
    out
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
    }
}
