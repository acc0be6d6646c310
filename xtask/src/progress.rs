//! How finished runs are shown while a matrix runs: an indicatif progress bar when stderr is a
//! terminal (with every run that did not pass printed above it), one plain line per run
//! otherwise, so CI logs stay readable.

use std::io::IsTerminal;

use harness::conformance::RunRecord;
use harness::matrix::Outcome;
use indicatif::{ProgressBar, ProgressStyle};

/// The display of a running matrix.
pub enum Progress {
    /// A bar on the terminal.
    Bar(ProgressBar),
    /// One line per finished run on stderr.
    Lines,
}

impl Progress {
    /// A bar for `total` runs when stderr is a terminal, plain lines otherwise.
    pub fn new(total: usize) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress::Lines;
        }
        let bar = ProgressBar::new(total as u64);
        if let Ok(style) =
            ProgressStyle::with_template("{bar:40} {pos}/{len} runs, {elapsed} {wide_msg}")
        {
            bar.set_style(style);
        }
        Progress::Bar(bar)
    }

    /// Show one finished run.
    pub fn run_done(&self, record: &RunRecord) {
        let r = &record.result;
        let line = format!(
            "  {:<14} {:<24} {:<14} {:<8} {}",
            r.candidate,
            r.case,
            r.profile,
            r.outcome.name(),
            r.reason
        );
        match self {
            Progress::Bar(bar) => {
                if r.outcome != Outcome::Pass {
                    bar.println(line);
                }
                bar.set_message(format!("{} × {} ({})", r.candidate, r.case, r.profile));
                bar.inc(1);
            }
            Progress::Lines => eprintln!("{line}"),
        }
    }

    /// Remove the bar (plain lines need nothing).
    pub fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
