//! Shared setup of the integration tests: the workspace, the static probe, the launcher,
//! installed candidates and a one-call way to execute a candidate × case.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use harness::conformance::{MatrixOptions, ReadyRun, RunRecord, execute_one};
use harness::install::{build_probe, install_candidate};
use harness::plan::PlannedRun;
use harness::run::Launcher;
use harness::spec::{Candidate, Case, Profile, load_candidates, load_cases, load_profile};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("harness/ has a parent")
        .to_path_buf()
}

/// The static probe, built once per test binary. A failure here fails every test that needs
/// it: under CI a missing requirement is an error, never a skip.
pub fn probe() -> &'static Path {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE.get_or_init(|| match build_probe(&root()) {
        Ok(path) => path,
        Err(error) => panic!(
            "building the static probe: {}",
            harness::conformance::chain(&error)
        ),
    })
}

pub fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        let loaded = load_cases(&root().join("cases"));
        assert!(
            loaded.errors.is_empty(),
            "cases/ does not load: {:?}",
            loaded.errors
        );
        loaded.items
    })
}

pub fn candidates() -> &'static [Candidate] {
    static CANDIDATES: OnceLock<Vec<Candidate>> = OnceLock::new();
    CANDIDATES.get_or_init(|| {
        let loaded = load_candidates(&root().join("fixtures/candidates"));
        assert!(
            loaded.errors.is_empty(),
            "fixtures/candidates does not load: {:?}",
            loaded.errors
        );
        loaded.items
    })
}

pub fn case(name: &str) -> Case {
    cases()
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name} in cases/"))
        .clone()
}

pub fn candidate(name: &str) -> Candidate {
    candidates()
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no candidate {name} in fixtures/candidates/"))
        .clone()
}

pub fn options() -> MatrixOptions {
    let launcher = Launcher {
        program: PathBuf::from(env!("CARGO_BIN_EXE_pid1check-launch")),
        args: Vec::new(),
    };
    MatrixOptions {
        jobs: 1,
        ..MatrixOptions::for_workspace(&root(), probe().to_path_buf(), launcher)
    }
}

/// A runtime profile from fixtures/profiles.
pub fn profile(name: &str) -> Profile {
    let path = root()
        .join("fixtures/profiles")
        .join(format!("{name}.toml"));
    load_profile(&path).unwrap_or_else(|error| panic!("{error}"))
}

/// A test-only hostile candidate from `fixtures/hostile/candidates/NAME.toml` (kept out of
/// `fixtures/candidates` so the default matrix never runs it).
pub fn hostile_candidate(name: &str) -> Candidate {
    let path = root()
        .join("fixtures/hostile/candidates")
        .join(format!("{name}.toml"));
    match harness::spec::load_candidate(&path) {
        Ok(candidate) => candidate,
        Err(error) => panic!("{}", harness::conformance::chain(&error)),
    }
}

/// Install (if needed) one candidate × case under `profile`, ready to execute.
pub fn ready_with(candidate: Candidate, case: Case, profile: Profile) -> ReadyRun {
    let install = install_candidate(&root(), &candidate)
        .map_err(|error| format!("not installed: {}", harness::conformance::chain(&error)));
    if let Err(reason) = &install {
        panic!(
            "candidate {} cannot be installed here: {reason}",
            candidate.name
        );
    }
    ReadyRun {
        run: PlannedRun {
            candidate,
            case,
            profile,
        },
        install,
        repeat: 0,
    }
}

/// Install (if needed) one candidate × case under the docker profile, ready to execute.
pub fn ready(candidate: Candidate, case: Case) -> ReadyRun {
    ready_with(candidate, case, Profile::docker())
}

/// Install (if needed) and run one candidate × case under the docker profile.
pub fn execute(candidate: Candidate, case: Case) -> RunRecord {
    execute_one(&ready(candidate, case), &options())
}

/// Install (if needed) and run one candidate × case under `profile` with `options`.
pub fn execute_with(
    candidate: Candidate,
    case: Case,
    profile: Profile,
    options: &MatrixOptions,
) -> RunRecord {
    execute_one(&ready_with(candidate, case, profile), options)
}

/// Each verdict of a run as (expectation, result): what two runs must agree on.
pub fn verdicts(record: &RunRecord) -> Vec<(String, harness::verdict::VerdictResult)> {
    record
        .result
        .verdicts
        .iter()
        .map(|v| (v.expectation.clone(), v.result))
        .collect()
}

/// What PID 1 and its children wrote to stdout, stderr and a terminal console (its tail).
pub fn console(record: &RunRecord) -> String {
    record
        .raw
        .as_ref()
        .map(|t| t.console.clone())
        .unwrap_or_default()
}

/// A process as `/proc` shows it: its pid and its start time (field 22 of its stat line), which
/// tell it apart from a later process given the same pid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessId {
    pub pid: i32,
    pub start: String,
}

impl ProcessId {
    /// Whether it still runs: neither gone, nor a zombie, nor replaced under the same pid.
    pub fn running(&self) -> bool {
        stat_of(self.pid).is_some_and(|(_, start, state)| start == self.start && state != 'Z')
    }
}

/// `(ppid, start time, state)` of a process, from its stat line.
fn stat_of(pid: i32) -> Option<(i32, String, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after_comm) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // After the command: state (3), ppid (4), ..., starttime (22).
    let state = fields.first()?.chars().next()?;
    Some((
        fields.get(1)?.parse().ok()?,
        fields.get(19)?.to_string(),
        state,
    ))
}

/// Every running descendant of `ancestor`, found by walking `/proc`'s ppid links.
pub fn descendants(ancestor: i32) -> Vec<ProcessId> {
    let processes: Vec<(i32, i32, String, char)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| stat_of(pid).map(|(ppid, start, state)| (pid, ppid, start, state)))
        .collect();
    let mut found: Vec<ProcessId> = Vec::new();
    let mut parents = vec![ancestor];
    while let Some(parent) = parents.pop() {
        for (pid, _, start, state) in processes.iter().filter(|p| p.1 == parent) {
            parents.push(*pid);
            if *state != 'Z' {
                found.push(ProcessId {
                    pid: *pid,
                    start: start.clone(),
                });
            }
        }
    }
    found
}

/// Poll `condition` every few milliseconds until it holds or `seconds` pass: for states of
/// processes that are not this test's children, which offer no event to wait on.
pub fn eventually(seconds: u64, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while std::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    condition()
}

/// Whether host pid `pid` is gone or a zombie (dead, waiting for whoever adopted it).
pub fn dead(pid: i32) -> bool {
    stat_of(pid).is_none_or(|(_, _, state)| state == 'Z')
}
