//! The kernel witness: every signal of a run as the kernel saw it, SIGKILL and dropped
//! signals included, which the probe (it only reports what it catches) cannot see.
//!
//! It needs root in the initial user namespace (root sandbox mode) and tracefs. The harness
//! creates one tracefs instance ([`tracefs`]) with `signal:signal_generate`,
//! `signal:signal_deliver`, `sched:sched_process_fork` and `sched:sched_process_exit` enabled
//! for itself and what it forks, and consumes it as events come ([`collector`]). Each launcher
//! marks its actions in that trace and returns its half of the record ([`WitnessClues`]: its
//! pid, PID 1's host pid, host → namespace pids from the `/proc` scans it took while the
//! processes lived, PID 1's ignored signals). The harness then keeps the run's events
//! ([`select_run`]): PID 1 and every process forked from it, followed through the fork events,
//! so even a short-lived intermediate (a double fork's middle) is known; those never seen alive
//! by a scan are named after their parent by [`crate::normal`]. When the witness cannot run, the
//! trace says [`WitnessLog::NotRun`] with the reason, and what only it can show stays
//! `unknown`.
//!
//! Exit statuses: `sched_process_exit` on this kernel (6.18) carries `comm pid prio
//! group_dead`, no exit code. So the witness gives *that* and *when* each process ended and
//! which fatal signal ended it (a delivered SIGKILL, or a delivered signal with no handler
//! followed by the kernel's group-exit SIGKILL), not exit codes. Exit codes stay with the
//! sources that have them: the probe's reap reports (a parent's `waitpid`) and PID 1's status
//! seen by the launcher. A process reaped by an init (not a probe) has its end and fatal
//! signal from the witness only; the process connector (CN_PROC), which has exit codes, was
//! not used.

mod collector;
mod parse;
mod tracefs;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use collector::{RunWindow, WitnessCollector, close_collectors};
pub use parse::{
    GenerateResult, MARK_PREFIX, WitnessEvent, WitnessKind, clamp_to_marks, parse_line, parse_trace,
};
pub use tracefs::{
    EVENTS, INSTANCE_PREFIX, TRACEFS, TraceInstance, WitnessError, instance_owner, list_instances,
    remove_stale_instances,
};

/// What the kernel witness recorded for one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum WitnessLog {
    /// The witness did not run, or its record is unusable.
    NotRun {
        /// Why, in a sentence.
        reason: String,
    },
    /// The witness ran; the run's events.
    Ran(WitnessRun),
    /// The launcher's half, which the harness completes into `Ran` or `NotRun` with the
    /// events it collected ([`WitnessCollector::complete`]).
    Collecting(WitnessClues),
}

impl Default for WitnessLog {
    /// What a trace without a witness field (older than the witness) means.
    fn default() -> WitnessLog {
        WitnessLog::NotRun {
            reason: "not recorded".to_owned(),
        }
    }
}

impl WitnessLog {
    /// The run's record, when the witness ran.
    pub fn ran(&self) -> Option<&WitnessRun> {
        match self {
            WitnessLog::Ran(run) => Some(run),
            WitnessLog::NotRun { .. } | WitnessLog::Collecting(_) => None,
        }
    }
}

/// Whether and where a launcher marks its actions for the witness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum WitnessPlan {
    /// No witness for this run.
    Off {
        /// Why (`--no-witness`, or why the harness could not start it).
        reason: String,
    },
    /// The witness records this run: write action marks to `marker`.
    On {
        /// The instance's `trace_marker`.
        marker: std::path::PathBuf,
    },
}

impl Default for WitnessPlan {
    /// No witness until the harness plans one.
    fn default() -> WitnessPlan {
        WitnessPlan::Off {
            reason: "not requested".to_owned(),
        }
    }
}

/// What only the launcher knows about its run's processes: the witness's half of a trace
/// before the harness adds the events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessClues {
    /// Host pid of the launcher: signals it sent are the runtime's; its marks are the run's.
    pub launcher_pid: i32,
    /// Host pid of PID 1.
    pub pid1: i32,
    /// (host pid, namespace pid) pairs, from `/proc` scans while the processes lived. A list,
    /// not a map: an internally tagged enum cannot read integer map keys back from JSON.
    pub ns_pids: Vec<(i32, i32)>,
    /// PID 1's `SigIgn` when the workload became ready.
    pub pid1_ignored: Option<u64>,
}

/// The witness's record of one run, with raw host pids.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessRun {
    /// Host pid of the launcher: signals it sent are the runtime's.
    pub launcher_pid: i32,
    /// The run's processes (PID 1 first, then in fork order).
    pub processes: Vec<WitnessProcess>,
    /// The run's events, in the kernel's time order, marks removed.
    pub events: Vec<WitnessEvent>,
    /// PID 1's ignored signals (`SigIgn` of /proc/PID/status) when the workload became ready:
    /// tells a signal PID 1 ignores from one the kernel drops for a protected init.
    pub pid1_ignored: Option<u64>,
}

