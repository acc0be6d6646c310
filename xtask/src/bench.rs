//! `cargo xtask bench`: how fast the suite is, as measured facts (issue 6). Two parts:
//!
//! 1. the whole default matrix (every candidate × case, docker profile) at `--jobs`: its wall
//!    time, and how much of the runs' time is deliberate waiting (grace periods waited out,
//!    workload delays a step waits for, zombie scans that had to settle) rather than overhead;
//! 2. the per-run overhead: `bare` × `fixtures/bench/cases/no-wait` (nothing waits on a timer)
//!    one at a time, `--runs` times, sharing one kernel witness as a matrix's runs do, split by
//!    the trace's `CLOCK_MONOTONIC` stamps into start (launcher, sandbox, PID 1 and probe up),
//!    ready (probe up → stop signal sent), stop (signal to PID 1 reaped) and teardown (scan,
//!    cgroup and run directory removed, trace judged), median and p95 of each.
//!
//! `--only matrix|overhead` runs one part; `--no-witness` runs without the kernel witness.
//!
//! Writes `bench.json` and `bench.md` (default in `reports/`) and prints the Markdown.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use harness::conformance::{
    MatrixOptions, ReadyRun, RunRecord, chain, execute_matrix, execute_witnessed, install_all,
    ready_runs, start_witness,
};
use harness::install::{build_probe, install_candidate, launcher_opt_level};
use harness::matrix::Outcome;
use harness::plan::{DEFAULT_TIME_SCALE, PlannedRun, plan, scale_ms};
use harness::run::monotonic_ns;
use harness::spec::{Candidate, Profile, Step, load_candidates, load_case, load_cases, select};
use harness::trace::{ActionKind, Trace};
use pid1check_probe::Event;
use serde_json::json;

use crate::conformance::matrix_options;
use crate::progress::Progress;

/// The target for the median per-run overhead.
const OVERHEAD_TARGET_MS: f64 = 5.0;
/// The target: matrix wall time within this factor of deliberate waiting / parallelism.
const MATRIX_TARGET_FACTOR: f64 = 1.2;

/// Flags of `cargo xtask bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Runs of the overhead benchmark (bare × no-wait, one at a time).
    #[arg(long, default_value_t = 200, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,
    /// Runs at once in the matrix part. Default: 4 × the number of cores.
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Where to write bench.json and bench.md.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Do not record runs with the kernel witness (tracefs), to see what it costs per run.
    #[arg(long)]
    no_witness: bool,
    /// Run one part only (to iterate on it); the report then holds that part alone.
    #[arg(long, value_enum, value_name = "PART")]
    only: Option<BenchPart>,
}

/// A part of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BenchPart {
    /// The whole default matrix.
    Matrix,
    /// The per-run overhead of `bare` × `no-wait`.
    Overhead,
}

/// Run the benchmark and write its reports.
pub fn run(root: &Path, args: &BenchArgs) -> anyhow::Result<()> {
    let probe = build_probe(root).map_err(|e| anyhow::anyhow!(chain(&e)))?;
    let options = MatrixOptions {
        witness: !args.no_witness,
        ..matrix_options(root, DEFAULT_TIME_SCALE, args.jobs, probe).map_err(anyhow::Error::msg)?
    };
    let candidates = load_candidates(&root.join("fixtures/candidates"));
    if let Some(error) = candidates.errors.first() {
        bail!("{}", chain(error));
    }
    let wanted = |part| args.only.is_none_or(|only| only == part);
    let matrix = if wanted(BenchPart::Matrix) {
        Some(measure_matrix(root, &candidates.items, &options)?)
    } else {
        None
    };
    let overhead = if wanted(BenchPart::Overhead) {
        Some(measure_overhead(
            root,
            &candidates.items,
            &options,
            args.runs,
        )?)
    } else {
        None
    };

    let out = args.out.clone().unwrap_or_else(|| root.join("reports"));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let build = launcher_build(&options.launcher.program)?;
    let report = render_json(matrix.as_ref(), overhead.as_ref(), options.witness, &build);
    let markdown = render_markdown(matrix.as_ref(), overhead.as_ref(), options.witness, &build);
    std::fs::write(out.join("bench.json"), format!("{report:#}\n"))
        .with_context(|| format!("writing {}", out.join("bench.json").display()))?;
    std::fs::write(out.join("bench.md"), &markdown)
        .with_context(|| format!("writing {}", out.join("bench.md").display()))?;
    println!("{markdown}");
    eprintln!("written to {}", out.display());
    Ok(())
}

