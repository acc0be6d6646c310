//! A whole conformance run, top to bottom: for each planned run, resolve → launch → normalise
//! → judge, in parallel; then the [`Matrix`] that reporters render. Emits each finished run
//! to a callback and prints nothing itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use pid1check_probe::{Event, INIT_ROLE};

use crate::install::{Installed, install_candidate, source_label};
use crate::matrix::{
    CandidateSummary, CaseSummary, Matrix, Outcome, ProfileSummary, RunResult, SCHEMA_VERSION,
};
use crate::normal::{NormalTrace, normalise, status_text};
use crate::observe::Observer;
use crate::observe::witness::{RunWindow, WitnessCollector, WitnessLog, WitnessPlan};
use crate::plan::{
    DEFAULT_TIME_SCALE, PlannedRun, PlannedStop, Resolution, resolve, stop_sequence,
};
use crate::run::{Launcher, RunSpec, launch, launch_server};
use crate::sandbox::{SandboxMode, run_parent};
use crate::signal::SignalNumber;
use crate::snapshot::{SnapshotError, SnapshotStatus, SnapshotStore, snapshot_name};
use crate::spec::{Applies, Candidate, CandidateKind, Case, Pid1Process, Profile, Race};
use crate::stop::{StopSequence, StopSignal};
use crate::trace::{ActionKind, ExitStatus, RunEnd, Trace};
use crate::verdict::{CandidateFacts, judge_service, killed_without_cleanup, outcome};

/// Settings shared by every run of a matrix.
#[derive(Debug, Clone)]
pub struct MatrixOptions {
    /// `--time-scale`.
    pub time_scale: f64,
    /// Runs at once.
    pub jobs: usize,
    /// Sandbox privilege mode.
    pub mode: SandboxMode,
    /// The static probe.
    pub probe: PathBuf,
    /// How to start the launcher.
    pub launcher: Launcher,
    /// Where run directories are created (each removed after its run).
    pub work_dir: PathBuf,
    /// Host directories every candidate may need read-only (`target/candidates`).
    pub read_only_paths: Vec<PathBuf>,
    /// Record runs with the kernel witness when the machine allows it (`--no-witness`: off).
    pub witness: bool,
}

impl MatrixOptions {
    /// The usual options for a workspace checked out at `root`: the default time scale, four
    /// runs per core (they mostly wait), the mode this process can use, run directories on a
    /// tmpfs ([`run_parent`]: `/dev/shm/pid1check-UID`, else `target/runs`), and the unpacked
    /// candidates of `target/candidates` visible to every run.
    pub fn for_workspace(root: &Path, probe: PathBuf, launcher: Launcher) -> MatrixOptions {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        MatrixOptions {
            time_scale: DEFAULT_TIME_SCALE,
            jobs: cores * 4,
            mode: SandboxMode::detect(),
            probe,
            launcher,
            work_dir: run_parent(root),
            read_only_paths: vec![root.join("target/candidates")],
            witness: true,
        }
    }
}

/// A planned run with its installed candidate, or the reason it cannot run.
#[derive(Debug, Clone)]
pub struct ReadyRun {
    /// The run.
    pub run: PlannedRun,
    /// The installed candidate, or why it is not there.
    pub install: Result<Installed, String>,
    /// Which repeat of its run this is (`--repeat`), 0 for the first. Only the first keeps its
    /// raw trace once done: the others are compared through their normalised trace and
    /// verdicts alone, and 200 raw traces of every run would not fit in memory.
    pub repeat: usize,
}

/// Each candidate's installation, or why it is not installed, by candidate name.
pub type Installs = BTreeMap<String, Result<Installed, String>>;

/// Install (or find already installed) every candidate under `root`/target/candidates.
pub fn install_all(root: &Path, candidates: &[Candidate]) -> Installs {
    candidates
        .iter()
        .map(|candidate| {
            let installed = install_candidate(root, candidate)
                .map_err(|error| format!("not installed: {}", chain(&error)));
            (candidate.name.clone(), installed)
        })
        .collect()
}

/// Pair every planned run with its candidate's installation, each run `repeat` times in a row
/// (the grouping [`find_unstable`] expects).
pub fn ready_runs(plan: Vec<PlannedRun>, installs: &Installs, repeat: usize) -> Vec<ReadyRun> {
    plan.into_iter()
        .flat_map(|run| {
            let install = installs
                .get(&run.candidate.name)
                .cloned()
                .unwrap_or_else(|| Err("not installed".to_owned()));
            (0..repeat.max(1)).map(move |repeat| ReadyRun {
                run: run.clone(),
                install: install.clone(),
                repeat,
            })
        })
        .collect()
}

