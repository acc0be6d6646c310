//! Judging: each expectation of a case against the normalised trace, with the evidence.
//!
//! Every verdict cites the normalised events that decided it. What the observers that ran
//! cannot show is `unknown`, never pass (DESIGN.md rule 2); a `must` that is unknown makes the
//! run unknown, a `should` never fails a run.

use serde::{Deserialize, Serialize};

use crate::matrix::Outcome;
use crate::normal::{
    NormalEvent, NormalTrace, PID1, PRE_STOP_MARK, Phase, RUNTIME, STOP_SIGNAL_MARK,
    VANISHED_DETAIL, errno_name, event,
};
use crate::observe::Observer;
use crate::signal::SignalNumber;
use crate::spec::{
    Applies, CandidateKind, Case, Expectation, ExpectationKind, Level, RebootErrno, SignalRef,
};

/// The result of one expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VerdictResult {
    /// Observed to hold.
    #[serde(rename = "pass")]
    Pass,
    /// Observed not to hold.
    #[serde(rename = "fail")]
    Fail,
    /// Not observable with the observers that ran.
    #[serde(rename = "unknown")]
    Unknown,
    /// Does not apply to this candidate or run.
    #[serde(rename = "n/a")]
    NotApplicable,
}

impl VerdictResult {
    /// The word `results.json` uses (the serde spelling).
    pub fn name(self) -> &'static str {
        match self {
            VerdictResult::Pass => "pass",
            VerdictResult::Fail => "fail",
            VerdictResult::Unknown => "unknown",
            VerdictResult::NotApplicable => "n/a",
        }
    }
}

/// One expectation judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The expectation in words (`app caught TERM`).
    pub expectation: String,
    /// `must` or `should`.
    pub level: Level,
    /// Pass, fail, unknown or n/a.
    pub result: VerdictResult,
    /// What in the trace decided it.
    pub evidence: String,
}

/// Judges the default reading of `case` (`must` first, in file order) against `trace`,
/// knowing which `observers` ran.
pub fn judge(case: &Case, trace: &NormalTrace, observers: &[Observer]) -> Vec<Verdict> {
    let candidate = CandidateFacts {
        kind: CandidateKind::Forwarder,
        service_stop: None,
        console: "",
    };
    judge_expectations(
        case,
        &case.default_expectations(),
        trace,
        observers,
        &candidate,
    )
}

/// What the judge knows of the candidate and its run beyond the normalised trace.
#[derive(Debug, Clone, Copy)]
pub struct CandidateFacts<'a> {
    /// Its kind: picks the case's reading.
    pub kind: CandidateKind,
    /// The signal a system manager stops its services with (systemd's `KillSignal=`): `stop`
    /// in the case's expectations about the workload then means that signal, not the one the
    /// runtime sent PID 1.
    pub service_stop: Option<SignalNumber>,
    /// The tail of PID 1's console output (`console-names-workload` reads it).
    pub console: &'a str,
}

/// [`judge`] with the reading of `case` for the candidate's kind. A reading that says the case
/// does not apply judges nothing: such runs are not executed.
pub fn judge_service(
    case: &Case,
    trace: &NormalTrace,
    observers: &[Observer],
    candidate: &CandidateFacts<'_>,
) -> Vec<Verdict> {
    match case.expectations(candidate.kind) {
        Applies::Judge { expectations, .. } => {
            judge_expectations(case, &expectations, trace, observers, candidate)
        }
        Applies::NotApplicable { .. } => Vec::new(),
    }
}

fn judge_expectations(
    case: &Case,
    expectations: &[Expectation],
    trace: &NormalTrace,
    observers: &[Observer],
    candidate: &CandidateFacts<'_>,
) -> Vec<Verdict> {
    let facts = Facts {
        trace,
        observers,
        service_stop: candidate.service_stop,
        console: candidate.console,
        workload: crate::plan::workload_path(case.workload.exec)
            .to_string_lossy()
            .into_owned(),
    };
    let setup_failed = facts.run_end().filter(|e| e.detail == "setup-failed");
    expectations
        .iter()
        .map(|expectation| {
            let (result, evidence) = match setup_failed {
                // The candidate was never tested: nothing about it may pass or fail.
                Some(end) => (
                    VerdictResult::Unknown,
                    format!("not observed: the run's setup failed ({})", cite(end)),
                ),
                None => facts.decide(&expectation.kind),
            };
            Verdict {
                expectation: describe(&expectation.kind),
                level: expectation.level,
                result,
                evidence,
            }
        })
        .collect()
}

/// The run's outcome from its verdicts, with a one-line reason: the first failed `must`, else
/// the first unknown `must`, else pass (its reason the first failed `should`, if any).
pub fn outcome(verdicts: &[Verdict]) -> (Outcome, String) {
    let first = |level: Level, result: VerdictResult| {
        verdicts
            .iter()
            .find(|v| v.level == level && v.result == result)
            .map(|v| format!("{}: {}", v.expectation, v.evidence))
    };
    if let Some(reason) = first(Level::Must, VerdictResult::Fail) {
        (Outcome::Fail, reason)
    } else if let Some(reason) = first(Level::Must, VerdictResult::Unknown) {
        (Outcome::Unknown, reason)
    } else if let Some(reason) = first(Level::Should, VerdictResult::Fail) {
        (Outcome::Pass, format!("should: {reason}"))
    } else {
        (Outcome::Pass, String::new())
    }
}

/// Workload roles that ended without finishing their exit path, in tree order. A role whose
/// probe reported a failure is left out: the probe, not a signal, may have ended it.
pub fn killed_without_cleanup(trace: &NormalTrace) -> Vec<String> {
    trace
        .events
        .iter()
        .filter(|e| e.event == event::VANISHED && e.detail == VANISHED_DETAIL)
        .map(|e| e.role.clone())
        .collect()
}

/// The expectation in words, as reports list it.
pub fn describe(kind: &ExpectationKind) -> String {
    match kind {
        ExpectationKind::Caught {
            role,
            signal,
            at_least,
            times,
        } => match (at_least, times) {
            (_, Some(times)) => format!("{role} caught {} exactly {times} times", words(*signal)),
            (Some(1), None) => format!("{role} caught {} at least once", words(*signal)),
            (Some(at_least), None) => {
                format!("{role} caught {} at least {at_least} times", words(*signal))
            }
            (None, None) => format!("{role} caught {}", words(*signal)),
        },
        ExpectationKind::NotCaught { role, signal } => {
            format!("{role} did not catch {}", words(*signal))
        }
        ExpectationKind::ExitedCleanly { role, code } => {
            format!("{role} exited cleanly with code {code}")
        }
        ExpectationKind::NoZombies { scan } => format!("no zombies at {scan}"),
        ExpectationKind::NotStopped { scan, role } => format!("{role} not stopped at {scan}"),
        ExpectationKind::Pid1Exit { code, signal } => match (code, signal) {
            (Some(code), None) => format!("PID 1 exits with code {code}"),
            (None, Some(signal)) => format!("PID 1 is ended by {signal}"),
            _ => "PID 1's exit status".to_owned(),
        },
        ExpectationKind::NoEscalation => "no SIGKILL escalation needed".to_owned(),
        ExpectationKind::Escalated => "the runtime escalates to SIGKILL".to_owned(),
        ExpectationKind::NoSurvivors => "no process of the run survives PID 1".to_owned(),
        ExpectationKind::KilledBy { role, signal } => format!("{role} killed by {signal}"),
        ExpectationKind::Pid1ExitNonzero => "PID 1 exits by itself with a non-zero code".to_owned(),
        ExpectationKind::Pid1ExitsBeforeStop => {
            "PID 1 exits before the runtime's stop sequence".to_owned()
        }
        ExpectationKind::ConsoleNamesWorkload => {
            "PID 1's console output names the workload's path".to_owned()
        }
        ExpectationKind::RebootFailed { role, errno } => {
            format!("{role}'s reboot(2) fails with {}", errno.name())
        }
    }
}

/// `TERM`, or `the stop signal`.
fn words(signal: SignalRef) -> String {
    match signal {
        SignalRef::Stop => "the stop signal".to_owned(),
        SignalRef::Signal(signal) => signal.name(),
    }
}

/// One event as evidence: `app: caught TERM from=pid1 code=SI_USER in after-stop-signal`.
fn cite(e: &NormalEvent) -> String {
    let mut out = format!("{}: {}", e.role, e.event);
    for part in [e.signal.as_deref(), Some(e.detail.as_str())]
        .into_iter()
        .flatten()
        .filter(|part| !part.is_empty())
    {
        out.push(' ');
        out.push_str(part);
    }
    out.push_str(" in ");
    out.push_str(e.phase.name());
    out
}