/// The matrix part: every candidate × case under docker, `options.jobs` at a time.
fn measure_matrix(
    root: &Path,
    candidates: &[Candidate],
    options: &MatrixOptions,
) -> anyhow::Result<MatrixFigures> {
    let cases = load_cases(&root.join("cases"));
    if let Some(error) = cases.errors.first() {
        bail!("{}", chain(error));
    }
    let installs = install_all(root, candidates);
    let runs = ready_runs(
        plan(candidates, &cases.items, &[Profile::docker()]),
        &installs,
        1,
    );
    eprintln!(
        "bench: the default matrix, {} runs, {} at a time",
        runs.len(),
        options.jobs
    );
    let started = Instant::now();
    let progress = Progress::new(runs.len());
    let records = execute_matrix(&runs, options, &|record| progress.run_done(record));
    progress.finish();
    let matrix_wall_ms = started.elapsed().as_secs_f64() * 1e3;
    if let Some(record) = records.iter().find(|r| r.result.outcome == Outcome::NotRun) {
        bail!(
            "{} × {} did not run ({}): the matrix figures would be wrong",
            record.result.candidate,
            record.result.case,
            record.result.reason
        );
    }
    Ok(MatrixFigures::measure(
        &runs,
        &records,
        matrix_wall_ms,
        options,
    ))
}

/// The overhead part: `bare` × `no-wait`, `runs` times one at a time.
fn measure_overhead(
    root: &Path,
    candidates: &[Candidate],
    options: &MatrixOptions,
    runs: u64,
) -> anyhow::Result<OverheadFigures> {
    let case = load_case(&root.join("fixtures/bench/cases/no-wait.toml"))
        .map_err(|e| anyhow::anyhow!(chain(&e)))?;
    let bare = select(candidates, &["bare"])
        .map_err(|e| anyhow::anyhow!(chain(&e)))?
        .into_iter()
        .next()
        .cloned()
        .context("no bare candidate")?;
    let install = install_candidate(root, &bare).map_err(|e| chain(&e));
    let ready = ReadyRun {
        run: PlannedRun {
            candidate: bare,
            case,
            profile: Profile::docker(),
        },
        install,
        repeat: 0,
    };
    eprintln!("bench: per-run overhead, bare × no-wait, {runs} runs one at a time");
    // One witness for all the runs, as a matrix has: its set-up is not a run's overhead.
    let witness = start_witness(options);
    let mut samples = Vec::new();
    for _ in 0..runs {
        let begun = monotonic_ns();
        let record = execute_witnessed(&ready, options, &witness);
        let ended = monotonic_ns();
        if record.result.outcome != Outcome::Pass {
            bail!(
                "bare × no-wait did not pass ({}): its time is not the harness's overhead",
                record.result.reason
            );
        }
        let trace = record.raw.as_ref().context("a passed run has a trace")?;
        samples.push(OverheadSample::split(begun, ended, trace)?);
    }
    Ok(OverheadFigures::from_samples(&samples))
}

