//! The raw evidence of one run: what the probes reported, what the runtime did, what the
//! /proc scans and PID 1's parent saw, each stamped with `CLOCK_MONOTONIC` and raw pids.
//! [`crate::normal`] turns it into the deterministic form that is snapshotted and judged.

use serde::{Deserialize, Serialize};

pub use pid1check_probe::ExitStatus;
use pid1check_probe::Report;

use crate::observe::Observer;
use crate::observe::witness::WitnessLog;
use crate::sandbox::PidsLimit;
use crate::signal::SignalNumber;

/// Everything observed during one run, as the launcher hands it back to the harness.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// Every probe report, in the order the harness received them.
    pub reports: Vec<Report>,
    /// What the runtime did and what the harness observed, in time order.
    pub actions: Vec<Action>,
    /// How the run ended.
    pub end: RunEnd,
    /// The last lines PID 1 and its children wrote to stdout/stderr (PID 1's console).
    pub console: String,
    /// The run's pids limit and what it saw; `None` when PID 1 never started.
    #[serde(default)]
    pub pids_limit: Option<PidsLimit>,
    /// The kernel witness's record, or why it did not run. Absent in traces older than the
    /// witness: then it did not run.
    #[serde(default)]
    pub witness: WitnessLog,
}

impl Trace {
    /// The observers whose evidence this trace holds: the baseline, plus the kernel witness
    /// when it ran.
    pub fn observers(&self) -> Vec<Observer> {
        let mut observers = Observer::BASELINE.to_vec();
        if self.witness.ran().is_some() {
            observers.push(Observer::KernelWitness);
        }
        observers
    }
}

/// One thing the runtime did or the harness observed, stamped with `CLOCK_MONOTONIC`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// When, in nanoseconds of `CLOCK_MONOTONIC`.
    pub mono_ns: u64,
    /// What.
    pub what: ActionKind,
}

/// What the runtime did or the harness observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ActionKind {
    /// Every workload process reported `started` and `settled`: the stop sequence may begin.
    Ready,
    /// The runtime sent a signal from outside the namespace. `stop` marks the profile's stop
    /// signal (it starts the `stop` phase).
    SignalSent {
        /// The receiver: `pid1` or a role.
        target: String,
        /// The signal.
        signal: SignalNumber,
        /// Whether this is the stop sequence's signal.
        stop: bool,
    },
    /// The grace period ran out (or was zero) and the runtime sent SIGKILL to PID 1.
    Escalated,
    /// A runtime that picks its stop signal from PID 1's blocked mask (LXC) read the mask while
    /// PID 1 was awake: it never slept within the read's bound, so its mask at rest is not
    /// known and the choice rests on an awake one (an init that blocks every signal between
    /// its waits, as tini does, then looks like systemd). Recorded only then.
    MaskReadBusy {
        /// The signal looked up in the mask.
        signal: SignalNumber,
        /// Whether the awake mask held it.
        blocked: bool,
    },
    /// The runtime started a command inside the container: a preStop hook (which opens the
    /// `stop` phase) or an `exec` step.
    ExecStarted {
        /// The command, space-separated.
        command: String,
        /// Whether it is the profile's preStop hook.
        pre_stop: bool,
    },
    /// A command started by [`ActionKind::ExecStarted`] ended, or was abandoned.
    ExecEnded {
        /// How.
        result: ExecResult,
    },
    /// A `wait-exit` step: the role reported `exiting`, or the wait timed out.
    WaitedExit {
        /// The role waited for.
        role: String,
        /// Whether it exited in time.
        exited: bool,
    },
    /// A zombie scan of the namespace.
    ZombieScan {
        /// The step's label.
        label: String,
        /// Namespace pids of the zombies left when the scan ended.
        zombies: Vec<i32>,
        /// The most zombies seen at once during the scan.
        peak: usize,
    },
    /// A state scan of the namespace.
    StateScan {
        /// The step's label.
        label: String,
        /// Namespace pids of the processes stopped (state `T`) when the scan ended.
        stopped: Vec<i32>,
    },
    /// The runtime froze the container: SIGSTOP to every process of the namespace.
    Froze {
        /// Namespace pids seen stopped when the freeze ended.
        stopped: Vec<i32>,
        /// Namespace pids still not stopped when its time ran out (zombies aside).
        running: Vec<i32>,
    },
    /// PID 1 exited, as its parent saw it.
    Pid1Exited {
        /// Exit status.
        status: ExitStatus,
    },
    /// After PID 1 was reaped: processes of the run's PID namespace still on the machine.
    SurvivorScan {
        /// Host pids found (should be none).
        survivors: Vec<i32>,
    },
}

/// How a command run inside the container ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ExecResult {
    /// It exited with this code (`128 + N` when signal N ended it, as a shell says).
    Exited {
        /// Exit code.
        code: i32,
    },
    /// Its time ran out first; the runtime stopped waiting and went on.
    TimedOut,
    /// It could not be started.
    Failed {
        /// Why, in a sentence.
        reason: String,
    },
}

/// How a run ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RunEnd {
    /// The plan ran to its end and PID 1 was reaped.
    #[default]
    Completed,
    /// The sandbox could not be built or PID 1 not started: the candidate was not tested.
    SetupFailed {
        /// Which step failed and why, in a sentence.
        reason: String,
    },
    /// Not every workload process reported `started` and `settled` in time.
    NeverReady {
        /// Roles that did not report both.
        missing: Vec<String>,
        /// PID 1's status if it had already exited.
        pid1: Option<ExitStatus>,
    },
    /// The run's hard deadline passed; everything was killed.
    DeadlineExceeded,
}
