//! A run as the launcher receives it: every name resolved, every time scaled.

use serde::{Deserialize, Serialize};

use pid1check_probe::Workload;

use crate::sandbox::SandboxSpec;
use crate::signal::SignalNumber;
use crate::spec::Target;

/// One fully resolved run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSpec {
    /// The sandbox and PID 1's argv.
    pub sandbox: SandboxSpec,
    /// The workload the probe becomes (written to the channel directory).
    pub workload: Workload,
    /// Roles that must report `started` before the steps begin.
    pub ready_roles: Vec<String>,
    /// How long the workload may take to become ready.
    pub ready_timeout_ms: u64,
    /// What happens once it is ready.
    pub steps: Vec<RunStep>,
    /// Hard bound on the whole run, from PID 1's start.
    pub deadline_ms: u64,
}

/// A resolved step (see [`crate::spec::Step`]); times in milliseconds after scaling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RunStep {
    /// The stop sequence: `signal` to PID 1, wait `grace_ms`, SIGKILL PID 1.
    Stop {
        /// The profile's stop signal for this candidate.
        signal: SignalNumber,
        /// Grace period.
        grace_ms: u64,
    },
    /// One signal from the runtime to a process.
    Signal {
        /// The signal.
        signal: SignalNumber,
        /// The receiver.
        target: Target,
    },
    /// Wait for a role's `exiting` report.
    WaitExit {
        /// The role.
        role: String,
        /// Bound.
        within_ms: u64,
    },
    /// Scan for zombies until none or `settle_ms` passed.
    ScanZombies {
        /// Label.
        label: String,
        /// Bound.
        settle_ms: u64,
    },
    /// A deliberate pause.
    Pause {
        /// How long.
        ms: u64,
    },
}

impl RunStep {
    /// The longest this step can take.
    pub fn bound_ms(&self) -> u64 {
        match self {
            RunStep::Stop { grace_ms, .. } => *grace_ms,
            RunStep::Signal { .. } => 0,
            RunStep::WaitExit { within_ms, .. } => *within_ms,
            RunStep::ScanZombies { settle_ms, .. } => *settle_ms,
            RunStep::Pause { ms } => *ms,
        }
    }
}
