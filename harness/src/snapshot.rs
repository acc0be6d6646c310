//! Snapshots of normalised traces, stored as `reports/snapshots/NAME.snap` in insta's file format
//! so that `insta::assert_snapshot!` and `cargo xtask conformance` share the same files.
//!
//! The format is insta 1.x's (`insta/src/snapshot.rs`: `Snapshot::from_file`,
//! `serialize_snapshot`, `TextSnapshotContents::normalize`):
//!
//! ```text
//! ---
//! source: xtask/src/conformance.rs
//! expression: trace
//! ---
//! BODY
//! ```
//!
//! The header is YAML between two `---` lines; the body is every line after the second `---`.
//! Bodies are compared after insta's normalisation: trailing whitespace of the whole body is
//! dropped and CRLF becomes LF; leading whitespace and blank lines inside are significant.
//! A written file holds the normalised body followed by one newline.
//!
//! Checking never writes; only [`SnapshotStore::bless`] does, and the caller decides when.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use similar::TextDiff;

/// The `expression:` recorded in files that [`SnapshotStore::bless`] writes. insta records the
/// source text of the value passed to `assert_snapshot!`, so a test that names its value `trace`
/// writes the same header line.
pub const EXPRESSION: &str = "trace";

/// File extension of a snapshot, as insta names them.
const EXTENSION: &str = "snap";

/// A directory of `.snap` files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotStore {
    dir: PathBuf,
}

/// How a run's trace compares with its stored snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotStatus {
    /// The stored body equals the new one (after insta's normalisation).
    Matches,
    /// The stored body differs.
    Differs {
        /// Unified diff from the stored body to the new one.
        diff: String,
    },
    /// No snapshot is stored under this name.
    Missing,
}

/// Why a snapshot could not be checked, written or listed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The name cannot be a file name in the snapshot directory.
    #[error("invalid snapshot name {name:?}: expected a non-empty file name without `/`")]
    InvalidName {
        /// The name given.
        name: String,
    },
    /// Reading a snapshot file failed.
    #[error("cannot read snapshot {}", path.display())]
    Read {
        /// The snapshot file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Writing a snapshot file (or its directory) failed.
    #[error("cannot write snapshot {}", path.display())]
    Write {
        /// The file or directory being written.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Listing the snapshot directory failed.
    #[error("cannot list snapshot directory {}", path.display())]
    List {
        /// The snapshot directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file is not a text snapshot in insta's format.
    #[error("malformed snapshot {}:{line}: {problem}", path.display())]
    Malformed {
        /// The snapshot file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// What is wrong there.
        problem: String,
    },
}

/// The name of a run's snapshot: `{candidate}__{case}__{profile}`. Names of candidates, cases and
/// profiles are `[a-z0-9-]`, so the double underscore cannot be ambiguous.
pub fn snapshot_name(candidate: &str, case: &str, profile: &str) -> String {
    format!("{candidate}__{case}__{profile}")
}

impl SnapshotStore {
    /// A store over `dir` (usually `<workspace>/reports/snapshots`). Nothing is created until
    /// [`SnapshotStore::bless`] writes.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SnapshotStore { dir: dir.into() }
    }

    /// The snapshot directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the snapshot `name` is stored (`DIR/NAME.snap`), as insta names it with
    /// `set_prepend_module_to_snapshot(false)`.
    pub fn path(&self, name: &str) -> Result<PathBuf, SnapshotError> {
        check_name(name)?;
        Ok(self.dir.join(format!("{name}.{EXTENSION}")))
    }

    /// Compares `body` with the stored snapshot `name`. Never writes.
    pub fn check(&self, name: &str, body: &str) -> Result<SnapshotStatus, SnapshotError> {
        let path = self.path(name)?;
        let Some(stored) = read_snapshot(&path)? else {
            return Ok(SnapshotStatus::Missing);
        };
        if bodies_match(&stored.body, body) {
            return Ok(SnapshotStatus::Matches);
        }
        Ok(SnapshotStatus::Differs {
            diff: unified_diff(&stored.body, body, &path),
        })
    }

    /// Stores `body` as the snapshot `name`, recording `source` (the file that produced it,
    /// relative to the workspace root, as insta records it) and [`EXPRESSION`] in the header.
    ///
    /// Writes only when the snapshot is missing, malformed or its body differs; a file whose
    /// body matches is left as it is, header included, so insta and xtask do not rewrite each
    /// other's files. The write is atomic: a temporary file in the same directory, renamed over
    /// the old one. Returns whether it wrote.
    pub fn bless(&self, name: &str, body: &str, source: &str) -> Result<bool, SnapshotError> {
        let path = self.path(name)?;
        match read_snapshot(&path) {
            Ok(Some(stored)) if bodies_match(&stored.body, body) => return Ok(false),
            Ok(_) | Err(SnapshotError::Malformed { .. }) => {}
            Err(error) => return Err(error),
        }
        write_atomically(&self.dir, &path, &render_snapshot(source, EXPRESSION, body))?;
        Ok(true)
    }

    /// The `.snap` files in the directory whose name is not in `names`: stale snapshots that no
    /// run referenced, sorted. A missing directory has none.
    pub fn unreferenced(&self, names: &BTreeSet<String>) -> Result<Vec<PathBuf>, SnapshotError> {
        let list_error = |source| SnapshotError::List {
            path: self.dir.clone(),
            source,
        };
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(list_error(error)),
        };
        let mut stale = Vec::new();
        for entry in entries {
            let path = entry.map_err(list_error)?.path();
            if path.extension().is_some_and(|ext| ext == EXTENSION)
                && let Some(stem) = path.file_stem().and_then(|stem| stem.to_str())
                && !names.contains(stem)
            {
                stale.push(path);
            }
        }
        stale.sort();
        Ok(stale)
    }
}