/// The matrix a conformance run reports: its candidates with versions and sources, its cases,
/// and one result per run.
pub fn assemble_matrix(
    candidates: &[Candidate],
    cases: &[Case],
    profiles: &[Profile],
    installs: &Installs,
    options: &MatrixOptions,
    runs: Vec<RunResult>,
) -> Matrix {
    Matrix {
        schema: SCHEMA_VERSION,
        observers: Observer::BASELINE
            .iter()
            .map(|o| o.name().to_owned())
            .collect(),
        time_scale: options.time_scale,
        sandbox_mode: options.mode.name().to_owned(),
        candidates: candidates
            .iter()
            .map(|c| {
                let (version, source) = match installs.get(&c.name) {
                    Some(Ok(installed)) => (installed.version.clone(), installed.source.clone()),
                    _ => ("not installed".to_owned(), source_label(&c.install)),
                };
                CandidateSummary {
                    name: c.name.clone(),
                    title: c.title.clone(),
                    version,
                    source,
                    races: c.races.clone(),
                }
            })
            .collect(),
        cases: cases
            .iter()
            .map(|c| CaseSummary {
                name: c.name.clone(),
                title: c.title.clone(),
            })
            .collect(),
        profiles: profiles
            .iter()
            .map(|p| ProfileSummary {
                name: p.name.clone(),
                title: p.title.clone(),
                runtime: p.runtime.name().to_owned(),
                grace_ms: p.grace_ms,
                signal: p.signal.clone(),
                pre_stop: p.pre_stop.as_ref().map(|command| command.join(" ")),
                sources: p.sources.clone(),
            })
            .collect(),
        runs,
    }
}

/// The observers that ran in every run that produced a trace (the matrix's header): the
/// baseline, and the kernel witness only when no run went without it. With the reason the
/// witness did not run, from the first run without it.
pub fn observers_that_ran(records: &[&RunRecord]) -> (Vec<Observer>, Option<String>) {
    let traces: Vec<&Trace> = records.iter().filter_map(|r| r.raw.as_ref()).collect();
    let missing = traces.iter().find_map(|t| match &t.witness {
        WitnessLog::NotRun { reason } => Some(reason.clone()),
        WitnessLog::Collecting(_) => Some("the launcher's half was never completed".to_owned()),
        WitnessLog::Ran(_) => None,
    });
    let mut observers = Observer::BASELINE.to_vec();
    if !traces.is_empty() && missing.is_none() {
        observers.push(Observer::KernelWitness);
    }
    (observers, missing)
}

/// One executed run: the result and the evidence behind it.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// What the report says.
    pub result: RunResult,
    /// The normalised trace (snapshotted).
    pub normal: NormalTrace,
    /// The raw trace, when the run got that far.
    pub raw: Option<Trace>,
    /// Wall time of the whole run as [`execute_one`] saw it (run directory, launcher,
    /// judging); zero for a record built otherwise. For `cargo xtask bench`, never reports.
    pub wall: std::time::Duration,
}

/// Execute every run, `options.jobs` at a time; results come back in plan order.
pub fn execute_matrix(
    runs: &[ReadyRun],
    options: &MatrixOptions,
    on_done: &(dyn Fn(&RunRecord) + Sync),
) -> Vec<RunRecord> {
    // Before the worker threads: the witness records this thread and what it starts.
    execute_matrix_witnessed(runs, options, &start_witness(options), on_done)
}

/// [`execute_matrix`] with a witness started beforehand for the calling thread.
pub fn execute_matrix_witnessed(
    runs: &[ReadyRun],
    options: &MatrixOptions,
    witness: &Result<WitnessCollector, String>,
    on_done: &(dyn Fn(&RunRecord) + Sync),
) -> Vec<RunRecord> {
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<RunRecord>>> = Mutex::new(vec![None; runs.len()]);
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.max(1).min(runs.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(ready) = runs.get(index) else { break };
                    let mut record = execute_witnessed(ready, options, witness);
                    on_done(&record);
                    if ready.repeat > 0 {
                        record.raw = None;
                    }
                    if let Ok(mut slots) = slots.lock() {
                        slots[index] = Some(record);
                    }
                }
            });
        }
    });
    slots
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

/// The kernel witness for the runs this thread (and the threads it starts afterwards) will
/// execute, or why there is none. Its tracefs instance is removed when it is dropped.
pub fn start_witness(options: &MatrixOptions) -> Result<WitnessCollector, String> {
    start_witness_for(options.witness, nix::unistd::gettid().as_raw())
}

/// The kernel witness for the runs that thread `tid` of this process will start (it must not
/// start them before this returns), or why there is none: lets another thread pay the
/// witness's set-up time while `tid` prepares the runs.
pub fn start_witness_for(wanted: bool, tid: i32) -> Result<WitnessCollector, String> {
    if !wanted {
        return Err("disabled (--no-witness)".to_owned());
    }
    WitnessCollector::start_for(tid).map_err(|error| chain(&error))
}

/// Execute one run and judge it, with a kernel witness of its own.
pub fn execute_one(ready: &ReadyRun, options: &MatrixOptions) -> RunRecord {
    execute_witnessed(ready, options, &start_witness(options))
}

