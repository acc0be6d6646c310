//! Judging: each expectation of a case against the normalised trace, with the evidence.
//! (Being written.)

use serde::{Deserialize, Serialize};

use crate::spec::Level;

/// The result of one expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VerdictResult {
    /// Observed to hold.
    #[serde(rename = "pass")]
    Pass,
    /// Observed not to hold.
    #[serde(rename = "fail")]
    Fail,
    /// Not observable with the observers that ran.
    #[serde(rename = "unknown")]
    Unknown,
    /// Does not apply to this candidate or run.
    #[serde(rename = "n/a")]
    NotApplicable,
}

/// One expectation judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The expectation in words (`app caught TERM`).
    pub expectation: String,
    /// `must` or `should`.
    pub level: Level,
    /// Pass, fail, unknown or n/a.
    pub result: VerdictResult,
    /// What in the trace decided it.
    pub evidence: String,
}
