//! The kernel witness's events in the normalised trace: one line per signal sent to a process
//! of the run, on the receiver, saying what became of it (`killed`, `signal-handled`,
//! `signal-dropped`, ...), who sent it (a role, `runtime`, `kernel`) and its `si_code`.
//!
//! Only what is the same from run to run is rendered: SIGCHLD (the kernel's notice of a child's
//! exit, whose fate depends on who is still alive at that instant), the kernel's SIGKILLs
//! that found their receiver already dying are left out. The normalised trace also leaves out
//! every signal from or to a process no probe reported (an init's own helpers: sysvinit's,
//! runit's, a double fork's middle): those helpers signal each other on timers of their own, so
//! whether a line appears, and what became of it, changed from run to run. The raw trace and
//! the timeline keep them.
//!
//! A signal's fate is read from the receiver's later events under its host pid: a
//! multi-threaded receiver that dequeues a signal in another thread (none of today's
//! candidates does) shows it as `signal-queued`.

use std::collections::BTreeMap;

use super::{OUTSIDE, RUNTIME, Roles, event, si_code_name};
use crate::observe::witness::{GenerateResult, WitnessKind, WitnessRun};
use crate::signal::SignalNumber;

/// Sender of a signal with `si_code` `SI_KERNEL`: the kernel itself (zap_pid_ns_processes).
pub(crate) const KERNEL: &str = "kernel";
/// Prefix of the name of a process no probe reported, after its parent: `child-of-app`.
pub(crate) const CHILD_OF: &str = "child-of-";

const SIGKILL: i32 = 9;
const SIGCHLD: i32 = 17;
const SIGSTOP: i32 = 19;
const SI_KERNEL: i32 = 0x80;
/// `sa_handler` values that are not handlers (`SIG_DFL`, `SIG_IGN`).
const SIG_DFL: u64 = 0;
const SIG_IGN: u64 = 1;

/// One rendered witness event, before its phase is known.
pub(super) struct WitnessLine {
    /// When the signal was generated.
    pub(super) mono_ns: u64,
    /// The receiver's name.
    pub(super) role: String,
    /// The event name.
    pub(super) event: &'static str,
    /// The signal.
    pub(super) signal: String,
    /// The sender's name (a role, `runtime`, `kernel`).
    pub(super) from: String,
    /// The `si_code`'s name.
    pub(super) code: String,
    /// Why the kernel dropped it, if it did.
    pub(super) reason: Option<String>,
}

impl WitnessLine {
    /// `from=... code=...` and the reason, if any: the normalised trace's detail.
    pub(super) fn detail(&self) -> String {
        let mut detail = format!("from={} code={}", self.from, self.code);
        if let Some(reason) = &self.reason {
            detail.push_str(&format!(" ({reason})"));
        }
        detail
    }
}