/// A snapshot file split into the header fields we use and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SnapshotFile {
    source: Option<String>,
    expression: Option<String>,
    /// Lines after the header joined with `\n`, as insta reads them (not yet normalised).
    body: String,
}

/// Reads and parses `path`; `None` when it does not exist.
fn read_snapshot(path: &Path) -> Result<Option<SnapshotFile>, SnapshotError> {
    match fs::read_to_string(path) {
        Ok(text) => parse_snapshot(&text, path).map(Some),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SnapshotError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Parses insta's format, as `Snapshot::from_file` does: a line `---`, YAML lines, a line `---`,
/// then the body. insta's pre-1.0 header format without `---` is refused; the header YAML is
/// read only as far as its top-level `key: scalar` lines, the rest (`info:` maps, lists) is
/// skipped.
fn parse_snapshot(text: &str, path: &Path) -> Result<SnapshotFile, SnapshotError> {
    let malformed = |line: usize, problem: &str| SnapshotError::Malformed {
        path: path.to_path_buf(),
        line,
        problem: problem.to_owned(),
    };
    // `str::lines` strips `\n` and `\r\n`, like the `BufRead::lines` insta reads bodies with.
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line));
    match lines.next() {
        Some((_, first)) if first.trim_end() == "---" => {}
        _ => return Err(malformed(1, "expected `---` opening the header")),
    }
    let mut file = SnapshotFile {
        source: None,
        expression: None,
        body: String::new(),
    };
    let mut closed = false;
    let mut last = 1;
    for (number, line) in lines.by_ref() {
        last = number;
        if line.trim_end() == "---" {
            closed = true;
            break;
        }
        let Some((key, value)) =
            header_field(line).map_err(|problem| malformed(number, problem))?
        else {
            continue;
        };
        match key {
            "source" => file.source = Some(value),
            "expression" => file.expression = Some(value),
            "snapshot_kind" if value == "binary" => {
                return Err(malformed(number, "a binary snapshot, not a text one"));
            }
            _ => {}
        }
    }
    if !closed {
        return Err(malformed(last, "header not closed by a `---` line"));
    }
    file.body = lines.map(|(_, line)| line).collect::<Vec<_>>().join("\n");
    Ok(file)
}

/// One header line: `Some((key, scalar))` for a top-level `key: scalar`, `None` for lines that
/// carry nothing we read (blank, comments, nested or block values).
fn header_field(line: &str) -> Result<Option<(&str, String)>, &'static str> {
    if line.trim().is_empty() || line.starts_with([' ', '\t', '#', '-']) {
        return Ok(None);
    }
    let Some((key, value)) = line.split_once(':') else {
        return Err("expected `key: value` in the header");
    };
    let value = value.trim();
    if key.is_empty() || key.contains([' ', '"', '\'']) {
        return Err("expected `key: value` in the header");
    }
    let value = if let Some(quoted) = value.strip_prefix('"') {
        unescape_double_quoted(quoted)?
    } else if let Some(quoted) = value.strip_prefix('\'') {
        let inner = quoted
            .strip_suffix('\'')
            .ok_or("single-quoted value not closed on its line")?;
        inner.replace("''", "'")
    } else if value.starts_with(['|', '>']) || value.is_empty() {
        // Block scalars and nested maps span the following (indented) lines.
        return Ok(None);
    } else {
        value.to_owned()
    };
    Ok(Some((key, value)))
}

