//! `cargo xtask conformance`: load cases and candidates, install what is missing, run the
//! matrix, compare every normalised trace with its snapshot, write the reports.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use harness::conformance::{
    MatrixOptions, RunRecord, SnapshotCheck, assemble_matrix, chain, check_snapshot, declared_race,
    execute_matrix_witnessed, find_unstable, install_all, observers_that_ran, ready_runs,
    snapshot_text, start_witness_for,
};
use harness::install::{build_launcher, build_probe};
use harness::matrix::{Matrix, Outcome};
use harness::observe::witness::{WitnessCollector, remove_stale_instances};
use harness::plan::plan;
use harness::report::timeline::build_timeline;
use harness::run::Launcher;
use harness::sandbox::PidsLimit;
use harness::snapshot::{SnapshotStore, snapshot_name};
use harness::spec::{
    Candidate, CandidateKind, Case, Install, check_race_names, load_candidate, load_candidates,
    load_cases, load_profiles, select,
};

use crate::exit_code;
use crate::progress::Progress;

/// Flags of `cargo xtask conformance`.
#[derive(Debug, Args)]
pub struct ConformanceArgs {
    /// A candidate by name (from fixtures/candidates) or a path to a candidate TOML file;
    /// repeatable. Default: every candidate.
    #[arg(long = "candidate", value_name = "NAME|PATH.toml")]
    candidates: Vec<String>,
    /// Test any init ad hoc: its command line, to which the workload's path is appended
    /// (e.g. '/usr/local/bin/my-init --').
    #[arg(long, value_name = "'CMD ARGS...'")]
    init: Option<String>,
    /// Name for the runs of --init in reports (default: custom).
    #[arg(long, default_value = "custom", requires = "init")]
    name: String,
    /// A case by name; repeatable. Default: every case in the cases directory.
    #[arg(long = "case", value_name = "NAME")]
    cases: Vec<String>,
    /// A runtime profile by name (from fixtures/profiles); repeatable. Default: every profile.
    #[arg(long = "profile", value_name = "NAME")]
    profiles: Vec<String>,
    /// Where the case files are.
    #[arg(long, value_name = "DIR")]
    cases_dir: Option<PathBuf>,
    /// Where to write results.json, matrix.md and index.html with runs/. Default: reports/, on
    /// full runs only.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Accept the new traces: rewrite differing snapshots, remove stale ones.
    #[arg(long)]
    bless: bool,
    /// Run everything N times and report any run whose trace or outcome changed; only a change
    /// its candidate does not declare as a race (`[[races]]`) fails.
    #[arg(long, default_value_t = 1, value_name = "N")]
    repeat: usize,
    /// Runs at once (they mostly wait). Default: 4 × the number of cores.
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Multiply every grace period and case delay by F (never below 50 ms).
    #[arg(long, default_value_t = harness::plan::DEFAULT_TIME_SCALE, value_name = "F")]
    time_scale: f64,
    /// Compare --init runs with snapshots too.
    #[arg(long)]
    snapshot_custom: bool,
    /// Do not record runs with the kernel witness (tracefs), e.g. to measure its overhead;
    /// verdicts that need it stay unknown.
    #[arg(long)]
    no_witness: bool,
}

/// Run the subcommand; returns the process exit code.
pub fn run(root: &Path, args: &ConformanceArgs) -> ExitCode {
    // Instances left by a harness killed before its cleanup (an earlier run interrupted).
    report_removed("stale", &remove_stale_instances());
    // Setting the kernel witness up takes tens of milliseconds: another thread does it while
    // this one loads, builds and installs. It records this thread and what it starts later.
    let this_thread = nix::unistd::gettid().as_raw();
    let wanted = !args.no_witness;
    let mut witness = Some(std::thread::spawn(move || {
        start_witness_for(wanted, this_thread)
    }));
    let code = run_with(root, args, &mut witness);
    // A run that stopped early still waits for the set-up, and removes what it set up.
    if let Some(pending) = witness.take() {
        drop(pending.join());
    }
    report_removed("leftover", &remove_stale_instances());
    code
}

/// The witness being set up by another thread.
type PendingWitness = std::thread::JoinHandle<Result<WitnessCollector, String>>;