/// What the kernel did with one generated signal.
fn outcome(run: &WitnessRun, index: usize) -> Option<(&'static str, Option<String>)> {
    let generated = &run.events[index];
    let WitnessKind::Generate {
        receiver,
        signal,
        code,
        result,
        ..
    } = generated.kind
    else {
        return None;
    };
    if signal == SIGCHLD || (code == SI_KERNEL && result != GenerateResult::Delivered) {
        return None;
    }
    match result {
        GenerateResult::Ignored => {
            return Some((event::SIGNAL_DROPPED, Some(ignored(run, receiver, signal))));
        }
        GenerateResult::AlreadyPending => {
            return Some((event::SIGNAL_DROPPED, Some("already pending".to_owned())));
        }
        GenerateResult::OverflowFail => {
            return Some((event::SIGNAL_DROPPED, Some("queue full".to_owned())));
        }
        GenerateResult::Delivered | GenerateResult::LoseInfo => {}
    }
    if signal == SIGKILL {
        return Some((event::KILLED, None));
    }
    // The receiver's next dequeue of this signal, or its end. A fatal signal with no handler
    // is not dequeued itself: the kernel turns it into a group exit, which the receiver
    // dequeues as SIGKILL (complete_signal, get_signal in kernel/signal.c). A signal taken
    // with sigwait or signalfd (as tini and dumb-init do) has no delivery event at all.
    const QUEUED: (&str, Option<String>) = (event::SIGNAL_QUEUED, None);
    // A namespace's init never takes a default action other than for SIGKILL and SIGSTOP: a
    // signal it had blocked when sent is generated as delivered, then discarded when dequeued
    // (get_signal: SIGNAL_UNKILLABLE). Same fate as one dropped at once. A SIGSTOP generated
    // as delivered came from an ancestor namespace (from inside it is dropped when sent) and
    // does stop it.
    let to_pid1 = run.processes.first().map(|p| p.host_pid) == Some(receiver) && signal != SIGSTOP;
    for later in &run.events[index + 1..] {
        match later.kind {
            // A SIGKILL queued after it is what ends the receiver, if anything does.
            WitnessKind::Generate {
                receiver: killed,
                signal: SIGKILL,
                result: GenerateResult::Delivered,
                ..
            } if killed == receiver => return Some(QUEUED),
            _ if later.task_pid != receiver => {}
            WitnessKind::Deliver {
                signal: delivered,
                sa_handler,
                ..
            } if delivered == signal => {
                return Some(match sa_handler {
                    SIG_DFL if to_pid1 => (
                        event::SIGNAL_DROPPED,
                        Some("protected init, no handler".to_owned()),
                    ),
                    SIG_DFL if default_is_fatal(signal) => (event::KILLED, None),
                    // CONT, CHLD, WINCH and URG by default do nothing to a running process,
                    // and the kernel drops them when sent (sig_kernel_ignore) unless they
                    // were blocked at that instant: the same fate, in the same words.
                    SIG_DFL if kernel_ignores_by_default(signal) => {
                        (event::SIGNAL_DROPPED, Some(ignored(run, receiver, signal)))
                    }
                    SIG_DFL => (event::SIGNAL_DEFAULT, None),
                    // The same fate, in the same words, as a signal dropped when it was sent
                    // (it was blocked then, e.g. in the probe's exit path).
                    SIG_IGN => (event::SIGNAL_DROPPED, Some(ignored(run, receiver, signal))),
                    _ => (event::SIGNAL_HANDLED, None),
                });
            }
            WitnessKind::Deliver {
                signal: SIGKILL, ..
            } if default_is_fatal(signal) => return Some((event::KILLED, None)),
            WitnessKind::Deliver {
                signal: SIGKILL, ..
            }
            | WitnessKind::Exit {
                group_dead: true, ..
            } => return Some(QUEUED),
            _ => {}
        }
    }
    Some(QUEUED)
}

/// Why the kernel dropped `signal` sent to `receiver`.
fn ignored(run: &WitnessRun, receiver: i32, signal: i32) -> String {
    let pid1 = run.processes.first().map(|p| p.host_pid);
    if Some(receiver) != pid1 {
        return "ignored".to_owned();
    }
    let bit = u32::try_from(signal - 1)
        .ok()
        .and_then(|shift| 1u64.checked_shl(shift));
    match (run.pid1_ignored, bit) {
        (Some(mask), Some(bit)) if mask & bit != 0 => "PID 1 ignores it".to_owned(),
        (Some(_), Some(_)) => "protected init, no handler".to_owned(),
        _ => "protected init, no handler or ignored".to_owned(),
    }
}

/// The signals whose default action is to do nothing (the kernel's `SIG_KERNEL_IGNORE_MASK`:
/// CONT, CHLD, WINCH, URG).
fn kernel_ignores_by_default(signal: i32) -> bool {
    matches!(signal, 17 | 18 | 23 | 28)
}

/// Whether a signal's default action ends the process (signal(7)): all but the ones whose
/// default is to ignore, stop or continue.
fn default_is_fatal(signal: i32) -> bool {
    // CHLD, CONT, STOP, TSTP, TTIN, TTOU, URG, WINCH.
    !matches!(signal, 17 | 18 | 19 | 20 | 21 | 22 | 23 | 28)
}

