//! The text of a tracefs instance's `trace` file, line by line, into typed [`WitnessEvent`]s.
//! Pure: no file is read here. The formats are the tracepoints' `print fmt` on Linux 6.18
//! (`/sys/kernel/tracing/events/{signal,sched}/*/format`, torvalds/linux:
//! include/trace/events/signal.h, include/trace/events/sched.h):
//!
//! ```text
//! signal_generate:    sig=%d errno=%d code=%d comm=%s pid=%d grp=%d res=%d
//! signal_deliver:     sig=%d errno=%d code=%d sa_handler=%lx sa_flags=%lx
//! sched_process_fork: comm=%s pid=%d child_comm=%s child_pid=%d
//! sched_process_exit: comm=%s pid=%d prio=%d group_dead=%s
//! tracing_mark_write: <text written to trace_marker>
//! ```
//!
//! Each line starts with the task that was running (`comm-pid`), the CPU, flags and the
//! timestamp in seconds with microseconds (`trace_clock` `mono`: `CLOCK_MONOTONIC`).

use serde::{Deserialize, Serialize};

/// The text the launcher writes to the instance's `trace_marker` before a number: the
/// `CLOCK_MONOTONIC` nanoseconds of the action it marks.
pub const MARK_PREFIX: &str = "pid1check-mark ";
/// The text the harness writes before a run's token when the run begins.
pub const BEGIN_PREFIX: &str = "pid1check-begin ";
/// The text the harness writes before a run's token once its launcher has exited.
pub const END_PREFIX: &str = "pid1check-end ";

/// One tracepoint hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessEvent {
    /// `CLOCK_MONOTONIC` nanoseconds (the trace has microseconds; see [`clamp_to_marks`]).
    pub mono_ns: u64,
    /// Host pid (thread id) of the task that was running: the sender of a generated signal,
    /// the receiver of a delivered one, the parent of a fork, the exiting task.
    pub task_pid: i32,
    /// That task's `comm`.
    pub task_comm: String,
    /// What happened.
    pub kind: WitnessKind,
}

/// What a tracepoint recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum WitnessKind {
    /// `signal:signal_generate`: the running task sent `signal` to `receiver`.
    Generate {
        /// Host pid of the receiver.
        receiver: i32,
        /// The receiver's `comm`.
        receiver_comm: String,
        /// Signal number.
        signal: i32,
        /// `si_code` (`SI_USER` for `SEND_SIG_NOINFO`, `SI_KERNEL` for `SEND_SIG_PRIV`).
        code: i32,
        /// Sent to the whole thread group (`kill`), not one thread (`tgkill`).
        group: bool,
        /// What the kernel did with it.
        result: GenerateResult,
    },
    /// `signal:signal_deliver`: the running task dequeued `signal` to act on it.
    Deliver {
        /// Signal number.
        signal: i32,
        /// `si_code`.
        code: i32,
        /// The disposition: 0 `SIG_DFL`, 1 `SIG_IGN`, else a handler's address.
        sa_handler: u64,
        /// `sa_flags` of the disposition.
        sa_flags: u64,
    },
    /// `sched:sched_process_fork`: `parent` created `child` (a process or a thread).
    Fork {
        /// Host pid of the parent.
        parent: i32,
        /// Host pid (thread id) of the child.
        child: i32,
        /// The child's `comm` at fork time.
        child_comm: String,
    },
    /// `sched:sched_process_exit`: a task exited. This kernel's event has no exit code.
    Exit {
        /// Host pid (thread id).
        pid: i32,
        /// The last thread of its process: the process is gone (a zombie until reaped).
        group_dead: bool,
    },
    /// A line the launcher wrote to `trace_marker`: the action at `action_ns` happened
    /// before every event after this line.
    Mark {
        /// `CLOCK_MONOTONIC` nanoseconds of the action.
        action_ns: u64,
    },
    /// A line the harness wrote to `trace_marker`: a run's window begins or ends. Everything
    /// of the run lies between its two lines.
    Window {
        /// The run's token.
        token: u64,
        /// The end (after its launcher exited), or the beginning (before it started).
        end: bool,
    },
}

/// The kernel's `enum trace_signal_generate` result (include/trace/events/signal.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GenerateResult {
    /// `TRACE_SIGNAL_DELIVERED`: queued for the receiver.
    Delivered,
    /// `TRACE_SIGNAL_IGNORED`: dropped (ignored disposition, protected init, dying receiver).
    Ignored,
    /// `TRACE_SIGNAL_ALREADY_PENDING`: a standard signal already pending; merged.
    AlreadyPending,
    /// `TRACE_SIGNAL_OVERFLOW_FAIL`: the real-time queue was full.
    OverflowFail,
    /// `TRACE_SIGNAL_LOSE_INFO`: queued without its siginfo.
    LoseInfo,
}