fn run_with(root: &Path, args: &ConformanceArgs, witness: &mut Option<PendingWitness>) -> ExitCode {
    let mut bad_input = false;
    let mut complain = |message: String| {
        eprintln!("error: {message}");
        bad_input = true;
    };
    if !(args.time_scale > 0.0 && args.time_scale.is_finite()) {
        complain(format!(
            "--time-scale must be a positive number, not {}",
            args.time_scale
        ));
        return ExitCode::from(exit_code::BAD_INPUT);
    }
    let cases_dir = args.cases_dir.clone().unwrap_or_else(|| root.join("cases"));
    let loaded_cases = load_cases(&cases_dir);
    for error in &loaded_cases.errors {
        complain(chain(error));
    }
    let cases = match select(&loaded_cases.items, &args.cases) {
        Ok(cases) => cases.into_iter().cloned().collect::<Vec<_>>(),
        Err(error) => {
            complain(chain(&error));
            Vec::new()
        }
    };
    let loaded_profiles = load_profiles(&root.join("fixtures/profiles"));
    for error in &loaded_profiles.errors {
        complain(chain(error));
    }
    let profiles = match select(&loaded_profiles.items, &args.profiles) {
        Ok(profiles) => profiles.into_iter().cloned().collect::<Vec<_>>(),
        Err(error) => {
            complain(chain(&error));
            Vec::new()
        }
    };
    let mut candidates = choose_candidates(root, args, &mut complain);
    // Races name cases and profiles, known only now: a candidate naming neither is bad input
    // and left out, like a file that does not load. With --cases-dir, the cases of cases/
    // count too (a candidate file declares races on those).
    let default_cases = match args.cases_dir {
        Some(_) => load_cases(&root.join("cases")).items,
        None => Vec::new(),
    };
    let known_cases: Vec<Case> = loaded_cases
        .items
        .iter()
        .chain(&default_cases)
        .cloned()
        .collect();
    candidates.retain(|candidate| {
        match check_race_names(candidate, &known_cases, &loaded_profiles.items) {
            Ok(()) => true,
            Err(error) => {
                complain(chain(&error));
                false
            }
        }
    });
    let filtered = !args.profiles.is_empty()
        || !args.cases.is_empty()
        || !args.candidates.is_empty()
        || args.init.is_some()
        || args.cases_dir.is_some();
    if cases.is_empty() || candidates.is_empty() || profiles.is_empty() {
        eprintln!(
            "error: nothing to run ({} cases, {} candidates, {} profiles)",
            cases.len(),
            candidates.len(),
            profiles.len()
        );
        return ExitCode::from(exit_code::BAD_INPUT);
    }

    let probe = match build_probe(root) {
        Ok(probe) => probe,
        Err(error) => {
            eprintln!("error: building the probe: {}", chain(&error));
            return ExitCode::from(exit_code::FAILED);
        }
    };
    let installs = install_all(root, &candidates);
    let repeat = args.repeat.max(1);
    let runs = ready_runs(plan(&candidates, &cases, &profiles), &installs, repeat);
    let options = match matrix_options(root, args.time_scale, args.jobs, probe) {
        Ok(options) => MatrixOptions {
            witness: !args.no_witness,
            ..options
        },
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(exit_code::FAILED);
        }
    };
    eprintln!(
        "running {} runs ({} candidates × {} cases × {} profiles{}), {} at a time, sandbox mode {}",
        runs.len(),
        candidates.len(),
        cases.len(),
        profiles.len(),
        if repeat > 1 {
            format!(" × {repeat} repeats")
        } else {
            String::new()
        },
        options.jobs,
        options.mode.name()
    );
    let witness = match witness.take().map(std::thread::JoinHandle::join) {
        Some(Ok(witness)) => witness,
        _ => Err("setting the witness up failed".to_owned()),
    };
    let started = std::time::Instant::now();
    let progress = Progress::new(runs.len());
    let records = execute_matrix_witnessed(&runs, &options, &witness, &|record: &RunRecord| {
        progress.run_done(record);
    });
    progress.finish();
    eprintln!(
        "{} runs in {:.1} s",
        records.len(),
        started.elapsed().as_secs_f64()
    );
    // Removing the witness's instance takes tens of milliseconds: in the background while the
    // snapshots are compared and the reports written.
    let closing = std::thread::spawn(move || drop(witness));
    let unlimited = records
        .iter()
        .filter_map(|r| r.raw.as_ref()?.pids_limit.as_ref())
        .find(|limit| matches!(limit, PidsLimit::None { .. }));
    if let Some(limit) = unlimited {
        eprintln!(
            "warning: {}: a candidate's fork bomb is bounded only by the machine",
            limit.describe()
        );
    }

    let mut failed = false;
    if repeat > 1 {
        failed |= report_instability(&records, repeat, &candidates);
    }
    let firsts: Vec<&RunRecord> = records.iter().step_by(repeat).collect();
    if firsts.iter().any(|r| r.result.outcome == Outcome::NotRun) {
        eprintln!("some runs did not run (see `not run` above): the matrix is incomplete");
        failed = true;
    }
    failed |= compare_snapshots(root, args, &firsts, &candidates, filtered);
    let results = firsts.iter().map(|r| r.result.clone()).collect();
    let mut matrix = assemble_matrix(&candidates, &cases, &profiles, &installs, &options, results);
    let (observers, witness_missing) = observers_that_ran(&firsts);
    matrix.observers = observers.iter().map(|o| o.name().to_owned()).collect();
    if let Some(reason) = witness_missing {
        eprintln!("the kernel witness did not run in every run: {reason}");
    }
    println!("{}", harness::report::render_markdown(&matrix));
    let out = args
        .out
        .clone()
        .or_else(|| (!filtered).then(|| root.join("reports")));
    if let Some(out) = out {
        match write_reports(&out, &matrix, &candidates, &cases)
            .and_then(|()| write_html(&out, &matrix, &cases, &firsts))
        {
            Ok(()) => eprintln!("reports written to {}", out.display()),
            Err(error) => {
                eprintln!("error: writing reports to {}: {error}", out.display());
                failed = true;
            }
        }
    }
    let _ = closing.join();
    if bad_input {
        ExitCode::from(exit_code::BAD_INPUT)
    } else if failed {
        ExitCode::from(exit_code::FAILED)
    } else {
        ExitCode::from(exit_code::OK)
    }
}