/// Time in one run's trace spent deliberately waiting, in milliseconds: a grace period waited
/// out (stop signal → escalation), a `wait-exit` step (the workload's own delay before it
/// exits), a zombie scan that had to settle because zombies stayed, a workload process's
/// cleanup (from the first signal it caught after the stop to its `exiting` report: the
/// case's cleanup delay, and its wait for its own children), and planned pauses. Waits that
/// overlap (a cleanup inside the grace period) count once.
fn deliberate_ms(trace: &Trace, pauses_ms: u64) -> f64 {
    let mut waits: Vec<(u64, u64)> = Vec::new();
    let mut previous: Option<u64> = None;
    let mut stop_sent: Option<u64> = None;
    for action in &trace.actions {
        let since = |from: Option<u64>| (from.unwrap_or(action.mono_ns), action.mono_ns);
        match &action.what {
            ActionKind::SignalSent { stop: true, .. } => stop_sent = Some(action.mono_ns),
            ActionKind::Escalated => waits.push(since(stop_sent)),
            ActionKind::WaitedExit { .. } => waits.push(since(previous)),
            ActionKind::ZombieScan { zombies, .. } if !zombies.is_empty() => {
                waits.push(since(previous))
            }
            _ => {}
        }
        previous = Some(action.mono_ns);
    }
    if let Some(stop_sent) = stop_sent {
        waits.extend(cleanups(trace, stop_sent));
    }
    union_ns(waits) as f64 / 1e6 + pauses_ms as f64
}

/// Each workload process's cleanup after the stop: from the first signal it caught at or after
/// `stop_sent` to its `exiting` report.
fn cleanups(trace: &Trace, stop_sent: u64) -> Vec<(u64, u64)> {
    let mut began: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    let mut spans = Vec::new();
    for report in &trace.reports {
        if report.mono_ns < stop_sent {
            continue;
        }
        match report.event {
            Event::Caught { .. } => {
                began.entry(report.role.as_str()).or_insert(report.mono_ns);
            }
            Event::Exiting { .. } => {
                if let Some(&from) = began.get(report.role.as_str()) {
                    spans.push((from, report.mono_ns));
                }
            }
            _ => {}
        }
    }
    spans
}

/// The length of the union of `[from, to)` spans, in nanoseconds.
fn union_ns(mut spans: Vec<(u64, u64)>) -> u64 {
    spans.sort_unstable();
    let mut total = 0;
    let mut covered_to = 0;
    for (from, to) in spans {
        let from = from.max(covered_to);
        if to > from {
            total += to - from;
            covered_to = to;
        }
    }
    total
}

/// The matrix part's figures.
#[derive(Debug, Clone, PartialEq)]
struct MatrixFigures {
    runs: usize,
    jobs: usize,
    wall_ms: f64,
    run_time_ms: f64,
    longest_run_ms: f64,
    deliberate_ms: f64,
    /// Per candidate, the time of its runs that was not deliberate waiting (its own start and
    /// waits, and the harness), largest first.
    rest_by_candidate: Vec<(String, f64)>,
}

impl MatrixFigures {
    /// `records` are the results of `runs`, in the same order.
    fn measure(
        runs: &[ReadyRun],
        records: &[RunRecord],
        wall_ms: f64,
        options: &MatrixOptions,
    ) -> Self {
        let mut deliberate_total = 0.0;
        let mut rest: std::collections::BTreeMap<&str, f64> = std::collections::BTreeMap::new();
        for (ready, record) in runs.iter().zip(records) {
            let pauses = planned_pauses_ms(&ready.run, options.time_scale);
            let deliberate = record
                .raw
                .as_ref()
                .map_or(0.0, |trace| deliberate_ms(trace, pauses));
            deliberate_total += deliberate;
            *rest.entry(record.result.candidate.as_str()).or_default() +=
                (record.wall.as_secs_f64() * 1e3 - deliberate).max(0.0);
        }
        let mut rest_by_candidate: Vec<(String, f64)> = rest
            .into_iter()
            .map(|(candidate, ms)| (candidate.to_owned(), ms))
            .collect();
        rest_by_candidate.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        MatrixFigures {
            runs: records.len(),
            jobs: options.jobs,
            wall_ms,
            run_time_ms: records.iter().map(|r| r.wall.as_secs_f64() * 1e3).sum(),
            longest_run_ms: records
                .iter()
                .map(|r| r.wall.as_secs_f64() * 1e3)
                .fold(0.0, f64::max),
            deliberate_ms: deliberate_total,
            rest_by_candidate,
        }
    }