impl GenerateResult {
    fn from_raw(raw: i32) -> Option<GenerateResult> {
        Some(match raw {
            0 => GenerateResult::Delivered,
            1 => GenerateResult::Ignored,
            2 => GenerateResult::AlreadyPending,
            3 => GenerateResult::OverflowFail,
            4 => GenerateResult::LoseInfo,
            _ => return None,
        })
    }
}

/// The events of a `trace` file, in file order (the kernel merges its per-CPU buffers by
/// timestamp). Comment lines are skipped; returns the events and the lines not understood.
pub fn parse_trace(text: &str) -> (Vec<WitnessEvent>, Vec<String>) {
    let mut events = Vec::new();
    let mut unparsed = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        match parse_line(line) {
            Some(event) => events.push(event),
            None => unparsed.push(line.to_owned()),
        }
    }
    (events, unparsed)
}

/// The trace's times have microseconds; the actions that open phases have nanoseconds. An
/// event after a mark of `launcher_pid` in file order happened after that mark's action, so
/// its time is raised to at least the action's: the phase it lands in is then exact, not
/// rounded. Other launchers' marks are not this run's actions.
pub fn clamp_to_marks(events: &mut [WitnessEvent], launcher_pid: i32) {
    let mut floor = 0;
    for event in events {
        if let WitnessKind::Mark { action_ns } = event.kind
            && event.task_pid == launcher_pid
        {
            floor = floor.max(action_ns);
        }
        event.mono_ns = event.mono_ns.max(floor);
    }
}

/// One line: `comm-pid [cpu] flags secs.usecs: event: fields`.
pub fn parse_line(line: &str) -> Option<WitnessEvent> {
    let (task, rest) = split_task(line)?;
    let (task_comm, task_pid) = task.trim_start().rsplit_once('-')?;
    let task_pid = task_pid.parse().ok()?;
    // After the CPU: the flags column (absent without the `irq-info` option), then the
    // timestamp ending in ':'.
    let (first, after) = rest.trim_start().split_once(' ')?;
    let (timestamp, tail) = if first.ends_with(':') {
        (first, after)
    } else {
        after.trim_start().split_once(' ')?
    };
    let mono_ns = parse_timestamp(timestamp.strip_suffix(':')?)?;
    let (name, fields) = tail.trim_start().split_once(": ")?;
    let kind = match name {
        "signal_generate" => parse_generate(fields)?,
        "signal_deliver" => parse_deliver(fields)?,
        "sched_process_fork" => parse_fork(fields)?,
        "sched_process_exit" => parse_exit(fields)?,
        "tracing_mark_write" => parse_mark(fields.trim())?,
        _ => return None,
    };
    Some(WitnessEvent {
        mono_ns,
        task_pid,
        task_comm: task_comm.to_owned(),
        kind,
    })
}

/// Splits `comm-pid [cpu] rest` at the CPU column. A comm may hold spaces and dashes, so the
/// column is the first ` [digits]` whose left side ends in `-digits`.
fn split_task(line: &str) -> Option<(&str, &str)> {
    let mut from = 0;
    while let Some(at) = line[from..].find(" [").map(|i| i + from) {
        let after = &line[at + 2..];
        if let Some(close) = after.find(']') {
            let cpu = &after[..close];
            let left = line[..at].trim_end();
            let pid_ok = left
                .rsplit_once('-')
                .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
            if !cpu.is_empty() && cpu.bytes().all(|b| b.is_ascii_digit()) && pid_ok {
                return Some((left, &after[close + 1..]));
            }
        }
        from = at + 2;
    }
    None
}

/// `2090.197660` → nanoseconds.
fn parse_timestamp(text: &str) -> Option<u64> {
    let (secs, fraction) = text.trim().split_once('.')?;
    let secs: u64 = secs.parse().ok()?;
    if fraction.is_empty() || fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let scale = 10u64.pow(9 - fraction.len() as u32);
    let fraction: u64 = fraction.parse().ok()?;
    secs.checked_mul(1_000_000_000)?
        .checked_add(fraction * scale)
}

/// The values of `key=value` fields in the given order. A string field (`comm`) may hold
/// spaces, so each value runs to the next key's ` key=`, searched from the right for the key
/// after a string field (numbers never contain ` key=`).
fn fields<'a, const N: usize>(
    text: &'a str,
    keys: [&str; N],
    strings: &[&str],
) -> Option<[&'a str; N]> {
    let mut out = [""; N];
    let mut rest = text.trim();
    for (i, key) in keys.iter().enumerate() {
        rest = rest.strip_prefix(key)?.strip_prefix('=')?;
        let Some(next) = keys.get(i + 1) else {
            out[i] = rest.trim();
            break;
        };
        let marker = format!(" {next}=");
        let at = if strings.contains(key) {
            rest.rfind(&marker)?
        } else {
            rest.find(&marker)?
        };
        out[i] = &rest[..at];
        rest = &rest[at + 1..];
    }
    Some(out)
}

