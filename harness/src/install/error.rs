//! What can go wrong while installing a candidate or building the probe: one variant per step,
//! each naming what it was doing, with the failed command (and its stderr) as the source.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

/// How many of a failed command's last stderr lines an error keeps.
pub(crate) const STDERR_TAIL_LINES: usize = 20;

/// A step of installing a candidate or building the probe failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The candidate has no usable name (the loader sets it from the file stem).
    #[error("candidate name {name:?} cannot name a directory under target/candidates")]
    InvalidName {
        /// The name as given.
        name: String,
    },
    /// The workspace root could not be resolved (it does not exist, or is unreadable).
    #[error("resolving the workspace root {}", path.display())]
    Root {
        /// The root as given.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Creating a directory failed.
    #[error("creating directory {}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Taking an exclusive lock failed.
    #[error("locking {}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// `apt-get update` failed (run once, because apt could not locate or fetch a package).
    #[error("refreshing apt's package lists")]
    AptUpdate {
        /// The failed command.
        #[source]
        source: CommandError,
    },
    /// `apt-get download --print-uris` could not tell which file to fetch.
    #[error("asking apt which file holds Debian package `{package}`")]
    AptLocate {
        /// The package.
        package: String,
        /// The failed command, or its unreadable output.
        #[source]
        source: CommandError,
    },
    /// `apt-get install --simulate` could not say which dependencies the machine lacks.
    #[error("asking apt which dependencies of `{package}` this machine lacks")]
    AptSimulate {
        /// The package.
        package: String,
        /// The failed command.
        #[source]
        source: CommandError,
    },
    /// `apt-get download` failed, or did not leave the file it announced.
    #[error("downloading Debian package `{package}`")]
    AptDownload {
        /// The package.
        package: String,
        /// The failed command.
        #[source]
        source: CommandError,
    },
    /// `dpkg-deb -f FILE Version` failed.
    #[error("reading the version of {}", deb.display())]
    DebVersion {
        /// The .deb file.
        deb: PathBuf,
        /// The failed command.
        #[source]
        source: CommandError,
    },
    /// `dpkg -x FILE DIR` failed.
    #[error("unpacking {} into {}", deb.display(), dir.display())]
    Extract {
        /// The .deb file.
        deb: PathBuf,
        /// Where it was being unpacked.
        dir: PathBuf,
        /// The failed command.
        #[source]
        source: CommandError,
    },
    /// The unpacked package does not contain the candidate's binary.
    #[error(
        "Debian package `{package}` {version} has no file `{binary}` (list its files with `dpkg-deb -c {}`)",
        deb.display()
    )]
    BinaryMissing {
        /// The package.
        package: String,
        /// Its version.
        version: String,
        /// The path the candidate names inside the package.
        binary: String,
        /// The .deb file.
        deb: PathBuf,
    },
    /// The candidate's binary is a symlink inside the package.
    #[error(
        "`{binary}` in Debian package `{package}` {version} is a symlink to {}: name the file it points to",
        target.display()
    )]
    BinaryIsSymlink {
        /// The package.
        package: String,
        /// Its version.
        version: String,
        /// The path the candidate names inside the package.
        binary: String,
        /// Where the symlink points.
        target: PathBuf,
    },
    /// Writing `installed.json` or moving the unpacked tree into place failed.
    #[error("recording the install in {}", path.display())]
    Record {
        /// The file or directory being written.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A host candidate's path could not be resolved.
    #[error("resolving host path {path}")]
    HostPath {
        /// The path the candidate names.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// No Debian package owns a host candidate's binary.
    #[error("finding the Debian package that owns {} (tried {})", resolved.display(), tried.join(", "))]
    HostOwner {
        /// The binary after following symlinks.
        resolved: PathBuf,
        /// Every path that was asked of `dpkg-query -S`.
        tried: Vec<String>,
        /// The last failed command.
        #[source]
        source: CommandError,
    },
    /// `dpkg-query -W` could not give the owning package's version.
    #[error("reading the version of host package `{package}`")]
    HostVersion {
        /// The package.
        package: String,
        /// The failed command.
        #[source]
        source: CommandError,
    },
    /// `python3 -m venv DIR` failed.
    #[error("creating the venv {}", dir.display())]
    Venv {
        /// The venv's directory.
        dir: PathBuf,
        /// The failed command.
        #[source]
        source: CommandError,
    },
    /// `pip install PACKAGE` into the candidate's venv failed.
    #[error("installing PyPI package `{package}` with pip")]
    PipInstall {
        /// The package.
        package: String,
        /// The failed command.
        #[source]
        source: CommandError,
    },
    /// The installed PyPI package's version could not be read.
    #[error("reading the version of PyPI package `{package}`")]
    PypiVersion {
        /// The package.
        package: String,
        /// The failed command.
        #[source]
        source: CommandError,
    },
    /// The PyPI package did not install the candidate's console script.
    #[error("PyPI package `{package}` {version} installed no script `{script}` into {}", bin_dir.display())]
    ScriptMissing {
        /// The package.
        package: String,
        /// Its version.
        version: String,
        /// The script the candidate names.
        script: String,
        /// The venv's `bin/`.
        bin_dir: PathBuf,
    },
    /// A fixture crate's manifest (the probe's, a test candidate's) could not be read or has
    /// no `package.name` or `package.version`.
    #[error("reading the crate manifest {}", path.display())]
    ProbeVersion {
        /// `fixtures/probe/Cargo.toml`, `fixtures/hostile/Cargo.toml`.
        path: PathBuf,
        /// Why.
        #[source]
        source: ManifestError,
    },
    /// `cargo build` of the probe failed, or left no binary.
    #[error("building the static probe")]
    ProbeBuild {
        /// The failed command.
        #[source]
        source: CommandError,
    },
    /// `cargo build` of the launcher failed, or left no binary.
    #[error("building the launcher pid1check-launch")]
    LauncherBuild {
        /// The failed command.
        #[source]
        source: CommandError,
    },
    /// The launcher did not say which optimisation level it was built with.
    #[error("asking the launcher for its optimisation level")]
    LauncherQuery {
        /// The failed command.
        #[source]
        source: CommandError,
    },
    /// The program the launcher is to be built like is not in a cargo target directory.
    #[error(
        "cannot build the launcher as {} was built: it is not in a cargo target directory (no \
         CACHEDIR.TAG above its profile directory)",
        built_like.display()
    )]
    LauncherLayout {
        /// The program (the xtask).
        built_like: PathBuf,
    },
    /// `cargo build` of a fixture crate's binary failed, or left no binary.
    #[error("building the static fixture binary {binary}")]
    FixtureBuild {
        /// The binary's name.
        binary: String,
        /// The failed command.
        #[source]
        source: CommandError,
    },
}

