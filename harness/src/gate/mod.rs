//! The CI gate for container images: static checks of the image's config, then the policy's
//! cases run against the image's own entrypoint, judged into one pass or fail.
//!
//! The image becomes a [`Candidate`] with an [`Install::Image`] (its root, environment and
//! working directory), so plan → resolve → launch → normalise → judge run unchanged; the
//! sandbox shows PID 1 the image's root instead of the host's. [`report`] renders the result
//! for terminals, JUnit, JSON and GitHub's step summary.

pub mod policy;
pub mod report;
pub mod rules;

use std::path::Path;

use pid1check_probe::{CHANNEL_DIR, PROBE_FILE};
use serde::Serialize;

use crate::conformance::{Installs, MatrixOptions, RunRecord, execute_matrix, ready_runs};
use crate::image::Image;
use crate::image::rootfs::{find_command, user_ids};
use crate::install::install_candidate;
use crate::matrix::Outcome;
use crate::plan::plan;
use crate::spec::{Candidate, CandidateKind, Case, ImageWorkload, Install, Level, Profile};
use crate::verdict::{Verdict, VerdictResult};

pub use policy::{Policy, load_policy};
pub use rules::{Finding, Severity, check};

/// The candidate name an image's runs carry in reports.
pub const IMAGE_CANDIDATE: &str = "image";

/// How the workload is started in the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppMode {
    /// The image's `Cmd` is replaced by the probe: its entrypoint (tini, dumb-init, a script
    /// that runs its arguments) starts the probe tree as it would start the app.
    ProbeAsApp,
    /// The image runs its own entrypoint and cmd unchanged; the probe tree is started inside
    /// the running container like `docker exec`, so its orphans are the image's PID 1's to
    /// reap, and the stop shows whether the image's own processes end before the SIGKILL.
    ProbeBeside,
}

impl AppMode {
    /// The cases a default policy runs in this mode: beside the app, the probe is not PID 1's
    /// child, so signal forwarding to it means nothing; the image's own stop does.
    pub fn default_cases(self) -> &'static [&'static str] {
        match self {
            AppMode::ProbeAsApp => policy::DEFAULT_CASES,
            AppMode::ProbeBeside => policy::DEFAULT_BESIDE_CASES,
        }
    }
}

/// Why an image cannot be gated in a mode (bad input, exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ModeError(pub String);

/// The image as a candidate: PID 1's argv is its entrypoint (the program found on the
/// image's `PATH`, as a runtime does) with the probe in place of `Cmd`.
pub fn image_candidate(image: &Image, mode: AppMode) -> Result<Candidate, ModeError> {
    let config = &image.config;
    let probe = Path::new(CHANNEL_DIR).join(PROBE_FILE);
    let mut argv = match mode {
        AppMode::ProbeAsApp if config.entrypoint.is_empty() => {
            match forwarder_prefix(&config.cmd) {
                Some(prefix) => {
                    let mut argv = prefix.to_vec();
                    argv.push(probe.to_string_lossy().into_owned());
                    argv
                }
                None => {
                    return Err(ModeError(
                        "the image has no Entrypoint and its Cmd does not start with a known \
                         init: probe-as-app replaces Cmd, which would leave nothing of the \
                         image to test; use --mode probe-beside, or give --entrypoint"
                            .to_owned(),
                    ));
                }
            }
        }
        AppMode::ProbeAsApp => {
            let mut argv = config.entrypoint.clone();
            argv.push(probe.to_string_lossy().into_owned());
            argv
        }
        AppMode::ProbeBeside if config.argv().is_empty() => {
            return Err(ModeError(
                "the image has neither Entrypoint nor Cmd: there is no PID 1 to run".to_owned(),
            ));
        }
        AppMode::ProbeBeside => config.argv(),
    };
    if let Some(first) = argv.first_mut()
        && !first.contains('/')
        && let Some(found) = find_command(&image.rootfs, first, &config.env)
        && let Ok(inside) = found.strip_prefix(&image.rootfs)
    {
        *first = Path::new("/").join(inside).to_string_lossy().into_owned();
    }
    Ok(Candidate {
        name: IMAGE_CANDIDATE.to_owned(),
        dir: image.rootfs.clone(),
        title: format!("the image {}", image.source),
        kind: CandidateKind::Forwarder,
        install: Install::Image {
            rootfs: image.rootfs.clone(),
            source: image.source.clone(),
            env: config.env.clone(),
            working_dir: config.working_dir.clone(),
            workload: match mode {
                AppMode::ProbeAsApp => ImageWorkload::AsApp,
                AppMode::ProbeBeside => ImageWorkload::Beside,
            },
            user: match config.user.as_deref() {
                None => None,
                Some(user) => Some(
                    user_ids(&image.rootfs, user)
                        .map_err(|message| ModeError(format!("User {user:?}: {message}")))?,
                ),
            },
        },
        argv,
        stop_signal: config.stop_signal.clone(),
        min_grace_ms: None,
        service_stop_signal: None,
        needs: Vec::new(),
        files: Vec::new(),
        races: Vec::new(),
    })
}

