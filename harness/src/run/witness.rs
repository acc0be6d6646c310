//! The launcher's side of the kernel witness: mark each action in the harness's trace, remember
//! which host pid is which namespace pid while the processes live and what PID 1 ignores, and
//! hand that back as the launcher's half of the record ([`WitnessLog::Collecting`]).

use std::fs::{File, OpenOptions};
use std::io::Write as _;

use crate::observe::witness::{MARK_PREFIX, WitnessClues, WitnessLog, WitnessPlan};
use crate::observe::{NamespaceProcess, ignored_signals};

/// The witness of one run, as the launcher sees it.
pub(crate) struct RunWitness {
    /// The instance's `trace_marker`, or why there is no witness.
    marker: Result<File, String>,
    clues: WitnessClues,
}

impl RunWitness {
    /// Open the marker the plan names (before PID 1 exists, so no action goes unmarked).
    pub(crate) fn start(plan: &WitnessPlan) -> RunWitness {
        let marker = match plan {
            WitnessPlan::Off { reason } => Err(reason.clone()),
            WitnessPlan::On { marker } => OpenOptions::new()
                .write(true)
                .open(marker)
                .map_err(|e| format!("opening {}: {e}", marker.display())),
        };
        RunWitness {
            marker,
            clues: WitnessClues {
                launcher_pid: std::process::id() as i32,
                ..WitnessClues::default()
            },
        }
    }

    /// Whether the witness records this run.
    pub(crate) fn running(&self) -> bool {
        self.marker.is_ok()
    }

    /// Mark the action recorded at `action_ns` in the kernel's trace. A failed write only makes
    /// the phases of the events around it less exact.
    pub(crate) fn mark(&mut self, action_ns: u64) {
        if let Ok(marker) = &mut self.marker {
            let _ = marker.write_all(format!("{MARK_PREFIX}{action_ns}").as_bytes());
        }
    }

    /// Remember the host → namespace pids of a `/proc` scan.
    pub(crate) fn learn(&mut self, processes: &[NamespaceProcess]) {
        let known = &mut self.clues.ns_pids;
        for p in processes {
            if !known.contains(&(p.host_pid, p.ns_pid)) {
                known.push((p.host_pid, p.ns_pid));
            }
        }
    }

    /// Remember which signals PID 1 (host pid `pid1`) ignores now.
    pub(crate) fn learn_pid1_ignored(&mut self, pid1: i32) {
        self.clues.pid1_ignored = ignored_signals(pid1);
    }

    /// The launcher's half of the record; PID 1 had host pid `pid1`.
    pub(crate) fn finish(self, pid1: i32) -> WitnessLog {
        match self.marker {
            Ok(_) => WitnessLog::Collecting(WitnessClues { pid1, ..self.clues }),
            Err(reason) => WitnessLog::NotRun { reason },
        }
    }
}