/// A command that could not be started, failed, or printed something unexpected.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The program could not be started.
    #[error("could not start `{command}`")]
    Spawn {
        /// The command line, with the environment it was given.
        command: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The program exited unsuccessfully.
    #[error("`{command}` failed ({status}): {}", last_line(stderr_tail))]
    Failed {
        /// The command line, with the environment it was given.
        command: String,
        /// How it ended.
        status: ExitStatus,
        /// The last lines of its stderr, oldest first.
        stderr_tail: Vec<String>,
    },
    /// The program succeeded, but its output is not what the step needs.
    #[error("`{command}` succeeded but {problem}")]
    Unexpected {
        /// The command line, with the environment it was given.
        command: String,
        /// What was wrong, as a sentence fragment.
        problem: String,
    },
}

impl CommandError {
    /// The last lines of the command's stderr (empty unless it ran and failed).
    pub fn stderr_tail(&self) -> &[String] {
        match self {
            CommandError::Failed { stderr_tail, .. } => stderr_tail,
            CommandError::Spawn { .. } | CommandError::Unexpected { .. } => &[],
        }
    }
}

/// Why the probe's manifest gave no version.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("reading the file")]
    Read(#[source] io::Error),
    /// The file is not TOML.
    #[error("parsing TOML")]
    Parse(#[source] toml::de::Error),
    /// `[package] version` is absent or not a string.
    #[error("no string `version` in `[package]`")]
    NoVersion,
    /// `[package] name` is absent or not a string.
    #[error("no string `name` in `[package]`")]
    NoName,
}

/// A candidate is not installed (or its host binary is not usable); nothing was changed to find
/// out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct NotInstalled {
    /// A sentence naming the candidate, what is missing and what to run.
    pub reason: String,
}

/// The last non-empty line of a stderr tail, or a note that there was none.
fn last_line(tail: &[String]) -> LastLine<'_> {
    LastLine(tail.iter().rev().find(|line| !line.trim().is_empty()))
}

/// Displays a stderr's last line.
struct LastLine<'a>(Option<&'a String>);

impl fmt::Display for LastLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(line) => f.write_str(line.trim_end()),
            None => f.write_str("no output on stderr"),
        }
    }
}

/// Keeps the last [`STDERR_TAIL_LINES`] lines of a stream.
#[derive(Debug, Default)]
pub(crate) struct Tail(VecDeque<String>);

impl Tail {
    /// Remembers one line, forgetting the oldest beyond the limit.
    pub(crate) fn push(&mut self, line: String) {
        if self.0.len() == STDERR_TAIL_LINES {
            self.0.pop_front();
        }
        self.0.push_back(line);
    }

    /// The lines kept, oldest first.
    pub(crate) fn into_vec(self) -> Vec<String> {
        self.0.into()
    }

    /// The tail of a captured stream.
    pub(crate) fn of(bytes: &[u8]) -> Self {
        let mut tail = Tail::default();
        for line in String::from_utf8_lossy(bytes).lines() {
            tail.push(line.to_owned());
        }
        tail
    }
}