/// The witness's lines, in the kernel's time order.
pub(super) fn witness_lines(run: &WitnessRun, roles: &Roles) -> Vec<WitnessLine> {
    let names = Names::new(run, roles);
    let mut lines = Vec::new();
    for (index, generated) in run.events.iter().enumerate() {
        let WitnessKind::Generate {
            receiver,
            signal,
            code,
            ..
        } = generated.kind
        else {
            continue;
        };
        let Some((name, reason)) = outcome(run, index) else {
            continue;
        };
        let from = if code == SI_KERNEL {
            KERNEL
        } else {
            names.of(generated.task_pid)
        };
        let to = names.of(receiver);
        lines.push(WitnessLine {
            mono_ns: generated.mono_ns,
            role: to.to_owned(),
            event: name,
            signal: SignalNumber(signal).name(),
            from: from.to_owned(),
            code: si_code_name(signal, code),
            reason,
        });
    }
    lines
}

/// Host pid → name: the launcher is `runtime`, a process a probe reported is its role, PID 1
/// is `pid1` (or the role that is PID 1), any other is named after its parent
/// (`child-of-app`, then `child-of-app-2` for the next in fork order).
pub(super) struct Names {
    by_host: BTreeMap<i32, String>,
}

impl Names {
    pub(super) fn new(run: &WitnessRun, roles: &Roles) -> Names {
        let mut by_host = BTreeMap::from([(run.launcher_pid, RUNTIME.to_owned())]);
        let mut unnamed_children: BTreeMap<String, usize> = BTreeMap::new();
        // `processes` is in fork order: a parent is named before its children.
        for process in &run.processes {
            let known = process
                .ns_pid
                .and_then(|pid| roles.by_pid.get(&pid))
                .filter(|name| name.as_str() != OUTSIDE)
                .cloned();
            let name = known.unwrap_or_else(|| {
                let parent = by_host
                    .get(&process.parent)
                    .map_or(OUTSIDE, String::as_str)
                    .to_owned();
                let count = unnamed_children.entry(parent.clone()).or_default();
                *count += 1;
                if *count == 1 {
                    format!("{CHILD_OF}{parent}")
                } else {
                    format!("{CHILD_OF}{parent}-{count}")
                }
            });
            by_host.insert(process.host_pid, name);
        }
        Names { by_host }
    }