fn int(text: &str) -> Option<i32> {
    text.parse().ok()
}

fn hex(text: &str) -> Option<u64> {
    u64::from_str_radix(text, 16).ok()
}

fn parse_mark(text: &str) -> Option<WitnessKind> {
    let number = |prefix: &str| -> Option<u64> { text.strip_prefix(prefix)?.trim().parse().ok() };
    if let Some(action_ns) = number(MARK_PREFIX) {
        return Some(WitnessKind::Mark { action_ns });
    }
    if let Some(token) = number(BEGIN_PREFIX) {
        return Some(WitnessKind::Window { token, end: false });
    }
    number(END_PREFIX).map(|token| WitnessKind::Window { token, end: true })
}

fn parse_generate(text: &str) -> Option<WitnessKind> {
    let [sig, _errno, code, comm, pid, grp, res] = fields(
        text,
        ["sig", "errno", "code", "comm", "pid", "grp", "res"],
        &["comm"],
    )?;
    Some(WitnessKind::Generate {
        receiver: int(pid)?,
        receiver_comm: comm.to_owned(),
        signal: int(sig)?,
        code: int(code)?,
        group: int(grp)? != 0,
        result: GenerateResult::from_raw(int(res)?)?,
    })
}

fn parse_deliver(text: &str) -> Option<WitnessKind> {
    let [sig, _errno, code, handler, flags] = fields(
        text,
        ["sig", "errno", "code", "sa_handler", "sa_flags"],
        &[],
    )?;
    Some(WitnessKind::Deliver {
        signal: int(sig)?,
        code: int(code)?,
        sa_handler: hex(handler)?,
        sa_flags: hex(flags)?,
    })
}

fn parse_fork(text: &str) -> Option<WitnessKind> {
    let [_comm, pid, child_comm, child_pid] = fields(
        text,
        ["comm", "pid", "child_comm", "child_pid"],
        &["comm", "child_comm"],
    )?;
    Some(WitnessKind::Fork {
        parent: int(pid)?,
        child: int(child_pid)?,
        child_comm: child_comm.to_owned(),
    })
}

