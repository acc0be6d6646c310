//! The normalised trace: pids replaced by roles, times by phases, events in canonical order.
//! (Being written.)

use serde::{Deserialize, Serialize};

/// The phases of a run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// From PID 1's start until the stop sequence's signal.
    BeforeStop,
    /// From the stop signal until SIGKILL escalation (or PID 1's exit).
    AfterStopSignal,
    /// From SIGKILL escalation until PID 1's exit.
    AfterEscalation,
    /// After PID 1 exited: what remained.
    AfterTeardown,
}

/// One event of the normalised trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormalEvent {
    /// Phase it happened in.
    pub phase: Phase,
    /// Who it happened to: a workload role, `pid1`, or `runtime`.
    pub role: String,
    /// What happened (`started`, `caught`, `exiting`, `reaped`, `signal-sent`, ...).
    pub event: String,
    /// The signal involved, by name, if any.
    pub signal: Option<String>,
    /// Everything else, rendered deterministically (`from=runtime code=SI_USER`).
    pub detail: String,
}