/// Execute one run and judge it; `witness` records it, if it runs. The record keeps the
/// run's wall time, for the benchmark.
pub fn execute_witnessed(
    ready: &ReadyRun,
    options: &MatrixOptions,
    witness: &Result<WitnessCollector, String>,
) -> RunRecord {
    let started = std::time::Instant::now();
    let mut record = execute_timed(ready, options, witness);
    record.wall = started.elapsed();
    record
}

fn execute_timed(
    ready: &ReadyRun,
    options: &MatrixOptions,
    witness: &Result<WitnessCollector, String>,
) -> RunRecord {
    let run = &ready.run;
    let version = ready
        .install
        .as_ref()
        .map_or("unknown", |installed| installed.version.as_str());
    // The case says nothing about this kind of candidate: nothing to execute.
    if let Applies::NotApplicable { reading, reason } = run.case.expectations(run.candidate.kind) {
        let mut record = not_run(ready, options.time_scale, version, reason);
        record.result.outcome = Outcome::NotApplicable;
        record.result.reading = Some(reading);
        return record;
    }
    let installed = match &ready.install {
        Ok(installed) => installed,
        Err(reason) => return not_run(ready, options.time_scale, "unknown", reason.clone()),
    };
    let run_dir = match std::fs::create_dir_all(&options.work_dir).and_then(|()| {
        tempfile::Builder::new()
            .prefix(&format!("{}.{}.", run.candidate.name, run.case.name))
            .tempdir_in(&options.work_dir)
    }) {
        Ok(dir) => dir,
        Err(error) => {
            let reason = format!(
                "creating a run directory in {}: {error}",
                options.work_dir.display()
            );
            return not_run(ready, options.time_scale, &installed.version, reason);
        }
    };
    let resolved = resolve(
        run,
        &Resolution {
            time_scale: options.time_scale,
            mode: options.mode,
            bin: installed.bin.clone(),
            read_only_paths: options.read_only_paths.clone(),
            probe: options.probe.clone(),
            run_dir: run_dir.path().to_path_buf(),
        },
    );
    let spec = match resolved {
        Ok(spec) => spec,
        Err(error) => {
            return not_run(ready, options.time_scale, &installed.version, error.message);
        }
    };
    let (spec, window) = witness_run(spec, witness, &options.launcher);
    let launched = launch(&options.launcher, &spec);
    // The launcher has exited: every event of the run is in the witness's buffer.
    let completed = |log| match (witness, window) {
        (Ok(collector), Some(window)) => collector.complete(window, log),
        _ => log,
    };
    let mut trace = match launched {
        Ok(trace) => trace,
        Err(error) => {
            completed(WitnessLog::default());
            let reason = format!("harness: {}", chain(&error));
            return not_run(ready, options.time_scale, &installed.version, reason);
        }
    };
    trace.witness = completed(std::mem::take(&mut trace.witness));
    judge_trace(ready, &installed.version, trace, options.time_scale)
}

/// Give `spec` its witness plan, opening the run's window in the collector when there is one.
/// The collector follows the launch server of `launcher`, which forks the run's launcher.
fn witness_run(
    mut spec: RunSpec,
    witness: &Result<WitnessCollector, String>,
    launcher: &Launcher,
) -> (RunSpec, Option<RunWindow>) {
    let opened = witness
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|collector| {
            let marker = collector
                .marker_path()
                .ok_or_else(|| "the witness was closed".to_owned())?;
            let server = launch_server(launcher).map_err(|error| chain(&error))?;
            collector.follow(server.serial, server.pid)?;
            Ok((marker, collector.begin()?))
        });
    let (plan, window) = match opened {
        Ok((marker, window)) => (WitnessPlan::On { marker }, Some(window)),
        Err(reason) => (WitnessPlan::Off { reason }, None),
    };
    spec.witness = plan;
    (spec, window)
}

/// Whether a candidate under a parent PID 1 started and then ended by itself: it refuses to
/// run when it is not PID 1 (busybox init, runit, systemd as a system manager). That is its
/// behaviour, not a harness problem, unless the parent never started it or could not exec it.
fn refused_as_child(case: &Case, trace: &Trace) -> bool {
    let init = |pred: fn(&Event) -> bool| {
        trace
            .reports
            .iter()
            .any(|r| r.role == INIT_ROLE && pred(&r.event))
    };
    case.sandbox.pid1 == Pid1Process::Parent
        && init(|e| matches!(e, Event::Started { .. }))
        && !init(|e| matches!(e, Event::Failed { .. }))
}

