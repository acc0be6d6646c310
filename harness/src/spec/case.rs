//! A case: one scenario, as data. `title`, `why` and `sources` explain it; `workload` is the
//! process tree the candidate supervises; `stop` says how the run is driven; `expect` lists
//! what must or should be observed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::signal::SignalNumber;
use crate::spec::CandidateKind;

/// One scenario, loaded from `cases/NAME.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// File stem; set by the loader, not written in the file.
    #[serde(skip)]
    pub name: String,
    /// One line: what the case checks.
    pub title: String,
    /// Why it matters to someone stopping a container.
    pub why: String,
    /// Where the behaviour comes from: kernel rules, init sources, runtime code (`project: file`).
    pub sources: Vec<String>,
    /// Whether PID 1 keeps `CAP_SYS_BOOT`, whatever the runtime profile would do (docker drops
    /// it, LXC keeps it): a case about reboot(2) needs both worlds. `None` leaves it to the profile.
    #[serde(default)]
    pub cap_sys_boot: Option<bool>,
    /// The process tree the candidate starts; its root is the process the candidate execs.
    pub workload: Node,
    /// How the run is driven once the workload is ready.
    #[serde(default)]
    pub stop: StopPlan,
    /// What the case asks of the sandbox: which process is PID 1.
    #[serde(default)]
    pub sandbox: CaseSandbox,
    /// Expectations whose failure fails the run.
    #[serde(default)]
    pub must: Vec<ExpectationKind>,
    /// Expectations whose failure is reported without failing the run.
    #[serde(default)]
    pub should: Vec<ExpectationKind>,
    /// Readings of their own for some kinds of candidate (`[reading.system-manager]`): a
    /// system manager answers "did the app catch RTMIN+3" by stopping its services instead.
    /// Every kind without one takes the default reading, `must` and `should` above.
    #[serde(default)]
    pub reading: BTreeMap<CandidateKind, Reading>,
}

impl Case {
    /// The expectations that apply to a candidate of `kind`, with their levels (`must` first,
    /// in file order), or why the case says nothing about that kind.
    pub fn expectations(&self, kind: CandidateKind) -> Applies {
        match self.reading.get(&kind) {
            None => Applies::Judge {
                reading: None,
                expectations: tagged(&self.must, &self.should),
            },
            Some(Reading {
                not_applicable: Some(reason),
                ..
            }) => Applies::NotApplicable {
                reading: kind,
                reason: reason.clone(),
            },
            Some(reading) => Applies::Judge {
                reading: Some(kind),
                expectations: tagged(&reading.must, &reading.should),
            },
        }
    }

    /// The default reading's expectations: what every kind without a reading of its own gets.
    pub fn default_expectations(&self) -> Vec<Expectation> {
        tagged(&self.must, &self.should)
    }
}

fn tagged(must: &[ExpectationKind], should: &[ExpectationKind]) -> Vec<Expectation> {
    let tag = |level: Level| {
        move |kind: &ExpectationKind| Expectation {
            level,
            kind: kind.clone(),
        }
    };
    must.iter()
        .map(tag(Level::Must))
        .chain(should.iter().map(tag(Level::Should)))
        .collect()
}

/// A case's reading for one kind of candidate: its own expectations, or a statement that the
/// case says nothing about that kind (exactly one of the two; the loader checks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reading {
    /// Expectations whose failure fails the run.
    #[serde(default)]
    pub must: Vec<ExpectationKind>,
    /// Expectations whose failure is reported without failing the run.
    #[serde(default)]
    pub should: Vec<ExpectationKind>,
    /// Why the case does not apply to this kind: its runs are not executed and read `n/a`.
    #[serde(default)]
    pub not_applicable: Option<String>,
}

/// Which reading of a case applies to one candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applies {
    /// Judge these expectations.
    Judge {
        /// The kind whose own reading they are; `None` for the default reading.
        reading: Option<CandidateKind>,
        /// The expectations with their levels.
        expectations: Vec<Expectation>,
    },
    /// The case says nothing about this kind: the run is not executed.
    NotApplicable {
        /// The kind whose reading says so.
        reading: CandidateKind,
        /// Why, as the case states it.
        reason: String,
    },
}

/// What a case asks of the sandbox beyond what every run gets (`[sandbox]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseSandbox {
    /// Which process is PID 1 of the run's namespace.
    #[serde(default)]
    pub pid1: Pid1Process,
}

/// Which process is PID 1 of the run's namespace (`[sandbox] pid1`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pid1Process {
    /// The candidate, as a container's entrypoint is.
    #[default]
    Candidate,
    /// A minimal parent (the probe's parent mode) that starts the candidate as its child,
    /// forwards every catchable signal to it, waits for it alone and exits with its status: a
    /// shell entrypoint that does not exec, `docker run --init` in front of an image's own
    /// init, a pod's pause container with a shared PID namespace. The candidate is `init` in
    /// traces.
    Parent,
}

