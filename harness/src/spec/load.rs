//! Loading and validating the files a user writes: cases (`cases/*.toml`) and candidates
//! (`fixtures/candidates/*.toml`).
//!
//! A file is parsed twice: once into its type with serde, once for spans. Every error about a
//! file's content names the file, line, column and field, so the one line is enough to fix it:
//!
//! ```text
//! cases/term-forward.toml:14:8: must[1].role: no workload process has the role "wrker" (roles: app, worker)
//! ```
//!
//! A directory loads file by file: a bad file becomes an error and the rest still load, so one
//! typo does not stop the matrix.

#[cfg(test)]
mod properties;
mod span;
mod validate;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::spec::{Candidate, Case, Profile};

use span::Doc;
use validate::Invalid;

/// Why a spec file, a directory of them, or a name could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file or directory could not be read.
    #[error("{}: cannot read", path.display())]
    Read {
        /// What was being read.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// Not TOML, or TOML that does not fit the schema: a syntax error, an unknown or missing
    /// field, a value of the wrong type, an unknown signal or `kind`.
    ///
    /// `message` is `toml`'s own: its error's `Display` draws a multi-line snippet with a
    /// position that `location` already gives, so it is kept as text rather than as a source.
    #[error("{location}: {field}: {message}")]
    Toml {
        /// Where.
        location: Location,
        /// Dotted path of the field (`workload.on.TERM.action`).
        field: String,
        /// What `toml` or serde objected to.
        message: String,
    },
    /// Well-formed, but breaks a rule of the suite (an unknown role, a behaviour for SIGKILL).
    #[error("{location}: {field}: {message}")]
    Invalid {
        /// Where.
        location: Location,
        /// Dotted path of the field (`must[1].role`).
        field: String,
        /// The rule and how to satisfy it.
        message: String,
    },
    /// A case or candidate asked for by name does not exist.
    #[error("no {kind} named {name:?} ({kind}s: {})", list(known))]
    UnknownName {
        /// `case` or `candidate`.
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// The names that exist, sorted.
        known: Vec<String>,
    },
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

impl LoadError {
    /// Where in a file the error is, for errors about a file's content.
    pub fn location(&self) -> Option<&Location> {
        match self {
            LoadError::Toml { location, .. } | LoadError::Invalid { location, .. } => {
                Some(location)
            }
            LoadError::Read { .. } | LoadError::UnknownName { .. } => None,
        }
    }

    /// The dotted path of the field, for errors about a file's content.
    pub fn field(&self) -> Option<&str> {
        match self {
            LoadError::Toml { field, .. } | LoadError::Invalid { field, .. } => Some(field),
            LoadError::Read { .. } | LoadError::UnknownName { .. } => None,
        }
    }
}

/// A place in a file: `cases/term-forward.toml:14:8`. Line and column count from 1; the
/// column counts characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file, as it was named to the loader.
    pub file: PathBuf,
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// What a directory yielded: the files that loaded, sorted by name, and an error for each that
/// did not.
#[derive(Debug)]
pub struct Loaded<T> {
    /// The items that loaded, sorted by name.
    pub items: Vec<T>,
    /// One error per file that did not load (or one for the directory itself).
    pub errors: Vec<LoadError>,
}

/// A spec loaded from `NAME.toml`, known by that name.
pub trait Named {
    /// What it is, for messages: `case`, `candidate`.
    const KIND: &'static str;
    /// Its name: the file stem.
    fn name(&self) -> &str;
}

impl Named for Case {
    const KIND: &'static str = "case";
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for Candidate {
    const KIND: &'static str = "candidate";
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for Profile {
    const KIND: &'static str = "profile";
    fn name(&self) -> &str {
        &self.name
    }
}

/// Parses and validates the case in `text`; `path` names it (`name` is its stem) and places
/// errors.
pub fn parse_case(path: &Path, text: &str) -> Result<Case, LoadError> {
    let doc = Doc::parse(text);
    let mut case: Case = toml::from_str(text).map_err(|e| toml_error(path, &doc, &e))?;
    case.name = stem(path);
    validate::validate_case(&case, &doc).map_err(|e| invalid(path, &doc, e))?;
    Ok(case)
}

/// Reads, parses and validates one case file.
pub fn load_case(path: &Path) -> Result<Case, LoadError> {
    parse_case(path, &read(path)?)
}

/// Parses and validates the candidate in `text`; `path` names it (`name` is its stem, `dir` its
/// directory, made absolute so that `{dir}` works from any working directory) and places
/// errors.
pub fn parse_candidate(path: &Path, text: &str) -> Result<Candidate, LoadError> {
    let doc = Doc::parse(text);
    let mut candidate: Candidate = toml::from_str(text).map_err(|e| toml_error(path, &doc, &e))?;
    candidate.name = stem(path);
    candidate.dir = directory_of(path);
    validate::validate_candidate(&candidate).map_err(|e| invalid(path, &doc, e))?;
    Ok(candidate)
}

/// Reads, parses and validates one candidate file.
pub fn load_candidate(path: &Path) -> Result<Candidate, LoadError> {
    parse_candidate(path, &read(path)?)
}

/// Checks that every case and profile the races of `candidate` name exists among `cases` and
/// `profiles` (known only once the matrix is assembled); re-reads the candidate's file to
/// place the error. A candidate without races is not read.
pub fn check_race_names(
    candidate: &Candidate,
    cases: &[Case],
    profiles: &[Profile],
) -> Result<(), LoadError> {
    if candidate.races.is_empty() {
        return Ok(());
    }
    let path = candidate.dir.join(format!("{}.toml", candidate.name));
    check_race_names_in(&path, &read(&path)?, candidate, cases, profiles)
}

fn check_race_names_in(
    path: &Path,
    text: &str,
    candidate: &Candidate,
    cases: &[Case],
    profiles: &[Profile],
) -> Result<(), LoadError> {
    let doc = Doc::parse(text);
    validate::known_race_names(candidate, &names_of(cases), &names_of(profiles))
        .map_err(|e| invalid(path, &doc, e))
}

fn names_of<T: Named>(items: &[T]) -> Vec<&str> {
    items.iter().map(Named::name).collect()
}

/// Parses and validates the runtime profile in `text`; `path` names it and places errors.
pub fn parse_profile(path: &Path, text: &str) -> Result<Profile, LoadError> {
    let doc = Doc::parse(text);
    let mut profile: Profile = toml::from_str(text).map_err(|e| toml_error(path, &doc, &e))?;
    profile.name = stem(path);
    validate::validate_profile(&profile).map_err(|e| invalid(path, &doc, e))?;
    Ok(profile)
}

/// Reads, parses and validates one profile file.
pub fn load_profile(path: &Path) -> Result<Profile, LoadError> {
    parse_profile(path, &read(path)?)
}

/// Every `*.toml` profile in `dir`, sorted by name; a file that does not load becomes an
/// error.
pub fn load_profiles(dir: &Path) -> Loaded<Profile> {
    load_dir(dir, load_profile)
}

/// Every `*.toml` case in `dir`, sorted by name; a file that does not load becomes an error.
pub fn load_cases(dir: &Path) -> Loaded<Case> {
    load_dir(dir, load_case)
}

/// Every `*.toml` candidate in `dir`, sorted by name; a file that does not load becomes an
/// error.
pub fn load_candidates(dir: &Path) -> Loaded<Candidate> {
    load_dir(dir, load_candidate)
}

/// The items named in `names`, in the order of `items`; every item when `names` is empty.
/// A name that matches nothing is an [`LoadError::UnknownName`] listing what exists.
pub fn select<'a, T: Named>(
    items: &'a [T],
    names: &[impl AsRef<str>],
) -> Result<Vec<&'a T>, LoadError> {
    for name in names {
        let name = name.as_ref();
        if !items.iter().any(|item| item.name() == name) {
            let mut known: Vec<String> = items.iter().map(|item| item.name().to_owned()).collect();
            known.sort();
            return Err(LoadError::UnknownName {
                kind: T::KIND,
                name: name.to_owned(),
                known,
            });
        }
    }
    Ok(items
        .iter()
        .filter(|item| names.is_empty() || names.iter().any(|name| name.as_ref() == item.name()))
        .collect())
}

fn load_dir<T: Named>(dir: &Path, load: fn(&Path) -> Result<T, LoadError>) -> Loaded<T> {
    let mut loaded = Loaded {
        items: Vec::new(),
        errors: Vec::new(),
    };
    let read_error = |source| LoadError::Read {
        path: dir.to_owned(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(source) => {
            loaded.errors.push(read_error(source));
            return loaded;
        }
    };
    let mut paths = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => {
                let path = entry.path();
                // `is_file` follows symbolic links: a linked case is still a case.
                if path.extension().is_some_and(|ext| ext == "toml") && path.is_file() {
                    paths.push(path);
                }
            }
            Err(source) => loaded.errors.push(read_error(source)),
        }
    }
    paths.sort();
    for path in paths {
        match load(&path) {
            Ok(item) => loaded.items.push(item),
            Err(error) => loaded.errors.push(error),
        }
    }
    loaded.items.sort_by(|a, b| a.name().cmp(b.name()));
    loaded
}