fn choose_candidates(
    root: &Path,
    args: &ConformanceArgs,
    complain: &mut impl FnMut(String),
) -> Vec<Candidate> {
    let loaded = load_candidates(&root.join("fixtures/candidates"));
    let mut chosen = Vec::new();
    let (paths, names): (Vec<&String>, Vec<&String>) =
        args.candidates.iter().partition(|c| c.ends_with(".toml"));
    for path in paths {
        match load_candidate(Path::new(path)) {
            Ok(candidate) => chosen.push(candidate),
            Err(error) => complain(chain(&error)),
        }
    }
    let want_all = args.candidates.is_empty() && args.init.is_none();
    if want_all || !names.is_empty() {
        for error in &loaded.errors {
            complain(chain(error));
        }
        for name in &names {
            match select(&loaded.items, &[name.as_str()]) {
                Ok(found) => chosen.extend(found.into_iter().cloned()),
                Err(error) => complain(chain(&error)),
            }
        }
        if want_all {
            chosen.extend(loaded.items.iter().cloned());
        }
    }
    if let Some(init) = &args.init {
        match custom_candidate(init, &args.name) {
            Ok(candidate) => chosen.push(candidate),
            Err(message) => complain(message),
        }
    }
    chosen
}

/// A candidate for `--init 'CMD ARGS'`: the command line with the workload appended.
fn custom_candidate(init: &str, name: &str) -> Result<Candidate, String> {
    let words = shlex::split(init)
        .ok_or_else(|| format!("--init: cannot split `{init}` into words (unbalanced quotes?)"))?;
    let Some(program) = words.first() else {
        return Err("--init: the command is empty".to_owned());
    };
    let path = which(program)
        .ok_or_else(|| format!("--init: `{program}` is not an executable path or on PATH"))?;
    let mut argv = vec!["{bin}".to_owned()];
    argv.extend(words[1..].iter().cloned());
    argv.push("{workload}".to_owned());
    Ok(Candidate {
        name: name.to_owned(),
        dir: std::env::current_dir().unwrap_or_default(),
        title: format!("ad hoc: {init}"),
        kind: CandidateKind::Forwarder,
        install: Install::Host {
            path: path.to_string_lossy().into_owned(),
        },
        argv,
        stop_signal: None,
        min_grace_ms: None,
        service_stop_signal: None,
        needs: Vec::new(),
        files: Vec::new(),
        races: Vec::new(),
    })
}

fn which(program: &str) -> Option<PathBuf> {
    let candidate = Path::new(program);
    if candidate.is_absolute() {
        return candidate.is_file().then(|| candidate.to_path_buf());
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|path| path.is_file())
}

/// The workspace's matrix options with the harness's launcher (built as this binary was), and
/// the time scale and job count given (default jobs: 4 × cores).
pub(crate) fn matrix_options(
    root: &Path,
    time_scale: f64,
    jobs: Option<usize>,
    probe: PathBuf,
) -> Result<MatrixOptions, String> {
    let defaults = MatrixOptions::for_workspace(root, probe, launcher(root)?);
    Ok(MatrixOptions {
        time_scale,
        jobs: jobs.unwrap_or(defaults.jobs),
        ..defaults
    })
}