impl Pid1Process {
    /// The spelling in case files.
    pub fn name(self) -> &'static str {
        match self {
            Pid1Process::Candidate => "candidate",
            Pid1Process::Parent => "parent",
        }
    }
}

/// A signal as a case names it: a fixed signal, or `stop`, the signal the run's runtime
/// profile sends to PID 1 (TERM under docker, SIGRTMIN+3 for systemd under podman, SIGPWR
/// under LXC). With `stop`, one case asks "does the stop signal reach the app" of every
/// runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SignalRef {
    /// The run's stop signal.
    Stop,
    /// This signal.
    Signal(SignalNumber),
}

impl SignalRef {
    /// The spelling in case files and verdicts: `stop` or the signal's name.
    pub fn name(self) -> String {
        match self {
            SignalRef::Stop => "stop".to_owned(),
            SignalRef::Signal(signal) => signal.name(),
        }
    }
}

impl std::fmt::Display for SignalRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl From<SignalNumber> for SignalRef {
    fn from(signal: SignalNumber) -> Self {
        SignalRef::Signal(signal)
    }
}

impl Serialize for SignalRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for SignalRef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = SignalRef;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("`stop`, a signal name such as \"TERM\", or a number 1-64")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SignalRef, E> {
                if v == "stop" {
                    return Ok(SignalRef::Stop);
                }
                v.parse()
                    .map(SignalRef::Signal)
                    .map_err(|error| E::custom(format!("{error}, or `stop` for the stop signal")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SignalRef, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SignalRef, E> {
                self.visit_str(&v.to_string())
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// One node of the workload tree, as a case writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Role name, unique in the tree; `pid1`, `init`, `runtime` and `outside` are reserved.
    pub role: String,
    /// Process-group and session placement.
    #[serde(default)]
    pub placement: Placement,
    /// Behaviour per signal, keyed by any spelling of the signal, or `stop` for whatever the
    /// run's stop signal is.
    #[serde(default)]
    pub on: BTreeMap<SignalRef, Behaviour>,
    /// Child processes.
    #[serde(default)]
    pub children: Vec<Node>,
    /// Started through a double fork, so the namespace's reaper adopts it.
    #[serde(default)]
    pub orphan: bool,
    /// Exit by itself this long after starting (milliseconds, scaled by `--time-scale`).
    #[serde(default)]
    pub exit_after_ms: Option<u64>,
    /// Exit code for `exit_after_ms`.
    #[serde(default)]
    pub exit_code: i32,
    /// What the candidate is given to execute as the workload: the probe, or (on the root
    /// only, without children) a path that cannot be executed, to see how PID 1 reports it.
    #[serde(default)]
    pub exec: WorkloadExec,
    /// Call reboot(2) this long after starting (milliseconds, scaled by `--time-scale`).
    #[serde(default)]
    pub reboot_after_ms: Option<u64>,
    /// The reboot(2) command for `reboot_after_ms`; `power-off` when not given.
    #[serde(default)]
    pub reboot: Option<RebootCommand>,
}

/// What stands in PID 1's argv for `{workload}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadExec {
    /// The probe: the workload runs as scripted.
    #[default]
    Probe,
    /// A path where nothing exists: `execve` fails with ENOENT (a shell's 127).
    Missing,
    /// A file without any execute bit: `execve` fails with EACCES (a shell's 126).
    NotExecutable,
}

impl WorkloadExec {
    /// The spelling in case files.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadExec::Probe => "probe",
            WorkloadExec::Missing => "missing",
            WorkloadExec::NotExecutable => "not-executable",
        }
    }
}

/// A reboot(2) command, as a node asks for it. In a child PID namespace the kernel ends the
/// namespace's init as if by SIGINT (power off, halt) or SIGHUP (restart)
/// (torvalds/linux: kernel/pid_namespace.c, `reboot_pid_ns`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RebootCommand {
    /// `LINUX_REBOOT_CMD_POWER_OFF`.
    #[default]
    PowerOff,
    /// `LINUX_REBOOT_CMD_RESTART`.
    Restart,
}

/// Process-group and session placement of a node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// The parent's process group and session.
    #[default]
    Inherit,
    /// A new process group in the parent's session (`setpgid(0, 0)`).
    NewGroup,
    /// A new session (`setsid()`).
    NewSession,
}