/// For an image whose init is in its Cmd (`CMD ["tini", "--", "app"]`): the init's part of
/// the Cmd (up to and including `--`, else the program alone), which the probe then follows.
fn forwarder_prefix(cmd: &[String]) -> Option<&[String]> {
    let program = cmd.first()?;
    let base = program.rsplit('/').next().unwrap_or(program);
    if !rules::FORWARDERS.contains(&base) {
        return None;
    }
    let end = cmd.iter().position(|arg| arg == "--").map_or(1, |i| i + 1);
    cmd.get(..end)
}

/// A static finding and whether the policy allows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateFinding {
    /// The finding.
    #[serde(flatten)]
    pub finding: Finding,
    /// Listed in the policy's `allow`: reported, never failing.
    pub allowed: bool,
}

impl GateFinding {
    /// Whether it fails the gate.
    pub fn fails(&self) -> bool {
        self.finding.severity == Severity::Error && !self.allowed
    }
}

/// One case × profile run of the image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateRun {
    /// Case name.
    pub case: String,
    /// Profile name.
    pub profile: String,
    /// Pass, fail, unknown or not run.
    pub outcome: Outcome,
    /// One line: the first failed `must` and its evidence, or why it did not run.
    pub reason: String,
    /// The stop signal sent, and why the runtime chose it.
    pub stop: String,
    /// The `must` expectations that failed.
    pub failed_musts: Vec<Verdict>,
    /// The normalised trace and every verdict, as the snapshots show them.
    pub evidence: String,
}

impl GateRun {
    /// A run record as the gate reports it.
    pub fn from_record(record: &RunRecord) -> GateRun {
        let r = &record.result;
        GateRun {
            case: r.case.clone(),
            profile: r.profile.clone(),
            outcome: r.outcome,
            reason: r.reason.clone(),
            stop: format!("{} ({})", r.stop_signal, r.stop_why),
            failed_musts: r
                .verdicts
                .iter()
                .filter(|v| v.level == Level::Must && v.result == VerdictResult::Fail)
                .cloned()
                .collect(),
            evidence: crate::conformance::snapshot_text(record),
        }
    }

    /// Whether the run fails the gate: anything but a pass (a run that could not be judged
    /// is not evidence that the image stops cleanly), except `n/a`: the case says nothing
    /// about this kind of PID 1.
    pub fn fails(&self) -> bool {
        !matches!(self.outcome, Outcome::Pass | Outcome::NotApplicable)
    }
}

/// The gate's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateReport {
    /// Where the image came from.
    pub image: String,
    /// PID 1's argv as run (entrypoint and the probe).
    pub argv: Vec<String>,
    /// How the workload was started.
    pub mode: AppMode,
    /// The static findings.
    pub findings: Vec<GateFinding>,
    /// The runs, case × profile.
    pub runs: Vec<GateRun>,
    /// Notes on what the gate did differently from a runtime.
    pub notes: Vec<String>,
    /// Whether the image passed.
    pub passed: bool,
    /// Wall time of the runs, in milliseconds.
    pub runs_ms: u64,
    /// Why it failed, one line each (empty when it passed).
    pub failures: Vec<String>,
}

/// Decide the gate from the findings and the runs: it fails on an error finding the policy
/// does not allow, on any run that did not pass, and when no run happened at all.
pub fn decide(findings: &[GateFinding], runs: &[GateRun]) -> (bool, Vec<String>) {
    let mut failures: Vec<String> = findings
        .iter()
        .filter(|f| f.fails())
        .map(|f| format!("{}: {}", f.finding.rule, f.finding.finding))
        .collect();
    for run in runs.iter().filter(|r| r.fails()) {
        failures.push(format!(
            "{} × {}: {}: {}",
            run.case,
            run.profile,
            run.outcome.name(),
            run.reason
        ));
    }
    if runs.iter().all(|r| r.outcome == Outcome::NotApplicable) {
        failures.push("no case ran: a gate that tests nothing passes nothing".to_owned());
    }
    (failures.is_empty(), failures)
}

/// Everything a gate run needs besides the image.
#[derive(Debug, Clone)]
pub struct GateSetup<'a> {
    /// The runtimes' stop rules to run under.
    pub profiles: &'a [Profile],
    /// The policy's cases, loaded.
    pub cases: &'a [Case],
    /// The policy.
    pub policy: &'a Policy,
    /// How the workload starts.
    pub mode: AppMode,
    /// How runs execute (the caller clears `read_only_paths`: an image sees only its root).
    pub options: &'a MatrixOptions,
}

