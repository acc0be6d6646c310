//! Observers: the sources of evidence a run can have. Every report lists those that ran, and
//! an expectation that needs one that did not run is judged `unknown`, never pass.

mod procfs;
pub mod witness;

pub use procfs::{BlockedRead, NamespaceProcess, blocks_signal, ignored_signals, scan_namespace};

use serde::{Deserialize, Serialize};

/// A source of evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Observer {
    /// The probe's own reports: started, caught (with si_code, si_pid), reaped, exiting.
    Probe,
    /// Scans of `/proc` for the run's PID namespace: zombies, survivors.
    Procfs,
    /// PID 1's exit status as its parent (the launcher) saw it.
    ExitStatus,
    /// tracefs `signal:signal_generate` / `signal:signal_deliver`: every signal, SIGKILL too.
    KernelWitness,
}

impl Observer {
    /// The observers every run has.
    pub const BASELINE: [Observer; 3] = [Observer::Probe, Observer::Procfs, Observer::ExitStatus];

    /// The name reports use (the serde spelling).
    pub fn name(self) -> &'static str {
        match self {
            Observer::Probe => "probe",
            Observer::Procfs => "procfs",
            Observer::ExitStatus => "exit-status",
            Observer::KernelWitness => "kernel-witness",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Observer;

    #[test]
    fn names_are_the_serde_spelling() {
        crate::test_support::assert_names_match_serde(
            &[
                Observer::Probe,
                Observer::Procfs,
                Observer::ExitStatus,
                Observer::KernelWitness,
            ],
            Observer::name,
        );
    }
}
