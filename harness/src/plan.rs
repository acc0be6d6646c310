//! The plan: candidates × cases × profiles, sorted, and each run resolved into the
//! [`RunSpec`] the launcher executes. Pure: no I/O, so a plan can be inspected and tested.

use std::path::{Path, PathBuf};

use pid1check_probe::{CHANNEL_DIR, PROBE_FILE, Workload};

use crate::run::RunSpec;
use crate::sandbox::{SandboxMode, SandboxSpec};
use crate::spec::{Behaviour, Candidate, Case, Node, Placement, Profile, Step, StopSequence};

/// The default `--time-scale`: docker's 10 s grace becomes 500 ms.
pub const DEFAULT_TIME_SCALE: f64 = 0.05;
/// No scaled time goes below this (unless the case wrote less): under it, scheduling noise on
/// a loaded two-core machine would decide outcomes, not the init.
pub const SCALE_FLOOR_MS: u64 = 50;
/// How long a workload may take to report `started` everywhere; not scaled (it is start-up
/// cost, not a modelled wait).
pub const READY_TIMEOUT_MS: u64 = 5_000;
/// Slack added to a run's computed length to make its hard deadline.
pub const DEADLINE_SLACK_MS: u64 = 5_000;
/// The environment PID 1 starts with, as a container runtime gives it.
pub const PID1_ENV: &[&str] = &[
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "container=pid1check",
];

/// One cell of the matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRun {
    /// The init under test.
    pub candidate: Candidate,
    /// The scenario.
    pub case: Case,
    /// How the runtime stops it.
    pub profile: Profile,
}

/// Every candidate × case × profile, sorted by their names.
pub fn plan(candidates: &[Candidate], cases: &[Case], profiles: &[Profile]) -> Vec<PlannedRun> {
    let mut runs: Vec<PlannedRun> = candidates
        .iter()
        .flat_map(|candidate| {
            cases.iter().flat_map(move |case| {
                profiles.iter().map(move |profile| PlannedRun {
                    candidate: candidate.clone(),
                    case: case.clone(),
                    profile: profile.clone(),
                })
            })
        })
        .collect();
    runs.sort_by(|a, b| {
        (&a.candidate.name, &a.case.name, &a.profile.name).cmp(&(
            &b.candidate.name,
            &b.case.name,
            &b.profile.name,
        ))
    });
    runs
}

/// What resolving a run needs from outside the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// `--time-scale`.
    pub time_scale: f64,
    /// Sandbox privilege mode.
    pub mode: SandboxMode,
    /// Host path of the installed candidate binary (`{bin}`).
    pub bin: PathBuf,
    /// Host directories every candidate may need read-only (the unpacked packages); the
    /// candidate's own binary directory and file directory are added to them.
    pub read_only_paths: Vec<PathBuf>,
    /// Host path of the static probe.
    pub probe: PathBuf,
    /// The run's private directory.
    pub run_dir: PathBuf,
}

/// Scale a case or profile time, never below [`SCALE_FLOOR_MS`] (or the original, if less).
pub fn scale_ms(ms: u64, time_scale: f64) -> u64 {
    let scaled = (ms as f64 * time_scale).round() as u64;
    scaled.max(ms.min(SCALE_FLOOR_MS))
}

/// The signal the profile sends this candidate, and the scaled grace period.
pub fn stop_sequence(run: &PlannedRun, time_scale: f64) -> StopSequence {
    StopSequence {
        signal: run.profile.stop_signal_for(run.candidate.stop_signal),
        grace_ms: scale_ms(run.profile.grace_ms, time_scale),
    }
}