fn parse_exit(text: &str) -> Option<WitnessKind> {
    let [_comm, pid, _prio, group_dead] =
        fields(text, ["comm", "pid", "prio", "group_dead"], &["comm"])?;
    Some(WitnessKind::Exit {
        pid: int(pid)?,
        group_dead: match group_dead {
            "true" => true,
            "false" => false,
            _ => return None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Lines captured on this machine (Linux 6.18) from an instance with the four events on,
    // while `unshare --pid --fork sh -c '...'` ran: a shell as PID 1 sending itself USR1
    // (trapped to ignore), TERM and KILL, all dropped, then exiting; the kernel then SIGKILLed
    // the two `sleep`s left in its namespace.
    const CAPTURED: &str = "\
# tracer: nop
#
#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
#              | |         |   |||||     |         |
         unshare-30903   [001] .....  2090.202143: sched_process_fork: comm=unshare pid=30903 child_comm=unshare child_pid=30904
              sh-30906   [001] dN.2.  2090.209555: signal_generate: sig=17 errno=0 code=1 comm=sh pid=30904 grp=1 res=0
              sh-30904   [001] d..1.  2090.209576: signal_deliver: sig=17 errno=0 code=1 sa_handler=55e25e48cdc0 sa_flags=4000000
              sh-30904   [001] d..1.  2090.209621: signal_generate: sig=15 errno=0 code=0 comm=sh pid=30904 grp=1 res=1
              sh-30904   [001] .....  2090.322433: sched_process_exit: comm=sh pid=30904 prio=120 group_dead=true
              sh-30904   [001] dN.2.  2090.322550: signal_generate: sig=9 errno=0 code=128 comm=sleep pid=30905 grp=1 res=0
           sleep-30905   [001] d..1.  2090.322562: signal_deliver: sig=9 errno=0 code=0 sa_handler=0 sa_flags=0
      opt cgu.12-30909   [001] .....  2090.323280: sched_process_exit: comm=opt cgu.12 pid=30909 prio=120 group_dead=false
";

    #[test]
    fn every_captured_line_parses_to_its_fields() {
        let (events, unparsed) = parse_trace(CAPTURED);
        assert!(unparsed.is_empty(), "{unparsed:?}");
        let got: Vec<(u64, i32, &str, &WitnessKind)> = events
            .iter()
            .map(|e| (e.mono_ns, e.task_pid, e.task_comm.as_str(), &e.kind))
            .collect();
        let generate = |receiver, comm: &str, signal, code, result| WitnessKind::Generate {
            receiver,
            receiver_comm: comm.to_owned(),
            signal,
            code,
            group: true,
            result,
        };
        assert_eq!(
            got,
            [
                (
                    2_090_202_143_000,
                    30903,
                    "unshare",
                    &WitnessKind::Fork {
                        parent: 30903,
                        child: 30904,
                        child_comm: "unshare".to_owned()
                    }
                ),
                (
                    2_090_209_555_000,
                    30906,
                    "sh",
                    &generate(30904, "sh", 17, 1, GenerateResult::Delivered)
                ),
                (
                    2_090_209_576_000,
                    30904,
                    "sh",
                    &WitnessKind::Deliver {
                        signal: 17,
                        code: 1,
                        sa_handler: 0x55e2_5e48_cdc0,
                        sa_flags: 0x400_0000
                    }
                ),
                (
                    2_090_209_621_000,
                    30904,
                    "sh",
                    &generate(30904, "sh", 15, 0, GenerateResult::Ignored)
                ),
                (
                    2_090_322_433_000,
                    30904,
                    "sh",
                    &WitnessKind::Exit {
                        pid: 30904,
                        group_dead: true
                    }
                ),
                (
                    2_090_322_550_000,
                    30904,
                    "sh",
                    &generate(30905, "sleep", 9, 128, GenerateResult::Delivered)
                ),
                (
                    2_090_322_562_000,
                    30905,
                    "sleep",
                    &WitnessKind::Deliver {
                        signal: 9,
                        code: 0,
                        sa_handler: 0,
                        sa_flags: 0
                    }
                ),
                (
                    2_090_323_280_000,
                    30909,
                    "opt cgu.12",
                    &WitnessKind::Exit {
                        pid: 30909,
                        group_dead: false
                    }
                ),
            ]
        );
    }

    #[test]
    fn a_comm_with_spaces_and_dashes_keeps_them() {
        let line = "   my-init -x-41 [000] d..2.  12.000001: signal_generate: sig=15 errno=0 \
                    code=0 comm=a b pid=7 pid=42 grp=0 res=2";
        let event = parse_line(line);
        assert_eq!(
            event.map(|e| (e.task_comm, e.task_pid, e.kind)),
            Some((
                "my-init -x".to_owned(),
                41,
                WitnessKind::Generate {
                    receiver: 42,
                    receiver_comm: "a b pid=7".to_owned(),
                    signal: 15,
                    code: 0,
                    group: false,
                    result: GenerateResult::AlreadyPending,
                }
            ))
        );
    }

    #[test]
    fn marks_of_the_launcher_raise_later_events_to_the_action_time() {
        let text = "\
   pid1check-harn-499 [000] .....  10.000000: tracing_mark_write: pid1check-begin 7
 pid1check-launc-600 [000] .....  10.000001: tracing_mark_write: pid1check-mark 10000001900
 pid1check-launc-500 [001] .....  10.000001: tracing_mark_write: pid1check-mark 10000001500
 pid1check-launc-500 [001] d..1.  10.000001: signal_generate: sig=15 errno=0 code=0 comm=tini pid=501 grp=1 res=0
   pid1check-harn-499 [000] .....  10.000002: tracing_mark_write: pid1check-end 7
";
        let (mut events, unparsed) = parse_trace(text);
        assert!(unparsed.is_empty(), "{unparsed:?}");
        assert_eq!(
            events[0].kind,
            WitnessKind::Window {
                token: 7,
                end: false
            }
        );
        assert_eq!(
            events[4].kind,
            WitnessKind::Window {
                token: 7,
                end: true
            }
        );
        assert_eq!(events[3].mono_ns, 10_000_001_000);
        // Launcher 600's mark is another run's: only 500's raises the signal's time.
        clamp_to_marks(&mut events, 500);
        assert_eq!(
            events.iter().map(|e| e.mono_ns).collect::<Vec<_>>(),
            [
                10_000_000_000,
                10_000_001_000,
                10_000_001_500,
                10_000_001_500,
                10_000_002_000
            ]
        );
    }

    #[test]
    fn unknown_or_malformed_lines_are_returned_not_guessed() {
        let text = "\
            sh-1 [000] .....  1.000000: sched_switch: prev_comm=sh prev_pid=1
            sh-1 [000] .....  1.000000: signal_generate: sig=x errno=0 code=0 comm=sh pid=2 grp=1 res=0
            sh-1 [000] .....  1.000000: signal_generate: sig=9 errno=0 code=0 comm=sh pid=2 grp=1 res=7
no task column here
";
        let (events, unparsed) = parse_trace(text);
        assert!(events.is_empty());
        assert_eq!(unparsed.len(), 4);
    }
}