/// The inside of a double-quoted YAML scalar (after the opening quote), with the escapes insta's
/// emitter writes (`escape_str`: JSON-style).
fn unescape_double_quoted(text: &str) -> Result<String, &'static str> {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                return if chars.as_str().trim().is_empty() {
                    Ok(out)
                } else {
                    Err("text after a double-quoted value")
                };
            }
            '\\' => {
                let escaped = match chars.next() {
                    Some('"') => '"',
                    Some('\\') => '\\',
                    Some('/') => '/',
                    Some('n') => '\n',
                    Some('t') => '\t',
                    Some('r') => '\r',
                    Some('b') => '\u{8}',
                    Some('f') => '\u{c}',
                    Some('0') => '\0',
                    Some('u') => {
                        let hex: String = chars.by_ref().take(4).collect();
                        u32::from_str_radix(&hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or("invalid `\\u` escape in a double-quoted value")?
                    }
                    _ => return Err("unknown escape in a double-quoted value"),
                };
                out.push(escaped);
            }
            c => out.push(c),
        }
    }
    Err("double-quoted value not closed on its line")
}

/// The text insta writes for a file snapshot (`Snapshot::save` after `trim_for_persistence`):
/// its YAML header with `source` and `expression`, then the normalised body and a newline.
fn render_snapshot(source: &str, expression: &str, body: &str) -> String {
    let mut text = String::from("---\n");
    for (key, value) in [("source", source), ("expression", expression)] {
        text.push_str(key);
        text.push_str(": ");
        text.push_str(&yaml_scalar(value));
        text.push('\n');
    }
    text.push_str("---\n");
    text.push_str(&normalise(body));
    text.push('\n');
    text
}

/// A string as insta's vendored YAML emitter writes it: plain when it can be, else
/// double-quoted with JSON escapes (`need_quotes` and `escape_str` in
/// `insta/src/content/yaml/vendored/emitter.rs`).
fn yaml_scalar(value: &str) -> String {
    if !needs_quotes(value) {
        return value.to_owned();
    }
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\0'..='\u{1f}' | '\u{7f}' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// insta's `need_quotes`, rule for rule.
fn needs_quotes(value: &str) -> bool {
    const RESERVED: [&str; 22] = [
        "yes", "Yes", "YES", "no", "No", "NO", "True", "TRUE", "true", "False", "FALSE", "false",
        "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~",
    ];
    value.is_empty()
        || value.starts_with(' ')
        || value.ends_with(' ')
        || value.starts_with(['&', '*', '?', '|', '-', '<', '>', '=', '!', '%', '@'])
        || value.contains(|c: char| {
            matches!(c, ':' | '{' | '}' | '[' | ']' | ',' | '#' | '`' | '"' | '\'' | '\\'
                | '\0'..='\u{6}' | '\t' | '\n' | '\r' | '\u{e}'..='\u{1a}' | '\u{1c}'..='\u{1f}')
        })
        || RESERVED.contains(&value)
        || value.starts_with('.')
        || value.starts_with("0x")
        || value.parse::<i64>().is_ok()
        || value.parse::<f64>().is_ok()
}

/// insta's `TextSnapshotContents::normalize` for file snapshots: trailing whitespace of the whole
/// body removed, CRLF turned into LF.
fn normalise(body: &str) -> String {
    body.trim_end().replace("\r\n", "\n")
}

/// insta's comparison (`PartialEq for SnapshotContents`): equal after normalisation, or equal
/// under its legacy rules (leading newlines and a leading `---` line ignored), which insta
/// accepts with a warning.
fn bodies_match(stored: &str, new: &str) -> bool {
    fn legacy(body: &str) -> String {
        let body = normalise(body);
        let body = body.trim_start_matches(['\r', '\n']);
        body.strip_prefix("---\n").unwrap_or(body).to_owned()
    }
    normalise(stored) == normalise(new) || legacy(stored) == legacy(new)
}

/// Unified diff, stored → new, of the normalised bodies.
fn unified_diff(stored: &str, new: &str, path: &Path) -> String {
    let old = normalise(stored) + "\n";
    let new = normalise(new) + "\n";
    TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(&path.display().to_string(), "this run")
        .to_string()
}

/// Writes `text` to `path` through a temporary file in `dir` renamed over it, so a reader sees
/// the old file or the new one, never half of one.
fn write_atomically(dir: &Path, path: &Path, text: &str) -> Result<(), SnapshotError> {
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SnapshotError::Write { path, source }
    };
    fs::create_dir_all(dir).map_err(write_error(dir))?;
    // 0644 before the umask, like a file insta writes with `fs::write`.
    let mut temp = tempfile::Builder::new()
        .prefix(".")
        .suffix(".snap.tmp")
        .permissions(fs::Permissions::from_mode(0o644))
        .tempfile_in(dir)
        .map_err(write_error(dir))?;
    temp.write_all(text.as_bytes())
        .and_then(|()| temp.as_file().sync_all())
        .map_err(write_error(temp.path()))?;
    temp.persist(path)
        .map_err(|error| write_error(path)(error.error))?;
    Ok(())
}

