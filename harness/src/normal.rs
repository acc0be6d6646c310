//! The normalised trace: pids replaced by roles, times by phases, events in canonical order, so
//! that two runs that behaved the same render byte-identical text (DESIGN.md rule 4).
//!
//! [`normalise`] is a pure function of the raw [`Trace`] and the [`Case`] (whose workload tree
//! gives the canonical order of roles); [`NormalTrace::render`] is the snapshot text.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use pid1check_probe::{Event, INIT_ROLE, Report};
use serde::{Deserialize, Serialize};

use crate::signal::SignalNumber;
use crate::spec::{Case, Node, Pid1Process, Step};
use crate::trace::{ActionKind, ExecResult, ExitStatus, RunEnd, Trace};

pub(crate) mod witness;

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

impl Phase {
    /// The kebab-case name, as serde writes it and snapshots show it.
    pub fn name(self) -> &'static str {
        match self {
            Phase::BeforeStop => "before-stop",
            Phase::AfterStopSignal => "after-stop-signal",
            Phase::AfterEscalation => "after-escalation",
            Phase::AfterTeardown => "after-teardown",
        }
    }
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
    /// How many identical events this line stands for: more than 1 only for a signal a case
    /// sends in a burst, whose repeats are collapsed into one line (how many a receiver caught
    /// depends on timing where standard signals coalesce). Not rendered; verdicts count it.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

fn is_one(count: &u32) -> bool {
    *count == 1
}

/// The names [`NormalEvent::event`] takes: one spelling each, shared with [`crate::verdict`].
pub(crate) mod event {
    /// A probe placed itself and installed its handlers.
    pub const STARTED: &str = "started";
    /// A probe's handler ran.
    pub const CAUGHT: &str = "caught";
    /// A probe reaped a child.
    pub const REAPED: &str = "reaped";
    /// A probe is about to `_exit`.
    pub const EXITING: &str = "exiting";
    /// A probe is about to call reboot(2).
    pub const REBOOTING: &str = "rebooting";
    /// A probe's reboot(2) call failed.
    pub const REBOOT_FAILED: &str = "reboot-failed";
    /// A probe could not do what the workload asked.
    pub const FAILED: &str = "failed";
    /// Every workload process started.
    pub const READY: &str = "ready";
    /// The runtime sent a signal.
    pub const SIGNAL_SENT: &str = "signal-sent";
    /// The runtime SIGKILLed PID 1 at the grace deadline.
    pub const ESCALATED: &str = "escalated";
    /// The runtime read PID 1's blocked mask to pick its stop signal while PID 1 was awake.
    pub const MASK_READ_BUSY: &str = "mask-read-busy";
    /// The runtime started a command inside the container.
    pub const EXEC_STARTED: &str = "exec-started";
    /// That command ended, timed out or could not start.
    pub const EXEC_ENDED: &str = "exec-ended";
    /// A `wait-exit` step ended.
    pub const WAITED_EXIT: &str = "waited-exit";
    /// A zombie scan ended.
    pub const ZOMBIE_SCAN: &str = "zombie-scan";
    /// A state scan ended: which processes were stopped.
    pub const STATE_SCAN: &str = "state-scan";
    /// The runtime froze the container (SIGSTOP to every process).
    pub const FROZE: &str = "froze";
    /// The survivor scan after PID 1 was reaped.
    pub const SURVIVOR_SCAN: &str = "survivor-scan";
    /// PID 1 exited, as its parent saw it.
    pub const EXITED: &str = "exited";
    /// Derived: a probe started but never reported `exiting`.
    pub const VANISHED: &str = "vanished";
    /// The run did not complete.
    pub const RUN_END: &str = "run-end";
    /// Kernel witness: a signal ended the process (SIGKILL, or a fatal signal it had no
    /// handler for).
    pub const KILLED: &str = "killed";
    /// Kernel witness: the process's handler ran for the signal.
    pub const SIGNAL_HANDLED: &str = "signal-handled";
    /// Kernel witness: the kernel dropped the signal (ignored, protected init, already
    /// pending, queue full); the reason follows in parentheses.
    pub const SIGNAL_DROPPED: &str = "signal-dropped";
    /// Kernel witness: the signal's non-fatal default action ran (stop, continue).
    pub const SIGNAL_DEFAULT: &str = "signal-default";
    /// Kernel witness: queued, and neither a handler nor a default action ran before the
    /// process ended: taken with sigwait/signalfd (no delivery event), blocked, or overtaken
    /// by a SIGKILL.
    pub const SIGNAL_QUEUED: &str = "signal-queued";

    /// The kernel witness's names: what became of a signal.
    pub const WITNESS: [&str; 5] = [
        KILLED,
        SIGNAL_HANDLED,
        SIGNAL_DROPPED,
        SIGNAL_DEFAULT,
        SIGNAL_QUEUED,
    ];

    /// Every name, for the width of the event column.
    pub const ALL: [&str; 26] = [
        STARTED,
        CAUGHT,
        REAPED,
        EXITING,
        REBOOTING,
        REBOOT_FAILED,
        FAILED,
        READY,
        SIGNAL_SENT,
        ESCALATED,
        MASK_READ_BUSY,
        EXEC_STARTED,
        EXEC_ENDED,
        WAITED_EXIT,
        ZOMBIE_SCAN,
        STATE_SCAN,
        FROZE,
        SURVIVOR_SCAN,
        EXITED,
        VANISHED,
        RUN_END,
        KILLED,
        SIGNAL_HANDLED,
        SIGNAL_DROPPED,
        SIGNAL_DEFAULT,
        SIGNAL_QUEUED,
    ];
}

/// How a `signal-sent` event marks the stop sequence's signal.
pub(crate) const STOP_SIGNAL_MARK: &str = "(stop signal)";
/// How a runtime's `exec-started` detail marks the preStop hook.
pub(crate) const PRE_STOP_MARK: &str = "(preStop hook)";
/// Role of the harness's runtime actions.
pub(crate) const RUNTIME: &str = "runtime";
/// Role of PID 1 when no workload process is PID 1 (the candidate init).
pub(crate) const PID1: &str = "pid1";
/// Role of pid 0: a process of an ancestor namespace (the runtime) or the kernel.
pub(crate) const OUTSIDE: &str = "outside";
/// Role of a namespace pid no probe reported (an init's helper, a double fork's middle).
pub(crate) const OTHER: &str = "other";
/// Detail of the derived `vanished` event.
pub(crate) const VANISHED_DETAIL: &str = "no exit report: ended by a signal before its exit path";
/// Detail of `vanished` for a role that reported `failed`: the probe then exits without an
/// exit report, so a signal is only one possibility.
pub(crate) const VANISHED_AFTER_FAILURE: &str =
    "no exit report after a failure: the probe gave up, or a signal ended it";

/// Detail of `vanished` for a role whose last word was `rebooting`: in a child PID namespace
/// a reboot(2) that succeeds ends its caller (kernel/pid_namespace.c, `reboot_pid_ns`).
pub(crate) const VANISHED_AFTER_REBOOT: &str =
    "no exit report after calling reboot(2): the kernel ended it and the namespace's init";

/// A whole run, normalised.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormalTrace {
    /// Events by phase, each phase in canonical order.
    pub events: Vec<NormalEvent>,
}

