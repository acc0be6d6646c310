//! pid1check's library: everything that runs, observes and judges an init as PID 1.
//!
//! One run flows top to bottom through these modules, each a function over plain data:
//!
//! ```text
//! spec (load cases, candidates, profiles) → plan (the matrix) → run (sandbox + PID 1 +
//! stop sequence, in the pid1check-launch helper) → trace (raw evidence) → normal (roles and
//! phases) → verdict (judge expectations) → report (JSON, Markdown, HTML with a signal
//! timeline per run) and snapshots
//! ```
//!
//! Only [`sandbox`], [`run`] and [`observe`] touch the operating system; [`install`] fetches
//! candidates, the probe and the headless [`browser`] that checks the HTML report. The CI gate
//! reads a container image with [`image`] and runs it through the same flow as a candidate
//! ([`gate`]).

pub mod browser;
pub mod conformance;
pub mod gate;
pub mod image;
pub mod install;
pub mod matrix;
pub mod normal;
pub mod observe;
pub mod plan;
pub mod report;
pub mod run;
pub mod sandbox;
pub mod signal;
pub mod snapshot;
pub mod spec;
pub mod stop;
pub mod trace;
pub mod verdict;

/// An error and its chain of causes in one line (`a: b: c`): how a "not run: REASON" or a
/// command-line error is printed.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Helpers shared by unit tests of several modules.
#[cfg(test)]
pub(crate) mod test_support {
    /// Every value's `name()` is exactly its serde spelling: reports and snapshots use the
    /// names, `results.json` the serde form, and they must never drift apart.
    pub(crate) fn assert_names_match_serde<T: serde::Serialize + Copy + std::fmt::Debug>(
        values: &[T],
        name: impl Fn(T) -> &'static str,
    ) {
        for &value in values {
            let json = serde_json::to_string(&value).ok();
            assert_eq!(json, Some(format!("\"{}\"", name(value))), "{value:?}");
        }
    }
}