    /// Runs really at once: no more than there are runs.
    fn parallelism(&self) -> usize {
        self.jobs.min(self.runs).max(1)
    }

    /// The bound on the matrix's wall time.
    fn bound_ms(&self) -> f64 {
        MATRIX_TARGET_FACTOR * self.deliberate_ms / self.parallelism() as f64
    }

    /// No schedule of these runs on `parallelism` workers can take less: the longest run, or
    /// all the runs' time spread evenly.
    fn schedule_floor_ms(&self) -> f64 {
        self.longest_run_ms
            .max(self.run_time_ms / self.parallelism() as f64)
    }

    fn deliberate_share(&self) -> f64 {
        if self.run_time_ms > 0.0 {
            self.deliberate_ms / self.run_time_ms
        } else {
            0.0
        }
    }
}

/// The scaled `pause` steps a run's case plans (no action in the trace marks them).
fn planned_pauses_ms(run: &PlannedRun, time_scale: f64) -> u64 {
    run.case
        .stop
        .steps
        .iter()
        .map(|step| match step {
            Step::Pause { ms } => scale_ms(*ms, time_scale),
            _ => 0,
        })
        .sum()
}

/// One overhead run split at the trace's stamps, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct OverheadSample {
    /// Harness call → the probe's first `started` report: launcher, sandbox, PID 1, probe.
    start: f64,
    /// That report → the stop signal sent: the launcher seeing the workload ready, the
    /// witness's scan of the namespace, the steps before the stop.
    ready: f64,
    /// The stop signal sent → PID 1 reaped.
    stop: f64,
    /// PID 1 reaped → the harness has the judged record and the run directory is gone.
    teardown: f64,
    /// The whole run.
    total: f64,
}

impl OverheadSample {
    fn split(begun: u64, ended: u64, trace: &Trace) -> anyhow::Result<Self> {
        let started = trace
            .reports
            .iter()
            .filter(|r| matches!(r.event, Event::Started { .. }))
            .map(|r| r.mono_ns)
            .min()
            .context("no started report")?;
        let stamp = |wanted: fn(&ActionKind) -> bool| {
            trace
                .actions
                .iter()
                .find(|a| wanted(&a.what))
                .map(|a| a.mono_ns)
        };
        let stop_sent = stamp(|a| matches!(a, ActionKind::SignalSent { stop: true, .. }))
            .context("no stop signal in the trace")?;
        let exited = stamp(|a| matches!(a, ActionKind::Pid1Exited { .. }))
            .context("PID 1's exit is not in the trace")?;
        let ms = |from: u64, to: u64| to.saturating_sub(from) as f64 / 1e6;
        Ok(OverheadSample {
            start: ms(begun, started),
            ready: ms(started, stop_sent),
            stop: ms(stop_sent, exited),
            teardown: ms(exited, ended),
            total: ms(begun, ended),
        })
    }
}

/// Median and 95th percentile of a measure.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Spread {
    median: f64,
    p95: f64,
}

impl Spread {
    fn of(values: impl Iterator<Item = f64>) -> Spread {
        let mut sorted: Vec<f64> = values.collect();
        sorted.sort_by(f64::total_cmp);
        Spread {
            median: percentile(&sorted, 0.50),
            p95: percentile(&sorted, 0.95),
        }
    }
}

/// The nearest-rank percentile `p` (0..=1) of sorted values; 0 for none.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The overhead part's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
struct OverheadFigures {
    runs: usize,
    start: Spread,
    ready: Spread,
    stop: Spread,
    teardown: Spread,
    total: Spread,
}

impl OverheadFigures {
    fn from_samples(samples: &[OverheadSample]) -> Self {
        OverheadFigures {
            runs: samples.len(),
            start: Spread::of(samples.iter().map(|s| s.start)),
            ready: Spread::of(samples.iter().map(|s| s.ready)),
            stop: Spread::of(samples.iter().map(|s| s.stop)),
            teardown: Spread::of(samples.iter().map(|s| s.teardown)),
            total: Spread::of(samples.iter().map(|s| s.total)),
        }
    }
}

fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// The report as JSON; a part that was not measured is `null`. `witness`: whether the runs
/// were recorded by the kernel witness (it costs each run its own time).
fn render_json(
    matrix: Option<&MatrixFigures>,
    overhead: Option<&OverheadFigures>,
    witness: bool,
    build: &str,
) -> serde_json::Value {
    let spread = |s: Spread| json!({ "median_ms": round(s.median), "p95_ms": round(s.p95) });
    let matrix = matrix.map(|matrix| {
        json!({
            "runs": matrix.runs,
            "jobs": matrix.jobs,
            "wall_ms": round(matrix.wall_ms),
            "sum_of_run_times_ms": round(matrix.run_time_ms),
            "deliberate_wait_ms": round(matrix.deliberate_ms),
            "not_deliberate_ms": round(matrix.run_time_ms - matrix.deliberate_ms),
            "not_deliberate_by_candidate_ms": matrix
                .rest_by_candidate
                .iter()
                .map(|(candidate, ms)| (candidate.clone(), json!(round(*ms))))
                .collect::<serde_json::Map<_, _>>(),
            "deliberate_share": round(matrix.deliberate_share()),
            "longest_run_ms": round(matrix.longest_run_ms),
            "schedule_floor_ms": round(matrix.schedule_floor_ms()),
            "target_wall_ms": round(matrix.bound_ms()),
            "within_target": matrix.wall_ms <= matrix.bound_ms(),
        })
    });
    let overhead = overhead.map(|overhead| {
        json!({
            "runs": overhead.runs,
            "case": "fixtures/bench/cases/no-wait.toml",
            "candidate": "bare",
            "total": spread(overhead.total),
            "start": spread(overhead.start),
            "ready": spread(overhead.ready),
            "stop": spread(overhead.stop),
            "teardown": spread(overhead.teardown),
            "target_median_ms": OVERHEAD_TARGET_MS,
            "within_target": overhead.total.median <= OVERHEAD_TARGET_MS,
        })
    });
    json!({
        "machine": {
            "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "load_average": load_average(),
        },
        "build": build,
        "witness": witness,
        "matrix": matrix,
        "overhead": overhead,
    })
}

/// The launcher's build, which shows in every figure: its cargo profile (the directory cargo
/// built it into: `launcher` under `cargo xtask`) and the optimisation level it reports.
fn launcher_build(launcher: &Path) -> anyhow::Result<String> {
    let profile = launcher
        .parent()
        .and_then(Path::file_name)
        .map_or_else(|| "?".into(), |name| name.to_string_lossy());
    let level = launcher_opt_level(launcher).map_err(|e| anyhow::anyhow!(chain(&e)))?;
    Ok(format!("cargo profile {profile}, opt-level {level}"))
}