/// Normalise and judge a raw trace into a record.
pub fn judge_trace(ready: &ReadyRun, version: &str, trace: Trace, time_scale: f64) -> RunRecord {
    let run = &ready.run;
    let normal = normalise(&trace, &run.case);
    let verdicts = judge_service(
        &run.case,
        &normal,
        &trace.observers(),
        &CandidateFacts {
            kind: run.candidate.kind,
            service_stop: run.candidate.service_stop_signal,
            console: &trace.console,
        },
    );
    let (mut outcome, mut reason) = outcome(&verdicts);
    match &trace.end {
        RunEnd::Completed => {
            if let Some(note) = pid1_end_note(&trace) {
                reason = format!("{note}; {reason}");
            }
        }
        RunEnd::SetupFailed { reason: why } => {
            outcome = Outcome::NotRun;
            reason = why.clone();
        }
        RunEnd::NeverReady { missing, pid1 } => {
            let refused = pid1.is_some() && refused_as_child(&run.case, &trace);
            outcome = if refused {
                Outcome::Fail
            } else {
                Outcome::NotRun
            };
            let last_line = trace.console.lines().rev().find(|l| !l.trim().is_empty());
            reason = format!(
                "{}the workload never became ready (no ready report from {}); PID 1 {}{}",
                if refused {
                    "the candidate ended as a child of another PID 1 before its workload started: "
                } else {
                    ""
                },
                missing.join(", "),
                match pid1 {
                    Some(status) => format!("ended with {}", status_text(*status)),
                    None => "was still running".to_owned(),
                },
                last_line
                    .map(|l| format!("; console: {l}"))
                    .unwrap_or_default()
            );
        }
        RunEnd::DeadlineExceeded => {
            outcome = Outcome::Fail;
            reason = format!("the run hit its hard deadline and was killed; {reason}");
        }
    }
    let stop = planned_stop(run, time_scale);
    // The signal really sent (LXC decides at stop time), else the plan's description.
    let sent = trace.actions.iter().find_map(|action| match &action.what {
        ActionKind::SignalSent {
            signal, stop: true, ..
        } => Some(signal.name()),
        _ => None,
    });
    let result = RunResult {
        candidate: run.candidate.name.clone(),
        candidate_version: version.to_owned(),
        case: run.case.name.clone(),
        profile: run.profile.name.clone(),
        outcome,
        reading: reading_name(run),
        reason,
        stop_signal: sent.unwrap_or_else(|| stop.sequence.signal.describe()),
        stop_why: stop.why,
        pre_stop: stop.sequence.pre_stop.map(|command| command.join(" ")),
        grace_ms: stop.sequence.grace_ms,
        killed_without_cleanup: killed_without_cleanup(&normal),
        verdicts,
        trace: normal.events.clone(),
    };
    RunRecord {
        result,
        normal,
        raw: Some(trace),
        wall: std::time::Duration::ZERO,
    }
}

/// The candidate kind whose own reading of the run's case applies, if not the default.
fn reading_name(run: &PlannedRun) -> Option<CandidateKind> {
    match run.case.expectations(run.candidate.kind) {
        Applies::Judge { reading, .. } => reading,
        Applies::NotApplicable { reading, .. } => Some(reading),
    }
}

/// The run's stop sequence, or a stand-in that says why the runtime refused it.
fn planned_stop(run: &PlannedRun, time_scale: f64) -> PlannedStop {
    stop_sequence(run, time_scale).unwrap_or_else(|error| PlannedStop {
        sequence: StopSequence {
            pre_stop: None,
            signal: StopSignal::None,
            grace_ms: 0,
            min_grace_after_pre_stop_ms: 0,
        },
        why: error.message,
    })
}

/// The signal that killed PID 1 when the runtime sent no such signal (a crash such as
/// SIGSEGV): the one-line reason must say so, since no expectation asks about it.
fn unsent_fatal_signal(trace: &Trace) -> Option<String> {
    let mut sent = Vec::new();
    let mut died_of = None;
    for action in &trace.actions {
        match &action.what {
            ActionKind::SignalSent { signal, .. } => sent.push(signal.raw()),
            ActionKind::Escalated => sent.push(SignalNumber::KILL.raw()),
            ActionKind::Pid1Exited {
                status: ExitStatus::Signaled { signal, .. },
            } => died_of = Some(*signal),
            _ => {}
        }
    }
    let signal = died_of.filter(|signal| !sent.contains(signal))?;
    Some(format!("SIG{}", SignalNumber(signal).name()))
}

/// What the reason line must say about how PID 1 ended when no expectation explains it: a
/// fatal signal the runtime never sent, and whether a reboot(2) inside caused it.
fn pid1_end_note(trace: &Trace) -> Option<String> {
    let signal = unsent_fatal_signal(trace)?;
    Some(match reboot_caller(trace) {
        Some((role, command)) => format!(
            "PID 1 ended as by {signal}: {role} called reboot(2) ({command}) in its PID \
             namespace, and the kernel SIGKILLed PID 1 and reports it so"
        ),
        None => format!("PID 1 died of {signal}, which the runtime did not send"),
    })
}

/// The workload process that called reboot(2) without being refused, and its command: in a
/// child PID namespace the kernel then SIGKILLs PID 1 and its parent sees it end by SIGINT
/// (power off, halt) or SIGHUP (restart) (torvalds/linux: kernel/pid_namespace.c,
/// `reboot_pid_ns`; kernel/exit.c, `do_exit` via `zap_pid_ns_processes`), a signal no one sent.
fn reboot_caller(trace: &Trace) -> Option<(&str, &'static str)> {
    let refused = |role: &str| {
        trace.reports.iter().any(|r| {
            r.role == role && matches!(r.event, pid1check_probe::Event::RebootFailed { .. })
        })
    };
    trace.reports.iter().find_map(|r| match r.event {
        pid1check_probe::Event::Rebooting { command } if !refused(&r.role) => {
            Some((r.role.as_str(), command.name()))
        }
        _ => None,
    })
}