/// The observer an expectation needs before absence of evidence means anything.
fn needs(kind: &ExpectationKind) -> Option<Observer> {
    match kind {
        ExpectationKind::Caught { .. }
        | ExpectationKind::NotCaught { .. }
        | ExpectationKind::ExitedCleanly { .. }
        | ExpectationKind::RebootFailed { .. } => Some(Observer::Probe),
        ExpectationKind::NoZombies { .. }
        | ExpectationKind::NotStopped { .. }
        | ExpectationKind::NoSurvivors => Some(Observer::Procfs),
        ExpectationKind::Pid1Exit { .. }
        | ExpectationKind::Pid1ExitNonzero
        | ExpectationKind::Pid1ExitsBeforeStop
        | ExpectationKind::NoEscalation
        | ExpectationKind::Escalated => Some(Observer::ExitStatus),
        // The console is captured in every run.
        ExpectationKind::ConsoleNamesWorkload => None,
        // Decided by whichever of two sources is there: see `killed_by`.
        ExpectationKind::KilledBy { .. } => None,
    }
}

/// How many catches a `caught` expectation wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Catches {
    /// One, before escalation (no count given).
    Once,
    /// At least this many.
    AtLeast(u32),
    /// Exactly this many.
    Exactly(u32),
}

impl Catches {
    /// From the expectation's fields; `times` wins (the loader refuses both).
    fn wanted(at_least: Option<u32>, times: Option<u32>) -> Catches {
        match (at_least, times) {
            (_, Some(times)) => Catches::Exactly(times),
            (Some(at_least), None) => Catches::AtLeast(at_least),
            (None, None) => Catches::Once,
        }
    }

    fn accepts(self, count: u32) -> bool {
        match self {
            Catches::Once => count >= 1,
            Catches::AtLeast(at_least) => count >= at_least,
            Catches::Exactly(times) => count == times,
        }
    }
}

impl std::fmt::Display for Catches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Catches::Once => f.write_str("at least 1 wanted"),
            Catches::AtLeast(at_least) => write!(f, "at least {at_least} wanted"),
            Catches::Exactly(times) => write!(f, "exactly {times} wanted"),
        }
    }
}

/// How evidence quotes the kernel witness.
const WITNESS_SAW: &str = "the kernel witness saw";

/// A verdict's result and evidence.
type Decision = (VerdictResult, String);

fn pass(evidence: String) -> Decision {
    (VerdictResult::Pass, evidence)
}

fn fail(evidence: String) -> Decision {
    (VerdictResult::Fail, evidence)
}

fn unknown(evidence: String) -> Decision {
    (VerdictResult::Unknown, evidence)
}

/// Queries over one normalised trace.
struct Facts<'a> {
    trace: &'a NormalTrace,
    observers: &'a [Observer],
    /// The signal a system manager stops its services with, if the candidate is one.
    service_stop: Option<SignalNumber>,
    /// The tail of PID 1's console output.
    console: &'a str,
    /// The workload's path in PID 1's argv.
    workload: String,
}

impl<'a> Facts<'a> {
    fn decide(&self, kind: &ExpectationKind) -> Decision {
        if let Some(observer) = needs(kind).filter(|o| !self.observers.contains(o)) {
            return unknown(format!(
                "needs the {} observer, which did not run",
                observer.name()
            ));
        }
        let decision = match kind {
            ExpectationKind::Caught {
                role,
                signal,
                at_least,
                times,
            } => match self.resolve(*signal) {
                Ok(signal) => match Catches::wanted(*at_least, *times) {
                    Catches::Once => self.caught(role, &signal),
                    wanted => self.caught_times(role, &signal, wanted),
                },
                Err(decision) => decision,
            },
            ExpectationKind::NotCaught { role, signal } => match self.resolve(*signal) {
                Ok(signal) => self.not_caught(role, &signal),
                Err(decision) => decision,
            },
            ExpectationKind::ExitedCleanly { role, code } => self.exited_cleanly(role, *code),
            ExpectationKind::NoZombies { scan } => self.no_zombies(scan),
            ExpectationKind::NotStopped { scan, role } => self.not_stopped(scan, role),
            ExpectationKind::Pid1Exit { code, signal } => self.pid1_exit(*code, *signal),
            ExpectationKind::NoEscalation => self.escalation(false),
            ExpectationKind::Escalated => self.escalation(true),
            ExpectationKind::NoSurvivors => self.no_survivors(),
            ExpectationKind::KilledBy { role, signal } => self.killed_by(role, *signal),
            ExpectationKind::Pid1ExitNonzero => self.pid1_exit_nonzero(),
            ExpectationKind::Pid1ExitsBeforeStop => self.pid1_exits_before_stop(),
            ExpectationKind::ConsoleNamesWorkload => self.console_names_workload(),
            ExpectationKind::RebootFailed { role, errno } => self.reboot_failed(role, *errno),
        };
        // A probe that failed did not run the workload as scripted: the harness, not the
        // candidate, may be the cause, so it cannot fail the candidate.
        match (decision.0, self.find_event(event::FAILED)) {
            (VerdictResult::Fail, Some(failure)) => unknown(format!(
                "not judged, a probe failed ({}); would have failed: {}",
                cite(failure),
                decision.1
            )),
            _ => decision,
        }
    }

    /// The name of the signal `signal` stands for in this run: `stop` is the stop signal the
    /// runtime sent; a run where it sent none (SIGKILL at once) makes the expectation n/a.
    /// Under a system manager it is the signal the manager stops its services with, once the
    /// runtime asked it to stop, by its signal, by a preStop hook (which may halt it before
    /// the signal is due), or by a signal of its own to PID 1 (podman's RTMIN+3, a case's
    /// `signal` step), which the manager may obey by stopping before the stop sequence.
    fn resolve(&self, signal: SignalRef) -> Result<String, Decision> {
        let runtime = |e: &&NormalEvent, name: &str, mark: &str| {
            e.role == RUNTIME && e.event == name && e.detail.ends_with(mark)
        };
        match signal {
            SignalRef::Signal(signal) => Ok(signal.name()),
            SignalRef::Stop => {
                let sent = self
                    .trace
                    .events
                    .iter()
                    .find(|e| runtime(e, event::SIGNAL_SENT, STOP_SIGNAL_MARK))
                    .and_then(|e| e.signal.clone());
                let hook = || {
                    self.trace.events.iter().any(|e| {
                        runtime(&e, event::EXEC_STARTED, PRE_STOP_MARK)
                            || (e.role == RUNTIME
                                && e.event == event::SIGNAL_SENT
                                && e.detail == "to=pid1")
                    })
                };
                match (sent, self.service_stop) {
                    (Some(_), Some(service)) => Ok(service.name()),
                    (Some(sent), None) => Ok(sent),
                    (None, Some(service)) if hook() => Ok(service.name()),
                    (None, _) => Err((
                        VerdictResult::NotApplicable,
                        "the runtime sent no stop signal in this run".to_owned(),
                    )),
                }
            }
        }
    }

    fn caught(&self, role: &str, signal: &str) -> Decision {
        let caught = self.caught_events(role, signal);
        if let Some(e) = caught.iter().find(|e| e.phase < Phase::AfterEscalation) {
            return pass(cite(e));
        }
        if let Some(e) = caught.first() {
            return fail(format!(
                "{role} caught {signal} only after escalation: {}",
                cite(e)
            ));
        }
        if self.started(role).is_none() {
            return fail(self.never_started(role));
        }
        let seen = self
            .witnessed_signal(role, signal)
            .map(|e| format!("; {WITNESS_SAW} {}", cite(e)))
            .unwrap_or_default();
        fail(format!(
            "{role} never caught {signal}{seen}; {}",
            self.fate(role)
        ))
    }