/// Resolve a planned run into what the launcher executes.
pub fn resolve(run: &PlannedRun, with: &Resolution) -> RunSpec {
    let scale = |ms| scale_ms(ms, with.time_scale);
    let workload_path = Path::new(CHANNEL_DIR).join(PROBE_FILE);
    let argv = run
        .candidate
        .argv
        .iter()
        .map(|arg| {
            arg.replace("{bin}", &with.bin.to_string_lossy())
                .replace("{workload}", &workload_path.to_string_lossy())
                .replace("{dir}", &run.candidate.dir.to_string_lossy())
        })
        .collect();
    let stop = stop_sequence(run, with.time_scale);
    let mut steps: Vec<Step> = run
        .case
        .stop
        .steps
        .iter()
        .map(|step| match step {
            Step::Stop | Step::Signal { .. } => step.clone(),
            Step::WaitExit { role, within_ms } => Step::WaitExit {
                role: role.clone(),
                within_ms: scale(*within_ms),
            },
            Step::ScanZombies { label, settle_ms } => Step::ScanZombies {
                label: label.clone(),
                settle_ms: scale(*settle_ms),
            },
            Step::Pause { ms } => Step::Pause { ms: scale(*ms) },
        })
        .collect();
    // Every run ends with the runtime stopping the container: nothing may outlive its plan.
    if !steps.contains(&Step::Stop) {
        steps.push(Step::Stop);
    }
    let mut read_only_paths = with.read_only_paths.clone();
    read_only_paths.push(run.candidate.dir.clone());
    if let Some(bin_dir) = with.bin.parent() {
        read_only_paths.push(bin_dir.to_path_buf());
    }
    let steps_ms: u64 = steps.iter().map(|step| step.bound_ms(stop.grace_ms)).sum();
    RunSpec {
        sandbox: SandboxSpec {
            mode: with.mode,
            run_dir: with.run_dir.clone(),
            probe: with.probe.clone(),
            read_only_paths,
            argv,
            env: PID1_ENV.iter().map(|s| (*s).to_owned()).collect(),
            hostname: "pid1check".to_owned(),
        },
        workload: Workload {
            root: wire_node(&run.case.workload, with.time_scale),
        },
        ready_roles: roles(&run.case.workload),
        ready_timeout_ms: READY_TIMEOUT_MS,
        steps,
        stop,
        deadline_ms: READY_TIMEOUT_MS + steps_ms + DEADLINE_SLACK_MS,
        // The harness plans the witness when it executes the run (it owns the collector).
        witness: crate::observe::witness::WitnessPlan::default(),
    }
}

/// Every role of the tree, preorder.
pub fn roles(node: &Node) -> Vec<String> {
    let mut out = vec![node.role.clone()];
    for child in &node.children {
        out.extend(roles(child));
    }
    out
}

fn wire_node(node: &Node, time_scale: f64) -> pid1check_probe::Node {
    use pid1check_probe as wire;
    let scale = |ms| scale_ms(ms, time_scale);
    wire::Node {
        role: node.role.clone(),
        placement: match node.placement {
            Placement::Inherit => wire::Placement::Inherit,
            Placement::NewGroup => wire::Placement::NewGroup,
            Placement::NewSession => wire::Placement::NewSession,
        },
        on: node
            .on
            .iter()
            .map(|(signal, behaviour)| wire::SignalBehaviour {
                signal: signal.raw(),
                behaviour: match *behaviour {
                    Behaviour::Exit {
                        code,
                        cleanup_ms,
                        wait_children,
                    } => wire::Behaviour::Exit {
                        code,
                        cleanup_ms: scale(cleanup_ms),
                        wait_children,
                    },
                    Behaviour::Ignore => wire::Behaviour::Ignore,
                    Behaviour::Record => wire::Behaviour::Record,
                    Behaviour::Default => wire::Behaviour::Default,
                },
            })
            .collect(),
        children: node
            .children
            .iter()
            .map(|child| wire_node(child, time_scale))
            .collect(),
        orphan: node.orphan,
        exit_after_ms: node.exit_after_ms.map(scale),
        exit_code: node.exit_code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_keeps_a_floor_but_never_raises_short_times() {
        assert_eq!(scale_ms(10_000, 0.05), 500);
        assert_eq!(scale_ms(100, 0.05), 50, "floored");
        assert_eq!(
            scale_ms(20, 0.05),
            20,
            "never raised above what the case wrote"
        );
        assert_eq!(scale_ms(10_000, 1.0), 10_000);
        assert_eq!(scale_ms(0, 0.05), 0);
    }
}