/// The launcher of every run: the harness's `pid1check-launch`, built by cargo in this binary's
/// target directory (optimised, in the `launcher` profile, when this is a dev build), started
/// once as the launch server that forks each run's launcher. Not this binary with a hidden word: a debug xtask is 75 MB, slower to
/// start and to fork (when it was exec'd per run, about 2 ms more a run: `cargo xtask bench`).
pub fn launcher(root: &Path) -> Result<Launcher, String> {
    let xtask = std::env::current_exe().map_err(|e| format!("finding the xtask binary: {e}"))?;
    let program = build_launcher(root, &xtask)
        .map_err(|error| format!("building the launcher: {}", chain(&error)))?;
    Ok(Launcher {
        program,
        args: Vec::new(),
    })
}

/// Compare (or bless) every completed run's snapshot; returns whether anything failed. A run
/// whose candidate declares a race for its case and profile may differ by that race: its diff
/// is printed with the declared reason and does not fail (as in the snapshot test).
fn compare_snapshots(
    root: &Path,
    args: &ConformanceArgs,
    records: &[&RunRecord],
    candidates: &[Candidate],
    filtered: bool,
) -> bool {
    let store = SnapshotStore::new(root.join("reports/snapshots"));
    let mut failed = false;
    let mut referenced = BTreeSet::new();
    let (mut blessed, mut differing, mut in_races, mut missing) = (0, 0, 0, 0);
    for record in records {
        let r = &record.result;
        // Nothing ran (not run, or n/a by the case's reading): nothing to snapshot.
        if matches!(r.outcome, Outcome::NotRun | Outcome::NotApplicable)
            || (args.init.as_deref().is_some() && r.candidate == args.name && !args.snapshot_custom)
        {
            continue;
        }
        let name = snapshot_name(&r.candidate, &r.case, &r.profile);
        referenced.insert(name.clone());
        if args.bless {
            match store.bless(&name, &snapshot_text(record), "cargo xtask conformance") {
                Ok(true) => blessed += 1,
                Ok(false) => {}
                Err(error) => {
                    eprintln!("error: {}", chain(&error));
                    failed = true;
                }
            }
            continue;
        }
        match check_snapshot(&store, record, candidates) {
            Ok(SnapshotCheck::Matches) => {}
            Ok(SnapshotCheck::Differs {
                diff,
                race: Some(why),
            }) => {
                in_races += 1;
                eprintln!(
                    "snapshot {name} differs, in a race {} declares ({why}):\n{diff}",
                    r.candidate
                );
            }
            Ok(SnapshotCheck::Differs { diff, race: None }) => {
                differing += 1;
                eprintln!("snapshot {name} differs:\n{diff}");
            }
            Ok(SnapshotCheck::Missing { body }) => {
                missing += 1;
                eprintln!("snapshot {name} is missing (run with --bless to record it):\n{body}");
            }
            Err(error) => {
                eprintln!("error: {}", chain(&error));
                failed = true;
            }
        }
    }
    if !filtered {
        match store.unreferenced(&referenced) {
            Ok(stale) => {
                for path in stale {
                    if args.bless {
                        match std::fs::remove_file(&path) {
                            Ok(()) => eprintln!("removed stale snapshot {}", path.display()),
                            Err(error) => eprintln!("error: removing {}: {error}", path.display()),
                        }
                    } else {
                        eprintln!("stale snapshot (no run produces it): {}", path.display());
                        failed = true;
                    }
                }
            }
            Err(error) => {
                eprintln!("error: {}", chain(&error));
                failed = true;
            }
        }
    }
    if args.bless {
        eprintln!("blessed {blessed} snapshots");
    } else if differing + in_races + missing > 0 {
        eprintln!(
            "{} snapshots differ ({in_races} in races their candidates declare, {differing} not), \
             {missing} missing",
            differing + in_races
        );
        failed |= differing + missing > 0;
    }
    failed
}

