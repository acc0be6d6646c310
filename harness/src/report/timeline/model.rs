//! What a run's timeline shows, as plain data with times relative to the run's start: lanes
//! (one per process, named as the normalised trace names them), the runtime's actions as
//! markers, signals as arrows with their fate, ends, reaps and zombie spans. Built from the raw
//! [`Trace`] (every source stamps `CLOCK_MONOTONIC`), so the times are the real ones.
//!
//! With the kernel witness, arrows are its signals (SIGKILL and dropped signals included) and
//! lanes start at fork and end at exit as it saw them; without it, arrows are the runtime's
//! signals (fate unseen) and what the probes caught, and lanes start and end with the probes'
//! reports. SIGCHLD is left out, as in the normalised trace: reaps are drawn instead.

use std::collections::{BTreeMap, BTreeSet};

use pid1check_probe::Event;

use crate::normal::{
    OUTSIDE, PID1, ProcessNames, RUNTIME, errno_name, event, role_order, status_text,
    witness::KERNEL, witnessed_signals,
};
use crate::observe::witness::WitnessKind;
use crate::signal::SignalNumber;
use crate::spec::Case;
use crate::trace::{ActionKind, ExecResult, Trace};

const SIGCHLD: i32 = 17;
const SI_KERNEL: i32 = 0x80;
const NS_PER_MS: u64 = 1_000_000;

/// A run's timeline. Every time is in nanoseconds since the run's first recorded instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    /// Lanes top to bottom: `runtime`, PID 1, the workload's roles in tree order, processes no
    /// probe reported, [`FOLDED`] ones, `kernel` when it sent anything.
    pub lanes: Vec<Lane>,
    /// The runtime's actions and observations, in time order.
    pub markers: Vec<Marker>,
    /// Every signal drawn, in time order.
    pub signals: Vec<SignalArrow>,
    /// How and when processes ended.
    pub ends: Vec<EndMark>,
    /// Children reaped by a parent that reported it (a probe, or the runtime for PID 1).
    pub reaps: Vec<ReapMark>,
    /// Times a process was a zombie, as far as the trace shows.
    pub zombies: Vec<ZombieSpan>,
    /// Things the picture cannot show, in sentences.
    pub notes: Vec<String>,
    /// The last instant drawn.
    pub end: u64,
}

/// Name of the lane that holds, folded together, the processes that only lived: no signal,
/// reap or zombie of theirs was seen (an init's short-lived helpers).
pub const FOLDED: &str = "other processes";

/// One row of the timeline: a process, or [`FOLDED`] processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lane {
    /// Its name: `runtime`, `pid1`, a role, `child-of-ROLE`, `other`, [`FOLDED`], `kernel`.
    pub name: String,
    /// The lives drawn on it: one, or one per folded process.
    pub lives: Vec<Life>,
}

/// When a process lived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Life {
    /// The process's name.
    pub process: String,
    /// When it was forked (or first reported), if known.
    pub born: Option<u64>,
    /// When it ended, if known.
    pub ended: Option<u64>,
}

/// What a vertical marker stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MarkerKind {
    /// Every workload process started.
    Ready,
    /// The runtime started a command inside: the preStop hook or an exec step.
    Exec,
    /// That command ended.
    ExecEnded,
    /// The profile's stop signal.
    StopSignal,
    /// Another signal the runtime sent.
    Signal,
    /// The grace period's end, counted from the start of the stop sequence.
    GraceDeadline,
    /// The runtime's SIGKILL to PID 1 at the grace deadline.
    Escalation,
    /// PID 1 exited, as the runtime saw it.
    Pid1Exited,
    /// A scan or wait of the runtime (zombies, survivors, wait-exit).
    Scan,
}

/// One vertical marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// When.
    pub at: u64,
    /// What kind.
    pub kind: MarkerKind,
    /// Its label.
    pub label: String,
}

/// What became of a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fate {
    /// A handler ran.
    Caught,
    /// The kernel dropped it (ignored, protected init, already pending, queue full).
    Dropped,
    /// It ended the receiver.
    Fatal,
    /// Queued, and neither a handler nor a default action ran (sigwait, blocked, overtaken).
    Queued,
    /// Its non-fatal default action ran (stop, continue).
    Default,
    /// Not observed: the kernel witness did not run.
    Unseen,
}

