//! `cargo xtask candidates`: install every candidate (or the named ones) under
//! `target/candidates/`, one line each, or list them with `--list` without touching the network.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use clap::Args;
use harness::install::{Installed, find_installed, install_candidate, source_label};
use harness::spec::{Candidate, load_candidates, select};

/// Flags of `cargo xtask candidates`.
#[derive(Debug, Args)]
pub struct CandidatesArgs {
    /// Print each candidate's version, source and whether it is installed; installs nothing
    /// and touches no network.
    #[arg(long)]
    pub list: bool,
    /// Candidates by name (file stems in fixtures/candidates). Default: every candidate.
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
}

/// Installs (or with `--list`, lists) the candidates of `<root>/fixtures/candidates`, printing
/// one line per candidate; keeps going past a failure and returns an error naming every
/// candidate that failed.
pub fn run(root: &Path, args: &CandidatesArgs) -> anyhow::Result<()> {
    run_to(root, args, &mut std::io::stdout().lock())
}

/// [`run`], printing to `out`.
fn run_to(root: &Path, args: &CandidatesArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let dir = root.join("fixtures").join("candidates");
    let loaded = load_candidates(&dir);
    let mut failed: Vec<String> = Vec::new();
    for error in &loaded.errors {
        writeln!(out, "failed: {}", harness::error_chain(error))?;
        failed.push(error.to_string());
    }
    let chosen = select(&loaded.items, &args.names)?;
    let width = Width::of(&chosen);
    for candidate in chosen {
        if args.list {
            match find_installed(root, candidate) {
                Ok(installed) => row(out, width, candidate, &installed, "installed")?,
                Err(_) => writeln!(
                    out,
                    "{:name$}  {:version$}  {}  not installed",
                    candidate.name,
                    "-",
                    source_label(&candidate.install),
                    name = width.name,
                    version = width.version,
                )?,
            }
            continue;
        }
        match install_candidate(root, candidate) {
            Ok(installed) => row(out, width, candidate, &installed, "installed")?,
            Err(error) => {
                let reason = format!("{:#}", anyhow::Error::new(error));
                writeln!(
                    out,
                    "{:name$}  failed: {reason}",
                    candidate.name,
                    name = width.name
                )?;
                failed.push(candidate.name.clone());
            }
        }
        out.flush().context("writing to stdout")?;
    }
    if !failed.is_empty() {
        bail!("{} failed: {}", plural(failed.len()), failed.join(", "));
    }
    Ok(())
}

/// One line: `tini  0.19.0-1+b3  debian:tini  installed`.
fn row(
    out: &mut impl Write,
    width: Width,
    candidate: &Candidate,
    installed: &Installed,
    status: &str,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{:name$}  {:version$}  {}  {status}",
        candidate.name,
        installed.version,
        installed.source,
        name = width.name,
        version = width.version,
    )
}

/// Column widths, fixed before the first line so lines can print as installs finish.
#[derive(Debug, Clone, Copy)]
struct Width {
    /// The longest candidate name.
    name: usize,
    /// Wide enough for common Debian versions (`0.19.0-1+b3`); longer ones push the line.
    version: usize,
}

impl Width {
    fn of(candidates: &[&Candidate]) -> Self {
        let name = candidates.iter().map(|c| c.name.len()).max().unwrap_or(0);
        Width { name, version: 12 }
    }
}

/// "1 candidate", "3 candidates".
fn plural(count: usize) -> String {
    if count == 1 {
        "1 candidate".to_owned()
    } else {
        format!("{count} candidates")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// A root holding a copy of the real candidate files and an empty target/.
    fn scratch_root() -> Result<tempfile::TempDir, Box<dyn std::error::Error>> {
        let real = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("fixtures")
            .join("candidates");
        let root = tempfile::tempdir()?;
        let copy = root.path().join("fixtures").join("candidates");
        std::fs::create_dir_all(&copy)?;
        for entry in std::fs::read_dir(real)? {
            let entry = entry?;
            // The candidate files only; a candidate's image files (systemd's units) sit in
            // directories beside them and are not read here.
            if entry.file_type()?.is_file() {
                std::fs::copy(entry.path(), copy.join(entry.file_name()))?;
            }
        }
        Ok(root)
    }

    #[test]
    fn list_reports_without_installing() -> TestResult {
        let root = scratch_root()?;
        let args = CandidatesArgs {
            list: true,
            names: vec!["tini".into(), "bare".into(), "sh-script".into()],
        };
        let mut out = Vec::new();
        run_to(root.path(), &args, &mut out)?;
        let text = String::from_utf8(out)?;
        let lines: Vec<&str> = text.lines().collect();
        // In file-name order, whatever order they were named in.
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(
            lines[0],
            "bare       -             probe:fixtures/probe  not installed"
        );
        assert!(
            lines[1].starts_with("sh-script  ") && lines[1].ends_with("  installed"),
            "{text}"
        );
        assert!(lines[1].contains("host:/bin/sh ("), "{text}");
        assert_eq!(
            lines[2],
            "tini       -             debian:tini  not installed"
        );
        // Listing wrote nothing.
        assert!(!root.path().join("target").exists());
        Ok(())
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones() -> TestResult {
        let root = scratch_root()?;
        let args = CandidatesArgs {
            list: true,
            names: vec!["tiny".into()],
        };
        let Err(error) = run_to(root.path(), &args, &mut Vec::new()) else {
            panic!("`tiny` is not a candidate");
        };
        let text = format!("{error:#}");
        assert!(text.contains("tiny") && text.contains("tini-g"), "{text}");
        Ok(())
    }

    #[test]
    fn a_failed_install_is_one_line_and_the_rest_go_on() -> TestResult {
        let root = scratch_root()?;
        let candidates = root.path().join("fixtures").join("candidates");
        std::fs::write(
            candidates.join("gone.toml"),
            "title = \"a host program that does not exist\"\nkind = \"app\"\n\
             argv = [\"{bin}\", \"{workload}\"]\n\n[install]\nkind = \"host\"\n\
             path = \"/nonexistent/pid1check-init\"\n",
        )?;
        let args = CandidatesArgs {
            list: false,
            names: vec!["gone".into(), "sh-script".into()],
        };
        let mut out = Vec::new();
        let Err(error) = run_to(root.path(), &args, &mut out) else {
            panic!("installing a missing host program should fail");
        };
        assert_eq!(error.to_string(), "1 candidate failed: gone");
        let text = String::from_utf8(out)?;
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "gone       failed: resolving host path /nonexistent/pid1check-init: \
             No such file or directory (os error 2)"
        );
        assert!(lines[1].starts_with("sh-script  ") && lines[1].ends_with("  installed"));
        Ok(())
    }
}