impl NormalTrace {
    /// The snapshot text: a `[phase]` header per non-empty phase, then one line per event in
    /// columns `role event signal detail`. Column widths depend only on the events (the event
    /// column on the fixed vocabulary), so equal traces render equal bytes.
    pub fn render(&self) -> String {
        let role_width = self.events.iter().map(|e| e.role.len()).max().unwrap_or(0);
        let event_width = event::ALL
            .iter()
            .map(|name| name.len())
            .chain(self.events.iter().map(|e| e.event.len()))
            .max()
            .unwrap_or(0);
        let signal_width = self
            .events
            .iter()
            .filter_map(|e| e.signal.as_ref().map(String::len))
            .max()
            .unwrap_or(0)
            .max(1);
        let mut out = String::new();
        let mut current = None;
        for e in &self.events {
            if current != Some(e.phase) {
                if current.is_some() {
                    out.push('\n');
                }
                out.push('[');
                out.push_str(e.phase.name());
                out.push_str("]\n");
                current = Some(e.phase);
            }
            let signal = e.signal.as_deref().unwrap_or("-");
            let line = format!(
                "{:role_width$}  {:event_width$}  {:signal_width$}  {}",
                e.role, e.event, signal, e.detail
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

// Order of event groups inside a phase.
const GROUP_OPENING: u8 = 0;
const GROUP_WORKLOAD: u8 = 1;
const GROUP_WITNESS: u8 = 2;
const GROUP_RUNTIME: u8 = 3;
const GROUP_DERIVED: u8 = 4;
const GROUP_RUN_END: u8 = 5;

/// Turns a raw trace into its normalised form; `case` gives the workload tree whose preorder
/// orders the roles.
pub fn normalise(trace: &Trace, case: &Case) -> NormalTrace {
    let tree = role_order(case);
    let rank = |role: &str| tree.iter().position(|r| r == role).unwrap_or(tree.len());
    let reports = canonical_reports(trace, &rank);

    let roles = Roles::from_reports(&reports);
    let phases = Boundaries::from_trace(trace);

    // Each event carries its group inside its phase: the action that opens the phase first,
    // then the workload's reports, then the runtime's other observations, then what is
    // derived. That reads causally (a scan comes after what it scanned) and is deterministic.
    let mut events: Vec<(u8, NormalEvent)> = Vec::new();
    // A command run inside ends in a race with whatever it set off (a preStop `kill 1` and
    // PID 1's exit): its end is shown in the phase it started in, so the order is stable.
    // A preStop hook's own exit status races the same way (`kill 1` may be killed with the
    // namespace before it exits), so only whether it ended in time is shown for hooks.
    let mut exec_phase = Phase::BeforeStop;
    let mut exec_is_hook = false;
    for action in &trace.actions {
        let mut phase = phases.phase_at(action.mono_ns);
        match action.what {
            ActionKind::ExecStarted { pre_stop, .. } => {
                exec_phase = phase;
                exec_is_hook = pre_stop;
            }
            ActionKind::ExecEnded { .. } => phase = exec_phase,
            // Readiness opens the steps, so it precedes every stop. A PID 1 that ends by itself
            // right after its workload settled (reboot(2)) can exit before the harness has
            // processed the last `settled`: which one it handled first is scheduling.
            ActionKind::Ready => phase = Phase::BeforeStop,
            _ => {}
        }
        let opens_phase = matches!(
            action.what,
            ActionKind::SignalSent { stop: true, .. }
                | ActionKind::ExecStarted { pre_stop: true, .. }
                | ActionKind::Escalated
                | ActionKind::Pid1Exited { .. }
        );
        let group = if opens_phase {
            GROUP_OPENING
        } else {
            GROUP_RUNTIME
        };
        let runtime = |event: &str, signal: Option<String>, detail: String| NormalEvent {
            count: 1,
            phase,
            role: RUNTIME.to_owned(),
            event: event.to_owned(),
            signal,
            detail,
        };
        events.push((
            group,
            match &action.what {
                ActionKind::Ready => runtime(event::READY, None, String::new()),
                ActionKind::SignalSent {
                    target,
                    signal,
                    stop,
                } => runtime(
                    event::SIGNAL_SENT,
                    Some(signal.name()),
                    if *stop {
                        format!("to={target} {STOP_SIGNAL_MARK}")
                    } else {
                        format!("to={target}")
                    },
                ),
                ActionKind::Escalated => {
                    runtime(event::ESCALATED, None, "SIGKILL to pid1".to_owned())
                }
                ActionKind::MaskReadBusy { signal, blocked } => runtime(
                    event::MASK_READ_BUSY,
                    Some(signal.name()),
                    format!("blocked={blocked} (pid1 never asleep within the read's bound)"),
                ),
                ActionKind::ExecStarted { command, pre_stop } => runtime(
                    event::EXEC_STARTED,
                    None,
                    if *pre_stop {
                        format!("command=\"{command}\" {PRE_STOP_MARK}")
                    } else {
                        format!("command=\"{command}\"")
                    },
                ),
                ActionKind::ExecEnded { result } => runtime(
                    event::EXEC_ENDED,
                    None,
                    exec_result_text(result, exec_is_hook),
                ),
                ActionKind::WaitedExit { role, exited } => runtime(
                    event::WAITED_EXIT,
                    None,
                    format!("role={role} exited={exited}"),
                ),
                // `peak` is left out: how many zombies coexisted depends on timing.
                ActionKind::ZombieScan { label, zombies, .. } => {
                    let mut names: Vec<&str> = zombies.iter().map(|&pid| roles.name(pid)).collect();
                    names.sort_unstable();
                    runtime(
                        event::ZOMBIE_SCAN,
                        None,
                        zombie_scan_detail(label, &names.join(", ")),
                    )
                }
                ActionKind::StateScan { label, stopped } => runtime(
                    event::STATE_SCAN,
                    None,
                    state_scan_detail(label, &roles.list(stopped)),
                ),
                ActionKind::Froze { stopped, running } => {
                    let mut detail = format!("stopped=[{}]", roles.list(stopped));
                    if !running.is_empty() {
                        let _ = write!(detail, " running=[{}]", roles.list(running));
                    }
                    runtime(event::FROZE, None, detail)
                }
                ActionKind::SurvivorScan { survivors } => runtime(
                    event::SURVIVOR_SCAN,
                    None,
                    format!("survivors={}", survivors.len()),
                ),
                ActionKind::Pid1Exited { status } => NormalEvent {
                    count: 1,
                    phase,
                    role: roles.name(1).to_owned(),
                    event: event::EXITED.to_owned(),
                    signal: None,
                    detail: format!("status={}", status_text(*status)),
                },
            },
        ));
    }

    for report in &reports {
        if let Some(event) = normal_report(report, &roles, phases.phase_at(report.mono_ns)) {
            events.push((GROUP_WORKLOAD, event));
        }
    }

    if let Some(run) = trace.witness.ran() {
        events.extend(witness_events(run, &roles, &phases, &rank));
    }

    // Roles that started but never reported `exiting`. The probe leaves through `exiting`,
    // except when it gives up after reporting `failed`: without a failure, a signal ended it.
    let reported = |pred: fn(&Event) -> bool| -> BTreeSet<&str> {
        reports
            .iter()
            .filter(|r| pred(&r.event))
            .map(|r| r.role.as_str())
            .collect()
    };
    let exited = reported(|e| matches!(e, Event::Exiting { .. }));
    let failed = reported(|e| matches!(e, Event::Failed { .. }));
    let rebooting = reported(|e| matches!(e, Event::Rebooting { .. }));
    let reboot_failed = reported(|e| matches!(e, Event::RebootFailed { .. }));
    // The candidate under a parent (`init`) has no probe to report its exit: PID 1's `reaped`
    // line says how it ended.
    let mut vanished: Vec<&str> = reports
        .iter()
        .filter(|r| matches!(r.event, Event::Started { .. }))
        .map(|r| r.role.as_str())
        .filter(|role| !exited.contains(role) && *role != INIT_ROLE)
        .collect();
    vanished.dedup();
    for role in vanished {
        let detail = if rebooting.contains(role) && !reboot_failed.contains(role) {
            VANISHED_AFTER_REBOOT
        } else if failed.contains(role) {
            VANISHED_AFTER_FAILURE
        } else {
            VANISHED_DETAIL
        };
        events.push((
            GROUP_DERIVED,
            NormalEvent {
                count: 1,
                phase: Phase::AfterTeardown,
                role: role.to_owned(),
                event: event::VANISHED.to_owned(),
                signal: None,
                detail: detail.to_owned(),
            },
        ));
    }

    if let Some(detail) = run_end_detail(&trace.end) {
        events.push((
            GROUP_RUN_END,
            NormalEvent {
                count: 1,
                phase: Phase::AfterTeardown,
                role: RUNTIME.to_owned(),
                event: event::RUN_END.to_owned(),
                signal: None,
                detail,
            },
        ));
    }

    // Stable: inside a group the order pushed above is canonical (actions in recorded order,
    // reports by role in tree preorder and seq).
    events.sort_by_key(|(group, e)| (e.phase, *group));
    let mut events: Vec<NormalEvent> = events.into_iter().map(|(_, e)| e).collect();
    collapse_bursts(&mut events, &burst_signals(case));
    NormalTrace { events }
}

/// The names of the signals the case sends in bursts (a `signal` step with `count` above 1).
fn burst_signals(case: &Case) -> BTreeSet<String> {
    case.stop
        .steps
        .iter()
        .filter_map(|step| match step {
            Step::Signal { signal, count, .. } if *count > 1 => Some(signal.name()),
            _ => None,
        })
        .collect()
}

/// Merges the repeats of a burst's signal into one line per phase, role, event, signal and
/// detail, counted in [`NormalEvent::count`], and leaves out the kernel witness's lines about
/// it. What became of each instance depends on timing: a standard signal sent while the same
/// one is pending is dropped (signal(7)), which instance a later dequeue belongs to is then
/// a guess, and a receiver that changes its disposition mid-burst (busybox init halts on
/// SIGUSR1) meets the rest differently. The raw trace and the timeline keep every instance;
/// how many arrived is verdict evidence. Only the runtime's sends, the same in every run, show
/// their count.
fn collapse_bursts(events: &mut Vec<NormalEvent>, bursts: &BTreeSet<String>) {
    if bursts.is_empty() {
        return;
    }
    let mut kept: Vec<NormalEvent> = Vec::with_capacity(events.len());
    for e in events.drain(..) {
        if !e.signal.as_ref().is_some_and(|name| bursts.contains(name)) {
            kept.push(e);
            continue;
        }
        if event::WITNESS.contains(&e.event.as_str()) {
            continue;
        }
        let same = kept.iter_mut().find(|k| {
            (k.phase, &k.role, &k.event, &k.signal, &k.detail)
                == (e.phase, &e.role, &e.event, &e.signal, &e.detail)
        });
        match same {
            Some(same) => same.count += e.count,
            None => kept.push(e),
        }
    }
    for e in &mut kept {
        if e.role == RUNTIME && e.event == event::SIGNAL_SENT && e.count > 1 {
            e.detail.push_str(&format!(" count={}", e.count));
        }
    }
    *events = kept;
}

/// The probes' reports in canonical order: tree roles in preorder (`rank`), then unknown roles
/// by name; inside a role, by kind, then seq (phases, assigned by time, still come first: the
/// final sort is by phase). Caught signals come before reaped children because the two are
/// independent: when a process group gets the stop signal, whether a child's SIGCHLD or the
/// signal is handled first depends on their numbers (the kernel delivers the lowest pending
/// first) and on scheduling, not on the init. The remaining keys make the sort total.
fn canonical_reports<'a>(trace: &'a Trace, rank: &dyn Fn(&str) -> usize) -> Vec<&'a Report> {
    let kind = |report: &Report| match report.event {
        Event::Started { .. } => 0,
        Event::Caught { .. } => 1,
        Event::Reaped { .. } => 2,
        Event::Failed { .. } => 3,
        Event::Rebooting { .. } | Event::RebootFailed { .. } => 4,
        Event::Exiting { .. } => 5,
        Event::Settled => 6,
    };
    let mut reports: Vec<&Report> = trace.reports.iter().collect();
    reports.sort_by(|a, b| {
        (rank(&a.role), &a.role, kind(a), a.seq, a.mono_ns).cmp(&(
            rank(&b.role),
            &b.role,
            kind(b),
            b.seq,
            b.mono_ns,
        ))
    });
    reports
}

/// The names the normalised trace gives a raw trace's processes, for views that keep raw
/// times (the timeline): namespace pids by the probes' reports, host pids by the witness.
pub(crate) struct ProcessNames {
    roles: Roles,
    hosts: Option<witness::Names>,
}

impl ProcessNames {
    /// The names `normalise(trace, case)` uses.
    pub(crate) fn new(trace: &Trace, case: &Case) -> ProcessNames {
        let tree = role_order(case);
        let rank = |role: &str| tree.iter().position(|r| r == role).unwrap_or(tree.len());
        let roles = Roles::from_reports(&canonical_reports(trace, &rank));
        let hosts = trace
            .witness
            .ran()
            .map(|run| witness::Names::new(run, &roles));
        ProcessNames { roles, hosts }
    }

    /// The name of a pid of the run's namespace (`pid1`, a role, `outside`, `other`).
    pub(crate) fn of_ns_pid(&self, pid: i32) -> &str {
        self.roles.name(pid)
    }

    /// The name of a host pid the witness saw (`runtime` for the launcher), when it ran.
    pub(crate) fn of_host_pid(&self, host_pid: i32) -> Option<&str> {
        self.hosts.as_ref().map(|names| names.of(host_pid))
    }
}

/// One signal the kernel witness saw, named as the normalised trace names it, at its raw time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WitnessedSignal {
    /// When it was generated (`CLOCK_MONOTONIC` ns).
    pub(crate) mono_ns: u64,
    /// The sender: a role, `runtime` or `kernel`.
    pub(crate) from: String,
    /// The receiver.
    pub(crate) to: String,
    /// The signal's name.
    pub(crate) signal: String,
    /// What became of it: one of the witness's event names ([`event::KILLED`], ...).
    pub(crate) fate: &'static str,
    /// Its `si_code`'s name.
    pub(crate) code: String,
    /// Why the kernel dropped it, if it did.
    pub(crate) reason: Option<String>,
}

/// The kernel witness's signals of `trace` in its time order (none when it did not run); the
/// same ones, with the same fates, as the normalised trace's witness lines.
pub(crate) fn witnessed_signals(trace: &Trace, names: &ProcessNames) -> Vec<WitnessedSignal> {
    let Some(run) = trace.witness.ran() else {
        return Vec::new();
    };
    witness::witness_lines(run, &names.roles)
        .into_iter()
        .map(|line| WitnessedSignal {
            mono_ns: line.mono_ns,
            from: line.from,
            to: line.role,
            signal: line.signal,
            fate: line.event,
            code: line.code,
            reason: line.reason,
        })
        .collect()
}

/// The kernel witness's events, by receiver in canonical role order (the tree's preorder,
/// then by name), each receiver's in the kernel's time order.
fn witness_events(
    run: &crate::observe::witness::WitnessRun,
    roles: &Roles,
    phases: &Boundaries,
    rank: &dyn Fn(&str) -> usize,
) -> Vec<(u8, NormalEvent)> {
    let mut lines = witness::witness_lines(run, roles);
    // Signals among an init's own unreported helpers (sysvinit's, runit's) depend on their
    // own timers: left out of the snapshot text, kept in the raw trace and the timeline.
    lines.retain(|line| {
        !line.role.starts_with(witness::CHILD_OF) && !line.from.starts_with(witness::CHILD_OF)
    });
    lines.sort_by(|a, b| (rank(&a.role), &a.role).cmp(&(rank(&b.role), &b.role)));
    lines
        .into_iter()
        .map(|line| {
            (
                GROUP_WITNESS,
                NormalEvent {
                    count: 1,
                    phase: phases.phase_at(line.mono_ns),
                    detail: line.detail(),
                    role: line.role,
                    event: line.event.to_owned(),
                    signal: Some(line.signal),
                },
            )
        })
        .collect()
}

/// The canonical order of a case's roles: the candidate as `init` first when a parent is PID 1
/// (it started the tree), then the workload tree in preorder.
pub(crate) fn role_order(case: &Case) -> Vec<String> {
    let init = match case.sandbox.pid1 {
        Pid1Process::Candidate => None,
        Pid1Process::Parent => Some(INIT_ROLE.to_owned()),
    };
    init.into_iter().chain(tree_order(&case.workload)).collect()
}

/// Role names of the workload tree, in preorder (root first, children in file order).
fn tree_order(root: &Node) -> Vec<String> {
    fn walk(node: &Node, out: &mut Vec<String>) {
        out.push(node.role.clone());
        for child in &node.children {
            walk(child, out);
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    out
}

/// `exit:N`, `signal:NAME`, or `signal:NAME core-dumped`.
pub(crate) fn status_text(status: ExitStatus) -> String {
    match status {
        ExitStatus::Exited { code } => format!("exit:{code}"),
        ExitStatus::Signaled {
            signal,
            core_dumped,
        } => {
            let name = SignalNumber(signal).name();
            if core_dumped {
                format!("signal:{name} core-dumped")
            } else {
                format!("signal:{name}")
            }
        }
    }
}

/// Detail of a `zombie-scan` event; `zombies` is the sorted, comma-separated role list.
pub(crate) fn zombie_scan_detail(label: &str, zombies: &str) -> String {
    format!("label={label} zombies=[{zombies}]")
}

/// Detail of a `state-scan` event; `stopped` is the sorted, comma-separated role list.
pub(crate) fn state_scan_detail(label: &str, stopped: &str) -> String {
    format!("label={label} stopped=[{stopped}]")
}

/// Namespace pid → role, built from the probes' reports.
struct Roles {
    by_pid: BTreeMap<i32, String>,
}

impl Roles {
    /// `reports` must be in canonical order, so that a pid claimed by two roles resolves the
    /// same way in every run. `started` reports come first: they are the ones that state who a
    /// pid is. A probe's own `started` comes before the parent's report for `init`: a
    /// candidate that execs the workload (no init at all) is that workload's role.
    fn from_reports(reports: &[&Report]) -> Roles {
        let mut by_pid = BTreeMap::new();
        let (started, rest): (Vec<&&Report>, Vec<&&Report>) = reports
            .iter()
            .partition(|r| matches!(r.event, Event::Started { .. }));
        let (init, started): (Vec<&&Report>, Vec<&&Report>) =
            started.into_iter().partition(|r| r.role == INIT_ROLE);
        for report in started.into_iter().chain(init).chain(rest) {
            by_pid
                .entry(report.pid)
                .or_insert_with(|| report.role.clone());
        }
        by_pid.entry(1).or_insert_with(|| PID1.to_owned());
        by_pid.insert(0, OUTSIDE.to_owned());
        Roles { by_pid }
    }

    fn name(&self, pid: i32) -> &str {
        self.by_pid.get(&pid).map_or(OTHER, String::as_str)
    }

    /// The names of `pids`, sorted, each once, comma-separated: how many helpers an init
    /// has (`other`) is its own business.
    fn list(&self, pids: &[i32]) -> String {
        let names: BTreeSet<&str> = pids.iter().map(|&pid| self.name(pid)).collect();
        names.into_iter().collect::<Vec<_>>().join(", ")
    }
}

/// The instants that open each phase.
struct Boundaries {
    stop: Option<u64>,
    escalation: Option<u64>,
    teardown: Option<u64>,
}

impl Boundaries {
    fn from_trace(trace: &Trace) -> Boundaries {
        let first = |pred: fn(&ActionKind) -> bool| {
            trace
                .actions
                .iter()
                .find(|a| pred(&a.what))
                .map(|a| a.mono_ns)
        };
        Boundaries {
            // The stop sequence begins with the preStop hook when there is one.
            stop: first(|a| {
                matches!(
                    a,
                    ActionKind::SignalSent { stop: true, .. }
                        | ActionKind::ExecStarted { pre_stop: true, .. }
                )
            }),
            escalation: first(|a| matches!(a, ActionKind::Escalated)),
            teardown: first(|a| matches!(a, ActionKind::Pid1Exited { .. })),
        }
    }

    /// The latest phase whose boundary is at or before `mono_ns`.
    fn phase_at(&self, mono_ns: u64) -> Phase {
        let reached = |boundary: Option<u64>| boundary.is_some_and(|b| b <= mono_ns);
        if reached(self.teardown) {
            Phase::AfterTeardown
        } else if reached(self.escalation) {
            Phase::AfterEscalation
        } else if reached(self.stop) {
            Phase::AfterStopSignal
        } else {
            Phase::BeforeStop
        }
    }
}

/// How a command run inside ended, for traces; a hook's exit code is left out (see
/// [`normalise`]).
fn exec_result_text(result: &ExecResult, hook: bool) -> String {
    match result {
        ExecResult::Exited { .. } if hook => "ended".to_owned(),
        ExecResult::Exited { code } => format!("exit={code}"),
        ExecResult::TimedOut => "timed out: the runtime went on without it".to_owned(),
        // The reason names host paths and errno text: keep the line stable, the raw trace
        // keeps the detail.
        ExecResult::Failed { .. } => "could not start".to_owned(),
    }
}

fn normal_report(report: &Report, roles: &Roles, phase: Phase) -> Option<NormalEvent> {
    let (name, signal, detail) = match &report.event {
        // The start handshake: when it comes is scheduling, and the steps wait for it.
        Event::Settled => return None,
        Event::Started { ppid, pgid, sid } => (
            event::STARTED,
            None,
            format!(
                "ppid={} pgid={} sid={}",
                roles.name(*ppid),
                roles.name(*pgid),
                roles.name(*sid)
            ),
        ),
        Event::Caught {
            signal,
            code,
            sender_pid,
        } => (
            event::CAUGHT,
            Some(SignalNumber(*signal).name()),
            format!(
                "from={} code={}",
                roles.name(*sender_pid),
                si_code_name(*signal, *code)
            ),
        ),
        Event::Reaped { child_pid, status } => (
            event::REAPED,
            None,
            format!(
                "child={} status={}",
                roles.name(*child_pid),
                status_text(*status)
            ),
        ),
        Event::Exiting { code } => (event::EXITING, None, format!("code={code}")),
        Event::Failed { message } => (event::FAILED, None, message.clone()),
        Event::Rebooting { command } => (
            event::REBOOTING,
            None,
            format!("command={}", command.name()),
        ),
        Event::RebootFailed { command, errno } => (
            event::REBOOT_FAILED,
            None,
            format!("command={} errno={}", command.name(), errno_name(*errno)),
        ),
    };
    Some(NormalEvent {
        count: 1,
        phase,
        role: report.role.clone(),
        event: name.to_owned(),
        signal,
        detail,
    })
}

/// The `<errno.h>` name of an errno value (`EPERM`), or its number when unknown.
pub(crate) fn errno_name(errno: i32) -> String {
    match nix::errno::Errno::from_raw(errno) {
        nix::errno::Errno::UnknownErrno => errno.to_string(),
        known => format!("{known:?}"),
    }
}

/// The name of an `si_code`, as `<asm-generic/siginfo.h>` defines it; the number when unknown.
fn si_code_name(signal: i32, code: i32) -> String {
    const SIGCHLD: i32 = 17;
    let name = match (signal, code) {
        (SIGCHLD, 1) => "CLD_EXITED",
        (SIGCHLD, 2) => "CLD_KILLED",
        (SIGCHLD, 3) => "CLD_DUMPED",
        (SIGCHLD, 4) => "CLD_TRAPPED",
        (SIGCHLD, 5) => "CLD_STOPPED",
        (SIGCHLD, 6) => "CLD_CONTINUED",
        (_, 0) => "SI_USER",
        (_, 0x80) => "SI_KERNEL",
        (_, -1) => "SI_QUEUE",
        (_, -2) => "SI_TIMER",
        (_, -3) => "SI_MESGQ",
        (_, -4) => "SI_ASYNCIO",
        (_, -5) => "SI_SIGIO",
        (_, -6) => "SI_TKILL",
        (_, -7) => "SI_DETHREAD",
        (_, -60) => "SI_ASYNCNL",
        _ => return code.to_string(),
    };
    name.to_owned()
}

/// The kind of an unfinished run, without its free-text reason (which may hold paths).
fn run_end_detail(end: &RunEnd) -> Option<String> {
    match end {
        RunEnd::Completed => None,
        RunEnd::SetupFailed { .. } => Some("setup-failed".to_owned()),
        RunEnd::NeverReady { missing, pid1 } => {
            let mut missing: Vec<&str> = missing.iter().map(String::as_str).collect();
            missing.sort_unstable();
            let mut detail = format!("never-ready missing=[{}]", missing.join(", "));
            if let Some(status) = pid1 {
                // Writing to a String cannot fail.
                let _ = write!(detail, " pid1={}", status_text(*status));
            }
            Some(detail)
        }
        RunEnd::DeadlineExceeded => Some("deadline-exceeded".to_owned()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use pid1check_probe::{Event, Report};

    use super::*;
    use crate::spec::{Case, CaseSandbox, Node, Pid1Process, StopPlan};
    use crate::trace::{Action, ActionKind, ExitStatus, RunEnd, Trace};

    /// A workload node with default behaviour.
    pub(crate) fn node(role: &str, children: Vec<Node>) -> Node {
        Node {
            reboot: None,
            reboot_after_ms: None,
            role: role.to_owned(),
            placement: Default::default(),
            on: Default::default(),
            children,
            orphan: false,
            exit_after_ms: None,
            exit_code: 0,
            exec: Default::default(),
        }
    }

    /// A case with this workload and no expectations.
    pub(crate) fn case(workload: Node) -> Case {
        Case {
            cap_sys_boot: None,
            name: "test".to_owned(),
            title: "test".to_owned(),
            why: "test".to_owned(),
            sources: Vec::new(),
            workload,
            stop: StopPlan::default(),
            sandbox: CaseSandbox::default(),
            must: Vec::new(),
            should: Vec::new(),
            reading: Default::default(),
        }
    }

    /// Builds a raw trace; every `seq` is counted per role, times are given explicitly.
    #[derive(Default)]
    pub(crate) struct TraceBuilder {
        trace: Trace,
        seqs: BTreeMap<String, u64>,
    }

    impl TraceBuilder {
        pub(crate) fn new() -> Self {
            Self::default()
        }

        pub(crate) fn report(mut self, t: u64, role: &str, pid: i32, event: Event) -> Self {
            let seq = self.seqs.entry(role.to_owned()).or_insert(0);
            self.trace.reports.push(Report {
                role: role.to_owned(),
                pid,
                seq: *seq,
                mono_ns: t,
                event,
            });
            *seq += 1;
            self
        }

        pub(crate) fn started(self, t: u64, role: &str, pid: i32, ids: [i32; 3]) -> Self {
            let [ppid, pgid, sid] = ids;
            self.report(t, role, pid, Event::Started { ppid, pgid, sid })
        }

        pub(crate) fn caught(self, t: u64, role: &str, pid: i32, signal: i32, from: i32) -> Self {
            let event = Event::Caught {
                signal,
                code: 0,
                sender_pid: from,
            };
            self.report(t, role, pid, event)
        }

        /// A `caught` report with an explicit `si_code` (SIGCHLD's CLD_*, SI_KERNEL...).
        pub(crate) fn caught_code(
            self,
            t: u64,
            role: &str,
            pid: i32,
            (signal, code, from): (i32, i32, i32),
        ) -> Self {
            let event = Event::Caught {
                signal,
                code,
                sender_pid: from,
            };
            self.report(t, role, pid, event)
        }

        pub(crate) fn reaped(
            self,
            t: u64,
            role: &str,
            pid: i32,
            child: i32,
            status: ExitStatus,
        ) -> Self {
            let event = Event::Reaped {
                child_pid: child,
                status,
            };
            self.report(t, role, pid, event)
        }

        /// `role` (pid 2's name here) reports `rebooting` at `t`, and with `errno`, that the
        /// call failed at `t + 1`.
        pub(crate) fn reboot(
            self,
            t: u64,
            role: &str,
            command: pid1check_probe::RebootCommand,
            errno: Option<i32>,
        ) -> Self {
            let called = self.report(t, role, 2, Event::Rebooting { command });
            match errno {
                Some(errno) => {
                    called.report(t + 1, role, 2, Event::RebootFailed { command, errno })
                }
                None => called,
            }
        }

        pub(crate) fn exiting(self, t: u64, role: &str, pid: i32, code: i32) -> Self {
            self.report(t, role, pid, Event::Exiting { code })
        }

        pub(crate) fn action(mut self, t: u64, what: ActionKind) -> Self {
            self.trace.actions.push(Action { mono_ns: t, what });
            self
        }

        pub(crate) fn ready(self, t: u64) -> Self {
            self.action(t, ActionKind::Ready)
        }

        pub(crate) fn stop(self, t: u64, signal: i32) -> Self {
            self.action(
                t,
                ActionKind::SignalSent {
                    target: "pid1".to_owned(),
                    signal: SignalNumber(signal),
                    stop: true,
                },
            )
        }

        pub(crate) fn escalated(self, t: u64) -> Self {
            self.action(t, ActionKind::Escalated)
        }

        pub(crate) fn pid1_exited(self, t: u64, status: ExitStatus) -> Self {
            self.action(t, ActionKind::Pid1Exited { status })
        }

        pub(crate) fn zombies(self, t: u64, label: &str, zombies: Vec<i32>) -> Self {
            let peak = zombies.len();
            let what = ActionKind::ZombieScan {
                label: label.to_owned(),
                zombies,
                peak,
            };
            self.action(t, what)
        }

        pub(crate) fn survivors(self, t: u64, survivors: Vec<i32>) -> Self {
            self.action(t, ActionKind::SurvivorScan { survivors })
        }

        /// The kernel witness ran and recorded `run`.
        pub(crate) fn witness(mut self, run: crate::observe::witness::WitnessRun) -> Self {
            self.trace.witness = crate::observe::witness::WitnessLog::Ran(run);
            self
        }

        pub(crate) fn end(mut self, end: RunEnd) -> Self {
            self.trace.end = end;
            self
        }

        pub(crate) fn build(self) -> Trace {
            self.trace
        }
    }

    pub(crate) const TERM: i32 = 15;
    pub(crate) const KILL: i32 = 9;
    pub(crate) const CHLD: i32 = 17;

    /// app → worker, app → daemon (its own session): the tree of most tests.
    pub(crate) fn tree() -> Case {
        case(node(
            "app",
            vec![node("worker", Vec::new()), node("daemon", Vec::new())],
        ))
    }

    /// Compact lines for assertions: `phase role event signal detail`.
    pub(crate) fn lines(trace: &NormalTrace) -> Vec<String> {
        trace
            .events
            .iter()
            .map(|e| {
                format!(
                    "{} {} {} {} {}",
                    e.phase.name(),
                    e.role,
                    e.event,
                    e.signal.as_deref().unwrap_or("-"),
                    e.detail
                )
                .trim_end()
                .to_owned()
            })
            .collect()
    }

    /// One graceful stop under a tini-like PID 1: the daemon ignores TERM and is killed.
    fn graceful(base: u64, [app, worker, daemon]: [i32; 3], shuffled: bool) -> Trace {
        let ms = |n: u64| base + n * 1_000_000;
        let probe = TraceBuilder::new()
            .started(ms(1), "app", app, [1, 1, 1])
            .started(ms(2), "worker", worker, [app, 1, 1])
            .started(ms(3), "daemon", daemon, [app, daemon, daemon])
            .caught(ms(11), "app", app, TERM, 1)
            .caught(ms(12), "worker", worker, TERM, 1)
            .exiting(ms(13), "worker", worker, 0)
            .reaped(ms(14), "app", app, worker, ExitStatus::Exited { code: 0 })
            .caught_code(ms(15), "app", app, (CHLD, 1, worker))
            .exiting(ms(16), "app", app, 0)
            .build();
        let mut trace = TraceBuilder::new()
            .ready(ms(4))
            .stop(ms(10), TERM)
            .zombies(ms(17), "after-app-exit", vec![daemon])
            .pid1_exited(ms(20), ExitStatus::Exited { code: 0 })
            .survivors(ms(21), Vec::new())
            .build();
        trace.reports = probe.reports;
        if shuffled {
            // The harness receives datagrams from several processes in any interleaving.
            trace.reports.reverse();
            trace.reports.rotate_left(3);
        }
        trace
    }

    /// An app that reboots right after it settled ends PID 1 before the harness may have
    /// processed readiness: `ready` still reads before the stop, where it is in every run.
    #[test]
    fn readiness_recorded_after_pid1_ended_still_reads_before_the_stop() {
        let case = case(node("app", Vec::new()));
        let ready_at = |t| {
            let trace = TraceBuilder::new()
                .started(1, "app", 2, [1, 1, 1])
                .ready(t)
                .pid1_exited(5, ExitStatus::Exited { code: 0 })
                .build();
            lines(&normalise(&trace, &case))
        };
        assert_eq!(ready_at(3), ready_at(6));
        assert!(ready_at(6).contains(&"before-stop runtime ready -".to_owned()));
    }

    /// Under a parent PID 1: the parent names its child `init` (first in order), an orphan
    /// left to PID 1 shows `ppid=pid1`, and `init` never `vanished` (PID 1's reap says how it
    /// ended).
    #[test]
    fn under_a_parent_the_candidate_is_init_and_its_end_is_the_parents_reap() {
        let mut case = case(node("app", vec![node("daemon", Vec::new())]));
        case.sandbox.pid1 = Pid1Process::Parent;
        let trace = TraceBuilder::new()
            .started(1, "daemon", 9, [1, 8, 2])
            .started(2, "app", 8, [7, 8, 2])
            .report(
                3,
                INIT_ROLE,
                7,
                Event::Started {
                    ppid: 1,
                    pgid: 1,
                    sid: 2,
                },
            )
            .ready(4)
            .stop(10, TERM)
            .caught(11, "pid1", 1, TERM, 0)
            .caught(12, "app", 8, TERM, 7)
            .exiting(13, "app", 8, 0)
            .reaped(14, "pid1", 1, 7, ExitStatus::Exited { code: 0 })
            .pid1_exited(20, ExitStatus::Exited { code: 0 })
            .build();
        assert_eq!(
            lines(&normalise(&trace, &case)),
            [
                "before-stop init started - ppid=pid1 pgid=pid1 sid=other",
                "before-stop app started - ppid=init pgid=app sid=other",
                "before-stop daemon started - ppid=pid1 pgid=app sid=other",
                "before-stop runtime ready -",
                "after-stop-signal runtime signal-sent TERM to=pid1 (stop signal)",
                "after-stop-signal app caught TERM from=init code=SI_USER",
                "after-stop-signal app exiting - code=0",
                "after-stop-signal pid1 caught TERM from=outside code=SI_USER",
                "after-stop-signal pid1 reaped - child=init status=exit:0",
                "after-teardown pid1 exited - status=exit:0",
                "after-teardown daemon vanished - no exit report: ended by a signal before its exit path",
            ]
        );
    }

    /// A candidate that execs the workload (no init at all) is the workload's own role: the
    /// probe's `started` names the pid before the parent's report for `init` does.
    #[test]
    fn under_a_parent_a_candidate_that_execs_the_app_is_the_app() {
        let mut case = case(node("app", Vec::new()));
        case.sandbox.pid1 = Pid1Process::Parent;
        let trace = TraceBuilder::new()
            .report(
                1,
                INIT_ROLE,
                7,
                Event::Started {
                    ppid: 1,
                    pgid: 1,
                    sid: 1,
                },
            )
            .started(2, "app", 7, [1, 1, 1])
            .exiting(3, "app", 7, 0)
            .reaped(4, "pid1", 1, 7, ExitStatus::Exited { code: 0 })
            .build();
        let normal = lines(&normalise(&trace, &case));
        assert!(
            normal.contains(&"before-stop pid1 reaped - child=app status=exit:0".to_owned()),
            "{normal:#?}"
        );
    }

    #[test]
    fn same_behaviour_normalises_identically_whatever_the_pids_times_and_arrival_order() {
        let a = normalise(&graceful(1_000, [7, 8, 9], false), &tree());
        let b = normalise(&graceful(987_654_321, [42, 57, 43], true), &tree());
        assert_eq!(a, b);
        assert_eq!(a.render(), b.render());
    }

    #[test]
    fn canonical_order_is_opening_action_then_roles_in_tree_preorder_then_observations() {
        let normal = normalise(&graceful(0, [7, 8, 9], true), &tree());
        assert_eq!(
            lines(&normal),
            [
                "before-stop app started - ppid=pid1 pgid=pid1 sid=pid1",
                "before-stop worker started - ppid=app pgid=pid1 sid=pid1",
                "before-stop daemon started - ppid=app pgid=daemon sid=daemon",
                "before-stop runtime ready -",
                "after-stop-signal runtime signal-sent TERM to=pid1 (stop signal)",
                "after-stop-signal app caught TERM from=pid1 code=SI_USER",
                "after-stop-signal app caught CHLD from=worker code=CLD_EXITED",
                "after-stop-signal app reaped - child=worker status=exit:0",
                "after-stop-signal app exiting - code=0",
                "after-stop-signal worker caught TERM from=pid1 code=SI_USER",
                "after-stop-signal worker exiting - code=0",
                "after-stop-signal runtime zombie-scan - label=after-app-exit zombies=[daemon]",
                "after-teardown pid1 exited - status=exit:0",
                "after-teardown runtime survivor-scan - survivors=0",
                "after-teardown daemon vanished - no exit report: ended by a signal before its exit path",
            ]
        );
    }

    #[test]
    fn an_event_at_a_boundary_belongs_to_the_new_phase() {
        let trace = TraceBuilder::new()
            .started(100, "app", 2, [1, 1, 1])
            .caught(199, "app", 2, TERM, 0)
            .caught(200, "app", 2, TERM, 0)
            .caught(299, "app", 2, TERM, 0)
            .caught(300, "app", 2, TERM, 0)
            .caught(400, "app", 2, TERM, 0)
            .stop(200, TERM)
            .escalated(300)
            .pid1_exited(
                400,
                ExitStatus::Signaled {
                    signal: KILL,
                    core_dumped: false,
                },
            )
            .build();
        let normal = normalise(&trace, &case(node("app", Vec::new())));
        let phases: Vec<(Phase, &str)> = normal
            .events
            .iter()
            .map(|e| (e.phase, e.event.as_str()))
            .collect();
        assert_eq!(
            phases,
            [
                (Phase::BeforeStop, "started"),
                (Phase::BeforeStop, "caught"),
                (Phase::AfterStopSignal, "signal-sent"),
                (Phase::AfterStopSignal, "caught"),
                (Phase::AfterStopSignal, "caught"),
                (Phase::AfterEscalation, "escalated"),
                (Phase::AfterEscalation, "caught"),
                (Phase::AfterTeardown, "exited"),
                (Phase::AfterTeardown, "caught"),
                (Phase::AfterTeardown, "vanished"),
            ]
        );
    }

    #[test]
    fn only_the_first_stop_signal_opens_the_stop_phase() {
        let trace = TraceBuilder::new()
            .action(
                50,
                ActionKind::SignalSent {
                    target: "worker".to_owned(),
                    signal: SignalNumber(10),
                    stop: false,
                },
            )
            .stop(100, TERM)
            .stop(200, TERM)
            .build();
        let normal = normalise(&trace, &tree());
        assert_eq!(
            lines(&normal),
            [
                "before-stop runtime signal-sent USR1 to=worker",
                "after-stop-signal runtime signal-sent TERM to=pid1 (stop signal)",
                "after-stop-signal runtime signal-sent TERM to=pid1 (stop signal)",
            ]
        );
    }

    #[test]
    fn scans_and_freezes_name_each_stopped_role_once() {
        let trace = TraceBuilder::new()
            .started(1, "app", 2, [1, 1, 1])
            .started(2, "worker", 3, [2, 1, 1])
            .ready(3)
            .action(
                4,
                ActionKind::Froze {
                    stopped: vec![1, 2, 3, 7, 8],
                    running: Vec::new(),
                },
            )
            .action(
                5,
                ActionKind::Froze {
                    stopped: vec![1],
                    running: vec![3, 9],
                },
            )
            .action(
                6,
                ActionKind::StateScan {
                    label: "frozen".to_owned(),
                    stopped: vec![8, 3, 7],
                },
            )
            .build();
        assert_eq!(
            lines(&normalise(&trace, &tree()))[2..6],
            [
                "before-stop runtime ready -",
                "before-stop runtime froze - stopped=[app, other, pid1, worker]",
                "before-stop runtime froze - stopped=[pid1] running=[other, worker]",
                "before-stop runtime state-scan - label=frozen stopped=[other, worker]",
            ]
        );
    }

    #[test]
    fn a_mask_read_while_pid1_was_busy_is_a_line_before_the_stop_signal_it_chose() {
        let trace = TraceBuilder::new()
            .started(1, "app", 2, [1, 1, 1])
            .ready(2)
            .action(
                3,
                ActionKind::MaskReadBusy {
                    signal: SignalNumber(libc::SIGRTMIN() + 3),
                    blocked: true,
                },
            )
            .stop(4, libc::SIGRTMIN() + 3)
            .build();
        assert_eq!(
            lines(&normalise(&trace, &tree()))[2..4],
            [
                "before-stop runtime mask-read-busy RTMIN+3 blocked=true (pid1 never asleep \
                 within the read's bound)",
                "after-stop-signal runtime signal-sent RTMIN+3 to=pid1 (stop signal)",
            ]
        );
    }

    #[test]
    fn bare_app_is_pid1_and_owns_pid1s_exit() {
        // No init: the candidate execs the app itself, which the kernel then SIGKILLs.
        let trace = TraceBuilder::new()
            .started(1, "app", 1, [0, 0, 0])
            .ready(2)
            .stop(3, TERM)
            .escalated(4)
            .pid1_exited(
                5,
                ExitStatus::Signaled {
                    signal: KILL,
                    core_dumped: false,
                },
            )
            .build();
        let normal = normalise(&trace, &case(node("app", Vec::new())));
        assert_eq!(
            lines(&normal),
            [
                "before-stop app started - ppid=outside pgid=outside sid=outside",
                "before-stop runtime ready -",
                "after-stop-signal runtime signal-sent TERM to=pid1 (stop signal)",
                "after-escalation runtime escalated - SIGKILL to pid1",
                "after-teardown app exited - status=signal:KILL",
                "after-teardown app vanished - no exit report: ended by a signal before its exit path",
            ]
        );
    }

    #[test]
    fn pid0_is_outside_and_unreported_pids_are_other() {
        let trace = TraceBuilder::new()
            .started(1, "app", 5, [1, 1, 1])
            .caught(2, "app", 5, TERM, 0)
            .caught(3, "app", 5, TERM, 77)
            .caught_code(4, "app", 5, (11, 0x80, 0))
            .caught_code(5, "app", 5, (10, 3, 1))
            .reaped(
                6,
                "app",
                5,
                78,
                ExitStatus::Signaled {
                    signal: 6,
                    core_dumped: true,
                },
            )
            .zombies(7, "scan", vec![79, 5, 1, 80])
            .build();
        let normal = normalise(&trace, &case(node("app", Vec::new())));
        assert_eq!(
            lines(&normal),
            [
                "before-stop app started - ppid=pid1 pgid=pid1 sid=pid1",
                "before-stop app caught TERM from=outside code=SI_USER",
                "before-stop app caught TERM from=other code=SI_USER",
                "before-stop app caught SEGV from=outside code=SI_KERNEL",
                "before-stop app caught USR1 from=pid1 code=3",
                "before-stop app reaped - child=other status=signal:ABRT core-dumped",
                "before-stop runtime zombie-scan - label=scan zombies=[app, other, other, pid1]",
                "after-teardown app vanished - no exit report: ended by a signal before its exit path",
            ]
        );
    }

    #[test]
    fn a_role_that_failed_does_not_vanish_by_a_signal() {
        let trace = TraceBuilder::new()
            .started(1, "app", 2, [1, 1, 1])
            .started(1, "worker", 3, [2, 1, 1])
            .report(
                2,
                "app",
                2,
                Event::Failed {
                    message: "poll self-pipe: EINVAL".to_owned(),
                },
            )
            .build();
        let normal = normalise(&trace, &tree());
        assert_eq!(
            lines(&normal)[1..],
            [
                "before-stop app failed - poll self-pipe: EINVAL",
                "before-stop worker started - ppid=app pgid=pid1 sid=pid1",
                "after-teardown app vanished - no exit report after a failure: the probe gave up, \
                 or a signal ended it",
                "after-teardown worker vanished - no exit report: ended by a signal before its \
                 exit path",
            ]
        );
    }

    #[test]
    fn roles_outside_the_tree_come_after_it_sorted_by_name() {
        let trace = TraceBuilder::new()
            .exiting(1, "zeta", 9, 0)
            .exiting(1, "alpha", 8, 0)
            .exiting(1, "worker", 3, 0)
            .build();
        let normal = normalise(&trace, &tree());
        let roles: Vec<&str> = normal.events.iter().map(|e| e.role.as_str()).collect();
        assert_eq!(roles, ["worker", "alpha", "zeta"]);
    }

    #[test]
    fn an_unfinished_run_ends_with_its_kind_only() {
        let cases = [
            (
                RunEnd::NeverReady {
                    missing: vec!["worker".to_owned(), "daemon".to_owned()],
                    pid1: Some(ExitStatus::Exited { code: 127 }),
                },
                "never-ready missing=[daemon, worker] pid1=exit:127",
            ),
            (
                RunEnd::NeverReady {
                    missing: vec!["app".to_owned()],
                    pid1: None,
                },
                "never-ready missing=[app]",
            ),
            (RunEnd::DeadlineExceeded, "deadline-exceeded"),
            (
                RunEnd::SetupFailed {
                    reason: "mount /tmp/pid1check-x1y2/root: EPERM".to_owned(),
                },
                "setup-failed",
            ),
        ];
        for (end, detail) in cases {
            let trace = TraceBuilder::new()
                .started(1, "app", 2, [1, 1, 1])
                .end(end)
                .build();
            let normal = normalise(&trace, &tree());
            let last = normal
                .events
                .last()
                .map(|e| (e.phase, &*e.event, &*e.detail));
            assert_eq!(last, Some((Phase::AfterTeardown, "run-end", detail)));
        }
    }

    #[test]
    fn a_completed_run_has_no_run_end() {
        let normal = normalise(&graceful(0, [2, 3, 4], false), &tree());
        assert!(normal.events.iter().all(|e| e.event != "run-end"));
    }

    #[test]
    fn phase_names_match_serde() {
        crate::test_support::assert_names_match_serde(
            &[
                Phase::BeforeStop,
                Phase::AfterStopSignal,
                Phase::AfterEscalation,
                Phase::AfterTeardown,
            ],
            Phase::name,
        );
    }

    /// A stop that needed SIGKILL: the app waits for a daemon that ignores TERM.
    fn escalation(app: i32, worker: i32, daemon: i32) -> Trace {
        let ms = |n: u64| n * 1_000_000;
        TraceBuilder::new()
            .started(ms(1), "app", app, [1, 1, 1])
            .started(ms(2), "worker", worker, [app, 1, 1])
            .started(ms(3), "daemon", daemon, [app, daemon, daemon])
            .ready(ms(4))
            .action(
                ms(5),
                ActionKind::SignalSent {
                    target: "daemon".to_owned(),
                    signal: SignalNumber(10),
                    stop: false,
                },
            )
            .caught(ms(5) + 1, "daemon", daemon, 10, 0)
            .zombies(ms(6), "before-stop", Vec::new())
            .stop(ms(10), TERM)
            .caught(ms(11), "app", app, TERM, 1)
            .caught(ms(12), "worker", worker, TERM, 1)
            .exiting(ms(13), "worker", worker, 0)
            .reaped(ms(14), "app", app, worker, ExitStatus::Exited { code: 0 })
            .caught_code(ms(15), "app", app, (CHLD, 1, worker))
            .escalated(ms(30))
            .pid1_exited(
                ms(31),
                ExitStatus::Signaled {
                    signal: KILL,
                    core_dumped: false,
                },
            )
            .survivors(ms(32), Vec::new())
            .build()
    }

    const USR1: i32 = 10;

    /// A case whose runtime sends USR1 ten times to PID 1, then stops.
    pub(crate) fn burst_case() -> Case {
        let mut case = case(node("app", Vec::new()));
        case.stop.steps = vec![
            Step::Signal {
                signal: SignalNumber(USR1),
                target: crate::spec::Target::Pid1,
                count: 10,
            },
            Step::Stop,
        ];
        case
    }

    /// Ten USR1 sent, `caught` of them caught by the app, then a stop where TERM is caught
    /// twice (not a burst signal: its lines stay apart).
    pub(crate) fn burst_trace(caught: u64) -> Trace {
        let mut builder = TraceBuilder::new().started(1, "app", 2, [1, 1, 1]).ready(2);
        for n in 0..10 {
            builder = builder.action(
                3 + n,
                ActionKind::SignalSent {
                    target: "pid1".to_owned(),
                    signal: SignalNumber(USR1),
                    stop: false,
                },
            );
        }
        for n in 0..caught {
            builder = builder.caught(20 + n, "app", 2, USR1, 1);
        }
        builder
            .stop(40, TERM)
            .caught(41, "app", 2, TERM, 1)
            .caught(42, "app", 2, TERM, 1)
            .exiting(43, "app", 2, 0)
            .pid1_exited(50, ExitStatus::Exited { code: 0 })
            .build()
    }

    #[test]
    fn a_burst_renders_one_line_per_kind_whatever_number_arrived() {
        let one = normalise(&burst_trace(1), &burst_case());
        let seven = normalise(&burst_trace(7), &burst_case());
        assert_eq!(one.render(), seven.render(), "coalescing must not show");
        assert_eq!(
            lines(&seven),
            [
                "before-stop app started - ppid=pid1 pgid=pid1 sid=pid1",
                "before-stop app caught USR1 from=pid1 code=SI_USER",
                "before-stop runtime ready -",
                "before-stop runtime signal-sent USR1 to=pid1 count=10",
                "after-stop-signal runtime signal-sent TERM to=pid1 (stop signal)",
                "after-stop-signal app caught TERM from=pid1 code=SI_USER",
                "after-stop-signal app caught TERM from=pid1 code=SI_USER",
                "after-stop-signal app exiting - code=0",
                "after-teardown pid1 exited - status=exit:0",
            ]
        );
        let counts: Vec<u32> = seven.events.iter().map(|e| e.count).collect();
        assert_eq!(counts, [1, 7, 1, 10, 1, 1, 1, 1, 1]);
    }

    #[test]
    fn without_a_burst_nothing_is_collapsed() {
        let mut case = burst_case();
        case.stop.steps = vec![Step::Stop];
        let normal = normalise(&burst_trace(3), &case);
        let usr1 = normal
            .events
            .iter()
            .filter(|e| e.signal.as_deref() == Some("USR1"))
            .count();
        assert_eq!(usr1, 13, "ten sends and three catches, one line each");
        assert!(normal.events.iter().all(|e| e.count == 1));
    }

    #[test]
    fn a_role_that_called_reboot_vanishes_for_that_reason() {
        use pid1check_probe::RebootCommand;
        let trace = TraceBuilder::new()
            .started(1, "app", 2, [1, 1, 1])
            .ready(2)
            .reboot(3, "app", RebootCommand::PowerOff, None)
            .pid1_exited(
                4,
                ExitStatus::Signaled {
                    signal: 2,
                    core_dumped: false,
                },
            )
            .build();
        let normal = normalise(&trace, &case(node("app", Vec::new())));
        assert_eq!(
            lines(&normal)[1..],
            [
                "before-stop app rebooting - command=power-off".to_owned(),
                "before-stop runtime ready -".to_owned(),
                "after-teardown pid1 exited - status=signal:INT".to_owned(),
                format!("after-teardown app vanished - {VANISHED_AFTER_REBOOT}"),
            ]
        );
        let refused = TraceBuilder::new()
            .started(1, "app", 2, [1, 1, 1])
            .reboot(3, "app", RebootCommand::Restart, Some(libc::EPERM))
            .build();
        let normal = normalise(&refused, &case(node("app", Vec::new())));
        let lines = lines(&normal);
        assert!(
            lines.contains(
                &"before-stop app reboot-failed - command=restart errno=EPERM".to_owned()
            ),
            "{lines:?}"
        );
        assert!(
            lines.last().is_some_and(|l| l.ends_with(VANISHED_DETAIL)),
            "a refused reboot explains nothing: {lines:?}"
        );
    }

    #[test]
    fn errno_names_are_the_c_names() {
        assert_eq!(errno_name(libc::EPERM), "EPERM");
        assert_eq!(errno_name(libc::EINVAL), "EINVAL");
        assert_eq!(errno_name(100_000), "100000");
    }

    #[test]
    fn render_snapshot() {
        insta::assert_snapshot!(normalise(&escalation(7, 8, 9), &tree()).render());
    }
}