/// With `--repeat N`, records come in groups of N for the same run: report any group whose
/// normalised trace or outcome is not the same every time, in two groups: races the candidate
/// declares (with its reason) and unexpected instability. Returns whether there was any of the
/// latter: only that fails the command.
fn report_instability(records: &[RunRecord], repeat: usize, candidates: &[Candidate]) -> bool {
    let unstable = find_unstable(records, repeat, candidates);
    let (declared, unexpected): (Vec<_>, Vec<_>) =
        unstable.iter().partition(|run| run.declared.is_some());
    for run in &declared {
        eprintln!(
            "DECLARED RACE {} × {} ({}), repeat 1 vs {}: {} declares: {}\n{}",
            run.candidate,
            run.case,
            run.profile,
            run.repeat,
            run.candidate,
            run.declared.as_deref().unwrap_or_default(),
            run.diff
        );
    }
    for run in &unexpected {
        eprintln!(
            "UNSTABLE {} × {} ({}), repeat 1 vs {}:\n{}",
            run.candidate, run.case, run.profile, run.repeat, run.diff
        );
    }
    // Declared races that did not show this time: a one-line note, not a failure.
    let quiet: Vec<String> = records
        .iter()
        .step_by(repeat.max(1))
        .map(|record| &record.result)
        .filter(|r| declared_race(candidates, r).is_some())
        .filter(|r| {
            !unstable
                .iter()
                .any(|u| (&u.candidate, &u.case, &u.profile) == (&r.candidate, &r.case, &r.profile))
        })
        .map(|r| format!("{} × {} ({})", r.candidate, r.case, r.profile))
        .collect();
    if !quiet.is_empty() {
        eprintln!(
            "note: {} declared races were stable over {repeat} repeats: {}",
            quiet.len(),
            quiet.join(", ")
        );
    }
    eprintln!(
        "{} unstable runs out of {} (each repeated {repeat} times): {} declared races of their \
         candidates, {} unexpected",
        unstable.len(),
        records.len() / repeat,
        declared.len(),
        unexpected.len()
    );
    !unexpected.is_empty()
}

/// Writes `results.json`, `matrix.md` and `candidates/NAME.md` (one page per candidate, with the
/// `# timer:` notes of its file) into `out`.
fn write_reports(
    out: &Path,
    matrix: &Matrix,
    candidates: &[Candidate],
    cases: &[Case],
) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    std::fs::write(
        out.join("results.json"),
        harness::report::render_json(matrix),
    )?;
    std::fs::write(
        out.join("matrix.md"),
        harness::report::render_markdown(matrix),
    )?;
    std::fs::write(
        out.join("profiles.md"),
        harness::report::render_profiles(matrix),
    )?;
    std::fs::write(out.join("cases.md"), harness::report::render_cases(cases))?;
    let pages = out.join("candidates");
    std::fs::create_dir_all(&pages)?;
    for candidate in candidates {
        let file = candidate.dir.join(format!("{}.toml", candidate.name));
        // An ad-hoc --init candidate has no file: it has no timer notes either.
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let timers = harness::report::timer_notes(&text);
        std::fs::write(
            pages.join(format!("{}.md", candidate.name)),
            harness::report::render_candidate_page(matrix, candidate, &timers),
        )?;
    }
    Ok(())
}

/// Writes `index.html` (the matrix, each cell a link) and `runs/NAME.html` (one page per run,
/// with its signal timeline) into `out`; removes run pages no run produced this time.
fn write_html(
    out: &Path,
    matrix: &Matrix,
    cases: &[Case],
    records: &[&RunRecord],
) -> std::io::Result<()> {
    let runs = out.join("runs");
    std::fs::create_dir_all(&runs)?;
    let mut written = BTreeSet::new();
    for record in records {
        let r = &record.result;
        let timeline = record.raw.as_ref().and_then(|raw| {
            let case = cases.iter().find(|c| c.name == r.case)?;
            Some(build_timeline(raw, case, Some(r.grace_ms)))
        });
        let name = harness::report::run_page_name(&r.candidate, &r.case, &r.profile);
        std::fs::write(
            runs.join(&name),
            harness::report::render_run_page(matrix, r, timeline.as_ref()),
        )?;
        written.insert(std::ffi::OsString::from(name));
    }
    for entry in std::fs::read_dir(&runs)? {
        let path = entry?.path();
        let stale = path.extension().is_some_and(|e| e == "html")
            && path.file_name().is_some_and(|n| !written.contains(n));
        if stale {
            std::fs::remove_file(&path)?;
        }
    }
    std::fs::write(
        out.join("index.html"),
        harness::report::render_index(matrix),
    )
}

/// Say which witness instances were removed, if any.
fn report_removed(what: &str, removed: &[String]) {
    if !removed.is_empty() {
        eprintln!(
            "removed {} {what} kernel-witness tracefs instance(s): {}",
            removed.len(),
            removed.join(", ")
        );
    }
}