    /// What the kernel witness saw of `signal` for `role`, which did not catch it: the role's
    /// own line for it (dropped, queued, killed by it), else PID 1 dropping it on the way.
    fn witnessed_signal(&self, role: &str, signal: &str) -> Option<&'a NormalEvent> {
        let about = |e: &&NormalEvent| {
            e.signal.as_deref() == Some(signal)
                && [
                    event::SIGNAL_DROPPED,
                    event::SIGNAL_QUEUED,
                    event::SIGNAL_DEFAULT,
                    event::KILLED,
                ]
                .contains(&e.event.as_str())
        };
        let events = || self.trace.events.iter().filter(about);
        events()
            .find(|e| e.role == role)
            .or_else(|| events().find(|e| e.role == PID1 && e.event == event::SIGNAL_DROPPED))
    }

    fn not_caught(&self, role: &str, signal: &str) -> Decision {
        if let Some(e) = self.caught_events(role, signal).first() {
            return fail(cite(e));
        }
        if self.started(role).is_none() {
            return unknown(format!(
                "{}: nothing shows what it would have caught",
                self.never_started(role)
            ));
        }
        pass(format!("{role} never caught {signal}; {}", self.fate(role)))
    }

    fn exited_cleanly(&self, role: &str, code: i32) -> Decision {
        if let Some(e) = self.find(role, event::EXITING) {
            let expected = format!("code={code}");
            return if e.detail != expected {
                fail(format!("{}, expected {expected}", cite(e)))
            } else if e.phase >= Phase::AfterEscalation {
                fail(format!(
                    "{role} reached its exit path only after escalation: {}",
                    cite(e)
                ))
            } else {
                pass(cite(e))
            };
        }
        if self.started(role).is_none() {
            return fail(self.never_started(role));
        }
        match self.escalated() {
            Some(escalated) => fail(format!(
                "{role} had not reached its exit path when the runtime escalated ({}); {}",
                cite(escalated),
                self.fate(role)
            )),
            None => fail(format!(
                "{role} never reached its exit path; {}",
                self.fate(role)
            )),
        }
    }

    fn no_zombies(&self, scan: &str) -> Decision {
        let prefix = format!("label={scan} zombies=[");
        let found = self.trace.events.iter().find(|e| {
            e.event == event::ZOMBIE_SCAN
                && e.detail
                    .strip_prefix(&prefix)
                    .is_some_and(|rest| rest.ends_with(']'))
        });
        match found {
            Some(e) if e.detail.ends_with("[]") => pass(cite(e)),
            Some(e) => fail(cite(e)),
            None => unknown(self.with_run_end("scan did not run: run ended before it")),
        }
    }

    /// `role` (or PID 1, by whatever name it has in the trace) is not in the stopped list of
    /// the state scan labelled `scan`.
    fn not_stopped(&self, scan: &str, role: &str) -> Decision {
        let prefix = format!("label={scan} stopped=[");
        let found = self.trace.events.iter().find_map(|e| {
            let list = e.detail.strip_prefix(&prefix)?.strip_suffix(']')?;
            (e.event == event::STATE_SCAN).then_some((e, list))
        });
        let Some((e, list)) = found else {
            return unknown(self.with_run_end("scan did not run: run ended before it"));
        };
        let name = if role == PID1 {
            self.pid1_name()
        } else if self.started(role).is_none() {
            return unknown(format!(
                "{}: a process that never ran cannot be seen stopped",
                self.never_started(role)
            ));
        } else {
            role
        };
        if list.split(", ").any(|stopped| stopped == name) {
            fail(format!("{name} was stopped: {}", cite(e)))
        } else {
            pass(cite(e))
        }
    }

    /// The name PID 1 goes by in the trace: a workload role when the candidate execs the app
    /// itself (its parent is outside the namespace), else `pid1`.
    fn pid1_name(&self) -> &'a str {
        self.pid1_exited()
            .or_else(|| {
                self.trace
                    .events
                    .iter()
                    .find(|e| e.event == event::STARTED && e.detail.starts_with("ppid=outside "))
            })
            .map_or(PID1, |e| e.role.as_str())
    }

    fn pid1_exit(&self, code: Option<i32>, signal: Option<SignalNumber>) -> Decision {
        let expected = match (code, signal) {
            (Some(code), None) => format!("exit:{code}"),
            (None, Some(signal)) => format!("signal:{signal}"),
            _ => {
                // The loader rejects this; judging it would blame the candidate for the case.
                return unknown(
                    "BUG IN TEST CASE: pid1-exit needs exactly one of `code` or `signal`"
                        .to_owned(),
                );
            }
        };
        match self.pid1_exited() {
            Some(e) if status_of(e) == Some(expected.as_str()) => pass(cite(e)),
            Some(e) => fail(format!("{}, expected status={expected}", cite(e))),
            None => unknown(self.with_run_end("PID 1's exit status was not observed")),
        }
    }

    /// PID 1 exited with a non-zero code before the runtime sent it anything.
    fn pid1_exit_nonzero(&self) -> Decision {
        let exited = match self
            .pid1_exited_before(|e| e.event == event::SIGNAL_SENT || e.event == event::ESCALATED)
        {
            Ok(exited) => exited,
            Err(decision) => return decision,
        };
        match status_of(exited).and_then(|status| status.strip_prefix("exit:")) {
            Some("0") => fail(format!(
                "{}: the failure is hidden from the runtime",
                cite(exited)
            )),
            Some(_) => pass(cite(exited)),
            None => fail(format!("{}, expected a non-zero exit code", cite(exited))),
        }
    }

    /// PID 1 exited before the runtime began its stop sequence (a preStop hook, the stop
    /// signal, or SIGKILL).
    fn pid1_exits_before_stop(&self) -> Decision {
        self.pid1_exited_before(|e| {
            e.event == event::ESCALATED
                || (e.event == event::SIGNAL_SENT && e.detail.ends_with(STOP_SIGNAL_MARK))
                || (e.event == event::EXEC_STARTED && e.detail.ends_with(PRE_STOP_MARK))
        })
        .map_or_else(|decision| decision, |exited| pass(cite(exited)))
    }

    /// PID 1's `exited` event, unless the runtime did something `acted` matches first (which
    /// fails the expectation) or the exit was not observed (unknown). PID 1's exit is always
    /// the last thing of a run, so any such action came before it.
    fn pid1_exited_before(
        &self,
        acted: impl Fn(&NormalEvent) -> bool,
    ) -> Result<&'a NormalEvent, Decision> {
        let Some(exited) = self.pid1_exited() else {
            return Err(unknown(
                self.with_run_end("PID 1's exit status was not observed"),
            ));
        };
        let first = self
            .trace
            .events
            .iter()
            .find(|e| e.role == RUNTIME && acted(e));
        match first {
            Some(action) => Err(fail(format!(
                "PID 1 did not exit by itself: {} before {}",
                cite(action),
                cite(exited)
            ))),
            None => Ok(exited),
        }
    }

    /// The console's first line that contains the workload's path.
    fn console_names_workload(&self) -> Decision {
        match self
            .console
            .lines()
            .find(|line| line.contains(self.workload.as_str()))
        {
            Some(line) => pass(format!("console: {}", line.trim())),
            None => {
                let last = self.console.lines().rev().find(|l| !l.trim().is_empty());
                fail(match last {
                    Some(line) => format!(
                        "the console never names {}; its last line: {}",
                        self.workload,
                        line.trim()
                    ),
                    None => format!("the console stayed empty; {} is never named", self.workload),
                })
            }
        }
    }

    /// `no-escalation` (`want` false) and `escalated` (`want` true).
    fn escalation(&self, want: bool) -> Decision {
        let escalated = self.escalated();
        let exited = self.pid1_exited();
        match (escalated, exited) {
            (Some(e), _) => {
                let evidence = cite(e);
                if want { pass(evidence) } else { fail(evidence) }
            }
            (None, Some(e)) => {
                let evidence = format!("{}, without escalation", cite(e));
                if want { fail(evidence) } else { pass(evidence) }
            }
            (None, None) => unknown(
                self.with_run_end("PID 1's exit was not observed and the runtime did not escalate"),
            ),
        }
    }

    fn no_survivors(&self) -> Decision {
        match self.find_event(event::SURVIVOR_SCAN) {
            Some(e) if e.detail == "survivors=0" => pass(cite(e)),
            Some(e) => fail(cite(e)),
            None => unknown(self.with_run_end("survivor scan did not run: run ended before it")),
        }
    }

    fn killed_by(&self, role: &str, signal: SignalNumber) -> Decision {
        let expected = format!("signal:{signal}");
        // The reap report of the role's parent; for the role that is PID 1, its parent is the
        // launcher, whose view is the `exited` event.
        let reaped = self.trace.events.iter().find(|e| {
            e.event == event::REAPED
                && e.detail
                    .strip_prefix("child=")
                    .and_then(|rest| rest.strip_prefix(role))
                    .is_some_and(|rest| rest.starts_with(" status="))
        });
        let seen = reaped.or_else(|| self.pid1_exited().filter(|e| e.role == role));
        if let Some(e) = seen {
            return if status_of(e) == Some(expected.as_str()) {
                pass(cite(e))
            } else {
                fail(format!("{}, expected status={expected}", cite(e)))
            };
        }
        if self.observers.contains(&Observer::KernelWitness) {
            return self.witnessed_fatal_signal(role, signal);
        }
        unknown(
            "needs the kernel witness (not run) or a reap report from the role's parent".to_owned(),
        )
    }

    /// `killed-by` from the kernel witness (which ran): the `killed` event of `role` names the
    /// signal that ended it; a role that reached its exit path was not killed.
    fn witnessed_fatal_signal(&self, role: &str, signal: SignalNumber) -> Decision {
        if let Some(e) = self.find(role, event::KILLED) {
            return if e.signal.as_deref() == Some(signal.name().as_str()) {
                pass(cite(e))
            } else {
                fail(format!("{}, expected {signal}", cite(e)))
            };
        }
        if let Some(e) = self.find(role, event::EXITING) {
            return fail(format!("no signal ended {role}: {}", cite(e)));
        }
        if self.started(role).is_none() {
            return unknown(self.never_started(role));
        }
        unknown(self.with_run_end(&format!(
            "the kernel witness saw no fatal signal for {role}, and no reap report of it came \
             from its parent"
        )))
    }

    /// Like [`Facts::caught`], counting: every catch before escalation counts, a collapsed
    /// line of a burst with its `count`. The count is evidence only, never in the snapshot.
    fn caught_times(&self, role: &str, signal: &str, wanted: Catches) -> Decision {
        let caught = self.caught_events(role, signal);
        let in_time: Vec<&&NormalEvent> = caught
            .iter()
            .filter(|e| e.phase < Phase::AfterEscalation)
            .collect();
        let count: u32 = in_time.iter().map(|e| e.count).sum();
        if count == 0 && !wanted.accepts(0) {
            // None in time: the single-catch judgement says why, with its evidence.
            let (result, evidence) = self.caught(role, signal);
            return (result, format!("caught 0 times ({wanted}): {evidence}"));
        }
        let first = in_time
            .first()
            .map(|e| format!("; first: {}", cite(e)))
            .unwrap_or_default();
        let evidence = format!("{role} caught {signal} {count} times ({wanted}){first}");
        if wanted.accepts(count) {
            pass(evidence)
        } else {
            fail(evidence)
        }
    }

    /// The role's probe reported that reboot(2) failed with `errno`.
    fn reboot_failed(&self, role: &str, errno: RebootErrno) -> Decision {
        let wanted = errno_name(errno.raw());
        let failed = self.find(role, event::REBOOT_FAILED);
        match (failed, self.find(role, event::REBOOTING)) {
            (Some(e), _) if e.detail.contains(&format!("errno={wanted}")) => pass(cite(e)),
            (Some(e), _) => fail(format!("not {wanted}: {}", cite(e))),
            (None, Some(e)) => fail(format!(
                "the call did not fail: {} was its last report",
                cite(e)
            )),
            (None, None) if self.started(role).is_none() => unknown(self.never_started(role)),
            (None, None) => {
                unknown(self.with_run_end(&format!("{role} never reported calling reboot(2)")))
            }
        }
    }

    fn caught_events(&self, role: &str, signal: &str) -> Vec<&'a NormalEvent> {
        self.trace
            .events
            .iter()
            .filter(|e| {
                e.role == role && e.event == event::CAUGHT && e.signal.as_deref() == Some(signal)
            })
            .collect()
    }

    fn find(&self, role: &str, name: &str) -> Option<&'a NormalEvent> {
        self.trace
            .events
            .iter()
            .find(|e| e.role == role && e.event == name)
    }

    fn find_event(&self, name: &str) -> Option<&'a NormalEvent> {
        self.trace.events.iter().find(|e| e.event == name)
    }

    fn started(&self, role: &str) -> Option<&'a NormalEvent> {
        self.find(role, event::STARTED)
    }

    fn escalated(&self) -> Option<&'a NormalEvent> {
        self.find_event(event::ESCALATED)
    }

    fn pid1_exited(&self) -> Option<&'a NormalEvent> {
        self.find_event(event::EXITED)
    }

    fn run_end(&self) -> Option<&'a NormalEvent> {
        self.find_event(event::RUN_END)
    }

    /// How a role that started ended: its exit report, or that it vanished (and what killed
    /// it, when the kernel witness saw it).
    fn fate(&self, role: &str) -> String {
        if let Some(e) = self.find(role, event::EXITING) {
            return format!("it reported exiting {} in {}", e.detail, e.phase.name());
        }
        if let Some(e) = self.find(role, event::VANISHED) {
            let killed = self
                .find(role, event::KILLED)
                .map(|k| format!("; {WITNESS_SAW} {}", cite(k)))
                .unwrap_or_default();
            return self.with_run_end(&format!("it vanished in {}{killed}", e.phase.name()));
        }
        self.with_run_end("it never reported how it ended")
    }

    fn never_started(&self, role: &str) -> String {
        self.with_run_end(&format!("{role} never started (no started report)"))
    }

    /// `text`, followed by how the run ended when it did not complete.
    fn with_run_end(&self, text: &str) -> String {
        match self.run_end() {
            Some(end) => format!("{text} ({})", cite(end)),
            None => text.to_owned(),
        }
    }
}