fn not_run(ready: &ReadyRun, time_scale: f64, version: &str, reason: String) -> RunRecord {
    let run = &ready.run;
    let stop = planned_stop(run, time_scale);
    RunRecord {
        result: RunResult {
            candidate: run.candidate.name.clone(),
            candidate_version: version.to_owned(),
            case: run.case.name.clone(),
            profile: run.profile.name.clone(),
            outcome: Outcome::NotRun,
            reading: reading_name(run),
            reason,
            stop_signal: stop.sequence.signal.describe(),
            stop_why: stop.why,
            pre_stop: stop.sequence.pre_stop.map(|command| command.join(" ")),
            grace_ms: stop.sequence.grace_ms,
            killed_without_cleanup: Vec::new(),
            verdicts: Vec::new(),
            trace: Vec::new(),
        },
        normal: NormalTrace { events: Vec::new() },
        raw: None,
        wall: std::time::Duration::ZERO,
    }
}

/// The race `run`'s candidate (found by name among `candidates`) declares for its case and
/// profile.
pub fn declared_race<'c>(candidates: &'c [Candidate], run: &RunResult) -> Option<&'c Race> {
    candidates
        .iter()
        .find(|c| c.name == run.candidate)?
        .declared_race(&run.case, &run.profile)
}

/// A run's snapshot against the stored one, with the race its candidate declares for a
/// difference (such a difference is reported, not failed: its run may go either way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotCheck {
    /// The stored snapshot is the same.
    Matches,
    /// The stored snapshot differs.
    Differs {
        /// The unified diff, stored → new.
        diff: String,
        /// Why the candidate's file says this run may differ, when it declares that race.
        race: Option<String>,
    },
    /// No snapshot is stored for this run yet.
    Missing {
        /// The run's snapshot text, to show what `--bless` would record.
        body: String,
    },
}

/// Compares `record`'s snapshot text with the one `store` holds for its run.
pub fn check_snapshot(
    store: &SnapshotStore,
    record: &RunRecord,
    candidates: &[Candidate],
) -> Result<SnapshotCheck, SnapshotError> {
    let r = &record.result;
    let name = snapshot_name(&r.candidate, &r.case, &r.profile);
    let body = snapshot_text(record);
    Ok(match store.check(&name, &body)? {
        SnapshotStatus::Matches => SnapshotCheck::Matches,
        SnapshotStatus::Missing => SnapshotCheck::Missing { body },
        SnapshotStatus::Differs { diff } => SnapshotCheck::Differs {
            diff,
            race: declared_race(candidates, r).map(|race| race.why.clone()),
        },
    })
}

/// An error and its causes in one line (re-exported for the command line).
pub use crate::error_chain as chain;

/// The text snapshotted for a run: the normalised trace, then one line per verdict, so a
/// change of behaviour or of judgement shows in review.
pub fn snapshot_text(record: &RunRecord) -> String {
    let mut text = record.normal.render();
    match record.result.reading {
        Some(kind) => text.push_str(&format!("\n[verdicts: the {} reading]\n", kind.name())),
        None => text.push_str("\n[verdicts]\n"),
    }
    for verdict in &record.result.verdicts {
        text.push_str(&format!(
            "{:<6} {:<7} {}\n",
            verdict.level.name(),
            verdict.result.name(),
            verdict.expectation
        ));
    }
    text
}

/// A run whose repeats under `--repeat` did not all behave the same (DESIGN.md rule 4: a
/// defect of the case or the harness, to be found, never retried away), unless its candidate
/// declares the race (`[[races]]` in its file), which makes it the init's own nondeterminism.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instability {
    /// Candidate name.
    pub candidate: String,
    /// Case name.
    pub case: String,
    /// Profile name.
    pub profile: String,
    /// The first repeat (counted from 1) that differed from repeat 1.
    pub repeat: usize,
    /// Unified diff of the snapshot text, repeat 1 → that repeat.
    pub diff: String,
    /// The candidate file's reason, when it declares this (case, profile) racy; `None` is
    /// unexpected instability.
    pub declared: Option<String>,
}