/// The first field of /proc/loadavg: how busy the (shared) machine was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The report as Markdown; a part that was not measured is left out.
fn render_markdown(
    matrix: Option<&MatrixFigures>,
    overhead: Option<&OverheadFigures>,
    witness: bool,
    build: &str,
) -> String {
    let mut text = String::from("# pid1check benchmark (`cargo xtask bench`)\n\n");
    text.push_str(&format!(
        "{} cores, load average {} when the report was written, launcher built with {}, \
         kernel witness {}.\n\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average(),
        build,
        if witness {
            "on"
        } else {
            "off (`--no-witness`)"
        }
    ));
    if let Some(matrix) = matrix {
        text.push_str(&render_matrix_markdown(matrix));
    }
    if let Some(overhead) = overhead {
        text.push_str(&render_overhead_markdown(overhead));
    }
    text
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

fn render_matrix_markdown(matrix: &MatrixFigures) -> String {
    format!(
        "## The default matrix\n\n\
         | measure | value |\n| --- | --- |\n\
         | runs | {} |\n| runs at once (`--jobs`) | {} |\n\
         | wall time | {:.0} ms |\n\
         | sum of the runs' times | {:.0} ms |\n\
         | of which deliberate waiting (grace periods, the workload's delays and cleanups, settling scans, pauses) | {:.0} ms ({:.0} %) |\n\
         | of which the rest (the candidates' own start and waits, and the harness) | {:.0} ms ({:.0} %) |\n\
         | the rest, largest by candidate | {} |\n\
         | target: wall ≤ {MATRIX_TARGET_FACTOR} × deliberate / {} | {:.0} ms: {} |\n\
         | floor of any schedule: max(longest run {:.0} ms, sum of run times / {}) | {:.0} ms |\n\n",
        matrix.runs,
        matrix.jobs,
        matrix.wall_ms,
        matrix.run_time_ms,
        matrix.deliberate_ms,
        100.0 * matrix.deliberate_share(),
        matrix.run_time_ms - matrix.deliberate_ms,
        100.0 * (1.0 - matrix.deliberate_share()),
        matrix
            .rest_by_candidate
            .iter()
            .take(5)
            .map(|(candidate, ms)| format!("{candidate} {:.0} ms", ms))
            .collect::<Vec<_>>()
            .join(", "),
        matrix.parallelism(),
        matrix.bound_ms(),
        verdict(matrix.wall_ms <= matrix.bound_ms()),
        matrix.longest_run_ms,
        matrix.parallelism(),
        matrix.schedule_floor_ms(),
    )
}

fn render_overhead_markdown(overhead: &OverheadFigures) -> String {
    let mut text = format!(
        "## Per-run overhead: `bare` × `no-wait`, {} runs one at a time\n\n\
         | part | median | p95 |\n| --- | --- | --- |\n",
        overhead.runs
    );
    for (part, spread) in [
        (
            "start: launcher, sandbox, PID 1 and probe up",
            overhead.start,
        ),
        (
            "ready: probe up → stop signal sent (readiness, witness's scan)",
            overhead.ready,
        ),
        ("stop: stop signal → PID 1 reaped", overhead.stop),
        (
            "teardown: scans, cgroup, trace, judging, run directory",
            overhead.teardown,
        ),
        ("**whole run**", overhead.total),
    ] {
        text.push_str(&format!(
            "| {part} | {:.2} ms | {:.2} ms |\n",
            spread.median, spread.p95
        ));
    }
    text.push_str(&format!(
        "\nTarget: median under {OVERHEAD_TARGET_MS} ms: {}.\n",
        verdict(overhead.total.median <= OVERHEAD_TARGET_MS)
    ));
    text
}

#[cfg(test)]
mod tests {
    use harness::signal::SignalNumber;
    use harness::trace::Action;

    use super::*;

    fn at(ms: u64, what: ActionKind) -> Action {
        Action {
            mono_ns: ms * 1_000_000,
            what,
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.50), 100.0);
        assert_eq!(percentile(&values, 0.95), 190.0);
        assert_eq!(percentile(&[7.0], 0.95), 7.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        let spread = Spread::of([3.0, 1.0, 2.0].into_iter());
        assert_eq!((spread.median, spread.p95), (2.0, 3.0));
    }

    #[test]
    fn an_overhead_run_splits_at_the_first_start_the_stop_and_pid1s_exit() {
        let started = |ms: u64, role: &str| pid1check_probe::Report {
            role: role.to_owned(),
            pid: 1,
            seq: 0,
            mono_ns: ms * 1_000_000,
            event: Event::Started {
                ppid: 0,
                pgid: 1,
                sid: 1,
            },
        };
        let trace = Trace {
            // The later report first: the split takes the earliest start, not the first line.
            reports: vec![started(9, "worker"), started(5, "app")],
            actions: vec![
                at(8, ActionKind::Ready),
                at(
                    12,
                    ActionKind::SignalSent {
                        target: "pid1".to_owned(),
                        signal: SignalNumber::TERM,
                        stop: true,
                    },
                ),
                at(
                    15,
                    ActionKind::Pid1Exited {
                        status: harness::trace::ExitStatus::Exited { code: 0 },
                    },
                ),
            ],
            ..Trace::default()
        };
        let sample = OverheadSample::split(2_000_000, 21_000_000, &trace).expect("a split");
        assert_eq!(
            (sample.start, sample.ready, sample.stop, sample.teardown),
            (3.0, 7.0, 3.0, 6.0)
        );
        assert_eq!(sample.total, 19.0);
        let no_stop = Trace {
            actions: Vec::new(),
            ..trace
        };
        assert!(OverheadSample::split(0, 1, &no_stop).is_err());
    }

    #[test]
    fn deliberate_waiting_is_grace_waited_out_settling_scans_and_waits_for_exits() {
        let trace = Trace {
            actions: vec![
                at(10, ActionKind::Ready),
                // The workload's own 50 ms delay before the daemon exits: waited for.
                at(
                    60,
                    ActionKind::WaitedExit {
                        role: "daemon".to_owned(),
                        exited: true,
                    },
                ),
                // Zombies stayed: the scan settled for its whole 50 ms.
                at(
                    110,
                    ActionKind::ZombieScan {
                        label: "l".to_owned(),
                        zombies: vec![3],
                        peak: 1,
                    },
                ),
                at(
                    111,
                    ActionKind::SignalSent {
                        target: "pid1".to_owned(),
                        signal: SignalNumber::TERM,
                        stop: true,
                    },
                ),
                // The grace period, waited out.
                at(611, ActionKind::Escalated),
            ],
            ..Trace::default()
        };
        assert_eq!(deliberate_ms(&trace, 7), 50.0 + 50.0 + 500.0 + 7.0);
    }

    #[test]
    fn a_cleanup_counts_once_even_inside_the_grace_period() {
        let report = |ms: u64, role: &str, event: Event| pid1check_probe::Report {
            role: role.to_owned(),
            pid: 2,
            seq: 0,
            mono_ns: ms * 1_000_000,
            event,
        };
        let caught = Event::Caught {
            signal: SignalNumber::TERM.raw(),
            code: 0,
            sender_pid: 0,
        };
        let stop = ActionKind::SignalSent {
            target: "pid1".to_owned(),
            signal: SignalNumber::TERM,
            stop: true,
        };
        // A caught signal before the stop starts no cleanup; the app's 300 ms cleanup, then
        // the worker's 100 ms one overlapping it.
        let reports = vec![
            report(5, "app", caught.clone()),
            report(101, "app", caught.clone()),
            report(401, "app", Event::Exiting { code: 0 }),
            report(350, "worker", caught.clone()),
            report(450, "worker", Event::Exiting { code: 0 }),
        ];
        let clean = Trace {
            actions: vec![at(10, ActionKind::Ready), at(100, stop.clone())],
            reports: reports.clone(),
            ..Trace::default()
        };
        assert_eq!(deliberate_ms(&clean, 0), 349.0);
        // The same, escalated at 611: the grace period covers both cleanups.
        let escalated = Trace {
            actions: vec![
                at(10, ActionKind::Ready),
                at(100, stop),
                at(611, ActionKind::Escalated),
            ],
            reports,
            ..Trace::default()
        };
        assert_eq!(deliberate_ms(&escalated, 0), 511.0);
    }

    #[test]
    fn a_scan_that_found_nothing_and_a_prompt_exit_wait_for_nothing() {
        let trace = Trace {
            actions: vec![
                at(10, ActionKind::Ready),
                at(
                    12,
                    ActionKind::ZombieScan {
                        label: "l".to_owned(),
                        zombies: Vec::new(),
                        peak: 0,
                    },
                ),
                at(
                    13,
                    ActionKind::SignalSent {
                        target: "pid1".to_owned(),
                        signal: SignalNumber::TERM,
                        stop: true,
                    },
                ),
            ],
            ..Trace::default()
        };
        assert_eq!(deliberate_ms(&trace, 0), 0.0);
    }
}
