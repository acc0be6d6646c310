//! The launcher's side of the kernel witness: start the tracefs instance before PID 1, mark
//! each action in the trace, remember which host pid is which namespace pid while the
//! processes live, and turn the instance's record into the run's [`WitnessLog`] at the end.

use std::collections::BTreeMap;

use crate::observe::NamespaceProcess;
use crate::observe::witness::{TraceInstance, WitnessLog, parse_trace, select_run};

/// The witness of one run, running or not.
pub(crate) struct RunWitness {
    instance: Result<TraceInstance, String>,
    /// Host pid → namespace pid, from `/proc` scans.
    ns_pids: BTreeMap<i32, i32>,
    pid1_ignored: Option<u64>,
}

impl RunWitness {
    /// Start recording (before PID 1 exists, so its first fork is seen), unless `wanted` is
    /// false (`--no-witness`).
    pub(crate) fn start(wanted: bool) -> RunWitness {
        let instance = if wanted {
            TraceInstance::create(std::process::id() as i32)
                .map_err(|error| crate::error_chain(&error))
        } else {
            Err("disabled (--no-witness)".to_owned())
        };
        RunWitness {
            instance,
            ns_pids: BTreeMap::new(),
            pid1_ignored: None,
        }
    }

    /// Whether the instance is recording.
    pub(crate) fn running(&self) -> bool {
        self.instance.is_ok()
    }

    /// Mark the action recorded at `action_ns` in the kernel's trace.
    pub(crate) fn mark(&mut self, action_ns: u64) {
        if let Ok(instance) = &mut self.instance {
            instance.mark(action_ns);
        }
    }

    /// Remember the host → namespace pids of a `/proc` scan.
    pub(crate) fn learn(&mut self, processes: &[NamespaceProcess]) {
        for p in processes {
            self.ns_pids.insert(p.host_pid, p.ns_pid);
        }
    }

    /// Remember which signals PID 1 (host pid `pid1`) ignores now.
    pub(crate) fn learn_pid1_ignored(&mut self, pid1: i32) {
        self.pid1_ignored = procfs::process::Process::new(pid1)
            .and_then(|p| p.status())
            .ok()
            .map(|status| status.sigign);
    }

    /// Stop recording, read the record and keep the run's events (PID 1 has host pid `pid1`).
    /// The instance is removed when this returns.
    pub(crate) fn finish(self, pid1: i32) -> WitnessLog {
        let mut instance = match self.instance {
            Ok(instance) => instance,
            Err(reason) => return WitnessLog::NotRun { reason },
        };
        let text = match instance.stop_and_read() {
            Ok(text) => text,
            Err(error) => {
                return WitnessLog::NotRun {
                    reason: crate::error_chain(&error),
                };
            }
        };
        drop(instance);
        let (events, unparsed) = parse_trace(&text);
        if let Some(line) = unparsed.first() {
            // A format this parser does not know: the record cannot be trusted as complete.
            return WitnessLog::NotRun {
                reason: format!(
                    "{} trace line(s) not understood, the first: {line}",
                    unparsed.len()
                ),
            };
        }
        let mut run = select_run(events, std::process::id() as i32, pid1, &self.ns_pids);
        run.pid1_ignored = self.pid1_ignored;
        WitnessLog::Ran(run)
    }
}
