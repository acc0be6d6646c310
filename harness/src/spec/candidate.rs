//! A candidate: an init under test, how to install it, how to start it with the workload, and
//! which stop signal it declares.

use serde::{Deserialize, Serialize};

pub use crate::sandbox::SandboxNeed;
use crate::signal::SignalNumber;

/// One init under test, loaded from `fixtures/candidates/NAME.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Candidate {
    /// File stem; set by the loader.
    #[serde(skip)]
    pub name: String,
    /// Directory of the candidate's file; set by the loader, expands `{dir}` in `argv`.
    #[serde(skip)]
    pub dir: std::path::PathBuf,
    /// One line: what this candidate is.
    pub title: String,
    /// What sort of PID 1 it is; decides which reading of a case applies.
    pub kind: CandidateKind,
    /// Where its binary comes from.
    pub install: Install,
    /// PID 1's argv. `{bin}` is the installed binary, `{workload}` the probe's path inside the
    /// sandbox, `{dir}` the directory of this file.
    pub argv: Vec<String>,
    /// The stop signal the image declares (a Dockerfile's `STOPSIGNAL`), exactly as written:
    /// each runtime reads it with its own parser, so `"37"` and `"SIGRTMIN+3"` can differ.
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// The shortest grace period this init needs because of a fixed timer of its own (s6's
    /// 3 s kill delay, busybox's 1 s between TERM and KILL), in milliseconds. `--time-scale`
    /// never scales a grace below it, so the scale cannot be blamed on the init.
    #[serde(default)]
    pub min_grace_ms: Option<u64>,
    /// The signal this init stops its services with (systemd's `KillSignal=`), when it is not
    /// the runtime's: `stop` in a case then means this signal for the workload, because the
    /// runtime's signal goes to the manager, which stops the app its own way.
    #[serde(default)]
    pub service_stop_signal: Option<SignalNumber>,
    /// What the sandbox must add for this init beyond what every run gets (systemd needs
    /// `/sys` and a writable cgroup2 hierarchy); see [`SandboxNeed`].
    #[serde(default)]
    pub needs: Vec<SandboxNeed>,
    /// Files the image ships (a systemd image's unit files): each host path, relative to this
    /// candidate's file, appears read-only at `at` inside the sandbox.
    #[serde(default)]
    pub files: Vec<ImageFile>,
    /// The races this init has by its own design (a signal racing its own exit or polling):
    /// on the runs they cover, a trace that varies is the init's nondeterminism, declared
    /// with its reason, not a defect of the harness.
    #[serde(default)]
    pub races: Vec<Race>,
}

/// The word in a race's `cases` or `profiles` that stands for every name.
pub const EVERY: &str = "*";

/// A race an init is known to have: on these cases under these profiles its trace may differ
/// from run to run, for the reason in `why`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Race {
    /// Case names, or `["*"]` for every case.
    pub cases: Vec<String>,
    /// Profile names, or `["*"]` (the default) for every profile.
    #[serde(default = "every")]
    pub profiles: Vec<String>,
    /// The mechanism, citing the init's source: why the outcome on these runs is chance.
    pub why: String,
    /// Seen about once in thousands of runs: the snapshot test still compares these runs, and
    /// gives one that differs a single rerun, which must match (a real change fails both).
    #[serde(default)]
    pub rare: bool,
}

fn every() -> Vec<String> {
    vec![EVERY.to_owned()]
}

impl Race {
    /// Whether this race covers the run of `case` under `profile`.
    pub fn covers(&self, case: &str, profile: &str) -> bool {
        let names = |list: &[String], name: &str| list.iter().any(|n| n == EVERY || n == name);
        names(&self.cases, case) && names(&self.profiles, profile)
    }
}

impl Candidate {
    /// The first race this candidate declares for the run of `case` under `profile`, if any.
    pub fn declared_race(&self, case: &str, profile: &str) -> Option<&Race> {
        self.races.iter().find(|race| race.covers(case, profile))
    }
}

/// A file or directory of the image, bound read-only into the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageFile {
    /// Host path, relative to the candidate's directory.
    pub source: String,
    /// Absolute path inside the sandbox.
    pub at: String,
}

/// What sort of PID 1 a candidate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CandidateKind {
    /// Starts one command and forwards signals to it (tini, dumb-init, catatonit).
    Forwarder,
    /// A shell script that starts the app (the classic `run.sh`).
    Shell,
    /// The application itself is PID 1.
    App,
    /// A service manager with its own shutdown protocol (systemd, s6, runit, sysvinit).
    SystemManager,
}

impl CandidateKind {
    /// Every kind, in declaration order.
    pub const ALL: [CandidateKind; 4] = [
        CandidateKind::Forwarder,
        CandidateKind::Shell,
        CandidateKind::App,
        CandidateKind::SystemManager,
    ];

    /// The spelling in candidate and case files (`system-manager`).
    pub fn name(self) -> &'static str {
        match self {
            CandidateKind::Forwarder => "forwarder",
            CandidateKind::Shell => "shell",
            CandidateKind::App => "app",
            CandidateKind::SystemManager => "system-manager",
        }
    }
}

/// Where a candidate's binary comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Install {
    /// A Debian package, fetched with `apt-get download` and unpacked with `dpkg -x` under
    /// `target/candidates/`; never installed on the machine.
    Debian {
        /// Package name.
        package: String,
        /// Path of the binary inside the package (`usr/bin/tini`).
        binary: String,
        /// Further packages unpacked into the same tree: the shared libraries or helper
        /// programs the binary needs that this machine lacks (`libskarnet2.13` for s6).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        extra_packages: Vec<String>,
    },
    /// A PyPI package, installed with pip into its own venv under `target/candidates/`; never
    /// into the machine's Python.
    Pypi {
        /// Package name on PyPI.
        package: String,
        /// The console script the package installs into the venv's `bin/` (`systemctl.py`).
        script: String,
    },
    /// A program of this machine (`/bin/sh`); its version comes from the package that owns it.
    Host {
        /// Absolute path.
        path: String,
    },
    /// The probe itself is PID 1; `{bin}` is the probe.
    Probe,
    /// A binary of a crate of this workspace (a test-only candidate such as
    /// `fixtures/hostile`), built static like the probe.
    Fixture {
        /// The crate's directory, relative to the workspace root (`fixtures/hostile`).
        path: String,
        /// The binary's name (`[[bin]] name` in its manifest).
        binary: String,
    },
    /// A container image's own root (made by the gate, never written in a candidate file):
    /// PID 1 runs inside `rootfs` with the image's environment.
    #[serde(skip_deserializing)]
    Image {
        /// The unpacked root on the host.
        rootfs: std::path::PathBuf,
        /// Where the image came from (`oci:PATH@sha256:...`).
        source: String,
        /// The image's `Env`.
        env: Vec<String>,
        /// The image's `WorkingDir`.
        working_dir: Option<String>,
        /// Whether the workload is started by PID 1 (in `argv`) or beside it.
        workload: ImageWorkload,
        /// The uid and gid of the image's `User`, resolved in its root; root when unset.
        user: Option<(u32, u32)>,
    },
}

/// How the workload starts in an image's run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageWorkload {
    /// The probe is in PID 1's argv (the image's Cmd replaced): the entrypoint starts it.
    AsApp,
    /// PID 1 runs the image's own command; the probe is started inside the running container
    /// like `docker exec`.
    Beside,
}