/// What a node does when a signal arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Behaviour {
    /// Catch it, then exit with `code` after `cleanup_ms` (scaled), optionally after waiting for
    /// its own children.
    Exit {
        /// Exit code.
        #[serde(default)]
        code: i32,
        /// Cleanup time in milliseconds, scaled by `--time-scale`.
        #[serde(default)]
        cleanup_ms: u64,
        /// Wait until its own children have exited first.
        #[serde(default)]
        wait_children: bool,
    },
    /// `SIG_IGN`.
    Ignore,
    /// Catch it and keep running.
    Record,
    /// `SIG_DFL`.
    Default,
}

/// How the run is driven once every workload process has reported `started`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopPlan {
    /// Steps in order. The default is a single `stop` step: the profile's stop sequence.
    #[serde(default = "StopPlan::default_steps")]
    pub steps: Vec<Step>,
}

impl StopPlan {
    fn default_steps() -> Vec<Step> {
        vec![Step::Stop]
    }
}

impl Default for StopPlan {
    fn default() -> Self {
        StopPlan {
            steps: Self::default_steps(),
        }
    }
}

/// One step of a run, after the workload is ready. Times are milliseconds, scaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Step {
    /// The runtime profile's stop sequence: its stop signal to PID 1, the grace period, then
    /// SIGKILL to PID 1 if it is still there. Starts the `stop` phase.
    Stop,
    /// Send a signal from the runtime (an ancestor PID namespace) to a process, `count` times
    /// back to back (a burst: standard signals coalesce while pending, real-time ones queue).
    Signal {
        /// The signal.
        signal: SignalNumber,
        /// The receiver.
        #[serde(default)]
        target: Target,
        /// How many times, from 1 to [`MAX_SIGNAL_COUNT`].
        #[serde(default = "one")]
        count: u32,
    },
    /// Run a command inside the container, as `docker exec` would, and wait for it (bounded):
    /// a process of the namespace acting on PID 1 (`kill -TERM 1`).
    Exec {
        /// The command; a bare program name is looked up in the sandbox's `PATH`.
        command: Vec<String>,
        /// Stop waiting after this long; the step then records a timeout.
        within_ms: u64,
    },
    /// Wait until a workload process reports that it is exiting, or, for `pid1`, until PID 1
    /// has exited (bounded).
    WaitExit {
        /// Role to wait for, or `pid1`.
        role: String,
        /// Give up after this long; the step then records a timeout.
        within_ms: u64,
    },
    /// Look for zombies in the namespace: poll `/proc` until none is left or `settle_ms` passed,
    /// and record what remained.
    ScanZombies {
        /// Name used in traces and by `no-zombies` expectations.
        label: String,
        /// How long an init may take to reap before a zombie counts. A tolerance for the
        /// scheduler, so `--time-scale` leaves it alone.
        settle_ms: u64,
    },
    /// Record which processes of the namespace are stopped (state `T`): watch `/proc` for
    /// `settle_ms`, then record the stopped processes of the last read.
    ScanStates {
        /// Name used in traces and by `not-stopped` expectations; unique among every scan.
        label: String,
        /// How long the scan watches before it records: time for signals just sent to be
        /// forwarded and acted on. A tolerance for the scheduler, so `--time-scale` leaves it
        /// alone.
        settle_ms: u64,
    },
    /// Freeze the container from the runtime: SIGSTOP to every process of the namespace,
    /// PID 1 first, then by pid (parents before their children), each seen stopped before the
    /// next, until every process is stopped or `within_ms` passed.
    Freeze {
        /// Bound on the whole freeze; a tolerance for the scheduler, not scaled.
        within_ms: u64,
    },
    /// Wait a fixed time: only to model a runtime's own pause (a user retrying a stop), never
    /// to synchronise with the workload.
    Pause {
        /// How long.
        ms: u64,
    },
}

/// The most signals one `signal` step sends: enough to see coalescing and queueing, few enough
/// that no queue limit (RLIMIT_SIGPENDING) decides the result.
pub const MAX_SIGNAL_COUNT: u32 = 32;

fn one() -> u32 {
    1
}

impl Step {
    /// The longest this step can take, given the run's grace period for `stop`.
    pub fn bound_ms(&self, grace_ms: u64) -> u64 {
        match self {
            Step::Stop => grace_ms,
            Step::Signal { .. } => 0,
            Step::Exec { within_ms, .. } => *within_ms,
            Step::WaitExit { within_ms, .. } => *within_ms,
            Step::ScanZombies { settle_ms, .. } => *settle_ms,
            Step::ScanStates { settle_ms, .. } => *settle_ms,
            Step::Freeze { within_ms } => *within_ms,
            Step::Pause { ms } => *ms,
        }
    }
}

/// Who receives a signal sent by a step: `"pid1"` or a workload role.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Target {
    /// The namespace's PID 1.
    #[default]
    Pid1,
    /// A workload process by role.
    Role(String),
}