impl Fate {
    /// The word on the arrow.
    pub fn word(self) -> &'static str {
        match self {
            Fate::Caught => "caught",
            Fate::Dropped => "dropped",
            Fate::Fatal => "fatal",
            Fate::Queued => "queued",
            Fate::Default => "default",
            Fate::Unseen => "sent",
        }
    }

    /// The fate a witness event name stands for.
    fn of_witness_event(name: &str) -> Fate {
        match name {
            event::KILLED => Fate::Fatal,
            event::SIGNAL_HANDLED => Fate::Caught,
            event::SIGNAL_DROPPED => Fate::Dropped,
            event::SIGNAL_DEFAULT => Fate::Default,
            _ => Fate::Queued,
        }
    }
}

/// One signal, from the sender's lane to the receiver's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalArrow {
    /// When it was sent (or caught, for a probe's report without the witness).
    pub at: u64,
    /// Sender lane.
    pub from: String,
    /// Receiver lane.
    pub to: String,
    /// The signal's name (`TERM`).
    pub signal: String,
    /// What became of it.
    pub fate: Fate,
    /// `code=SI_USER (reason)`: the rest, for the tooltip.
    pub detail: String,
}

/// The end of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndMark {
    /// When.
    pub at: u64,
    /// Whose.
    pub lane: String,
    /// `exit:0`, `signal:KILL`, `killed by KILL`, or `ended`.
    pub label: String,
    /// Whether a signal ended it.
    pub killed: bool,
}

/// A parent's reap of a child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReapMark {
    /// When.
    pub at: u64,
    /// The reaper's lane.
    pub reaper: String,
    /// The child's lane.
    pub child: String,
    /// The status the reaper got.
    pub status: String,
}

/// A time a process was a zombie (ended, not yet reaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZombieSpan {
    /// Whose.
    pub lane: String,
    /// From (its end, or the scan that saw it when its end is unknown).
    pub from: u64,
    /// To (its reap, or the last scan that saw it).
    pub to: u64,
}