/// Snapshot names become file names: no path separators, no hidden files.
fn check_name(name: &str) -> Result<(), SnapshotError> {
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\', '\0']) {
        return Err(SnapshotError::InvalidName {
            name: name.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::error::Error;
    use std::fs;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use super::*;

    type TestResult = Result<(), Box<dyn Error>>;

    /// A normalised-trace-like body: leading spaces, a blank line and trailing whitespace, to
    /// exercise every normalisation rule.
    const BODY: &str = "  before-stop  app  started\n\n\
                        after-stop-signal  app  caught  TERM  from=runtime code=SI_USER\n\
                        after-stop-signal  pid1  exiting  -  code=0   \n\n";

    /// Environment variable that turns [`insta_writes_in_child`] into a real snapshot writer.
    const CHILD_DIR: &str = "PID1CHECK_SNAPSHOT_TEST_INSTA_DIR";
    const CHILD_NAME: &str = "tini__graceful-term__docker";

    fn store() -> Result<(tempfile::TempDir, SnapshotStore), Box<dyn Error>> {
        let dir = tempfile::tempdir()?;
        let store = SnapshotStore::new(dir.path().join("snapshots"));
        Ok((dir, store))
    }

    fn workspace_root() -> Result<PathBuf, Box<dyn Error>> {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        Ok(manifest
            .parent()
            .ok_or("harness has a parent")?
            .to_path_buf())
    }

    #[test]
    fn snapshot_name_joins_with_double_underscores() {
        assert_eq!(
            snapshot_name("dumb-init", "zombie-reaping", "docker"),
            "dumb-init__zombie-reaping__docker"
        );
    }

    #[test]
    fn bless_then_check_matches() -> TestResult {
        let (_dir, store) = store()?;
        assert!(store.bless("a__b__c", BODY, "xtask/src/conformance.rs")?);
        assert_eq!(store.check("a__b__c", BODY)?, SnapshotStatus::Matches);
        // Blessing the same body again writes nothing.
        assert!(!store.bless("a__b__c", BODY, "xtask/src/conformance.rs")?);
        Ok(())
    }

    #[test]
    fn bless_writes_insta_text() -> TestResult {
        let (_dir, store) = store()?;
        store.bless("a__b__c", "x\r\ny  \n\n", "xtask/src/conformance.rs")?;
        let text = fs::read_to_string(store.path("a__b__c")?)?;
        assert_eq!(
            text,
            "---\nsource: xtask/src/conformance.rs\nexpression: trace\n---\nx\ny\n"
        );
        Ok(())
    }

    #[test]
    fn header_values_are_quoted_and_read_back_like_yaml() -> TestResult {
        let text = render_snapshot("dir/a: b.rs", "&trace \"x\"\\", "body");
        assert_eq!(
            text,
            "---\nsource: \"dir/a: b.rs\"\nexpression: \"&trace \\\"x\\\"\\\\\"\n---\nbody\n"
        );
        let parsed = parse_snapshot(&text, Path::new("x.snap"))?;
        assert_eq!(parsed.source.as_deref(), Some("dir/a: b.rs"));
        assert_eq!(parsed.expression.as_deref(), Some("&trace \"x\"\\"));
        assert_eq!(parsed.body, "body");
        assert_eq!(yaml_scalar("42"), "\"42\"");
        assert_eq!(yaml_scalar("true"), "\"true\"");
        assert_eq!(yaml_scalar("normal.render()"), "normal.render()");
        Ok(())
    }

    #[test]
    fn trailing_whitespace_and_crlf_do_not_count_but_leading_whitespace_does() -> TestResult {
        let (_dir, store) = store()?;
        store.bless("n", "a\nb", "s.rs")?;
        assert_eq!(store.check("n", "a\r\nb \n\n\n")?, SnapshotStatus::Matches);
        assert!(matches!(
            store.check("n", " a\nb")?,
            SnapshotStatus::Differs { .. }
        ));
        Ok(())
    }

    #[test]
    fn changed_body_differs_with_a_diff_naming_the_line() -> TestResult {
        let (_dir, store) = store()?;
        store.bless("n", "started app\ncaught app TERM\nexiting app 0\n", "s.rs")?;
        let status = store.check("n", "started app\ncaught app INT\nexiting app 0\n")?;
        let SnapshotStatus::Differs { diff } = status else {
            return Err(format!("expected a difference, got {status:?}").into());
        };
        assert!(diff.contains("\n-caught app TERM\n"), "{diff}");
        assert!(diff.contains("\n+caught app INT\n"), "{diff}");
        assert!(diff.contains("+++ this run"), "{diff}");
        // Checking never writes.
        assert_eq!(
            store.check("n", "started app\ncaught app TERM\nexiting app 0")?,
            SnapshotStatus::Matches
        );
        Ok(())
    }

    #[test]
    fn missing_snapshot_is_missing_and_check_creates_nothing() -> TestResult {
        let (_dir, store) = store()?;
        assert_eq!(store.check("nope", "x")?, SnapshotStatus::Missing);
        assert!(!store.dir().exists());
        Ok(())
    }

    #[test]
    fn bless_keeps_a_matching_file_written_by_someone_else() -> TestResult {
        let (_dir, store) = store()?;
        fs::create_dir_all(store.dir())?;
        let text = "---\nsource: harness/tests/tests.rs\nexpression: normal.render()\ninfo:\n  version: 1\n---\nbody\n";
        fs::write(store.path("n")?, text)?;
        assert!(!store.bless("n", "body\n", "xtask/src/conformance.rs")?);
        assert_eq!(fs::read_to_string(store.path("n")?)?, text);
        assert!(store.bless("n", "other\n", "xtask/src/conformance.rs")?);
        assert!(fs::read_to_string(store.path("n")?)?.contains("source: xtask/src/conformance.rs"));
        Ok(())
    }

    #[test]
    fn unreferenced_lists_only_stale_snap_files() -> TestResult {
        let (_dir, store) = store()?;
        assert!(store.unreferenced(&BTreeSet::new())?.is_empty());
        store.bless("kept", "x", "s.rs")?;
        store.bless("stale", "x", "s.rs")?;
        fs::write(store.dir().join("kept.snap.new"), "pending")?;
        fs::write(store.dir().join("notes.txt"), "")?;
        let names = BTreeSet::from(["kept".to_owned()]);
        assert_eq!(store.unreferenced(&names)?, vec![store.path("stale")?]);
        Ok(())
    }

    #[test]
    fn malformed_files_name_path_and_line() -> TestResult {
        let (_dir, store) = store()?;
        fs::create_dir_all(store.dir())?;
        for (text, line) in [
            ("Expression: legacy\n\nbody\n", 1),
            ("---\nsource: a.rs\nexpression: trace\n", 3),
            ("---\nsource: a.rs\nexpression: trace\nbody\n", 4),
            ("---\nsource: \"a.rs\n---\nbody\n", 2),
            ("---\nnot a field\n---\nbody\n", 2),
            ("---\nextension: png\nsnapshot_kind: binary\n---\n", 3),
        ] {
            fs::write(store.path("bad")?, text)?;
            match store.check("bad", "body") {
                Err(SnapshotError::Malformed { path, line: at, .. }) => {
                    assert_eq!((path, at), (store.path("bad")?, line), "{text:?}");
                }
                other => return Err(format!("{text:?}: expected malformed, got {other:?}").into()),
            }
        }
        let error = store.check("bad", "body").err().ok_or("malformed")?;
        assert!(error.to_string().contains("bad.snap:3: "), "{error}");
        // Blessing replaces a malformed file.
        assert!(store.bless("bad", "body", "s.rs")?);
        assert_eq!(store.check("bad", "body")?, SnapshotStatus::Matches);
        Ok(())
    }

    #[test]
    fn names_that_are_not_file_names_are_refused() -> TestResult {
        let (_dir, store) = store()?;
        for name in ["", "../x", "a/b", ".hidden"] {
            assert!(matches!(
                store.check(name, "x"),
                Err(SnapshotError::InvalidName { .. })
            ));
        }
        Ok(())
    }

    /// What this module writes, insta reads as matching: its own parser agrees, and
    /// `assert_snapshot!` passes without writing anything.
    #[test]
    fn insta_accepts_what_bless_writes() -> TestResult {
        let dir = tempfile::tempdir()?;
        let store = SnapshotStore::new(dir.path());
        // The header insta itself would write for the assertion below.
        store.bless(CHILD_NAME, BODY, "harness/src/snapshot.rs")?;
        let path = store.path(CHILD_NAME)?;
        let written = fs::read(&path)?;

        let parsed = insta::Snapshot::from_file(&path)?;
        let contents = parsed.contents().as_text().ok_or("a text snapshot")?;
        assert_eq!(contents.to_string(), normalise(BODY));
        assert_eq!(parsed.metadata().expression(), Some(EXPRESSION));
        assert_eq!(parsed.metadata().source(), Some("harness/src/snapshot.rs"));

        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(dir.path());
        settings.set_prepend_module_to_snapshot(false);
        let trace = BODY;
        settings.bind(|| insta::assert_snapshot!(CHILD_NAME, trace));

        // A mismatch would have left a `.snap.new` (or, under INSTA_FORCE_PASS, been hidden).
        assert_eq!(fs::read(&path)?, written);
        let files: Vec<_> = fs::read_dir(dir.path())?
            .map(|entry| entry.map(|entry| entry.file_name()))
            .collect::<Result<_, _>>()?;
        assert_eq!(
            files,
            vec![std::ffi::OsString::from(format!("{CHILD_NAME}.snap"))]
        );
        Ok(())
    }

    /// What insta writes, this module reads as matching, and writes byte for byte the same.
    ///
    /// insta reads `INSTA_UPDATE` once per process and keeps it, so the writing happens in a
    /// child: this test binary re-run on [`insta_writes_in_child`] with `INSTA_UPDATE=always`.
    #[test]
    fn check_accepts_what_insta_writes() -> TestResult {
        let dir = tempfile::tempdir()?;
        let mut child = Command::new(std::env::current_exe()?);
        child.args([
            "snapshot::tests::insta_writes_in_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ]);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("INSTA_") {
                child.env_remove(key);
            }
        }
        child
            .env("INSTA_UPDATE", "always")
            .env("INSTA_WORKSPACE_ROOT", workspace_root()?)
            .env(CHILD_DIR, dir.path());
        let output = child.output()?;
        let path = dir.path().join(format!("{CHILD_NAME}.snap"));
        assert!(
            output.status.success() && path.exists(),
            "child {child:?} exited {}\nstdout:\n{}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );

        let written_by_insta = fs::read_to_string(&path)?;
        assert_eq!(
            written_by_insta,
            render_snapshot("harness/src/snapshot.rs", EXPRESSION, BODY)
        );
        let store = SnapshotStore::new(dir.path());
        assert_eq!(store.check(CHILD_NAME, BODY)?, SnapshotStatus::Matches);
        assert!(!store.bless(CHILD_NAME, BODY, "harness/src/snapshot.rs")?);
        Ok(())
    }

    /// Half of [`check_accepts_what_insta_writes`]: does nothing unless that test started this
    /// binary with the directory to write into.
    #[test]
    fn insta_writes_in_child() {
        let Some(dir) = std::env::var_os(CHILD_DIR) else {
            return;
        };
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(PathBuf::from(dir));
        settings.set_prepend_module_to_snapshot(false);
        let trace = BODY;
        settings.bind(|| insta::assert_snapshot!(CHILD_NAME, trace));
    }
}