/// One process (or thread) of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessProcess {
    /// Host pid.
    pub host_pid: i32,
    /// Pid in the run's namespace, when a `/proc` scan saw it alive (PID 1: always 1).
    pub ns_pid: Option<i32>,
    /// Host pid of the process that forked it (the launcher, for PID 1).
    pub parent: i32,
    /// Its `comm` at fork time.
    pub comm: String,
}

/// The events of the run `clues` describes, out of everything the instance recorded in its
/// window: the fork events from PID 1 on give the run's processes; then signals generated
/// *to* them, and signals delivered to, forks by and exits of them, are kept. Events are
/// time-clamped to the launcher's marks first; marks are then dropped.
pub fn select_run(mut events: Vec<WitnessEvent>, clues: &WitnessClues) -> WitnessRun {
    let WitnessClues {
        launcher_pid,
        pid1,
        ref ns_pids,
        pid1_ignored,
    } = *clues;
    let ns_pids: BTreeMap<i32, i32> = ns_pids.iter().copied().collect();
    clamp_to_marks(&mut events, launcher_pid);
    let mut processes = vec![WitnessProcess {
        host_pid: pid1,
        ns_pid: Some(1),
        parent: launcher_pid,
        comm: String::new(),
    }];
    let mut members: BTreeSet<i32> = BTreeSet::from([pid1]);
    let mut kept = Vec::new();
    for event in events {
        let keep = match &event.kind {
            WitnessKind::Fork {
                parent,
                child,
                child_comm,
            } => {
                if *child == pid1 {
                    processes[0].comm.clone_from(child_comm);
                    true
                } else if members.contains(parent) {
                    members.insert(*child);
                    processes.push(WitnessProcess {
                        host_pid: *child,
                        ns_pid: ns_pids.get(child).copied(),
                        parent: *parent,
                        comm: child_comm.clone(),
                    });
                    true
                } else {
                    false
                }
            }
            WitnessKind::Generate { receiver, .. } => members.contains(receiver),
            WitnessKind::Deliver { .. } | WitnessKind::Exit { .. } => {
                members.contains(&event.task_pid)
            }
            WitnessKind::Mark { .. } | WitnessKind::Window { .. } => false,
        };
        if keep {
            kept.push(event);
        }
    }
    WitnessRun {
        launcher_pid,
        processes,
        events: kept,
        pid1_ignored,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(mono_ns: u64, task_pid: i32, kind: WitnessKind) -> WitnessEvent {
        WitnessEvent {
            mono_ns,
            task_pid,
            task_comm: "x".to_owned(),
            kind,
        }
    }

    fn fork(parent: i32, child: i32) -> WitnessKind {
        WitnessKind::Fork {
            parent,
            child,
            child_comm: "probe".to_owned(),
        }
    }

    fn kill(receiver: i32) -> WitnessKind {
        WitnessKind::Generate {
            receiver,
            receiver_comm: "probe".to_owned(),
            signal: 9,
            code: 0x80,
            group: true,
            result: GenerateResult::Delivered,
        }
    }

    #[test]
    fn the_launchers_half_survives_its_trip_to_the_harness() {
        // The launcher prints its trace as JSON and the harness reads it back.
        let log = WitnessLog::Collecting(WitnessClues {
            launcher_pid: 10,
            pid1: 11,
            ns_pids: vec![(11, 1), (12, 2)],
            pid1_ignored: Some(1 << 14),
        });
        let json = serde_json::to_string(&log).map_err(|e| e.to_string());
        let back = json.and_then(|j| serde_json::from_str(&j).map_err(|e| e.to_string()));
        assert_eq!(back, Ok(log));
    }

    #[test]
    fn forks_from_pid1_on_define_the_run_and_other_runs_are_left_out() {
        // Launcher 10 starts PID 1 (11); 11 forks 12, which forks 13 and exits (a double
        // fork). Another run's PID 1 (21) and its child (22) share the buffer.
        let events = vec![
            event(1, 10, fork(10, 11)),
            event(2, 20, fork(20, 21)),
            event(3, 11, fork(11, 12)),
            event(4, 21, fork(21, 22)),
            event(5, 12, fork(12, 13)),
            event(
                6,
                12,
                WitnessKind::Exit {
                    pid: 12,
                    group_dead: true,
                },
            ),
            event(7, 10, WitnessKind::Mark { action_ns: 100 }),
            event(8, 11, kill(13)),
            event(9, 21, kill(22)),
        ];
        let clues = WitnessClues {
            launcher_pid: 10,
            pid1: 11,
            ns_pids: vec![(11, 1), (13, 3)],
            pid1_ignored: Some(0),
        };
        let run = select_run(events, &clues);
        let pids: Vec<(i32, Option<i32>, i32)> = run
            .processes
            .iter()
            .map(|p| (p.host_pid, p.ns_pid, p.parent))
            .collect();
        assert_eq!(pids, [(11, Some(1), 10), (12, None, 11), (13, Some(3), 12)]);
        let kept: Vec<(u64, i32)> = run.events.iter().map(|e| (e.mono_ns, e.task_pid)).collect();
        // The kill after the mark is raised to the marked action's time.
        assert_eq!(kept, [(1, 10), (3, 11), (5, 12), (6, 12), (100, 11)]);
    }
}