fn read(path: &Path) -> Result<String, LoadError> {
    std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn directory_of(path: &Path) -> PathBuf {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::path::absolute(parent).unwrap_or_else(|_| parent.to_owned())
}

fn location(path: &Path, doc: &Doc<'_>, offset: usize) -> Location {
    let (line, column) = doc.line_column(offset);
    Location {
        file: path.to_owned(),
        line,
        column,
    }
}

fn toml_error(path: &Path, doc: &Doc<'_>, error: &toml::de::Error) -> LoadError {
    let spot = doc.locate_error(error);
    LoadError::Toml {
        location: location(path, doc, spot.offset),
        field: spot.field,
        message: error.message().trim_end().to_owned(),
    }
}

fn invalid(path: &Path, doc: &Doc<'_>, invalid: Invalid) -> LoadError {
    let spot = doc.locate(&invalid.path, invalid.anchor);
    LoadError::Invalid {
        location: location(path, doc, spot.offset),
        field: spot.field,
        message: invalid.message,
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::signal::SignalNumber;
    use crate::spec::{ExpectationKind, Install, SignalRef, Step};

    fn data(folder: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(folder)
    }

    /// One fault per file: `line:column: field` worked out by hand from the file, and a
    /// fragment of the message.
    const INVALID_CASES: &[(&str, &str, &str)] = &[
        ("title-empty", "2:9: title", "is empty"),
        ("why-blank", "3:7: why", "is empty"),
        ("sources-empty", "4:11: sources", "is empty: cite"),
        ("source-blank", "4:17: sources[1]", "is empty"),
        (
            "role-uppercase",
            "7:8: workload.role",
            "\"App\" is not a role name",
        ),
        (
            "role-reserved",
            "10:8: workload.children[0].role",
            "the role \"runtime\" is reserved",
        ),
        (
            "role-twice",
            "13:8: workload.children[1].role",
            "already used by workload.children[0]",
        ),
        (
            "root-orphan",
            "8:10: workload.orphan",
            "cannot be an orphan",
        ),
        (
            "behaviour-for-kill",
            "8:4: workload.on.KILL",
            "SIGKILL cannot be caught or ignored",
        ),
        (
            "behaviour-for-stop",
            "11:4: workload.children[0].on.SIGSTOP",
            "SIGSTOP cannot be caught or ignored",
        ),
        (
            "signal-twice",
            "9:4: workload.on.15",
            "TERM and 15 both name SIGTERM",
        ),
        (
            "expectation-role-unknown",
            "20:8: must[1].role",
            "no workload process has the role \"wrker\" (roles: app, worker)",
        ),
        (
            "wait-exit-role-unknown",
            "11:32: stop.steps[0].role",
            "no workload process has the role \"daemon\" (roles: app)",
        ),
        (
            "signal-target-unknown",
            "11:48: stop.steps[0].target",
            "no workload process has the role \"ap\" (targets: pid1, app)",
        ),
        (
            "scan-label-unknown",
            "11:8: must[0].scan",
            "no `scan-zombies` step has the label \"after-exit\" (labels: none",
        ),
        (
            "scan-label-twice",
            "12:36: stop.steps[1].label",
            "the label \"early\" is already used by stop.steps[0]",
        ),
        (
            "states-label-unknown",
            "17:8: must[0].scan",
            "no `scan-states` step has the label \"early\" (labels: none: add a `scan-states` step)",
        ),
        (
            "not-stopped-role-unknown",
            "18:8: must[0].role",
            "no workload process has the role \"pid-1\" (roles: pid1, app)",
        ),
        (
            "scan-label-shared",
            "12:35: stop.steps[1].label",
            "the label \"early\" is already used by stop.steps[0]",
        ),
        (
            "freeze-within-zero",
            "11:34: stop.steps[0].within_ms",
            "is 0: give the freeze time to see every process stopped",
        ),
        // The step is an internally tagged enum: serde buffers it and toml's error keeps
        // only the array's span, so the place is the list, the field still named.
        (
            "scan-states-settle-missing",
            "10:9: stop.steps.settle_ms",
            "missing field `settle_ms`",
        ),
        ("pid1-exit-both", "12:10: should[0].signal", "not both"),
        (
            "pid1-exit-neither",
            "12:1: must[1]",
            "needs exactly one of `code`",
        ),
        (
            "stop-twice",
            "13:3: stop.steps[2]",
            "a second `stop` step: the profile's stop sequence runs once per run (the first is stop.steps[0])",
        ),
        ("steps-empty", "10:9: stop.steps", "is empty"),
        (
            "unknown-field",
            "8:30: workload.on.TERM.cleanup",
            "unknown field `cleanup`",
        ),
        (
            "signal-unknown",
            "12:10: must[0].signal",
            "`TREM` is not a signal",
        ),
        (
            "kind-unknown",
            "10:8: must[0].kind",
            "unknown variant `caught-it`",
        ),
        (
            "field-missing",
            "9:1: must[0].signal",
            "missing field `signal`",
        ),
        (
            "wrong-type",
            "8:17: workload.exit_after_ms",
            "invalid type: string \"200\"",
        ),
        (
            "syntax-unquoted",
            "7:8: workload.role",
            "string values must be quoted",
        ),
        ("key-twice", "8:1: workload.role", "duplicate key"),
        (
            "sandbox-pid1-unknown",
            "7:8: sandbox.pid1",
            "unknown variant `shell`, expected `candidate` or `parent`",
        ),
        (
            "sandbox-field-unknown",
            "7:1: sandbox.pid_1",
            "unknown field `pid_1`, expected `pid1`",
        ),
        (
            "role-init-reserved",
            "10:8: workload.role",
            "the role \"init\" is reserved",
        ),
        (
            "reading-kind-unknown",
            "9:10: reading.system-mangler",
            "unknown variant `system-mangler`, expected one of",
        ),
        (
            "reading-both",
            "11:18: reading.app.not_applicable",
            "either `not_applicable` or expectations, not both",
        ),
        (
            "reading-empty",
            "9:1: reading.forwarder",
            "the forwarder reading is empty",
        ),
        (
            "reading-not-applicable-blank",
            "10:18: reading.shell.not_applicable",
            "is empty: say why",
        ),
        (
            "reading-role-unknown",
            "12:29: reading.system-manager.must[1].role",
            "no workload process has the role \"service\" (roles: app)",
        ),
        (
            "reading-field-unknown",
            "10:1: reading.app.may",
            "unknown field `may`",
        ),
        (
            "exec-on-child",
            "11:8: workload.children[0].exec",
            "only the root of the workload",
        ),
        (
            "exec-with-children",
            "8:8: workload.exec",
            "starts nothing: drop its children",
        ),
        (
            "exec-unknown",
            "8:8: workload.exec",
            "unknown variant `absent`",
        ),
        (
            "signal-count-zero",
            "11:47: stop.steps[0].count",
            "0 is out of range: send a signal from 1 to 32 times",
        ),
        (
            "signal-count-too-many",
            "11:50: stop.steps[0].count",
            "1000 is out of range",
        ),
        (
            "signal-count-wrong-type",
            "11:47: stop.steps[0].count",
            "invalid type: string \"ten\"",
        ),
        (
            "caught-at-least-and-times",
            "15:9: must[0].times",
            "at most one of `at_least` or `times`",
        ),
        (
            "caught-at-least-zero",
            "14:12: must[0].at_least",
            "0 is always met",
        ),
        (
            "caught-times-negative",
            "14:9: must[0].times",
            "invalid value: integer `-1`",
        ),
        (
            "reboot-without-time",
            "8:10: workload.reboot",
            "add `reboot_after_ms`",
        ),
        (
            "reboot-command-unknown",
            "9:10: workload.reboot",
            "unknown variant `kexec`",
        ),
        (
            "reboot-after-wrong-type",
            "8:19: workload.reboot_after_ms",
            "invalid type: string \"1s\"",
        ),
        (
            "cap-sys-boot-wrong-type",
            "5:16: cap_sys_boot",
            "invalid type: string \"yes\", expected a boolean",
        ),
        (
            "reboot-errno-unknown",
            "13:9: must[0].errno",
            "unknown variant `ENOENT`",
        ),
        (
            "reboot-failed-role-unknown",
            "12:8: must[0].role",
            "no workload process has the role \"ap\"",
        ),
    ];

    const INVALID_CANDIDATES: &[(&str, &str, &str)] = &[
        ("title-empty", "2:9: title", "is empty"),
        ("argv-empty", "5:8: argv", "is empty"),
        (
            "argv-without-workload",
            "5:8: argv",
            "has no `{workload}` argument",
        ),
        (
            "argv-workload-twice",
            "9:3: argv[3]",
            "{workload} appears twice (first at argv[2])",
        ),
        (
            "argv-workload-inside",
            "5:24: argv[2]",
            "{workload} must be an argument of its own",
        ),
        (
            "argv-placeholder-unknown",
            "5:34: argv[2]",
            "unknown placeholder {wokload} (placeholders: {bin}, {workload}, {dir}",
        ),
        ("debian-package-empty", "8:11: install.package", "is empty"),
        (
            "debian-extra-package-empty",
            "10:37: install.extra_packages[1]",
            "is empty: name the Debian package",
        ),
        (
            "pypi-script-path",
            "9:10: install.script",
            "\"bin/systemctl.py\" is not a file name",
        ),
        (
            "debian-binary-absolute",
            "9:10: install.binary",
            "\"/usr/bin/tini\" is not a path inside the package",
        ),
        (
            "debian-binary-escapes",
            "9:10: install.binary",
            "is not a path inside the package",
        ),
        (
            "fixture-path-escapes",
            "8:8: install.path",
            "\"../elsewhere\" is not a crate directory of the workspace",
        ),
        (
            "fixture-binary-path",
            "9:10: install.binary",
            "\"bin/hostile\" is not a binary name",
        ),
        (
            "host-path-relative",
            "8:8: install.path",
            "\"bin/sh\" is not an absolute path",
        ),
        (
            "install-kind-unknown",
            "7:8: install.kind",
            "unknown variant `pip`",
        ),
        (
            "stop-signal-unknown",
            "6:15: stop_signal",
            "`RTMIN+31` is not a signal",
        ),
        (
            "files-at-relative",
            "6:43: files[0].at",
            "\"etc/systemd/system\" is not absolute",
        ),
        (
            "needs-unknown",
            "6:10: needs[0]",
            "unknown variant `cgroup1`",
        ),
        (
            "races-cases-empty",
            "8:9: races[0].cases",
            "is empty: name a case, or write [\"*\"] for every case",
        ),
        (
            "races-why-blank",
            "9:7: races[0].why",
            "is empty: say what in the init makes these runs chance",
        ),
        (
            "races-every-not-alone",
            "9:23: races[0].profiles[1]",
            "\"*\" means every profile: write it alone",
        ),
        (
            "races-key-unknown",
            "8:1: races[0].case",
            "unknown field `case`",
        ),
        (
            "argv-without-workload-or-files",
            "5:8: argv",
            "a system-manager may instead start it from its `files`",
        ),
    ];

    /// Every fixture in `folder` fails with the error its row describes, and every fixture has
    /// a row.
    fn check_invalid<T: Named + fmt::Debug>(
        folder: &str,
        table: &[(&str, &str, &str)],
        load: fn(&Path) -> Loaded<T>,
    ) {
        let dir = data(folder);
        let loaded = load(&dir);
        assert!(
            loaded.items.is_empty(),
            "{folder}: these loaded: {:?}",
            loaded.items.iter().map(Named::name).collect::<Vec<_>>()
        );
        let mut unexpected = Vec::new();
        for error in &loaded.errors {
            let rendered = error.to_string();
            let Some(location) = error.location() else {
                unexpected.push(format!("no location: {rendered}"));
                continue;
            };
            let stem = stem(&location.file);
            let Some((_, place, fragment)) = table.iter().find(|(name, _, _)| *name == stem) else {
                unexpected.push(format!("no row in the table for {stem}: {rendered}"));
                continue;
            };
            let prefix = format!("{}:{place}: ", location.file.display());
            if !rendered.starts_with(&prefix) || !rendered.contains(fragment) {
                unexpected.push(format!(
                    "{stem}:\n  expected {prefix}…{fragment}…\n  got      {rendered}"
                ));
            }
        }
        for (name, _, _) in table {
            let path = dir.join(format!("{name}.toml"));
            if !path.is_file() {
                unexpected.push(format!(
                    "the table names {name} but {} is missing",
                    path.display()
                ));
            }
        }
        assert_eq!(
            loaded.errors.len(),
            table.len(),
            "{folder}: one error per fixture"
        );
        assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
    }

    #[test]
    fn every_invalid_case_fails_where_its_row_says() {
        check_invalid("invalid-cases", INVALID_CASES, load_cases);
    }

    #[test]
    fn every_invalid_candidate_fails_where_its_row_says() {
        check_invalid("invalid-candidates", INVALID_CANDIDATES, load_candidates);
    }

    #[test]
    fn every_case_in_cases_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cases");
        let loaded = load_cases(&dir);
        let errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
        assert!(errors.is_empty(), "{}", errors.join("\n"));
        let names: Vec<&str> = loaded.items.iter().map(Named::name).collect();
        assert_eq!(
            names,
            [
                "deep-tree",
                "double-stop",
                "exec-failure",
                "exec-not-executable",
                "exit-by-signal",
                "exit-code",
                "grace-escalation",
                "grandchild-own-session",
                "grandchild-same-pgrp",
                "hup-forward",
                "int-forward",
                "job-control",
                "kill-from-inside",
                "main-exits-first",
                "not-pid1",
                "orphan-reaping",
                "quit-forward",
                "reboot-syscall",
                "reboot-syscall-no-cap",
                "rtmin3",
                "rtmin4",
                "sigchld-not-forwarded",
                "signal-burst",
                "slow-cleanup",
                "stop-while-frozen",
                "term-forward",
                "usr1-forward",
                "usr2-forward",
                "winch-forward",
                "zombie-storm",
            ],
            "sorted by name, every file of cases/"
        );
    }

    #[test]
    fn every_candidate_in_fixtures_loads() {
        for folder in ["../fixtures/candidates", "../fixtures/hostile/candidates"] {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
            let loaded = load_candidates(&dir);
            let errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
            assert!(errors.is_empty(), "{}", errors.join("\n"));
            assert!(
                !loaded.items.is_empty(),
                "{} holds no candidate",
                dir.display()
            );
        }
    }

    #[test]
    fn every_race_in_fixtures_names_a_case_and_profile_that_exist() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let cases = load_cases(&root.join("cases")).items;
        let profiles = load_profiles(&root.join("fixtures/profiles")).items;
        let loaded = load_candidates(&root.join("fixtures/candidates"));
        let errors: Vec<String> = loaded
            .items
            .iter()
            .filter_map(|c| check_race_names(c, &cases, &profiles).err())
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}", errors.join("\n"));
        assert!(
            loaded.items.iter().any(|c| !c.races.is_empty()),
            "some candidate declares a race, so the check above checked something"
        );
    }

    #[test]
    fn a_race_on_an_unknown_case_or_profile_is_named_with_line_and_field() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let cases = load_cases(&root.join("cases")).items;
        let profiles = load_profiles(&root.join("fixtures/profiles")).items;
        let head = "title = \"r\"\nkind = \"forwarder\"\nargv = [\"{bin}\", \"{workload}\"]\n\
                    install = { kind = \"probe\" }\n[[races]]\n";
        for (races, expected) in [
            (
                "cases = [\"term-forward\", \"hup-froward\"]\nwhy = \"w\"\n",
                "/c/r.toml:6:26: races[0].cases[1]: no case named \"hup-froward\" (cases: ",
            ),
            (
                "cases = [\"*\"]\nprofiles = [\"dokcer\"]\nwhy = \"w\"\n",
                "/c/r.toml:7:13: races[0].profiles[0]: no profile named \"dokcer\" (profiles: ",
            ),
        ] {
            let text = format!("{head}{races}");
            let path = Path::new("/c/r.toml");
            let candidate = parse_candidate(path, &text).expect("names are checked later");
            let error = check_race_names_in(path, &text, &candidate, &cases, &profiles)
                .expect_err("an unknown name");
            assert!(error.to_string().starts_with(expected), "{error}");
        }
    }

    #[test]
    fn a_race_covers_its_cases_under_its_profiles_and_every_profile_by_default() {
        let text = "title = \"r\"\nkind = \"forwarder\"\nargv = [\"{bin}\", \"{workload}\"]\n\
                    install = { kind = \"probe\" }\n\
                    [[races]]\ncases = [\"hup-forward\"]\nwhy = \"first\"\n\
                    [[races]]\ncases = [\"*\"]\nprofiles = [\"lxc\"]\nwhy = \"second\"\n";
        let candidate = parse_candidate(Path::new("/c/r.toml"), text).expect("valid");
        let why = |case, profile| {
            candidate
                .declared_race(case, profile)
                .map(|r| r.why.as_str())
        };
        assert_eq!(why("hup-forward", "docker"), Some("first"));
        assert_eq!(why("hup-forward", "lxc"), Some("first"));
        assert_eq!(why("term-forward", "lxc"), Some("second"));
        assert_eq!(why("term-forward", "docker"), None);
    }

    #[test]
    fn every_profile_in_fixtures_loads_and_covers_every_runtime() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/profiles");
        let loaded = load_profiles(&dir);
        let errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
        assert!(errors.is_empty(), "{}", errors.join("\n"));
        let runtimes: std::collections::BTreeSet<&str> =
            loaded.items.iter().map(|p| p.runtime.name()).collect();
        assert_eq!(
            runtimes.into_iter().collect::<Vec<_>>(),
            [
                "containerd-cri",
                "crio-legacy",
                "docker",
                "kubernetes",
                "lxc",
                "nspawn",
                "podman"
            ]
        );
    }

    #[test]
    fn a_signal_the_runtime_rejects_is_named_with_line_and_field() {
        let text = "title = \"k8s\"\nruntime = \"kubernetes\"\ngrace_ms = 30000\n\
                    signal = \"37\"\nsources = [\"s\"]\n";
        let error =
            parse_profile(Path::new("k8s.toml"), text).expect_err("37 is no Kubernetes name");
        let message = error.to_string();
        assert!(
            message.starts_with(
                "k8s.toml:4:10: signal: kubernetes rejects it: `37` is not a Kubernetes stop signal"
            ),
            "{message}"
        );
        let text = text.replace("\"37\"", "\"SIGRTMIN+3\"");
        let profile = parse_profile(Path::new("k8s.toml"), &text).expect("an API name");
        assert_eq!(profile.signal.as_deref(), Some("SIGRTMIN+3"));
        let text = text.replace("signal = \"SIGRTMIN+3\"\n", "pre_stop = []\n");
        let error = parse_profile(Path::new("k8s.toml"), &text).expect_err("an empty hook");
        assert!(
            error
                .to_string()
                .starts_with("k8s.toml:4:12: pre_stop: is empty"),
            "{error}"
        );
    }

    const TERM_FORWARD: &str = r#"title = "t"