/// Check `image` statically under every profile, run every case × profile against it and
/// decide. `on_done` sees each run as it finishes.
pub fn run_gate(
    image: &Image,
    setup: &GateSetup<'_>,
    on_done: &(dyn Fn(&RunRecord) + Sync),
) -> Result<GateReport, ModeError> {
    let candidate = image_candidate(image, setup.mode)?;
    let mut findings: Vec<GateFinding> = Vec::new();
    for profile in setup.profiles {
        for finding in check(&image.config, &image.rootfs, profile) {
            let allowed = setup.policy.allow.iter().any(|rule| rule == finding.rule);
            let entry = GateFinding { finding, allowed };
            if !findings.contains(&entry) {
                findings.push(entry);
            }
        }
    }
    let installed = install_candidate(&image.rootfs, &candidate)
        .map_err(|error| ModeError(crate::error_chain(&error)))?;
    let installs: Installs = [(candidate.name.clone(), Ok(installed))].into();
    let planned = plan(
        std::slice::from_ref(&candidate),
        setup.cases,
        setup.profiles,
    );
    let ready = ready_runs(planned, &installs, 1);
    let started = std::time::Instant::now();
    let records = execute_matrix(&ready, setup.options, on_done);
    let runs_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let runs: Vec<GateRun> = records.iter().map(GateRun::from_record).collect();
    let (passed, failures) = decide(&findings, &runs);
    Ok(GateReport {
        image: image.source.clone(),
        argv: candidate.argv.clone(),
        mode: setup.mode,
        findings,
        runs,
        notes: notes(image, setup.mode),
        passed,
        runs_ms,
        failures,
    })
}

/// What the gate does differently from a runtime, for the report's notes.
pub fn notes(image: &Image, mode: AppMode) -> Vec<String> {
    match (mode, image.config.user.as_deref()) {
        (AppMode::ProbeBeside, Some(user)) => vec![format!(
            "PID 1 runs as User {user:?}; the probe beside it runs as root"
        )],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImageConfig;

    fn finding(severity: Severity, allowed: bool) -> GateFinding {
        GateFinding {
            finding: Finding {
                rule: "PID1-SHELL-FORM",
                severity,
                finding: "f".to_owned(),
                fix: "x".to_owned(),
            },
            allowed,
        }
    }

    fn run(outcome: Outcome) -> GateRun {
        GateRun {
            case: "term-forward".to_owned(),
            profile: "docker".to_owned(),
            outcome,
            reason: "r".to_owned(),
            stop: "TERM".to_owned(),
            failed_musts: Vec::new(),
            evidence: String::new(),
        }
    }

    #[test]
    fn zero_runs_fail_and_only_unallowed_errors_or_non_passing_runs_fail() {
        assert!(!decide(&[], &[]).0);
        assert!(decide(&[finding(Severity::Warning, false)], &[run(Outcome::Pass)]).0);
        assert!(decide(&[finding(Severity::Error, true)], &[run(Outcome::Pass)]).0);
        assert!(!decide(&[finding(Severity::Error, false)], &[run(Outcome::Pass)]).0);
        assert!(!decide(&[], &[run(Outcome::Fail)]).0);
        assert!(!decide(&[], &[run(Outcome::NotRun)]).0);
        assert!(decide(&[], &[run(Outcome::Pass), run(Outcome::NotApplicable)]).0);
        assert!(
            !decide(&[], &[run(Outcome::NotApplicable)]).0,
            "only n/a runs: nothing was tested"
        );
    }

    #[test]
    fn probe_as_app_replaces_cmd_and_finds_the_entrypoint_on_the_image_path() {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(root.path().join("usr/bin")).expect("mkdir");
        std::fs::write(root.path().join("usr/bin/tini"), "x").expect("write");
        let image = Image {
            source: "test".to_owned(),
            rootfs: root.path().to_path_buf(),
            config: ImageConfig {
                entrypoint: vec!["tini".to_owned(), "--".to_owned()],
                cmd: vec!["my-app".to_owned()],
                env: vec!["PATH=/usr/bin".to_owned()],
                ..ImageConfig::default()
            },
            scratch: None,
        };
        let candidate = image_candidate(&image, AppMode::ProbeAsApp).expect("candidate");
        assert_eq!(candidate.argv, ["/usr/bin/tini", "--", "/.pid1check/probe"]);
        let with_cmd = |cmd: &[&str]| Image {
            source: "test".to_owned(),
            rootfs: image.rootfs.clone(),
            config: ImageConfig {
                cmd: cmd.iter().map(|s| (*s).to_owned()).collect(),
                ..ImageConfig::default()
            },
            scratch: None,
        };
        let app_only = with_cmd(&["my-app"]);
        assert!(image_candidate(&app_only, AppMode::ProbeAsApp).is_err());
        let init_in_cmd = with_cmd(&["/usr/bin/tini", "-g", "--", "my-app", "serve"]);
        let candidate = image_candidate(&init_in_cmd, AppMode::ProbeAsApp).expect("candidate");
        assert_eq!(
            candidate.argv,
            ["/usr/bin/tini", "-g", "--", "/.pid1check/probe"]
        );
    }
}
