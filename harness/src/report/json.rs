//! `results.json`: the matrix as schema-versioned JSON for other tools. The layout is the serde
//! form of [`Matrix`]; the test below pins every key and enum spelling so a rename there cannot
//! silently break a reader.

use crate::matrix::Matrix;

/// Renders `results.json`: pretty-printed JSON with a trailing newline.
pub fn render_json(matrix: &Matrix) -> String {
    // A Matrix holds only structs, strings, numbers, options and vectors, all with string keys:
    // serde_json cannot fail on it (a NaN time scale becomes `null`).
    let mut text = serde_json::to_string_pretty(matrix).expect("a Matrix always serialises");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::error::Error;

    use serde_json::Value;

    use super::render_json;
    use crate::matrix::{
        CandidateSummary, CaseSummary, Matrix, Outcome, ProfileSummary, RunResult,
    };
    use crate::normal::{NormalEvent, Phase};
    use crate::spec::Level;
    use crate::verdict::{Verdict, VerdictResult};

    fn verdict(level: Level, result: VerdictResult) -> Verdict {
        Verdict {
            expectation: "app caught TERM".to_owned(),
            level,
            result,
            evidence: "app caught TERM from=runtime".to_owned(),
        }
    }

    fn run(case: &str, outcome: Outcome) -> RunResult {
        RunResult {
            candidate: "tini".to_owned(),
            candidate_version: "0.19.0-1+b3".to_owned(),
            case: case.to_owned(),
            profile: "docker".to_owned(),
            outcome,
            reading: None,
            reason: String::new(),
            stop_signal: "TERM".to_owned(),
            stop_why: "default TERM".to_owned(),
            pre_stop: None,
            grace_ms: 1000,
            killed_without_cleanup: vec!["worker".to_owned()],
            verdicts: vec![
                verdict(Level::Must, VerdictResult::Pass),
                verdict(Level::Must, VerdictResult::Fail),
                verdict(Level::Should, VerdictResult::Unknown),
                verdict(Level::Should, VerdictResult::NotApplicable),
            ],
            trace: vec![
                NormalEvent {
                    count: 1,
                    phase: Phase::BeforeStop,
                    role: "app".to_owned(),
                    event: "started".to_owned(),
                    signal: None,
                    detail: String::new(),
                },
                NormalEvent {
                    count: 1,
                    phase: Phase::AfterStopSignal,
                    role: "app".to_owned(),
                    event: "caught".to_owned(),
                    signal: Some("TERM".to_owned()),
                    detail: "from=runtime code=SI_USER".to_owned(),
                },
                NormalEvent {
                    count: 1,
                    phase: Phase::AfterEscalation,
                    role: "worker".to_owned(),
                    event: "killed".to_owned(),
                    signal: Some("KILL".to_owned()),
                    detail: String::new(),
                },
                NormalEvent {
                    count: 1,
                    phase: Phase::AfterTeardown,
                    role: "pid1".to_owned(),
                    event: "exited".to_owned(),
                    signal: None,
                    detail: "code=143".to_owned(),
                },
            ],
        }
    }

    fn matrix() -> Matrix {
        Matrix {
            schema: 3,
            observers: vec!["probe".to_owned(), "procfs".to_owned()],
            time_scale: 0.1,
            sandbox_mode: "root".to_owned(),
            candidates: vec![CandidateSummary {
                name: "tini".to_owned(),
                title: "tini".to_owned(),
                version: "0.19.0-1+b3".to_owned(),
                source: "debian:tini".to_owned(),
                races: Vec::new(),
            }],
            cases: vec![CaseSummary {
                name: "graceful-term".to_owned(),
                title: "TERM reaches the app".to_owned(),
            }],
            profiles: vec![ProfileSummary {
                name: "k8s".to_owned(),
                title: "kubelet".to_owned(),
                runtime: "kubernetes".to_owned(),
                grace_ms: 30_000,
                signal: None,
                pre_stop: Some("kill -RTMIN+3 1".to_owned()),
                sources: vec!["kubernetes/kubernetes: killContainer".to_owned()],
            }],
            runs: vec![
                run("a", Outcome::Pass),
                run("b", Outcome::Fail),
                run("c", Outcome::Unknown),
                run("d", Outcome::NotRun),
                RunResult {
                    reading: Some(crate::spec::CandidateKind::App),
                    ..run("e", Outcome::NotApplicable)
                },
            ],
        }
    }

    fn keys(value: &Value) -> BTreeSet<&str> {
        value
            .as_object()
            .map(|object| object.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    fn set<'a>(names: &[&'a str]) -> BTreeSet<&'a str> {
        names.iter().copied().collect()
    }

    fn strings<'a>(values: impl Iterator<Item = &'a Value>, key: &str) -> Vec<&'a str> {
        values.filter_map(|value| value[key].as_str()).collect()
    }

    /// The layout other tools read, written out by hand from the design, not from the types.
    #[test]
    fn results_json_has_the_documented_shape() -> Result<(), Box<dyn Error>> {
        let text = render_json(&matrix());
        assert!(text.ends_with("}\n") && !text.ends_with("\n\n"));
        assert!(text.starts_with("{\n  \""), "pretty-printed: {text}");
        let json: Value = serde_json::from_str(&text)?;

        assert_eq!(
            keys(&json),
            set(&[
                "schema",
                "observers",
                "time_scale",
                "sandbox_mode",
                "candidates",
                "cases",
                "profiles",
                "runs"
            ])
        );
        assert_eq!(json["schema"], Value::from(3));
        assert_eq!(json["observers"], serde_json::json!(["probe", "procfs"]));
        assert_eq!(json["time_scale"].as_f64(), Some(0.1));
        assert_eq!(json["sandbox_mode"], "root");
        assert_eq!(
            keys(&json["candidates"][0]),
            set(&["name", "title", "version", "source"]),
            "a candidate without declared races has no `races`"
        );
        assert_eq!(keys(&json["cases"][0]), set(&["name", "title"]));
        assert_eq!(
            keys(&json["profiles"][0]),
            set(&[
                "name", "title", "runtime", "grace_ms", "pre_stop", "sources"
            ]),
            "an absent explicit signal is left out"
        );

        let runs = json["runs"].as_array().ok_or("runs is an array")?;
        for run in runs {
            let mut expected = set(&[
                "candidate",
                "candidate_version",
                "case",
                "profile",
                "outcome",
                "reason",
                "stop_signal",
                "stop_why",
                "grace_ms",
                "killed_without_cleanup",
                "verdicts",
                "trace",
            ]);
            // Which kind's own reading applied: only when it was not the default one.
            if run["case"] == "e" {
                expected.insert("reading");
                assert_eq!(run["reading"], "app");
            }
            assert_eq!(keys(run), expected);
        }
        assert_eq!(
            strings(runs.iter(), "outcome"),
            ["pass", "fail", "unknown", "not-run", "n/a"]
        );
        assert_eq!(runs[0]["grace_ms"], Value::from(1000));
        assert_eq!(
            runs[0]["killed_without_cleanup"],
            serde_json::json!(["worker"])
        );

        let verdicts = runs[0]["verdicts"].as_array().ok_or("verdicts")?;
        for verdict in verdicts {
            assert_eq!(
                keys(verdict),
                set(&["expectation", "level", "result", "evidence"])
            );
        }
        assert_eq!(
            strings(verdicts.iter(), "result"),
            ["pass", "fail", "unknown", "n/a"]
        );
        assert_eq!(
            strings(verdicts.iter(), "level"),
            ["must", "must", "should", "should"]
        );

        let trace = runs[0]["trace"].as_array().ok_or("trace")?;
        for event in trace {
            assert_eq!(
                keys(event),
                set(&["phase", "role", "event", "signal", "detail"])
            );
        }
        assert_eq!(
            strings(trace.iter(), "phase"),
            [
                "before-stop",
                "after-stop-signal",
                "after-escalation",
                "after-teardown"
            ]
        );
        assert_eq!(trace[0]["signal"], Value::Null);
        assert_eq!(trace[1]["signal"], "TERM");
        Ok(())
    }

    #[test]
    fn results_json_reads_back_as_the_same_matrix() -> Result<(), Box<dyn Error>> {
        let matrix = matrix();
        let back: Matrix = serde_json::from_str(&render_json(&matrix))?;
        assert_eq!(back, matrix);
        Ok(())
    }

    /// A declared race rides on its candidate: the cases, the profiles and why, as written.
    #[test]
    fn a_declared_race_is_listed_under_its_candidate() -> Result<(), Box<dyn Error>> {
        let mut racy = matrix();
        racy.candidates[0].races.push(crate::spec::Race {
            cases: vec!["graceful-term".to_owned()],
            profiles: vec!["*".to_owned()],
            why: "its exit races the SIGKILL".to_owned(),
            rare: false,
        });
        let json: Value = serde_json::from_str(&render_json(&racy))?;
        assert_eq!(
            json["candidates"][0]["races"],
            serde_json::json!([{
                "cases": ["graceful-term"],
                "profiles": ["*"],
                "why": "its exit races the SIGKILL",
                "rare": false
            }])
        );
        Ok(())
    }
}