/// The status word of an `exited` or `reaped` event: `exit:0`, `signal:KILL`.
fn status_of(e: &NormalEvent) -> Option<&str> {
    let (_, rest) = e.detail.split_once("status=")?;
    rest.split_whitespace().next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normal::normalise;
    use crate::normal::tests::{CHLD, KILL, TERM, TraceBuilder, case, node, tree};
    use crate::trace::{ActionKind, ExitStatus, RunEnd, Trace};

    const BASELINE: &[Observer] = &Observer::BASELINE;

    fn with(must: Vec<ExpectationKind>, should: Vec<ExpectationKind>) -> Case {
        let mut case = tree();
        case.must = must;
        case.should = should;
        case
    }

    /// Judges one `must` expectation against a trace of the usual tree.
    fn one(
        kind: ExpectationKind,
        trace: &Trace,
        observers: &[Observer],
    ) -> (VerdictResult, String) {
        let case = with(vec![kind], Vec::new());
        let normal = normalise(trace, &case);
        let verdicts = judge(&case, &normal, observers);
        assert_eq!(verdicts.len(), 1);
        let v = &verdicts[0];
        (v.result, v.evidence.clone())
    }

    fn caught(role: &str, signal: i32) -> ExpectationKind {
        ExpectationKind::Caught {
            at_least: None,
            times: None,
            role: role.to_owned(),
            signal: SignalRef::Signal(SignalNumber(signal)),
        }
    }

    fn caught_counted(at_least: Option<u32>, times: Option<u32>) -> ExpectationKind {
        ExpectationKind::Caught {
            at_least,
            times,
            role: "app".to_owned(),
            signal: SignalRef::Signal(SignalNumber(10)),
        }
    }

    /// Judges one `must` against the burst trace of `normal`'s tests.
    fn burst_verdict(kind: ExpectationKind, caught: u64) -> (VerdictResult, String) {
        let mut case = crate::normal::tests::burst_case();
        case.must = vec![kind];
        let normal = normalise(&crate::normal::tests::burst_trace(caught), &case);
        let verdicts = judge(&case, &normal, BASELINE);
        (verdicts[0].result, verdicts[0].evidence.clone())
    }

    #[test]
    fn caught_counts_every_catch_of_a_burst() {
        let (result, evidence) = burst_verdict(caught_counted(None, Some(10)), 10);
        assert_eq!(result, VerdictResult::Pass, "{evidence}");
        assert!(
            evidence
                .starts_with("app caught USR1 10 times (exactly 10 wanted); first: app: caught"),
            "{evidence}"
        );
        let (result, evidence) = burst_verdict(caught_counted(None, Some(10)), 7);
        assert_eq!(result, VerdictResult::Fail, "{evidence}");
        assert!(
            evidence.starts_with("app caught USR1 7 times"),
            "{evidence}"
        );
        let (result, _) = burst_verdict(caught_counted(Some(3), None), 3);
        assert_eq!(result, VerdictResult::Pass);
        let (result, _) = burst_verdict(caught_counted(Some(3), None), 2);
        assert_eq!(result, VerdictResult::Fail);
    }

    #[test]
    fn caught_none_of_a_burst_says_why_like_a_single_catch() {
        let (result, evidence) = burst_verdict(caught_counted(Some(1), None), 0);
        assert_eq!(result, VerdictResult::Fail, "{evidence}");
        assert!(
            evidence.starts_with("caught 0 times (at least 1 wanted): app never caught USR1"),
            "{evidence}"
        );
        let (result, _) = burst_verdict(caught_counted(None, Some(0)), 0);
        assert_eq!(result, VerdictResult::Pass, "exactly none is met by none");
    }

    fn reboot_trace(events: Vec<pid1check_probe::Event>) -> Trace {
        let mut builder = TraceBuilder::new().started(1, "app", 2, [1, 1, 1]);
        for (n, event) in (2..).zip(events) {
            builder = builder.report(n, "app", 2, event);
        }
        builder.build()
    }

    #[test]
    fn reboot_failed_passes_only_on_the_errno_named() {
        use pid1check_probe::{Event, RebootCommand::PowerOff};
        let expect = |errno| ExpectationKind::RebootFailed {
            role: "app".to_owned(),
            errno,
        };
        let refused = reboot_trace(vec![
            Event::Rebooting { command: PowerOff },
            Event::RebootFailed {
                command: PowerOff,
                errno: libc::EPERM,
            },
        ]);
        let (result, evidence) = one(expect(RebootErrno::EPERM), &refused, BASELINE);
        assert_eq!(result, VerdictResult::Pass, "{evidence}");
        assert_eq!(
            evidence,
            "app: reboot-failed command=power-off errno=EPERM in before-stop"
        );
        let (result, evidence) = one(expect(RebootErrno::EINVAL), &refused, BASELINE);
        assert_eq!(result, VerdictResult::Fail, "{evidence}");
        assert!(evidence.starts_with("not EINVAL: "), "{evidence}");
        let rebooted = reboot_trace(vec![Event::Rebooting { command: PowerOff }]);
        let (result, evidence) = one(expect(RebootErrno::EPERM), &rebooted, BASELINE);
        assert_eq!(result, VerdictResult::Fail, "{evidence}");
        assert!(evidence.starts_with("the call did not fail"), "{evidence}");
        let silent = reboot_trace(Vec::new());
        let (result, _) = one(expect(RebootErrno::EPERM), &silent, BASELINE);
        assert_eq!(result, VerdictResult::Unknown, "no report is no evidence");
    }

    fn not_caught(role: &str, signal: i32) -> ExpectationKind {
        ExpectationKind::NotCaught {
            role: role.to_owned(),
            signal: SignalRef::Signal(SignalNumber(signal)),
        }
    }

    fn exited_cleanly(role: &str, code: i32) -> ExpectationKind {
        ExpectationKind::ExitedCleanly {
            role: role.to_owned(),
            code,
        }
    }

    fn killed_by(role: &str, signal: i32) -> ExpectationKind {
        ExpectationKind::KilledBy {
            role: role.to_owned(),
            signal: SignalNumber(signal),
        }
    }

    const KILLED: ExitStatus = ExitStatus::Signaled {
        signal: KILL,
        core_dumped: false,
    };

    /// tini-like PID 1; app and worker exit on TERM, daemon ignores it and is killed when
    /// PID 1 exits with 0. Stop at 10, PID 1 exits at 20.
    fn graceful() -> Trace {
        TraceBuilder::new()
            .started(1, "app", 2, [1, 1, 1])
            .started(2, "worker", 3, [2, 1, 1])
            .started(3, "daemon", 4, [2, 4, 4])
            .ready(4)
            .stop(10, TERM)
            .caught(11, "app", 2, TERM, 1)
            .caught(12, "worker", 3, TERM, 1)
            .exiting(13, "worker", 3, 0)
            .reaped(14, "app", 2, 3, ExitStatus::Exited { code: 0 })
            .exiting(15, "app", 2, 3)
            .zombies(16, "after-app-exit", vec![4, 3])
            .zombies(17, "clean", Vec::new())
            .pid1_exited(20, ExitStatus::Exited { code: 0 })
            .survivors(21, Vec::new())
            .build()
    }

    /// The runtime sends no stop signal and SIGKILLs PID 1 at once (containerd, timeout 0).
    fn killed_at_once() -> Trace {
        TraceBuilder::new()
            .started(1, "app", 2, [1, 1, 1])
            .ready(4)
            .escalated(10)
            .pid1_exited(11, KILLED)
            .build()
    }

    /// Nobody handles TERM in time: the runtime SIGKILLs PID 1 at 30; app catches TERM late.
    fn escalation() -> Trace {
        TraceBuilder::new()
            .started(1, "app", 2, [1, 1, 1])
            .ready(4)
            .stop(10, TERM)
            .escalated(30)
            .caught(31, "app", 2, TERM, 1)
            .pid1_exited(32, KILLED)
            .survivors(33, vec![12345])
            .build()
    }

    #[test]
    fn result_names_are_the_serde_spelling() {
        crate::test_support::assert_names_match_serde(
            &[
                VerdictResult::Pass,
                VerdictResult::Fail,
                VerdictResult::Unknown,
                VerdictResult::NotApplicable,
            ],
            VerdictResult::name,
        );
        crate::test_support::assert_names_match_serde(&[Level::Must, Level::Should], Level::name);
    }

    #[test]
    fn caught_passes_with_the_event_before_escalation() {
        let (result, evidence) = one(caught("app", TERM), &graceful(), BASELINE);
        assert_eq!(result, VerdictResult::Pass);
        assert_eq!(
            evidence,
            "app: caught TERM from=pid1 code=SI_USER in after-stop-signal"
        );
    }

    #[test]
    fn stop_means_the_signal_the_runtime_sent_and_is_na_without_one() {
        let stop = ExpectationKind::Caught {
            at_least: None,
            times: None,
            role: "app".to_owned(),
            signal: SignalRef::Stop,
        };
        let (result, evidence) = one(stop.clone(), &graceful(), BASELINE);
        assert_eq!(result, VerdictResult::Pass, "{evidence}");
        let pwr = TraceBuilder::new()
            .started(1, "app", 2, [1, 1, 1])
            .ready(4)
            .stop(10, libc::SIGPWR)
            .caught(11, "app", 2, TERM, 1)
            .pid1_exited(20, ExitStatus::Exited { code: 0 })
            .build();
        let (result, evidence) = one(stop.clone(), &pwr, BASELINE);
        assert_eq!(
            result,
            VerdictResult::Fail,
            "TERM is not the stop signal here"
        );
        assert!(evidence.starts_with("app never caught PWR"), "{evidence}");
        let killed_at_once = killed_at_once();
        let (result, evidence) = one(stop, &killed_at_once, BASELINE);
        assert_eq!(result, VerdictResult::NotApplicable);
        assert_eq!(evidence, "the runtime sent no stop signal in this run");
    }

    /// Under a system manager, `stop` for the app is the manager's service stop signal: the
    /// runtime's RTMIN+3 went to systemd, which sent the app TERM. Without the runtime's
    /// signal it stays n/a.
    #[test]
    fn stop_means_the_service_stop_signal_under_a_system_manager() {
        let stop = ExpectationKind::Caught {
            at_least: None,
            times: None,
            role: "app".to_owned(),
            signal: SignalRef::Stop,
        };
        let case = with(vec![stop], Vec::new());
        let halt = TraceBuilder::new()
            .started(1, "app", 2, [1, 1, 1])
            .ready(4)
            .stop(10, libc::SIGRTMIN() + 3)
            .caught(11, "app", 2, TERM, 1)
            .pid1_exited(20, ExitStatus::Exited { code: 0 })
            .build();
        let judged = |trace: &Trace, service: Option<SignalNumber>| {
            let candidate = CandidateFacts {
                kind: CandidateKind::SystemManager,
                service_stop: service,
                console: "",
            };
            let verdict = &judge_service(&case, &normalise(trace, &case), BASELINE, &candidate)[0];
            (verdict.result, verdict.evidence.clone())
        };
        let (result, evidence) = judged(&halt, Some(SignalNumber::TERM));
        assert_eq!(result, VerdictResult::Pass, "{evidence}");
        // A preStop hook halted systemd, which exited before the signal was due.
        let hook_only = TraceBuilder::new()
            .started(1, "app", 2, [1, 1, 1])
            .ready(4)
            .action(
                10,
                ActionKind::ExecStarted {
                    command: "kill -RTMIN+3 1".to_owned(),
                    pre_stop: true,
                },
            )
            .caught(11, "app", 2, TERM, 1)
            .pid1_exited(20, ExitStatus::Exited { code: 0 })
            .build();
        let (result, evidence) = judged(&hook_only, Some(SignalNumber::TERM));
        assert_eq!(result, VerdictResult::Pass, "{evidence}");
        let (result, _) = judged(&hook_only, None);
        assert_eq!(
            result,
            VerdictResult::NotApplicable,
            "no signal, no service"
        );
        let (result, evidence) = judged(&halt, None);
        assert_eq!(
            result,
            VerdictResult::Fail,
            "RTMIN+3 is the stop signal: {evidence}"
        );
        let killed_at_once = killed_at_once();
        let (result, _) = judged(&killed_at_once, Some(SignalNumber::TERM));
        assert_eq!(result, VerdictResult::NotApplicable);
    }

    #[test]
    fn caught_fails_when_only_after_escalation() {
        let (result, evidence) = one(caught("app", TERM), &escalation(), BASELINE);
        assert_eq!(result, VerdictResult::Fail);
        assert_eq!(
            evidence,
            "app caught TERM only after escalation: \
             app: caught TERM from=pid1 code=SI_USER in after-escalation"
        );
    }

    #[test]
    fn caught_fails_when_never_caught_naming_the_fate() {
        let (result, evidence) = one(caught("daemon", TERM), &graceful(), BASELINE);
        assert_eq!(result, VerdictResult::Fail);
        assert_eq!(
            evidence,
            "daemon never caught TERM; it vanished in after-teardown"
        );
        let (result, evidence) = one(caught("worker", CHLD), &graceful(), BASELINE);
        assert_eq!(result, VerdictResult::Fail);
        assert_eq!(
            evidence,
            "worker never caught CHLD; it reported exiting code=0 in after-stop-signal"
        );
    }

    #[test]
    fn caught_fails_when_never_started_citing_the_run_end() {
        let trace = TraceBuilder::new()
            .started(1, "app", 2, [1, 1, 1])
            .end(RunEnd::NeverReady {
                missing: vec!["worker".to_owned()],
                pid1: None,
            })
            .build();
        let (result, evidence) = one(caught("worker", TERM), &trace, BASELINE);
        assert_eq!(result, VerdictResult::Fail);
        assert_eq!(
            evidence,
            "worker never started (no started report) \
             (runtime: run-end never-ready missing=[worker] in after-teardown)"
        );
    }

    #[test]
    fn caught_is_unknown_without_the_probe() {
        let (result, evidence) = one(caught("app", TERM), &graceful(), &[Observer::Procfs]);
        assert_eq!(result, VerdictResult::Unknown);
        assert_eq!(evidence, "needs the probe observer, which did not run");
    }

    #[test]
    fn not_caught_passes_fails_and_is_unknown_for_a_role_that_never_started() {
        let (result, evidence) = one(not_caught("daemon", TERM), &graceful(), BASELINE);
        assert_eq!(result, VerdictResult::Pass);
        assert_eq!(
            evidence,
            "daemon never caught TERM; it vanished in after-teardown"
        );

        // Caught after escalation still counts: the handler ran.
        let (result, evidence) = one(not_caught("app", TERM), &escalation(), BASELINE);
        assert_eq!(result, VerdictResult::Fail);
        assert_eq!(
            evidence,
            "app: caught TERM from=pid1 code=SI_USER in after-escalation"
        );

        let (result, _) = one(not_caught("worker", TERM), &escalation(), BASELINE);
        assert_eq!(result, VerdictResult::Unknown);
    }

    #[test]
    fn exited_cleanly_passes_or_fails_with_what_happened_instead() {
        let (result, evidence) = one(exited_cleanly("worker", 0), &graceful(), BASELINE);
        assert_eq!(result, VerdictResult::Pass);
        assert_eq!(evidence, "worker: exiting code=0 in after-stop-signal");

        let (result, evidence) = one(exited_cleanly("app", 0), &graceful(), BASELINE);
        assert_eq!(result, VerdictResult::Fail);
        assert_eq!(
            evidence,
            "app: exiting code=3 in after-stop-signal, expected code=0"
        );

        let (result, evidence) = one(exited_cleanly("daemon", 0), &graceful(), BASELINE);
        assert_eq!(result, VerdictResult::Fail);
        assert_eq!(
            evidence,
            "daemon never reached its exit path; it vanished in after-teardown"
        );

        let (result, evidence) = one(exited_cleanly("app", 0), &escalation(), BASELINE);
        assert_eq!(result, VerdictResult::Fail);
        assert_eq!(
            evidence,
            "app had not reached its exit path when the runtime escalated \
             (runtime: escalated SIGKILL to pid1 in after-escalation); \
             it vanished in after-teardown"
        );
    }

    #[test]
    fn exited_cleanly_fails_when_the_exit_came_after_escalation() {
        let trace = TraceBuilder::new()
            .started(1, "app", 2, [1, 1, 1])
            .stop(10, TERM)
            .escalated(30)
            .exiting(31, "app", 2, 0)
            .build();
        let (result, evidence) = one(exited_cleanly("app", 0), &trace, BASELINE);
        assert_eq!(result, VerdictResult::Fail);
        assert_eq!(
            evidence,
            "app reached its exit path only after escalation: \
             app: exiting code=0 in after-escalation"
        );
    }

    #[test]
    fn no_zombies_pass_fail_and_unknown() {
        let scan = |label: &str| ExpectationKind::NoZombies {
            scan: label.to_owned(),
        };
        let (result, evidence) = one(scan("clean"), &graceful(), BASELINE);
        assert_eq!(result, VerdictResult::Pass);
        assert_eq!(
            evidence,
            "runtime: zombie-scan label=clean zombies=[] in after-stop-signal"
        );

        let (result, evidence) = one(scan("after-app-exit"), &graceful(), BASELINE);
        assert_eq!(result, VerdictResult::Fail);
        assert_eq!(
            evidence,
            "runtime: zombie-scan label=after-app-exit zombies=[daemon, worker] \
             in after-stop-signal"
        );

        // A label that is a prefix of another is not that scan.
        let (result, evidence) = one(scan("after"), &graceful(), BASELINE);
        assert_eq!(result, VerdictResult::Unknown);
        assert_eq!(evidence, "scan did not run: run ended before it");

        let deadline = TraceBuilder::new().end(RunEnd::DeadlineExceeded).build();
        let (result, evidence) = one(scan("clean"), &deadline, BASELINE);
        assert_eq!(result, VerdictResult::Unknown);
        assert_eq!(
            evidence,
            "scan did not run: run ended before it \
             (runtime: run-end deadline-exceeded in after-teardown)"
        );

        let (result, _) = one(scan("clean"), &graceful(), &[Observer::Probe]);
        assert_eq!(result, VerdictResult::Unknown);
    }

    /// The tree of most tests, where dumb-init-like PID 1 stopped the worker, and PID 1 itself
    /// (pid 1) shows up in a second scan.
    fn stopped_scans() -> Trace {
        let scan = |label: &str, stopped: Vec<i32>| ActionKind::StateScan {
            label: label.to_owned(),
            stopped,
        };
        TraceBuilder::new()
            .started(1, "app", 2, [1, 2, 2])
            .started(2, "worker", 3, [2, 2, 2])
            .started(3, "daemon", 4, [2, 4, 4])
            .ready(4)
            .action(5, scan("after-tstp", vec![3]))
            .action(6, scan("frozen", vec![4, 1, 2, 3]))
            .action(7, scan("after-cont", Vec::new()))
            .stop(10, TERM)
            .pid1_exited(20, ExitStatus::Exited { code: 0 })
            .build()
    }

    fn not_stopped(scan: &str, role: &str) -> ExpectationKind {
        ExpectationKind::NotStopped {
            scan: scan.to_owned(),
            role: role.to_owned(),
        }
    }

    #[test]
    fn not_stopped_reads_the_scan_by_its_label() {
        let trace = stopped_scans();
        let (result, evidence) = one(not_stopped("after-tstp", "app"), &trace, BASELINE);
        assert_eq!(result, VerdictResult::Pass, "{evidence}");
        assert_eq!(
            evidence,
            "runtime: state-scan label=after-tstp stopped=[worker] in before-stop"
        );
        let (result, evidence) = one(not_stopped("after-tstp", "worker"), &trace, BASELINE);
        assert_eq!(result, VerdictResult::Fail);
        assert_eq!(
            evidence,
            "worker was stopped: runtime: state-scan label=after-tstp stopped=[worker] \
             in before-stop"
        );
        let (result, _) = one(not_stopped("after-cont", "worker"), &trace, BASELINE);
        assert_eq!(result, VerdictResult::Pass);
        // A label that is a prefix of another is not that scan.
        let (result, evidence) = one(not_stopped("after", "app"), &trace, BASELINE);
        assert_eq!(result, VerdictResult::Unknown);
        assert_eq!(evidence, "scan did not run: run ended before it");
        let (result, _) = one(not_stopped("after-tstp", "app"), &trace, &[Observer::Probe]);
        assert_eq!(result, VerdictResult::Unknown, "needs the /proc observer");
    }

    #[test]
    fn not_stopped_pid1_means_pid1_by_whatever_name_it_has() {
        let trace = stopped_scans();
        let (result, evidence) = one(not_stopped("frozen", "pid1"), &trace, BASELINE);
        assert_eq!(result, VerdictResult::Fail);
        assert!(evidence.starts_with("pid1 was stopped: "), "{evidence}");
        let (result, _) = one(not_stopped("after-tstp", "pid1"), &trace, BASELINE);
        assert_eq!(result, VerdictResult::Pass);
        // No init: the app is PID 1 (its parent is outside the namespace) and is stopped.
        let bare = TraceBuilder::new()
            .started(1, "app", 1, [0, 0, 0])
            .ready(2)
            .action(
                3,
                ActionKind::StateScan {
                    label: "frozen".to_owned(),
                    stopped: vec![1],
                },
            )
            .build();
        let (result, evidence) = one(not_stopped("frozen", "pid1"), &bare, BASELINE);
        assert_eq!(result, VerdictResult::Fail, "{evidence}");
        assert!(evidence.starts_with("app was stopped: "), "{evidence}");
    }

    #[test]
    fn a_role_that_never_started_is_not_seen_not_stopped() {
        let trace = TraceBuilder::new()
            .started(1, "app", 2, [1, 2, 2])
            .action(
                3,
                ActionKind::StateScan {
                    label: "after-tstp".to_owned(),
                    stopped: Vec::new(),
                },
            )
            .build();
        let (result, evidence) = one(not_stopped("after-tstp", "daemon"), &trace, BASELINE);
        assert_eq!(result, VerdictResult::Unknown);
        assert!(evidence.contains("daemon never started"), "{evidence}");
    }

    #[test]
    fn pid1_exit_by_code_or_signal() {
        let by_code = |code| ExpectationKind::Pid1Exit {
            code: Some(code),
            signal: None,
        };
        let by_kill = ExpectationKind::Pid1Exit {
            code: None,
            signal: Some(SignalNumber::KILL),
        };
        let (result, evidence) = one(by_code(0), &graceful(), BASELINE);
        assert_eq!(result, VerdictResult::Pass);
        assert_eq!(evidence, "pid1: exited status=exit:0 in after-teardown");

        let (result, evidence) = one(by_code(0), &escalation(), BASELINE);
        assert_eq!(result, VerdictResult::Fail);
        assert_eq!(
            evidence,
            "pid1: exited status=signal:KILL in after-teardown, expected status=exit:0"
        );

        let (result, _) = one(by_kill.clone(), &escalation(), BASELINE);
        assert_eq!(result, VerdictResult::Pass);

        let never = TraceBuilder::new().end(RunEnd::DeadlineExceeded).build();
        let (result, _) = one(by_kill, &never, BASELINE);
        assert_eq!(result, VerdictResult::Unknown);

        let both = ExpectationKind::Pid1Exit {
            code: Some(0),
            signal: Some(SignalNumber::KILL),
        };
        let (result, evidence) = one(both, &graceful(), BASELINE);
        assert_eq!(result, VerdictResult::Unknown);
        assert!(evidence.starts_with("BUG IN TEST CASE"), "{evidence}");
    }

    #[test]
    fn no_escalation_and_escalated_are_inverse() {
        let no = ExpectationKind::NoEscalation;
        let yes = ExpectationKind::Escalated;
        let (result, evidence) = one(no.clone(), &graceful(), BASELINE);
        assert_eq!(result, VerdictResult::Pass);
        assert_eq!(
            evidence,
            "pid1: exited status=exit:0 in after-teardown, without escalation"
        );
        let (result, _) = one(yes.clone(), &graceful(), BASELINE);
        assert_eq!(result, VerdictResult::Fail);

        let (result, evidence) = one(no.clone(), &escalation(), BASELINE);
        assert_eq!(result, VerdictResult::Fail);
        assert_eq!(
            evidence,
            "runtime: escalated SIGKILL to pid1 in after-escalation"
        );
        let (result, _) = one(yes.clone(), &escalation(), BASELINE);
        assert_eq!(result, VerdictResult::Pass);

        let never = TraceBuilder::new()
            .stop(10, TERM)
            .end(RunEnd::DeadlineExceeded)
            .build();
        assert_eq!(one(no, &never, BASELINE).0, VerdictResult::Unknown);
        assert_eq!(one(yes, &never, BASELINE).0, VerdictResult::Unknown);
    }

    #[test]
    fn no_survivors_pass_fail_and_unknown() {
        let kind = ExpectationKind::NoSurvivors;
        let (result, evidence) = one(kind.clone(), &graceful(), BASELINE);
        assert_eq!(result, VerdictResult::Pass);
        assert_eq!(
            evidence,
            "runtime: survivor-scan survivors=0 in after-teardown"
        );
        let (result, evidence) = one(kind.clone(), &escalation(), BASELINE);
        assert_eq!(result, VerdictResult::Fail);
        assert_eq!(
            evidence,
            "runtime: survivor-scan survivors=1 in after-teardown"
        );
        let never = TraceBuilder::new().end(RunEnd::DeadlineExceeded).build();
        assert_eq!(one(kind, &never, BASELINE).0, VerdictResult::Unknown);
    }

    #[test]
    fn killed_by_is_decided_by_a_parents_reap_report() {
        let trace = TraceBuilder::new()
            .started(1, "app", 2, [1, 1, 1])
            .started(2, "worker", 3, [2, 1, 1])
            .started(3, "daemon", 4, [2, 1, 1])
            .reaped(4, "app", 2, 3, KILLED)
            .reaped(
                5,
                "app",
                2,
                4,
                ExitStatus::Signaled {
                    signal: TERM,
                    core_dumped: false,
                },
            )
            .build();
        let (result, evidence) = one(killed_by("worker", KILL), &trace, BASELINE);
        assert_eq!(result, VerdictResult::Pass);
        assert_eq!(
            evidence,
            "app: reaped child=worker status=signal:KILL in before-stop"
        );
        let (result, evidence) = one(killed_by("daemon", KILL), &trace, BASELINE);
        assert_eq!(result, VerdictResult::Fail);
        assert_eq!(
            evidence,
            "app: reaped child=daemon status=signal:TERM in before-stop, \
             expected status=signal:KILL"
        );
    }

    #[test]
    fn killed_by_for_the_bare_app_is_pid1s_exit_status() {
        let trace = TraceBuilder::new()
            .started(1, "app", 1, [0, 0, 0])
            .stop(10, TERM)
            .escalated(30)
            .pid1_exited(31, KILLED)
            .build();
        let mut case = case(node("app", Vec::new()));
        case.must = vec![killed_by("app", KILL)];
        let verdicts = judge(&case, &normalise(&trace, &case), BASELINE);
        let got: Vec<(VerdictResult, &str)> = verdicts
            .iter()
            .map(|v| (v.result, v.evidence.as_str()))
            .collect();
        assert_eq!(
            got,
            [(
                VerdictResult::Pass,
                "app: exited status=signal:KILL in after-teardown"
            )]
        );
    }

    #[test]
    fn killed_by_without_a_reap_report_is_unknown() {
        let (result, evidence) = one(killed_by("daemon", KILL), &graceful(), BASELINE);
        assert_eq!(result, VerdictResult::Unknown);
        assert_eq!(
            evidence,
            "needs the kernel witness (not run) or a reap report from the role's parent"
        );
        let mut with_witness = BASELINE.to_vec();
        with_witness.push(Observer::KernelWitness);
        let (result, _) = one(killed_by("daemon", KILL), &graceful(), &with_witness);
        assert_eq!(result, VerdictResult::Unknown);
    }

    #[test]
    fn killed_by_is_decided_by_the_kernel_witness_when_no_parent_reaped_the_role() {
        use crate::normal::witness::tests::WitnessBuilder;
        use crate::observe::witness::GenerateResult::Delivered;
        // PID 1 (1) exits; the kernel SIGKILLs the worker (3); the daemon (4) dies of a TERM
        // it has no handler for; the app (2) exits by itself.
        let witness = WitnessBuilder::new(100)
            .process(2, Some(2), 1)
            .process(3, Some(3), 2)
            .process(4, Some(4), 2)
            .generate(11, (1, 4), (TERM, 0), Delivered)
            .deliver(12, 4, KILL, 0)
            .exit(16, 1)
            .generate(17, (1, 3), (KILL, 0x80), Delivered)
            .build();
        let trace = TraceBuilder::new()
            .started(1, "app", 2, [1, 1, 1])
            .started(2, "worker", 3, [2, 1, 1])
            .started(3, "daemon", 4, [2, 4, 4])
            .exiting(5, "app", 2, 0)
            .stop(10, TERM)
            .pid1_exited(20, ExitStatus::Exited { code: 0 })
            .witness(witness)
            .build();
        let observers = trace.observers();
        let judged = |role: &str, signal: i32| one(killed_by(role, signal), &trace, &observers);
        assert_eq!(
            judged("worker", KILL),
            (
                VerdictResult::Pass,
                "worker: killed KILL from=kernel code=SI_KERNEL in after-stop-signal".to_owned()
            )
        );
        assert_eq!(
            judged("daemon", KILL),
            (
                VerdictResult::Fail,
                "daemon: killed TERM from=pid1 code=SI_USER in after-stop-signal, expected KILL"
                    .to_owned()
            )
        );
        assert_eq!(
            judged("app", KILL),
            (
                VerdictResult::Fail,
                "no signal ended app: app: exiting code=0 in before-stop".to_owned()
            )
        );
        // The same trace without the witness's record: nothing is decided.
        let mut without = trace.clone();
        without.witness = crate::observe::witness::WitnessLog::default();
        let (result, _) = one(killed_by("worker", KILL), &without, &without.observers());
        assert_eq!(result, VerdictResult::Unknown);
    }

    #[test]
    fn a_stop_signal_never_caught_cites_what_the_kernel_did_with_it() {
        use crate::normal::witness::tests::WitnessBuilder;
        use crate::observe::witness::GenerateResult::{Delivered, Ignored};
        // A shell without a trap as PID 1: the kernel drops the runtime's TERM; at the
        // deadline the runtime SIGKILLs PID 1 and the kernel the app (2).
        let witness = WitnessBuilder::new(100)
            .process(2, Some(2), 1)
            .generate(11, (0, 1), (TERM, 0), Ignored)
            .generate(31, (0, 1), (KILL, 0), Delivered)
            .generate(32, (1, 2), (KILL, 0x80), Delivered)
            .pid1_ignores(0)
            .build();
        let trace = TraceBuilder::new()
            .started(1, "app", 2, [1, 1, 1])
            .stop(10, TERM)
            .escalated(30)
            .pid1_exited(40, KILLED)
            .witness(witness)
            .build();
        let (result, evidence) = one(caught("app", TERM), &trace, &trace.observers());
        assert_eq!(result, VerdictResult::Fail);
        assert_eq!(
            evidence,
            "app never caught TERM; the kernel witness saw pid1: signal-dropped TERM \
             from=runtime code=SI_USER (protected init, no handler) in after-stop-signal; it \
             vanished in after-teardown; the kernel witness saw app: killed KILL from=kernel \
             code=SI_KERNEL in after-escalation"
        );
    }

    #[test]
    fn a_probe_failure_turns_a_fail_into_unknown_and_no_kill() {
        let trace = TraceBuilder::new()
            .started(1, "app", 2, [1, 1, 1])
            .report(
                2,
                "app",
                2,
                pid1check_probe::Event::Failed {
                    message: "fork worker: EAGAIN".to_owned(),
                },
            )
            .build();
        let (result, evidence) = one(caught("app", TERM), &trace, BASELINE);
        assert_eq!(result, VerdictResult::Unknown);
        assert_eq!(
            evidence,
            "not judged, a probe failed (app: failed fork worker: EAGAIN in before-stop); \
             would have failed: app never caught TERM; it vanished in after-teardown"
        );
        assert!(killed_without_cleanup(&normalise(&trace, &tree())).is_empty());
    }

    #[test]
    fn a_failed_setup_judges_nothing() {
        let trace = TraceBuilder::new()
            .end(RunEnd::SetupFailed {
                reason: "mount proc: EPERM".to_owned(),
            })
            .build();
        let case = with(
            vec![caught("app", TERM), ExpectationKind::NoEscalation],
            vec![ExpectationKind::NoSurvivors],
        );
        let verdicts = judge(&case, &normalise(&trace, &case), BASELINE);
        assert!(
            verdicts.iter().all(|v| v.result == VerdictResult::Unknown
                && v.evidence
                    == "not observed: the run's setup failed \
                            (runtime: run-end setup-failed in after-teardown)"),
            "{verdicts:#?}"
        );
    }

    #[test]
    fn verdicts_follow_expectations_must_first_with_levels_and_words() {
        let case = with(
            vec![caught("app", TERM), ExpectationKind::NoEscalation],
            vec![exited_cleanly("app", 0)],
        );
        let verdicts = judge(&case, &normalise(&graceful(), &case), BASELINE);
        let got: Vec<(&str, Level, VerdictResult)> = verdicts
            .iter()
            .map(|v| (v.expectation.as_str(), v.level, v.result))
            .collect();
        assert_eq!(
            got,
            [
                ("app caught TERM", Level::Must, VerdictResult::Pass),
                (
                    "no SIGKILL escalation needed",
                    Level::Must,
                    VerdictResult::Pass
                ),
                (
                    "app exited cleanly with code 0",
                    Level::Should,
                    VerdictResult::Fail
                ),
            ]
        );
    }

    fn verdict(level: Level, result: VerdictResult, name: &str) -> Verdict {
        Verdict {
            expectation: name.to_owned(),
            level,
            result,
            evidence: format!("evidence of {name}"),
        }
    }

    #[test]
    fn outcome_fail_beats_unknown_and_names_the_first_failed_must() {
        let verdicts = [
            verdict(Level::Must, VerdictResult::Pass, "a"),
            verdict(Level::Must, VerdictResult::Unknown, "b"),
            verdict(Level::Must, VerdictResult::Fail, "c"),
            verdict(Level::Must, VerdictResult::Fail, "d"),
        ];
        assert_eq!(
            outcome(&verdicts),
            (Outcome::Fail, "c: evidence of c".to_owned())
        );
    }

    #[test]
    fn outcome_unknown_when_a_must_could_not_be_observed() {
        let verdicts = [
            verdict(Level::Should, VerdictResult::Fail, "a"),
            verdict(Level::Must, VerdictResult::Unknown, "b"),
            verdict(Level::Must, VerdictResult::Pass, "c"),
        ];
        assert_eq!(
            outcome(&verdicts),
            (Outcome::Unknown, "b: evidence of b".to_owned())
        );
    }

    #[test]
    fn outcome_a_should_never_fails_a_run() {
        let verdicts = [
            verdict(Level::Must, VerdictResult::Pass, "a"),
            verdict(Level::Must, VerdictResult::NotApplicable, "b"),
            verdict(Level::Should, VerdictResult::Unknown, "c"),
            verdict(Level::Should, VerdictResult::Fail, "d"),
        ];
        assert_eq!(
            outcome(&verdicts),
            (Outcome::Pass, "should: d: evidence of d".to_owned())
        );
        let clean = [verdict(Level::Must, VerdictResult::Pass, "a")];
        assert_eq!(outcome(&clean), (Outcome::Pass, String::new()));
    }

    #[test]
    fn killed_without_cleanup_lists_vanished_roles_in_tree_order() {
        let trace = TraceBuilder::new()
            .started(1, "daemon", 4, [2, 4, 4])
            .started(2, "worker", 3, [2, 1, 1])
            .started(3, "app", 2, [1, 1, 1])
            .exiting(4, "worker", 3, 0)
            .action(5, ActionKind::Escalated)
            .build();
        let normal = normalise(&trace, &tree());
        assert_eq!(killed_without_cleanup(&normal), ["app", "daemon"]);
    }

    /// Judges one `must` of `case`'s default reading with a console.
    fn with_console(
        kind: ExpectationKind,
        trace: &Trace,
        console: &str,
    ) -> (VerdictResult, String) {
        let case = with(vec![kind], Vec::new());
        let candidate = CandidateFacts {
            kind: CandidateKind::Forwarder,
            service_stop: None,
            console,
        };
        let verdicts = judge_service(&case, &normalise(trace, &case), BASELINE, &candidate);
        (verdicts[0].result, verdicts[0].evidence.clone())
    }

    #[test]
    fn pid1_exit_nonzero_needs_a_failing_code_and_no_signal_first() {
        let exit = |code| {
            TraceBuilder::new()
                .pid1_exited(5, ExitStatus::Exited { code })
                .build()
        };
        let (result, evidence) = one(ExpectationKind::Pid1ExitNonzero, &exit(127), BASELINE);
        assert_eq!(result, VerdictResult::Pass, "{evidence}");
        let (result, evidence) = one(ExpectationKind::Pid1ExitNonzero, &exit(0), BASELINE);
        assert_eq!(result, VerdictResult::Fail);
        assert!(evidence.contains("hidden from the runtime"), "{evidence}");
        // Exit 143 after the stop signal is the runtime's doing, not a failure report.
        let stopped = TraceBuilder::new()
            .stop(3, TERM)
            .pid1_exited(5, ExitStatus::Exited { code: 143 })
            .build();
        let (result, evidence) = one(ExpectationKind::Pid1ExitNonzero, &stopped, BASELINE);
        assert_eq!(result, VerdictResult::Fail);
        assert!(evidence.contains("did not exit by itself"), "{evidence}");
        let (result, _) = one(
            ExpectationKind::Pid1ExitNonzero,
            &TraceBuilder::new().build(),
            BASELINE,
        );
        assert_eq!(result, VerdictResult::Unknown, "no exit seen");
    }

    #[test]
    fn pid1_exits_before_stop_fails_once_the_stop_sequence_began() {
        let by_itself = TraceBuilder::new()
            .started(1, "app", 2, [1, 1, 1])
            .ready(2)
            .pid1_exited(5, ExitStatus::Exited { code: 0 })
            .build();
        let (result, evidence) = one(ExpectationKind::Pid1ExitsBeforeStop, &by_itself, BASELINE);
        assert_eq!(result, VerdictResult::Pass, "{evidence}");
        let stopped = TraceBuilder::new()
            .started(1, "app", 2, [1, 1, 1])
            .ready(2)
            .stop(3, TERM)
            .pid1_exited(5, ExitStatus::Exited { code: 0 })
            .build();
        let (result, evidence) = one(ExpectationKind::Pid1ExitsBeforeStop, &stopped, BASELINE);
        assert_eq!(result, VerdictResult::Fail);
        assert!(evidence.contains("(stop signal)"), "{evidence}");
    }

    #[test]
    fn console_names_workload_looks_for_the_path_in_pid1_argv() {
        let mut trace = TraceBuilder::new()
            .pid1_exited(5, ExitStatus::Exited { code: 127 })
            .build();
        trace.console = "[FATAL tini (7)] exec /.pid1check/probe failed: No such file\n".into();
        let (result, evidence) = with_console(
            ExpectationKind::ConsoleNamesWorkload,
            &trace,
            &trace.console.clone(),
        );
        assert_eq!(result, VerdictResult::Pass, "{evidence}");
        assert!(evidence.starts_with("console: [FATAL tini"), "{evidence}");
        let (result, evidence) = with_console(
            ExpectationKind::ConsoleNamesWorkload,
            &trace,
            "ERROR (catatonit:2): failed to exec pid1: No such file or directory\n",
        );
        assert_eq!(result, VerdictResult::Fail);
        assert!(evidence.contains("failed to exec pid1"), "{evidence}");
        let (result, evidence) = with_console(ExpectationKind::ConsoleNamesWorkload, &trace, "");
        assert_eq!(result, VerdictResult::Fail);
        assert!(evidence.contains("stayed empty"), "{evidence}");
    }

    #[test]
    fn the_candidate_kind_picks_the_reading_and_n_a_judges_nothing() {
        let mut case = with(vec![caught("app", TERM)], Vec::new());
        case.reading.insert(
            CandidateKind::SystemManager,
            crate::spec::Reading {
                must: vec![ExpectationKind::NoEscalation],
                should: Vec::new(),
                not_applicable: None,
            },
        );
        case.reading.insert(
            CandidateKind::App,
            crate::spec::Reading {
                must: Vec::new(),
                should: Vec::new(),
                not_applicable: Some("the app is PID 1".to_owned()),
            },
        );
        let trace = TraceBuilder::new()
            .started(1, "app", 2, [1, 1, 1])
            .ready(2)
            .stop(3, TERM)
            .pid1_exited(5, ExitStatus::Exited { code: 0 })
            .build();
        let normal = normalise(&trace, &case);
        let judged = |kind| {
            let candidate = CandidateFacts {
                kind,
                service_stop: None,
                console: "",
            };
            judge_service(&case, &normal, BASELINE, &candidate)
                .into_iter()
                .map(|v| (v.expectation, v.result))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            judged(CandidateKind::Forwarder),
            [("app caught TERM".to_owned(), VerdictResult::Fail)],
            "the default reading"
        );
        assert_eq!(
            judged(CandidateKind::SystemManager),
            [(
                "no SIGKILL escalation needed".to_owned(),
                VerdictResult::Pass
            )]
        );
        assert!(judged(CandidateKind::App).is_empty());
    }
}