impl Target {
    /// The spelling used in case files and traces.
    pub fn name(&self) -> &str {
        match self {
            Target::Pid1 => "pid1",
            Target::Role(role) => role,
        }
    }
}

impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(if name == "pid1" {
            Target::Pid1
        } else {
            Target::Role(name)
        })
    }
}

/// One expectation of a case with its level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expectation {
    /// `must` fails the run; `should` is reported but does not.
    pub level: Level,
    /// What is expected.
    pub kind: ExpectationKind,
}

/// RFC 2119 level of an expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// A failure fails the run.
    Must,
    /// A failure is reported; the run can still pass.
    Should,
}

impl Level {
    /// `must` or `should`, as case files spell it.
    pub fn name(self) -> &'static str {
        match self {
            Level::Must => "must",
            Level::Should => "should",
        }
    }
}

/// The expectation vocabulary: small and typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ExpectationKind {
    /// `role` ran its handler for `signal` before any SIGKILL escalation: at least once, at
    /// least `at_least` times, or exactly `times` times (at most one of the two).
    Caught {
        /// Workload role.
        role: String,
        /// The signal, or `stop`.
        signal: SignalRef,
        /// The fewest catches that pass.
        #[serde(default)]
        at_least: Option<u32>,
        /// The exact number of catches that passes.
        #[serde(default)]
        times: Option<u32>,
    },
    /// `role` never ran its handler for `signal`.
    NotCaught {
        /// Workload role.
        role: String,
        /// The signal, or `stop`.
        signal: SignalRef,
    },
    /// `role` finished its exit path (reported `exiting` with `code`) before any escalation.
    ExitedCleanly {
        /// Workload role.
        role: String,
        /// Expected exit code.
        #[serde(default)]
        code: i32,
    },
    /// The zombie scan named `scan` found no zombie.
    NoZombies {
        /// Label of a `scan-zombies` step.
        scan: String,
    },
    /// The state scan named `scan` did not find `role` stopped (state `T`).
    NotStopped {
        /// Label of a `scan-states` step.
        scan: String,
        /// Workload role, or `pid1` for the namespace's PID 1.
        role: String,
    },
    /// PID 1's exit status, as its parent saw it: exactly one of `code` or `signal`.
    Pid1Exit {
        /// Expected exit code.
        #[serde(default)]
        code: Option<i32>,
        /// Expected terminating signal.
        #[serde(default)]
        signal: Option<SignalNumber>,
    },
    /// PID 1 exited within the grace period: the runtime never had to SIGKILL.
    NoEscalation,
    /// The runtime had to SIGKILL PID 1 at the grace deadline.
    Escalated,
    /// Once PID 1 is gone, no process of the run remains anywhere on the machine.
    NoSurvivors,
    /// `role` called reboot(2) and the kernel refused it with `errno` (the probe's report).
    RebootFailed {
        /// Workload role.
        role: String,
        /// The error reboot(2) returned.
        errno: RebootErrno,
    },
    /// `role` was ended by `signal` (needs the kernel witness or its parent's reap report).
    KilledBy {
        /// Workload role.
        role: String,
        /// The fatal signal.
        signal: SignalNumber,
    },
    /// PID 1 exited by itself, before the runtime signalled it, with a non-zero exit code: an
    /// init that exits 0 when its command could not start hides the failure from the runtime.
    Pid1ExitNonzero,
    /// PID 1 exited before the runtime began its stop sequence: a system manager asked to halt
    /// by a signal of its own (podman's RTMIN+3) must not need the runtime's stop signal too.
    Pid1ExitsBeforeStop,
    /// PID 1's console output (what `docker logs` shows) names the workload's path, so a user
    /// learns which command could not start.
    ConsoleNamesWorkload,
}

/// The errors reboot(2) documents, by their `<errno.h>` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RebootErrno {
    /// No `CAP_SYS_BOOT` in the user namespace that owns the caller's PID namespace.
    EPERM,
    /// A bad magic number or command.
    EINVAL,
    /// A bad argument pointer (`LINUX_REBOOT_CMD_RESTART2`).
    EFAULT,
}

impl RebootErrno {
    /// The `<errno.h>` name.
    pub fn name(self) -> &'static str {
        match self {
            RebootErrno::EPERM => "EPERM",
            RebootErrno::EINVAL => "EINVAL",
            RebootErrno::EFAULT => "EFAULT",
        }
    }

    /// The value on Linux (asm-generic/errno-base.h).
    pub fn raw(self) -> i32 {
        match self {
            RebootErrno::EPERM => libc::EPERM,
            RebootErrno::EINVAL => libc::EINVAL,
            RebootErrno::EFAULT => libc::EFAULT,
        }
    }
}