/// The timeline of one run. `grace_ms` is the grace period the run used (for the deadline
/// marker), counted from the start of the stop sequence.
pub fn build_timeline(trace: &Trace, case: &Case, grace_ms: Option<u64>) -> Timeline {
    let names = ProcessNames::new(trace, case);
    let origin = origin(trace);
    let rel = |mono_ns: u64| mono_ns.saturating_sub(origin);
    let pid1 = names.of_ns_pid(1).to_owned();
    let witnessed = trace.witness.ran().is_some();
    let mut t = Timeline::default();
    let mut born: BTreeMap<String, u64> = BTreeMap::new();
    let mut ended: BTreeMap<String, u64> = BTreeMap::new();
    // Ends the runtime and the probes reported: the witness's exits, when it ran, come first.
    let mut reported_ends: Vec<(String, u64)> = Vec::new();
    let mut exit_label: BTreeMap<String, String> = BTreeMap::new();
    let mut zombie_seen: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let lane_of_target = |target: &str| {
        if target == PID1 {
            pid1.clone()
        } else {
            target.to_owned()
        }
    };

    // The runtime's actions.
    let mut stop_start = None;
    for action in &trace.actions {
        let at = rel(action.mono_ns);
        let mut mark = |kind: MarkerKind, label: String| t.markers.push(Marker { at, kind, label });
        match &action.what {
            ActionKind::Ready => mark(MarkerKind::Ready, "workload ready".to_owned()),
            ActionKind::SignalSent {
                target,
                signal,
                stop,
            } => {
                if *stop {
                    stop_start.get_or_insert(at);
                    mark(
                        MarkerKind::StopSignal,
                        format!("stop signal {} to {target}", signal.name()),
                    );
                } else {
                    mark(
                        MarkerKind::Signal,
                        format!("runtime sends {} to {target}", signal.name()),
                    );
                }
                if !witnessed {
                    t.signals.push(SignalArrow {
                        at,
                        from: RUNTIME.to_owned(),
                        to: lane_of_target(target),
                        signal: signal.name(),
                        fate: Fate::Unseen,
                        detail: "fate unseen: the kernel witness did not run".to_owned(),
                    });
                }
            }
            ActionKind::Escalated => {
                mark(MarkerKind::Escalation, "SIGKILL to pid1".to_owned());
                if !witnessed {
                    t.signals.push(SignalArrow {
                        at,
                        from: RUNTIME.to_owned(),
                        to: pid1.clone(),
                        signal: SignalNumber(9).name(),
                        fate: Fate::Unseen,
                        detail: "fate unseen: the kernel witness did not run".to_owned(),
                    });
                }
            }
            ActionKind::MaskReadBusy { signal, blocked } => mark(
                MarkerKind::Scan,
                format!(
                    "mask read while PID 1 was awake: {} {}",
                    signal.name(),
                    if *blocked { "blocked" } else { "not blocked" }
                ),
            ),
            ActionKind::ExecStarted { command, pre_stop } => {
                if *pre_stop {
                    stop_start.get_or_insert(at);
                    mark(MarkerKind::Exec, format!("preStop: {command}"));
                } else {
                    mark(MarkerKind::Exec, format!("exec: {command}"));
                }
            }
            ActionKind::ExecEnded { result } => {
                let how = match result {
                    ExecResult::Exited { code } => format!("exit {code}"),
                    ExecResult::TimedOut => "timed out".to_owned(),
                    ExecResult::Failed { .. } => "could not start".to_owned(),
                };
                mark(MarkerKind::ExecEnded, format!("exec ended: {how}"));
            }
            ActionKind::WaitedExit { role, exited } => {
                let how = if *exited { "exited" } else { "timed out" };
                mark(MarkerKind::Scan, format!("waited for {role}: {how}"));
            }
            ActionKind::ZombieScan { label, zombies, .. } => {
                let mut found: Vec<&str> = zombies.iter().map(|&p| names.of_ns_pid(p)).collect();
                found.sort_unstable();
                for name in &found {
                    zombie_seen.entry((*name).to_owned()).or_default().push(at);
                }
                mark(
                    MarkerKind::Scan,
                    format!("zombie scan {label}: [{}]", found.join(", ")),
                );
            }
            ActionKind::StateScan { label, stopped } => {
                let mut found: Vec<&str> = stopped.iter().map(|&p| names.of_ns_pid(p)).collect();
                found.sort_unstable();
                found.dedup();
                mark(
                    MarkerKind::Scan,
                    format!("state scan {label}: stopped [{}]", found.join(", ")),
                );
            }
            ActionKind::Froze { stopped, running } => mark(
                MarkerKind::Scan,
                format!(
                    "froze: {} stopped, {} still running",
                    stopped.len(),
                    running.len()
                ),
            ),
            ActionKind::Pid1Exited { status } => {
                mark(
                    MarkerKind::Pid1Exited,
                    format!("PID 1 exited: {}", status_text(*status)),
                );
                reported_ends.push((pid1.clone(), at));
                exit_label.insert(pid1.clone(), status_text(*status));
                t.reaps.push(ReapMark {
                    at,
                    reaper: RUNTIME.to_owned(),
                    child: pid1.clone(),
                    status: status_text(*status),
                });
            }
            ActionKind::SurvivorScan { survivors } => mark(
                MarkerKind::Scan,
                format!("survivor scan: {}", survivors.len()),
            ),
        }
    }
    if let (Some(start), Some(grace)) = (stop_start, grace_ms) {
        let deadline = start + grace * NS_PER_MS;
        let last = t.markers.iter().map(|m| m.at).max().unwrap_or(0);
        if deadline <= last {
            t.markers.push(Marker {
                at: deadline,
                kind: MarkerKind::GraceDeadline,
                // The runtime may allow more (kubelet's minimum after a long preStop hook):
                // the escalation marker shows when it actually sent SIGKILL.
                label: format!("grace ends: {grace} ms after the stop began"),
            });
        } else {
            t.notes.push(format!(
                "The grace deadline ({grace} ms after the stop sequence began) was not reached: \
                 the run ended first."
            ));
        }
    }

    // The witness: forks, exits and every signal with its fate.
    if let Some(run) = trace.witness.ran() {
        for e in &run.events {
            let host = match e.kind {
                WitnessKind::Fork { child, .. } => Some((child, &mut born)),
                WitnessKind::Exit {
                    pid,
                    group_dead: true,
                } => Some((pid, &mut ended)),
                _ => None,
            };
            if let Some((host_pid, times)) = host
                && let Some(name) = names.of_host_pid(host_pid)
            {
                // The first fork (a later one would be a thread's) and the first exit.
                times.entry(name.to_owned()).or_insert(rel(e.mono_ns));
            }
        }
        for s in witnessed_signals(trace, &names) {
            let fate = Fate::of_witness_event(s.fate);
            let mut detail = format!("code={}", s.code);
            if let Some(reason) = &s.reason {
                detail.push_str(&format!(" ({reason})"));
            }
            t.signals.push(SignalArrow {
                at: rel(s.mono_ns),
                from: s.from,
                to: s.to,
                signal: s.signal,
                fate,
                detail,
            });
        }
    } else {
        t.notes.push(
            "The kernel witness did not run: SIGKILLs, dropped signals and the fate of the \
             runtime's signals are not shown; lanes start and end with the probes' reports."
                .to_owned(),
        );
    }

    // The probes' reports.
    for report in &trace.reports {
        let at = rel(report.mono_ns);
        let role = report.role.clone();
        match &report.event {
            Event::Started { .. } => {
                born.entry(role).or_insert(at);
            }
            Event::Settled => {}
            Event::Caught {
                signal,
                code,
                sender_pid,
            } => {
                if witnessed || *signal == SIGCHLD {
                    continue;
                }
                let from = match (*sender_pid, *code) {
                    (0, SI_KERNEL) => KERNEL.to_owned(),
                    (0, _) => RUNTIME.to_owned(),
                    (pid, _) => names.of_ns_pid(pid).to_owned(),
                };
                let name = names.of_ns_pid(*sender_pid);
                let outside = if name == OUTSIDE {
                    " (sender in an ancestor namespace)"
                } else {
                    ""
                };
                t.signals.push(SignalArrow {
                    at,
                    from,
                    to: role,
                    signal: SignalNumber(*signal).name(),
                    fate: Fate::Caught,
                    detail: format!("code={code}{outside}"),
                });
            }
            Event::Reaped { child_pid, status } => t.reaps.push(ReapMark {
                at,
                reaper: role,
                child: names.of_ns_pid(*child_pid).to_owned(),
                status: status_text(*status),
            }),
            Event::Exiting { code } => {
                reported_ends.push((role.clone(), at));
                exit_label
                    .entry(role)
                    .or_insert_with(|| format!("exit:{code}"));
            }
            Event::Failed { message } => t.notes.push(format!("{role} failed: {message}")),
            Event::Rebooting { command } => t
                .notes
                .push(format!("{role} called reboot(2) ({})", command.name())),
            Event::RebootFailed { command, errno } => t.notes.push(format!(
                "{role}: reboot(2) ({}) failed with {}",
                command.name(),
                errno_name(*errno)
            )),
        }
    }
    for (lane, at) in reported_ends {
        ended.entry(lane).or_insert(at);
    }
    for reap in &t.reaps {
        exit_label
            .entry(reap.child.clone())
            .or_insert_with(|| reap.status.clone());
    }

    // Ends: a fatal signal that reached the process names what ended it.
    for (lane, &at) in &ended {
        let fatal = t
            .signals
            .iter()
            .filter(|s| s.to == *lane && s.fate == Fate::Fatal && s.at <= at)
            .max_by_key(|s| s.at);
        let (label, killed) = match (fatal, exit_label.get(lane)) {
            (Some(signal), _) => (format!("killed by {}", signal.signal), true),
            (None, Some(label)) => (label.clone(), label.starts_with("signal:")),
            (None, None) => ("ended".to_owned(), false),
        };
        t.ends.push(EndMark {
            at,
            lane: lane.clone(),
            label,
            killed,
        });
    }

    // Zombies: from the end to the reap, or to the last scan that saw it.
    let mut zombie_lanes: BTreeSet<&String> = zombie_seen.keys().collect();
    zombie_lanes.extend(t.reaps.iter().map(|r| &r.child));
    for lane in zombie_lanes {
        let reaped = t.reaps.iter().find(|r| r.child == *lane).map(|r| r.at);
        let seen = zombie_seen.get(lane).and_then(|s| s.iter().max().copied());
        let to = reaped.into_iter().chain(seen).max();
        let from = ended
            .get(lane)
            .copied()
            .or_else(|| zombie_seen.get(lane).and_then(|s| s.iter().min().copied()));
        if let (Some(from), Some(to)) = (from, to)
            && to >= from
        {
            t.zombies.push(ZombieSpan {
                lane: lane.clone(),
                from,
                to,
            });
        }
    }

    // PID 1 was there before anything of the run was recorded: without the witness's fork
    // event, its lane starts with the trace.
    if !born.contains_key(&pid1) {
        born.insert(pid1.clone(), 0);
    }
    t.lanes = lanes(case, &pid1, &t, &born, &ended);
    // A folded process's end is the end of its bar: no mark of its own.
    let lanes = &t.lanes;
    t.ends.retain(|e| lanes.iter().any(|l| l.name == e.lane));
    t.markers.sort_by_key(|m| (m.at, m.kind));
    t.signals.sort_by(|a, b| (a.at, &a.to).cmp(&(b.at, &b.to)));
    t.reaps.sort_by_key(|r| r.at);
    t.end = [
        t.markers.iter().map(|m| m.at).max(),
        t.signals.iter().map(|s| s.at).max(),
        t.ends.iter().map(|e| e.at).max(),
        t.reaps.iter().map(|r| r.at).max(),
        born.values().max().copied(),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(0);
    t
}

/// The run's first recorded instant: time zero of the timeline.
fn origin(trace: &Trace) -> u64 {
    let reports = trace.reports.iter().map(|r| r.mono_ns);
    let actions = trace.actions.iter().map(|a| a.mono_ns);
    let witness = trace
        .witness
        .ran()
        .into_iter()
        .flat_map(|run| run.events.iter().map(|e| e.mono_ns));
    reports.chain(actions).chain(witness).min().unwrap_or(0)
}

/// Every lane, in order: runtime, PID 1, the tree's roles in preorder, the other processes
/// that sent, received, reaped or were reaped or seen as zombies (by fork time), one
/// [`FOLDED`] lane for the processes that only lived (an init's short-lived helpers), and the
/// kernel when it sent anything.
fn lanes(
    case: &Case,
    pid1: &str,
    t: &Timeline,
    born: &BTreeMap<String, u64>,
    ended: &BTreeMap<String, u64>,
) -> Vec<Lane> {
    let mut all: BTreeSet<&str> = BTreeSet::from([RUNTIME]);
    all.extend(born.keys().map(String::as_str));
    all.extend(ended.keys().map(String::as_str));
    let mut involved: BTreeSet<&str> = BTreeSet::from([RUNTIME, pid1]);
    for s in &t.signals {
        involved.insert(&s.from);
        involved.insert(&s.to);
    }
    for r in &t.reaps {
        involved.insert(&r.reaper);
        involved.insert(&r.child);
    }
    involved.extend(t.zombies.iter().map(|z| z.lane.as_str()));
    let tree = role_order(case);
    involved.extend(tree.iter().map(String::as_str).filter(|r| all.contains(r)));
    all.extend(involved.iter().copied());

    let by_fork = |names: &mut Vec<&str>| {
        names.sort_by_key(|name| (born.get(*name).copied().unwrap_or(u64::MAX), *name));
    };
    let life = |name: &str| Life {
        process: name.to_owned(),
        born: born.get(name).copied(),
        ended: ended.get(name).copied(),
    };
    let mut order: Vec<&str> = vec![RUNTIME, pid1];
    order.extend(tree.iter().map(String::as_str));
    let mut rest: Vec<&str> = involved
        .iter()
        .copied()
        .filter(|name| !order.contains(name) && *name != KERNEL)
        .collect();
    by_fork(&mut rest);
    order.extend(rest);
    let mut seen = BTreeSet::new();
    let mut lanes: Vec<Lane> = order
        .into_iter()
        .filter(|name| involved.contains(name) && seen.insert(*name))
        .map(|name| Lane {
            name: name.to_owned(),
            lives: vec![life(name)],
        })
        .collect();
    let mut quiet: Vec<&str> = all
        .iter()
        .copied()
        .filter(|name| !involved.contains(name) && *name != KERNEL)
        .collect();
    by_fork(&mut quiet);
    if !quiet.is_empty() {
        lanes.push(Lane {
            name: FOLDED.to_owned(),
            lives: quiet.into_iter().map(life).collect(),
        });
    }
    if involved.contains(KERNEL) {
        lanes.push(Lane {
            name: KERNEL.to_owned(),
            lives: vec![life(KERNEL)],
        });
    }
    lanes
}