    pub(super) fn of(&self, host_pid: i32) -> &str {
        self.by_host.get(&host_pid).map_or(OUTSIDE, String::as_str)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::normal::normalise;
    use crate::normal::tests::{KILL, TERM, TraceBuilder, case, lines, node, tree};
    use crate::observe::witness::{
        GenerateResult, WitnessEvent, WitnessKind, WitnessProcess, WitnessRun,
    };
    use crate::trace::{ExitStatus, Trace};

    const SI_USER: i32 = 0;
    const SI_KERNEL: i32 = 0x80;
    const HANDLER: u64 = 0x55e2_5e48_cdc0;

    /// Builds a witness record with host pids `base + n`; `launcher` is `base`.
    pub(crate) struct WitnessBuilder {
        base: i32,
        run: WitnessRun,
    }

    impl WitnessBuilder {
        /// PID 1 is host pid `base + 1`.
        pub(crate) fn new(base: i32) -> Self {
            let mut builder = WitnessBuilder {
                base,
                run: WitnessRun {
                    launcher_pid: base,
                    ..WitnessRun::default()
                },
            };
            builder.run.processes.push(WitnessProcess {
                host_pid: base + 1,
                ns_pid: Some(1),
                parent: base,
                comm: "init".to_owned(),
            });
            builder
        }

        fn host(&self, n: i32) -> i32 {
            self.base + n
        }

        /// Process `n` (host `base + n`), forked by `parent`, with namespace pid `ns_pid`.
        pub(crate) fn process(mut self, n: i32, ns_pid: Option<i32>, parent: i32) -> Self {
            let (host_pid, parent) = (self.host(n), self.host(parent));
            self.run.processes.push(WitnessProcess {
                host_pid,
                ns_pid,
                parent,
                comm: "probe".to_owned(),
            });
            self
        }

        fn push(mut self, t: u64, task: i32, kind: WitnessKind) -> Self {
            let task_pid = self.host(task);
            self.run.events.push(WitnessEvent {
                mono_ns: t,
                task_pid,
                task_comm: "x".to_owned(),
                kind,
            });
            self
        }

        /// `from` (0: the launcher) sends `signal` to `to`.
        pub(crate) fn generate(
            self,
            t: u64,
            (from, to): (i32, i32),
            (signal, code): (i32, i32),
            result: GenerateResult,
        ) -> Self {
            let receiver = self.host(to);
            self.push(
                t,
                from,
                WitnessKind::Generate {
                    receiver,
                    receiver_comm: "x".to_owned(),
                    signal,
                    code,
                    group: true,
                    result,
                },
            )
        }

        pub(crate) fn deliver(self, t: u64, to: i32, signal: i32, sa_handler: u64) -> Self {
            self.push(
                t,
                to,
                WitnessKind::Deliver {
                    signal,
                    code: SI_USER,
                    sa_handler,
                    sa_flags: 0,
                },
            )
        }

        pub(crate) fn exit(self, t: u64, pid: i32) -> Self {
            let host = self.host(pid);
            self.push(
                t,
                pid,
                WitnessKind::Exit {
                    pid: host,
                    group_dead: true,
                },
            )
        }

        /// `parent` forks `child` (both numbered like [`WitnessBuilder::process`]).
        pub(crate) fn fork(self, t: u64, parent: i32, child: i32) -> Self {
            let (host_parent, child) = (self.host(parent), self.host(child));
            self.push(
                t,
                parent,
                WitnessKind::Fork {
                    parent: host_parent,
                    child,
                    child_comm: "probe".to_owned(),
                },
            )
        }

        pub(crate) fn pid1_ignores(mut self, mask: u64) -> Self {
            self.run.pid1_ignored = Some(mask);
            self
        }

        pub(crate) fn build(self) -> WitnessRun {
            self.run
        }
    }

    /// The witness's lines of the normalised trace: `phase role event signal detail`.
    fn witness_lines_of(trace: &Trace, case: &crate::spec::Case) -> Vec<String> {
        let mut normal = normalise(trace, case);
        normal.events.retain(|e| {
            e.event.starts_with("signal-") && e.event != "signal-sent" || e.event == "killed"
        });
        lines(&normal)
    }

    /// tini-like PID 1 (pid 1, sigwait: no delivery event) forwards TERM to the app (2),
    /// which handles it and exits; PID 1 exits and the kernel kills the worker (3) in its own
    /// session. Host pids start at `base`.
    fn own_session(base: i32, app: i32, worker: i32) -> Trace {
        let witness = WitnessBuilder::new(base)
            .process(2, Some(app), 1)
            .process(3, Some(worker), 2)
            .generate(11, (0, 1), (TERM, SI_USER), GenerateResult::Delivered)
            .generate(12, (1, 2), (TERM, SI_USER), GenerateResult::Delivered)
            .deliver(13, 2, TERM, HANDLER)
            .exit(14, 2)
            .generate(15, (2, 1), (17, 1), GenerateResult::Delivered)
            .exit(16, 1)
            .generate(17, (1, 3), (KILL, SI_KERNEL), GenerateResult::Delivered)
            .deliver(18, 3, KILL, 0)
            .exit(19, 3)
            .build();
        TraceBuilder::new()
            .started(1, "app", app, [1, app, 1])
            .started(2, "worker", worker, [app, worker, worker])
            .stop(10, TERM)
            .pid1_exited(20, ExitStatus::Exited { code: 0 })
            .witness(witness)
            .build()
    }

    #[test]
    fn the_kernels_sigkill_and_a_sigwait_consumer_show_with_roles() {
        let case = case(node("app", vec![node("worker", Vec::new())]));
        assert_eq!(
            witness_lines_of(&own_session(1000, 2, 3), &case),
            [
                "after-stop-signal app signal-handled TERM from=pid1 code=SI_USER",
                "after-stop-signal worker killed KILL from=kernel code=SI_KERNEL",
                "after-stop-signal pid1 signal-queued TERM from=runtime code=SI_USER",
            ]
        );
    }

    #[test]
    fn same_behaviour_renders_the_same_whatever_the_host_pids() {
        let case = case(node("app", vec![node("worker", Vec::new())]));
        let a = normalise(&own_session(1000, 2, 3), &case).render();
        let b = normalise(&own_session(77_000, 5, 9), &case).render();
        assert_eq!(a, b);
    }

    #[test]
    fn a_term_to_pid1_without_handler_is_dropped_as_protected_init() {
        let term_bit = 1u64 << (TERM - 1);
        let trace = |mask| {
            let witness = WitnessBuilder::new(10)
                .generate(11, (0, 1), (TERM, SI_USER), GenerateResult::Ignored)
                .pid1_ignores(mask)
                .build();
            TraceBuilder::new().stop(10, TERM).witness(witness).build()
        };
        assert_eq!(
            witness_lines_of(&trace(0), &tree()),
            [
                "after-stop-signal pid1 signal-dropped TERM from=runtime code=SI_USER \
              (protected init, no handler)"
            ]
        );
        assert_eq!(
            witness_lines_of(&trace(term_bit), &tree()),
            [
                "after-stop-signal pid1 signal-dropped TERM from=runtime code=SI_USER \
              (PID 1 ignores it)"
            ]
        );
    }

    /// A shell at PID 1 that had TERM blocked for a moment: generated as delivered, then
    /// dequeued with SIG_DFL and discarded, as if dropped at once. Found by a run of tini-s
    /// (dash at PID 1) that rendered `killed` once in a few runs.
    #[test]
    fn a_term_pid1_had_blocked_is_still_dropped_when_dequeued() {
        let witness = WitnessBuilder::new(10)
            .generate(11, (0, 1), (TERM, SI_USER), GenerateResult::Delivered)
            .deliver(12, 1, TERM, 0)
            .build();
        let trace = TraceBuilder::new().stop(10, TERM).witness(witness).build();
        assert_eq!(
            witness_lines_of(&trace, &tree()),
            [
                "after-stop-signal pid1 signal-dropped TERM from=runtime code=SI_USER \
              (protected init, no handler)"
            ]
        );
    }

    /// A SIGSTOP from the runtime stops even a namespace's init (`force` from an ancestor
    /// namespace); one PID 1 sends itself is dropped when sent (dumb-init after a TSTP).
    #[test]
    fn a_stop_from_outside_stops_pid1_and_one_from_inside_is_dropped() {
        const STOP: i32 = 19;
        let witness = WitnessBuilder::new(10)
            .generate(11, (0, 1), (STOP, SI_USER), GenerateResult::Delivered)
            .deliver(12, 1, STOP, 0)
            .generate(13, (1, 1), (STOP, SI_USER), GenerateResult::Ignored)
            .pid1_ignores(0)
            .build();
        let trace = TraceBuilder::new().witness(witness).build();
        assert_eq!(
            witness_lines_of(&trace, &tree()),
            [
                "before-stop pid1 signal-default STOP from=runtime code=SI_USER",
                "before-stop pid1 signal-dropped STOP from=pid1 code=SI_USER \
              (protected init, no handler)",
            ]
        );
    }

    /// PID 1 ignoring TERM while it had TERM blocked: generated as delivered, dequeued with
    /// SIG_IGN. Rendered as if dropped when sent, which is what happens when it is not blocked
    /// (a bare app at PID 1 in its exit path showed both from run to run).
    #[test]
    fn a_term_pid1_ignores_reads_the_same_blocked_or_not() {
        let term_bit = 1u64 << (TERM - 1);
        let blocked = WitnessBuilder::new(10)
            .generate(11, (0, 1), (TERM, SI_USER), GenerateResult::Delivered)
            .deliver(12, 1, TERM, 1)
            .pid1_ignores(term_bit)
            .build();
        let unblocked = WitnessBuilder::new(10)
            .generate(11, (0, 1), (TERM, SI_USER), GenerateResult::Ignored)
            .pid1_ignores(term_bit)
            .build();
        let lines = |witness| {
            let trace = TraceBuilder::new().stop(10, TERM).witness(witness).build();
            witness_lines_of(&trace, &tree())
        };
        let expected = [
            "after-stop-signal pid1 signal-dropped TERM from=runtime code=SI_USER \
                         (PID 1 ignores it)",
        ];
        assert_eq!(lines(blocked), expected);
        assert_eq!(lines(unblocked), expected);
    }

    /// systemd sends SIGCONT right after a service's KillSignal; an app still in its TERM
    /// handler has CONT blocked, so it is queued and taken with its default action (nothing)
    /// instead of dropped when sent. Found by a full run (systemd, 34 snapshots flipping).
    #[test]
    fn a_cont_taken_by_default_reads_as_dropped_like_one_dropped_when_sent() {
        const CONT: i32 = 18;
        let line = |witness| {
            let trace = TraceBuilder::new()
                .started(1, "app", 2, [1, 2, 2])
                .stop(10, TERM)
                .witness(witness)
                .build();
            witness_lines_of(&trace, &tree())
        };
        let queued = WitnessBuilder::new(10)
            .process(2, Some(2), 1)
            .generate(11, (1, 2), (CONT, SI_USER), GenerateResult::Delivered)
            .deliver(12, 2, CONT, 0)
            .build();
        let dropped = WitnessBuilder::new(10)
            .process(2, Some(2), 1)
            .generate(11, (1, 2), (CONT, SI_USER), GenerateResult::Ignored)
            .build();
        let expected =
            ["after-stop-signal app signal-dropped CONT from=pid1 code=SI_USER (ignored)"];
        assert_eq!(line(queued), expected);
        assert_eq!(line(dropped), expected);
    }

    #[test]
    fn a_fatal_signal_without_handler_kills_and_a_later_sigkill_takes_over_a_queued_one() {
        // The app (2) has no TERM handler: the kernel turns TERM into a group exit, which the
        // app dequeues as SIGKILL. The worker (3) blocks TERM and is SIGKILLed later.
        let witness = WitnessBuilder::new(10)
            .process(2, Some(2), 1)
            .process(3, Some(3), 2)
            .generate(11, (1, 2), (TERM, SI_USER), GenerateResult::Delivered)
            .deliver(12, 2, KILL, 0)
            .exit(13, 2)
            .generate(14, (1, 3), (TERM, SI_USER), GenerateResult::Delivered)
            .generate(15, (0, 3), (KILL, SI_USER), GenerateResult::Delivered)
            .deliver(16, 3, KILL, 0)
            .build();
        let trace = TraceBuilder::new()
            .started(1, "app", 2, [1, 2, 1])
            .started(1, "worker", 3, [2, 2, 1])
            .witness(witness)
            .build();
        assert_eq!(
            witness_lines_of(&trace, &tree()),
            [
                "before-stop app killed TERM from=pid1 code=SI_USER",
                "before-stop worker signal-queued TERM from=pid1 code=SI_USER",
                "before-stop worker killed KILL from=runtime code=SI_USER",
            ]
        );
    }

    #[test]
    fn signals_of_unreported_processes_and_chld_are_left_out() {
        // The app (2) double-forks: 4 exits at once, leaving 5; it also forks 6 and exits.
        // Signals to the unreported 4 and 6 are left out (their fate is their init's timing),
        // as is every SIGCHLD; the daemon's USR1 to the app stays.
        let witness = WitnessBuilder::new(10)
            .process(2, Some(2), 1)
            .process(4, None, 2)
            .process(5, Some(5), 4)
            .process(6, None, 2)
            .generate(11, (4, 2), (17, 1), GenerateResult::Delivered)
            .generate(12, (5, 4), (10, SI_USER), GenerateResult::Delivered)
            .deliver(13, 4, 10, HANDLER)
            .generate(14, (5, 6), (10, SI_USER), GenerateResult::Ignored)
            .generate(15, (1, 6), (KILL, SI_KERNEL), GenerateResult::Ignored)
            .generate(16, (5, 2), (10, SI_USER), GenerateResult::Delivered)
            .deliver(17, 2, 10, HANDLER)
            .build();
        let trace = TraceBuilder::new()
            .started(1, "app", 2, [1, 2, 1])
            .started(1, "daemon", 5, [1, 5, 5])
            .witness(witness)
            .build();
        assert_eq!(
            witness_lines_of(&trace, &tree()),
            ["before-stop app signal-handled USR1 from=daemon code=SI_USER"]
        );
    }
}
