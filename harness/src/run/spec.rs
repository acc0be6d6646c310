//! A run as the launcher receives it: every name resolved, every time scaled.

use serde::{Deserialize, Serialize};

use pid1check_probe::Workload;

use crate::observe::witness::WitnessPlan;
use crate::sandbox::SandboxSpec;
use crate::spec::{Step, WorkloadExec};
use crate::stop::StopSequence;

/// One fully resolved run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSpec {
    /// The sandbox and PID 1's argv.
    pub sandbox: SandboxSpec,
    /// The workload the probe becomes (written to the channel directory).
    pub workload: Workload,
    /// What `{workload}` in PID 1's argv is: with a path that cannot be executed, the launcher
    /// waits (up to `ready_timeout_ms`) for PID 1 to exit by itself instead of for the
    /// workload's start reports, and writes the non-executable file into the channel.
    #[serde(default)]
    pub workload_exec: WorkloadExec,
    /// Roles that must report `started` before the steps begin.
    pub ready_roles: Vec<String>,
    /// How long the workload may take to become ready.
    pub ready_timeout_ms: u64,
    /// The case's steps with their times scaled; always contains one `stop`.
    pub steps: Vec<Step>,
    /// What the `stop` step does: the profile's sequence for this candidate.
    pub stop: StopSequence,
    /// Hard bound on the whole run, from PID 1's start.
    pub deadline_ms: u64,
    /// Whether the kernel witness records the run, and where the launcher marks its actions.
    pub witness: WitnessPlan,
    /// When set, PID 1 does not start the workload: the launcher starts it with this argv
    /// inside the running container, the way `docker exec` does (an image's entrypoint that
    /// runs its own app, tested with the probe beside it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_beside: Option<Vec<String>>,
}