why = "w"
sources = ["s"]

[workload]
role = "app"
on.SIGTERM = { action = "exit", code = 3 }
on."RTMIN+3".action = "record"

[[workload.children]]
role = "worker"
placement = "new-session"

[[must]]
kind = "caught"
role = "worker"
signal = 15
"#;

    #[test]
    fn parse_case_reads_every_spelling_and_names_the_case_after_its_file() {
        let case =
            parse_case(Path::new("cases/term-forward.toml"), TERM_FORWARD).expect("a valid case");
        assert_eq!(case.name, "term-forward");
        assert_eq!(case.workload.on.len(), 2);
        assert!(
            case.workload
                .on
                .contains_key(&SignalRef::Signal(SignalNumber(libc::SIGRTMIN() + 3)))
        );
        assert_eq!(
            case.stop.steps,
            [Step::Stop],
            "no [stop]: the profile's sequence"
        );
        assert_eq!(
            case.must,
            [ExpectationKind::Caught {
                at_least: None,
                times: None,
                role: "worker".to_owned(),
                signal: SignalRef::Signal(SignalNumber::TERM),
            }]
        );
    }

    #[test]
    fn state_scans_freezes_and_not_stopped_parse() {
        let text = format!(
            "{TERM_FORWARD}\n[stop]\nsteps = [\n  {{ kind = \"freeze\", within_ms = 500 }},\n  \
             {{ kind = \"scan-states\", label = \"frozen\", settle_ms = 50 }},\n  \
             {{ kind = \"stop\" }},\n]\n\n[[should]]\nkind = \"not-stopped\"\n\
             scan = \"frozen\"\nrole = \"pid1\"\n"
        );
        let case = parse_case(Path::new("frozen.toml"), &text).expect("a valid case");
        assert_eq!(
            case.stop.steps,
            [
                Step::Freeze { within_ms: 500 },
                Step::ScanStates {
                    label: "frozen".to_owned(),
                    settle_ms: 50
                },
                Step::Stop
            ]
        );
        assert_eq!(
            case.should,
            [ExpectationKind::NotStopped {
                scan: "frozen".to_owned(),
                role: "pid1".to_owned(),
            }]
        );
    }

    #[test]
    fn a_validation_error_reads_as_one_line_with_file_line_column_and_field() {
        let text = TERM_FORWARD.replace("role = \"worker\"\nsignal", "role = \"wrker\"\nsignal");
        let error =
            parse_case(Path::new("cases/term-forward.toml"), &text).expect_err("unknown role");
        assert_eq!(
            error.to_string(),
            "cases/term-forward.toml:16:8: must[0].role: no workload process has the role \
             \"wrker\" (roles: app, worker)"
        );
        assert!(matches!(error, LoadError::Invalid { .. }));
        assert_eq!(error.field(), Some("must[0].role"));
        let location = error.location().expect("a location");
        assert_eq!((location.line, location.column), (16, 8));
    }

    #[test]
    fn a_key_that_needs_quotes_is_quoted_in_the_field_path() {
        let text = TERM_FORWARD.replace(
            "\"RTMIN+3\".action = \"record\"",
            "\"RTMIN+3\".action = \"stop\"",
        );
        let error = parse_case(Path::new("c.toml"), &text).expect_err("unknown action");
        // Line 8 is `on."RTMIN+3".action = "stop"`: the value starts at column 23.
        assert!(
            error
                .to_string()
                .starts_with("c.toml:8:23: workload.on.\"RTMIN+3\".action: unknown variant `stop`"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_top_level_field_is_named() {
        let error = parse_case(Path::new("c.toml"), "title = \"t\"\n").expect_err("no why");
        assert!(
            error
                .to_string()
                .starts_with("c.toml:1:1: why: missing field `why`"),
            "{error}"
        );
    }

    const TINI: &str = r#"title = "tini"
kind = "forwarder"
install = { kind = "debian", package = "tini", binary = "usr/bin/tini" }
argv = ["{bin}", "-s", "--", "{workload}"]
stop_signal = "SIGRTMIN+3"
"#;

    #[test]
    fn parse_candidate_sets_name_and_an_absolute_dir() {
        let candidate = parse_candidate(Path::new("fixtures/candidates/tini.toml"), TINI)
            .expect("a valid candidate");
        assert_eq!(candidate.name, "tini");
        assert!(candidate.dir.is_absolute(), "{}", candidate.dir.display());
        assert!(candidate.dir.ends_with("fixtures/candidates"));
        assert_eq!(
            candidate.install,
            Install::Debian {
                package: "tini".to_owned(),
                binary: "usr/bin/tini".to_owned(),
                extra_packages: Vec::new(),
            }
        );
        assert_eq!(candidate.stop_signal.as_deref(), Some("SIGRTMIN+3"));
        let bare = parse_candidate(Path::new("tini.toml"), TINI).expect("a valid candidate");
        assert!(bare.dir.is_absolute());
    }

    #[test]
    fn shell_braces_that_are_not_placeholders_are_left_alone() {
        let text = TINI.replace(
            r#"argv = ["{bin}", "-s", "--", "{workload}"]"#,
            r#"argv = ["/bin/sh", "-c", "${1} & wait; echo {}", "sh", "{workload}"]"#,
        );
        parse_candidate(Path::new("sh.toml"), &text).expect("valid");
    }

    #[test]
    fn a_directory_loads_file_by_file_in_name_order() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        fs::write(dir.path().join("b.toml"), TERM_FORWARD).expect("write");
        fs::write(dir.path().join("a.toml"), TERM_FORWARD).expect("write");
        // `title = ` is 8 characters: the value is missing at column 9.
        fs::write(dir.path().join("broken.toml"), "title = ").expect("write");
        fs::write(dir.path().join("notes.md"), "not a case").expect("write");
        fs::create_dir(dir.path().join("sub.toml")).expect("mkdir");
        let loaded = load_cases(dir.path());
        let names: Vec<&str> = loaded.items.iter().map(Named::name).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(loaded.errors.len(), 1);
        let error = loaded.errors[0].to_string();
        assert!(error.contains("broken.toml:1:9: title: "), "{error}");
    }

    #[test]
    fn a_missing_directory_is_one_read_error() {
        let loaded = load_candidates(Path::new("/nonexistent/pid1check/candidates"));
        assert!(loaded.items.is_empty());
        assert!(matches!(
            loaded.errors.as_slice(),
            [LoadError::Read { path, .. }] if path == Path::new("/nonexistent/pid1check/candidates")
        ));
        let error = &loaded.errors[0];
        assert_eq!(
            error.to_string(),
            "/nonexistent/pid1check/candidates: cannot read"
        );
        assert!(
            std::error::Error::source(error).is_some(),
            "the io::Error is chained"
        );
    }

    fn three_cases() -> Vec<Case> {
        ["a", "b", "c"]
            .into_iter()
            .map(|name| {
                let mut case = parse_case(Path::new("x.toml"), TERM_FORWARD).expect("valid");
                case.name = name.to_owned();
                case
            })
            .collect()
    }

    #[test]
    fn select_keeps_the_items_order_and_takes_all_when_no_name_is_given() {
        let cases = three_cases();
        let names = |picked: Vec<&Case>| picked.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        let picked = select(&cases, &["c", "a"]).expect("known names");
        assert_eq!(names(picked), ["a", "c"]);
        let none: [&str; 0] = [];
        assert_eq!(names(select(&cases, &none).expect("all")), ["a", "b", "c"]);
    }

    #[test]
    fn select_names_what_exists_when_a_name_is_unknown() {
        let cases = three_cases();
        let error = select(&cases, &["a", "d"]).expect_err("d is unknown");
        assert_eq!(error.to_string(), "no case named \"d\" (cases: a, b, c)");
        assert!(matches!(
            error,
            LoadError::UnknownName { kind: "case", ref name, ref known } if name == "d" && known.len() == 3
        ));
        let no_candidates: Vec<Candidate> = Vec::new();
        let error = select(&no_candidates, &["tini"]).expect_err("nothing loaded");
        assert_eq!(
            error.to_string(),
            "no candidate named \"tini\" (candidates: none)"
        );
    }
}