/// Compare each group of `repeat` consecutive records (the same run, repeated) and return the
/// runs whose snapshot text or outcome changed, each with the race its candidate (among
/// `candidates`) declares for it, if any.
pub fn find_unstable(
    records: &[RunRecord],
    repeat: usize,
    candidates: &[Candidate],
) -> Vec<Instability> {
    records
        .chunks(repeat.max(1))
        .filter_map(|group| {
            let first = group.first()?;
            let first_text = snapshot_text(first);
            group.iter().enumerate().skip(1).find_map(|(index, other)| {
                let text = snapshot_text(other);
                let same = text == first_text && other.result.outcome == first.result.outcome;
                (!same).then(|| Instability {
                    candidate: first.result.candidate.clone(),
                    case: first.result.case.clone(),
                    profile: first.result.profile.clone(),
                    repeat: index + 1,
                    declared: declared_race(candidates, &first.result).map(|r| r.why.clone()),
                    diff: similar::TextDiff::from_lines(&first_text, &text)
                        .unified_diff()
                        .header("repeat 1", &format!("repeat {}", index + 1))
                        .to_string(),
                })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normal::NormalEvent;
    use crate::normal::Phase;
    use pid1check_probe::Report;

    fn record(case: &str, outcome: Outcome, event: &str) -> RunRecord {
        let events = vec![NormalEvent {
            count: 1,
            phase: Phase::AfterStopSignal,
            role: "app".to_owned(),
            event: event.to_owned(),
            signal: Some("TERM".to_owned()),
            detail: String::new(),
        }];
        RunRecord {
            result: RunResult {
                candidate: "tini".to_owned(),
                candidate_version: "1".to_owned(),
                case: case.to_owned(),
                profile: "docker".to_owned(),
                outcome,
                reading: None,
                reason: String::new(),
                stop_signal: "TERM".to_owned(),
                stop_why: "default TERM".to_owned(),
                pre_stop: None,
                grace_ms: 500,
                killed_without_cleanup: Vec::new(),
                verdicts: Vec::new(),
                trace: events.clone(),
            },
            normal: NormalTrace { events },
            raw: None,
            wall: std::time::Duration::ZERO,
        }
    }

    fn candidate(name: &str) -> Candidate {
        let text = format!(
            "title = \"{name}\"\nkind = \"forwarder\"\nargv = [\"{{bin}}\", \"{{workload}}\"]\n\
             [install]\nkind = \"debian\"\npackage = \"{name}\"\nbinary = \"usr/bin/{name}\"\n"
        );
        let path = std::path::PathBuf::from(format!("/candidates/{name}.toml"));
        crate::spec::parse_candidate(&path, &text).expect("a valid candidate")
    }

    /// tini declaring a race on case `a` under docker.
    fn racing_tini() -> Candidate {
        let mut tini = candidate("tini");
        tini.races.push(crate::spec::Race {
            cases: vec!["a".to_owned()],
            profiles: vec!["docker".to_owned()],
            why: "its own exit races the SIGKILL".to_owned(),
            rare: false,
        });
        tini
    }

    fn installs() -> Installs {
        let installed = Installed {
            bin: PathBuf::from("/target/candidates/tini/0.19/usr/bin/tini"),
            version: "0.19".to_owned(),
            source: "debian:tini".to_owned(),
        };
        Installs::from([
            ("tini".to_owned(), Ok(installed)),
            (
                "gone".to_owned(),
                Err("not installed: apt said no".to_owned()),
            ),
        ])
    }

    #[test]
    fn a_signal_no_one_sent_is_named_and_a_reboot_explains_it() {
        use crate::normal::tests::TraceBuilder;
        use pid1check_probe::RebootCommand;
        let int = ExitStatus::Signaled {
            signal: libc::SIGINT,
            core_dumped: false,
        };
        let crashed = TraceBuilder::new()
            .started(1, "app", 2, [1, 1, 1])
            .pid1_exited(5, int)
            .build();
        assert_eq!(
            pid1_end_note(&crashed).as_deref(),
            Some("PID 1 died of SIGINT, which the runtime did not send")
        );
        let rebooted = TraceBuilder::new()
            .started(1, "app", 2, [1, 1, 1])
            .reboot(3, "app", RebootCommand::PowerOff, None)
            .pid1_exited(5, int)
            .build();
        assert_eq!(
            pid1_end_note(&rebooted).as_deref(),
            Some(
                "PID 1 ended as by SIGINT: app called reboot(2) (power-off) in its PID \
                 namespace, and the kernel SIGKILLed PID 1 and reports it so"
            )
        );
        let refused = TraceBuilder::new()
            .started(1, "app", 2, [1, 1, 1])
            .reboot(3, "app", RebootCommand::PowerOff, Some(libc::EPERM))
            .pid1_exited(5, int)
            .build();
        assert!(
            pid1_end_note(&refused).is_some_and(|note| note.starts_with("PID 1 died of")),
            "a refused reboot explains nothing"
        );
        let stopped = TraceBuilder::new()
            .stop(2, libc::SIGINT)
            .pid1_exited(5, int)
            .build();
        assert_eq!(pid1_end_note(&stopped), None, "the runtime sent it");
    }

    #[test]
    fn the_matrix_names_versions_and_sources_or_says_not_installed() {
        let options = MatrixOptions::for_workspace(
            Path::new("/w"),
            PathBuf::from("/w/probe"),
            Launcher {
                program: PathBuf::from("/w/launch"),
                args: Vec::new(),
            },
        );
        let matrix = assemble_matrix(
            &[candidate("tini"), candidate("gone")],
            &[],
            &[],
            &installs(),
            &options,
            Vec::new(),
        );
        let summary: Vec<(&str, &str, &str)> = matrix
            .candidates
            .iter()
            .map(|c| (c.name.as_str(), c.version.as_str(), c.source.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                ("tini", "0.19", "debian:tini"),
                ("gone", "not installed", "debian:gone")
            ]
        );
        assert_eq!(matrix.observers, ["probe", "procfs", "exit-status"]);
        assert_eq!(matrix.schema, SCHEMA_VERSION);
        // Runs mostly wait, so the default is four per core (issue 6).
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        assert_eq!(options.jobs, 4 * cores);
    }

    /// A candidate that ends before its workload starts: refused under a parent PID 1 (a
    /// behaviour, so `fail`), not run when it is PID 1 itself (nothing was tested).
    #[test]
    fn a_candidate_that_ends_before_its_workload_fails_only_under_a_parent() {
        let text = "title = \"t\"\nwhy = \"w\"\nsources = [\"s\"]\n[workload]\nrole = \"app\"\n";
        let case = crate::spec::parse_case(Path::new("/cases/c.toml"), text).expect("valid");
        let init = |seq, event| Report {
            role: INIT_ROLE.to_owned(),
            pid: 2,
            seq,
            mono_ns: 1,
            event,
        };
        let started = Event::Started {
            ppid: 1,
            pgid: 1,
            sid: 1,
        };
        let trace = Trace {
            end: crate::trace::RunEnd::NeverReady {
                missing: vec!["app".to_owned()],
                pid1: Some(crate::trace::ExitStatus::Exited { code: 111 }),
            },
            console: "runit: fatal: must be run as process no 1.\n".to_owned(),
            reports: vec![init(0, started.clone())],
            ..Trace::default()
        };
        let judged = |pid1: Pid1Process, trace: &Trace| {
            let mut case = case.clone();
            case.sandbox.pid1 = pid1;
            let mut plan = crate::plan::plan(
                &[candidate("tini")],
                &[case],
                &[crate::spec::Profile::docker()],
            );
            let ready = ReadyRun {
                run: plan.remove(0),
                install: installs().remove("tini").expect("tini is in installs()"),
                repeat: 0,
            };
            judge_trace(&ready, "0.19", trace.clone(), 0.05).result
        };
        let under_parent = judged(Pid1Process::Parent, &trace);
        assert_eq!(under_parent.outcome, Outcome::Fail);
        assert_eq!(
            under_parent.reason,
            "the candidate ended as a child of another PID 1 before its workload started: the \
             workload never became ready (no ready report from app); PID 1 ended with exit:111; \
             console: runit: fatal: must be run as process no 1."
        );
        // A candidate that could not be executed, or a parent that never started it, was
        // not tested.
        let exec_failed = Trace {
            reports: vec![
                init(0, started),
                init(
                    1,
                    Event::Failed {
                        message: "exec /usr/bin/tini: ENOENT".to_owned(),
                    },
                ),
            ],
            ..trace.clone()
        };
        let never_started = Trace {
            reports: Vec::new(),
            ..trace.clone()
        };
        for (pid1, trace) in [
            (Pid1Process::Candidate, &trace),
            (Pid1Process::Parent, &exec_failed),
            (Pid1Process::Parent, &never_started),
        ] {
            let result = judged(pid1, trace);
            assert_eq!(result.outcome, Outcome::NotRun, "{pid1:?} {trace:?}");
            assert!(
                result.reason.starts_with("the workload never became ready"),
                "{}",
                result.reason
            );
        }
    }

    #[test]
    fn ready_runs_repeat_each_run_in_a_row_with_its_install() {
        let case = crate::spec::parse_case(
            Path::new("/cases/c.toml"),
            "title = \"t\"\nwhy = \"w\"\nsources = [\"s\"]\n[workload]\nrole = \"app\"\n",
        )
        .expect("a valid case");
        let plan = crate::plan::plan(
            &[candidate("tini"), candidate("gone")],
            &[case],
            &[crate::spec::Profile::docker()],
        );
        let runs = ready_runs(plan, &installs(), 2);
        let order: Vec<(&str, bool, usize)> = runs
            .iter()
            .map(|r| (r.run.candidate.name.as_str(), r.install.is_ok(), r.repeat))
            .collect();
        assert_eq!(
            order,
            [
                ("gone", false, 0),
                ("gone", false, 1),
                ("tini", true, 0),
                ("tini", true, 1)
            ]
        );
    }

    #[test]
    fn identical_repeats_are_stable() {
        let records = [
            record("a", Outcome::Pass, "caught"),
            record("a", Outcome::Pass, "caught"),
            record("b", Outcome::Fail, "exiting"),
            record("b", Outcome::Fail, "exiting"),
        ];
        assert_eq!(find_unstable(&records, 2, &[]), Vec::new());
    }

    #[test]
    fn a_changed_trace_names_the_run_the_repeat_and_the_line() {
        let records = [
            record("a", Outcome::Pass, "caught"),
            record("a", Outcome::Pass, "caught"),
            record("a", Outcome::Pass, "exiting"),
            record("b", Outcome::Pass, "caught"),
            record("b", Outcome::Pass, "caught"),
            record("b", Outcome::Pass, "caught"),
        ];
        let unstable = find_unstable(&records, 3, &[candidate("tini")]);
        assert_eq!(unstable.len(), 1, "{unstable:?}");
        assert_eq!((unstable[0].case.as_str(), unstable[0].repeat), ("a", 3));
        assert_eq!(unstable[0].declared, None, "tini declares no race");
        assert!(
            unstable[0].diff.contains("+app  exiting"),
            "{}",
            unstable[0].diff
        );
    }

    #[test]
    fn a_changed_outcome_alone_is_unstable() {
        let records = [
            record("a", Outcome::Pass, "caught"),
            record("a", Outcome::NotRun, "caught"),
        ];
        assert_eq!(find_unstable(&records, 2, &[]).len(), 1);
    }

    #[test]
    fn an_unstable_run_its_candidate_declares_carries_the_reason_and_only_that_one() {
        let records = [
            record("a", Outcome::Pass, "caught"),
            record("a", Outcome::Fail, "exiting"),
            record("b", Outcome::Pass, "caught"),
            record("b", Outcome::Pass, "exiting"),
        ];
        let tini = racing_tini();
        let unstable = find_unstable(&records, 2, &[tini]);
        let found: Vec<(&str, Option<&str>)> = unstable
            .iter()
            .map(|u| (u.case.as_str(), u.declared.as_deref()))
            .collect();
        assert_eq!(
            found,
            [("a", Some("its own exit races the SIGKILL")), ("b", None)]
        );
    }

    /// A difference in a run whose candidate declares that race carries the reason (reported,
    /// not failed); the same difference in another case carries none; a run never stored is
    /// missing.
    #[test]
    fn a_snapshot_that_differs_names_the_race_its_candidate_declares()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store = SnapshotStore::new(dir.path());
        for case in ["a", "b"] {
            store.bless(
                &snapshot_name("tini", case, "docker"),
                &snapshot_text(&record(case, Outcome::Pass, "caught")),
                "test",
            )?;
        }
        let tini = racing_tini();
        let candidates = [tini];
        let check =
            |case, event| check_snapshot(&store, &record(case, Outcome::Pass, event), &candidates);
        assert_eq!(check("a", "caught")?, SnapshotCheck::Matches);
        let declared = check("a", "exiting")?;
        assert!(
            matches!(&declared, SnapshotCheck::Differs { diff, race: Some(why) }
                if diff.contains("+app") && why == "its own exit races the SIGKILL"),
            "{declared:?}"
        );
        let undeclared = check("b", "exiting")?;
        assert!(
            matches!(&undeclared, SnapshotCheck::Differs { race: None, .. }),
            "{undeclared:?}"
        );
        assert!(
            matches!(check("c", "caught")?, SnapshotCheck::Missing { body } if body.contains("app")),
            "a run never stored is missing, with its text"
        );
        Ok(())
    }

    /// A run whose case says nothing about the candidate's kind is not executed: its launcher
    /// (here one that does not exist) is never started, it has no trace, and it reads n/a with
    /// the case's reason.
    #[test]
    fn a_run_the_case_does_not_apply_to_is_not_executed() {
        let case = crate::spec::parse_case(
            Path::new("exec-failure.toml"),
            "title = \"t\"\nwhy = \"w\"\nsources = [\"s\"]\n[workload]\nrole = \"app\"\n\
             [[must]]\nkind = \"no-escalation\"\n[reading.forwarder]\n\
             not_applicable = \"forwarders are out\"\n",
        )
        .expect("a valid case");
        let plan = crate::plan::plan(&[candidate("tini")], &[case], &[Profile::docker()]);
        let ready = ready_runs(plan, &installs(), 1);
        let work_dir = tempfile::tempdir().expect("a temporary directory");
        let options = MatrixOptions {
            work_dir: work_dir.path().join("runs"),
            witness: false,
            ..MatrixOptions::for_workspace(
                work_dir.path(),
                PathBuf::from("/nonexistent/probe"),
                Launcher {
                    program: PathBuf::from("/nonexistent/pid1check-launch"),
                    args: Vec::new(),
                },
            )
        };
        let record = execute_one(&ready[0], &options);
        assert_eq!(record.result.outcome, Outcome::NotApplicable);
        assert_eq!(record.result.outcome.name(), "n/a");
        assert_eq!(record.result.reason, "forwarders are out");
        assert_eq!(record.result.reading, Some(CandidateKind::Forwarder));
        assert!(record.raw.is_none() && record.result.trace.is_empty());
        assert!(
            !options.work_dir.exists(),
            "no run directory was even created"
        );
    }
}
