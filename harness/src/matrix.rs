//! The results of a whole conformance run: one [`RunResult`] per candidate × case × profile.
//! This is the plain data every reporter renders and `results.json` serialises (schema 3:
//! schema 2, which added the profiles and each run's stop choice, plus the `n/a` outcome and
//! the reading that applied).
//! Nothing here depends on time or pids, so two runs of the same inputs compare equal.

use serde::{Deserialize, Serialize};

use crate::normal::NormalEvent;
use crate::spec::CandidateKind;
use crate::verdict::Verdict;

/// Version of the `results.json` layout; bump on any incompatible change.
pub const SCHEMA_VERSION: u32 = 3;

/// Everything a conformance run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    /// [`SCHEMA_VERSION`].
    pub schema: u32,
    /// Observers that ran (`probe`, `procfs`, `exit-status`; `kernel-witness` when it did).
    pub observers: Vec<String>,
    /// `--time-scale` used: every grace period and case delay was multiplied by it.
    pub time_scale: f64,
    /// How the sandboxes were built (`root` or `unprivileged` user namespace mode).
    pub sandbox_mode: String,
    /// The candidates of the matrix, in matrix order.
    pub candidates: Vec<CandidateSummary>,
    /// The cases of the matrix, in matrix order.
    pub cases: Vec<CaseSummary>,
    /// The runtime profiles of the matrix, in matrix order.
    #[serde(default)]
    pub profiles: Vec<ProfileSummary>,
    /// One entry per run, sorted by candidate, case, profile.
    pub runs: Vec<RunResult>,
}

/// A candidate as the report names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateSummary {
    /// Candidate name.
    pub name: String,
    /// One-line description.
    pub title: String,
    /// Installed version (`0.19.0-1+b3`), or why it is unknown.
    pub version: String,
    /// Where it came from (`debian:tini`, `host:/bin/sh`, `probe`).
    pub source: String,
    /// The races its file declares: on those runs its result is chance, for the reason given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub races: Vec<crate::spec::Race>,
}

/// A case as the report names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseSummary {
    /// Case name (file stem).
    pub name: String,
    /// One-line title.
    pub title: String,
}

/// A runtime profile as the report names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileSummary {
    /// Profile name (file stem).
    pub name: String,
    /// One-line title.
    pub title: String,
    /// The runtime whose rules it follows.
    pub runtime: String,
    /// Its grace period before scaling, in milliseconds.
    pub grace_ms: u64,
    /// Its explicit stop signal, as written, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// Its preStop hook, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_stop: Option<String>,
    /// Where its facts come from.
    pub sources: Vec<String>,
}

/// The outcome of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every `must` passed.
    Pass,
    /// At least one `must` failed.
    Fail,
    /// No `must` failed, but at least one could not be observed.
    Unknown,
    /// The candidate could not be tested; `reason` says why.
    NotRun,
    /// The case's reading for the candidate's kind says the case does not apply; `reason`
    /// says why. The run is not executed, and never counts as a pass.
    #[serde(rename = "n/a")]
    NotApplicable,
}

impl Outcome {
    /// The word `results.json` uses (the serde spelling).
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Unknown => "unknown",
            Outcome::NotRun => "not-run",
            Outcome::NotApplicable => "n/a",
        }
    }
}

/// One candidate × case × profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Candidate name.
    pub candidate: String,
    /// Candidate version.
    pub candidate_version: String,
    /// Case name.
    pub case: String,
    /// Profile name.
    pub profile: String,
    /// Pass, fail, unknown, not run or n/a.
    pub outcome: Outcome,
    /// The candidate kind whose own reading of the case applied (`system-manager`); absent
    /// when the case's default reading did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reading: Option<CandidateKind>,
    /// One line: the first failed `must`'s evidence, the unknown's cause, or why it did not run.
    pub reason: String,
    /// The stop signal the runtime sent (after its rules read the image's STOPSIGNAL), or how
    /// it would have been chosen when none was sent.
    pub stop_signal: String,
    /// How the runtime chose it, in one line (`image STOPSIGNAL "SIGRTMIN+3"`).
    pub stop_why: String,
    /// The preStop hook the runtime ran first, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_stop: Option<String>,
    /// The grace period actually used, in milliseconds (after scaling).
    pub grace_ms: u64,
    /// Workload roles that ended without finishing their exit path (killed before cleanup).
    pub killed_without_cleanup: Vec<String>,
    /// Each expectation judged.
    pub verdicts: Vec<Verdict>,
    /// The normalised trace.
    pub trace: Vec<NormalEvent>,
}

#[cfg(test)]
mod tests {
    use super::Outcome;

    #[test]
    fn outcome_names_are_the_serde_spelling() {
        crate::test_support::assert_names_match_serde(
            &[
                Outcome::Pass,
                Outcome::Fail,
                Outcome::Unknown,
                Outcome::NotRun,
                Outcome::NotApplicable,
            ],
            Outcome::name,
        );
    }
}
