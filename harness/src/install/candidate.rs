//! One entry point per question: install a candidate (network allowed), or find it installed
//! (reads only), whatever its [`Install`] kind.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::{InstallError, NotInstalled};
use super::layout::{probe_binary, resolve_root, shown};
use super::probe::{build_probe, probe_version};
use super::{debian, host};
use crate::spec::{Candidate, Install};

/// A candidate ready to run: its binary on this machine, with the version and provenance a
/// report prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Installed {
    /// Absolute host path of the binary (`{bin}` in the candidate's argv).
    pub bin: PathBuf,
    /// The package's version (`0.19.0-1+b3`), or the probe crate's for the probe.
    pub version: String,
    /// Where the binary came from: `debian:tini`, `host:/bin/sh (dash 0.5.12-2)`,
    /// `probe:fixtures/probe`.
    pub source: String,
}

/// Installs `candidate` under `<root>/target/` unless it is already there (then touches no
/// network): a Debian package is downloaded and unpacked, a host path resolved to its owning
/// package, the probe built.
pub fn install_candidate(root: &Path, candidate: &Candidate) -> Result<Installed, InstallError> {
    let root = resolve_root(root)?;
    match &candidate.install {
        Install::Debian { package, binary } => {
            check_name(&candidate.name)?;
            debian::install(&root, &candidate.name, package, binary)
        }
        Install::Host { path } => host::resolve(path),
        Install::Probe => Ok(Installed {
            bin: build_probe(&root)?,
            version: probe_version(&root)?,
            source: source_label(&candidate.install),
        }),
    }
}

/// `candidate` as [`install_candidate`] left it, without changing anything: no download, no
/// build (the probe may be older than its source), no file written.
pub fn find_installed(root: &Path, candidate: &Candidate) -> Result<Installed, NotInstalled> {
    let name = &candidate.name;
    let root = resolve_root(root).map_err(|error| NotInstalled {
        reason: format!("{name} is not installed: {}", chain(&error)),
    })?;
    match &candidate.install {
        Install::Debian { package, binary } => {
            check_name(name).map_err(|error| NotInstalled {
                reason: format!("{name} is not installed: {}", chain(&error)),
            })?;
            debian::find(&root, name, package, binary)
        }
        Install::Host { path } => host::resolve(path).map_err(|error| NotInstalled {
            reason: format!("{name} cannot use host program {path}: {}", chain(&error)),
        }),
        Install::Probe => {
            let bin = probe_binary(&root);
            if !bin.is_file() {
                return Err(NotInstalled {
                    reason: format!(
                        "{name} is not installed: run `cargo xtask candidates` (no {})",
                        shown(&root, &bin)
                    ),
                });
            }
            let version = probe_version(&root).map_err(|error| NotInstalled {
                reason: format!("{name} is not installed: {}", chain(&error)),
            })?;
            Ok(Installed {
                bin,
                version,
                source: source_label(&candidate.install),
            })
        }
    }
}

/// Where a candidate's binary comes from, before it is installed: `debian:tini`,
/// `host:/bin/sh`, `probe:fixtures/probe`. (An installed host candidate's
/// [`Installed::source`] adds its package and version.)
pub fn source_label(install: &Install) -> String {
    match install {
        Install::Debian { package, .. } => format!("debian:{package}"),
        Install::Host { path } => format!("host:{path}"),
        Install::Probe => "probe:fixtures/probe".to_owned(),
    }
}

/// A Debian candidate's name becomes a directory: it must be one plain path component.
fn check_name(name: &str) -> Result<(), InstallError> {
    let plain = !name.is_empty() && !name.starts_with('.') && !name.contains('/');
    if plain {
        Ok(())
    } else {
        Err(InstallError::InvalidName {
            name: name.to_owned(),
        })
    }
}

/// An error and its sources, `: `-separated, for a one-line reason.
pub(crate) use crate::error_chain as chain;

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::time::Instant;

    use super::*;
    use crate::install::version::upstream_version;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// The workspace this crate belongs to.
    fn workspace_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    /// `fixtures/candidates/NAME.toml`, with the name and directory a loader would set.
    fn fixture(name: &str) -> Result<Candidate, Box<dyn std::error::Error>> {
        let dir = workspace_root().join("fixtures").join("candidates");
        let path = dir.join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&path)
            .map_err(|error| format!("reading {}: {error}", path.display()))?;
        let mut candidate: Candidate =
            toml::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))?;
        candidate.name = name.to_owned();
        candidate.dir = dir;
        Ok(candidate)
    }

    /// An error with its chain, so a failed test says which step failed and why.
    fn explain(error: InstallError) -> String {
        chain(&error)
    }

    #[test]
    fn every_candidate_fixture_parses_and_starts_the_workload() -> TestResult {
        let dir = workspace_root().join("fixtures").join("candidates");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path
                .extension()
                .is_some_and(|extension| extension == "toml")
            {
                let stem = path
                    .file_stem()
                    .map(|stem| stem.to_string_lossy().into_owned());
                names.push(stem.ok_or("a candidate file without a stem")?);
            }
        }
        names.sort();
        for expected in [
            "bare",
            "dumb-init",
            "dumb-init-c",
            "sh-script",
            "tini",
            "tini-g",
        ] {
            assert!(
                names.iter().any(|name| name == expected),
                "no {expected}.toml in {names:?}"
            );
        }
        for name in &names {
            let candidate = fixture(name)?;
            // A system manager starts it from a unit among its files, by the probe's path.
            let from_files = candidate.files.iter().any(|file| {
                let units = dir.join(&file.source);
                std::fs::read_dir(&units)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .any(|unit| {
                        std::fs::read_to_string(unit.path())
                            .is_ok_and(|text| text.contains("ExecStart=/.pid1check/probe"))
                    })
            });
            assert!(
                from_files
                    || candidate
                        .argv
                        .iter()
                        .any(|word| word.contains("{workload}")),
                "{name}: argv {:?} never starts the workload, nor do its files",
                candidate.argv
            );
            assert!(
                !candidate.title.contains('\n'),
                "{name}: the title is one line"
            );
            for word in &candidate.argv {
                if let Some(rest) = word.strip_prefix("{dir}/") {
                    assert!(dir.join(rest).is_file(), "{name}: {word} is not a file");
                }
            }
        }
        Ok(())
    }

    #[test]
    fn source_labels() -> TestResult {
        assert_eq!(source_label(&fixture("tini-g")?.install), "debian:tini");
        assert_eq!(source_label(&fixture("sh-script")?.install), "host:/bin/sh");
        assert_eq!(
            source_label(&fixture("bare")?.install),
            "probe:fixtures/probe"
        );
        Ok(())
    }

    #[test]
    fn not_installed_reasons_name_the_candidate_and_the_missing_file() -> TestResult {
        let root = tempfile::tempdir()?;
        let Err(missing) = find_installed(root.path(), &fixture("tini")?) else {
            panic!("nothing is installed in an empty root");
        };
        assert_eq!(
            missing.reason,
            "tini is not installed: run `cargo xtask candidates` \
             (no target/candidates/tini/*/installed.json)"
        );
        let Err(missing) = find_installed(root.path(), &fixture("bare")?) else {
            panic!("no probe is built in an empty root");
        };
        assert_eq!(
            missing.reason,
            "bare is not installed: run `cargo xtask candidates` \
             (no target/probe/x86_64-unknown-linux-gnu/release/probe)"
        );
        let mut nameless = fixture("tini")?;
        nameless.name = String::new();
        let Err(error) = install_candidate(root.path(), &nameless) else {
            panic!("a nameless Debian candidate has no directory to install into");
        };
        assert!(
            matches!(error, InstallError::InvalidName { .. }),
            "{error:?}"
        );
        Ok(())
    }

    #[test]
    fn a_host_candidate_is_found_without_installing() -> TestResult {
        let candidate = fixture("sh-script")?;
        let root = tempfile::tempdir()?;
        let found = find_installed(root.path(), &candidate).map_err(|missing| missing.reason)?;
        let installed = install_candidate(root.path(), &candidate).map_err(explain)?;
        assert_eq!(found, installed);
        assert!(installed.bin.is_absolute());
        // Nothing was written for it.
        assert_eq!(std::fs::read_dir(root.path())?.count(), 0);
        Ok(())
    }

    /// Really downloads and unpacks tini (network to Debian's registry), runs it, and checks
    /// that the recorded version is the package's. Fails, never skips, without apt or network.
    #[test]
    fn tini_installs_from_its_debian_package_and_runs() -> TestResult {
        let root = std::fs::canonicalize(workspace_root())?;
        let candidate = fixture("tini")?;

        let started = Instant::now();
        let installed = install_candidate(&root, &candidate).map_err(explain)?;
        eprintln!("install tini: {:?} ({installed:?})", started.elapsed());
        let started = Instant::now();
        let again = install_candidate(&root, &candidate).map_err(explain)?;
        eprintln!("install tini again: {:?}", started.elapsed());
        assert_eq!(again, installed);
        let found = find_installed(&root, &candidate).map_err(|missing| missing.reason)?;
        assert_eq!(found, installed);

        assert_eq!(installed.source, "debian:tini");
        let version_dir = root.join("target/candidates/tini").join(&installed.version);
        assert_eq!(installed.bin, version_dir.join("usr/bin/tini"));
        assert!(version_dir.join("installed.json").is_file());

        // The version is what the .deb itself declares.
        let mut declared = Vec::new();
        for entry in std::fs::read_dir(root.join("target/candidates/.debs"))? {
            let path = entry?.path();
            if path
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("tini_"))
            {
                let output = Command::new("dpkg-deb")
                    .arg("-f")
                    .arg(&path)
                    .arg("Version")
                    .output()?;
                assert!(output.status.success(), "dpkg-deb -f {}", path.display());
                declared.push(String::from_utf8(output.stdout)?.trim().to_owned());
            }
        }
        assert!(
            declared.contains(&installed.version),
            "{declared:?} vs {installed:?}"
        );

        // The binary runs from where it was unpacked and prints its upstream version.
        let output = Command::new(&installed.bin).arg("--version").output()?;
        assert!(
            output.status.success(),
            "{} --version: {output:?}",
            installed.bin.display()
        );
        let printed = String::from_utf8(output.stdout)?;
        assert_eq!(
            printed.trim(),
            format!("tini version {}", upstream_version(&installed.version)),
        );
        Ok(())
    }

    /// A binary the package does not ship fails after unpacking, saying how to list the
    /// package's files, and leaves no record behind (network to Debian's registry).
    #[test]
    fn a_binary_the_package_lacks_fails_and_records_nothing() -> TestResult {
        let root = tempfile::tempdir()?;
        let mut candidate = fixture("tini")?;
        candidate.install = Install::Debian {
            package: "tini".into(),
            binary: "usr/bin/tiny".into(),
        };
        let Err(error) = install_candidate(root.path(), &candidate) else {
            panic!("tini ships no usr/bin/tiny");
        };
        let text = chain(&error);
        assert!(
            matches!(error, InstallError::BinaryMissing { .. }),
            "{text}"
        );
        assert!(
            text.starts_with("Debian package `tini` ")
                && text.contains(" has no file `usr/bin/tiny` (list its files with `dpkg-deb -c "),
            "{text}"
        );
        assert!(find_installed(root.path(), &candidate).is_err());
        Ok(())
    }

    /// A package apt cannot locate fails at the locate step with apt's own last line, after
    /// one `apt-get update` (network to Debian's registry).
    #[test]
    fn an_unknown_package_fails_naming_apt_and_its_message() -> TestResult {
        let root = tempfile::tempdir()?;
        let mut candidate = fixture("tini")?;
        candidate.name = "no-such-init".into();
        candidate.install = Install::Debian {
            package: "pid1check-no-such-package".into(),
            binary: "usr/bin/nothing".into(),
        };
        let Err(error) = install_candidate(root.path(), &candidate) else {
            panic!("an unknown package should not install");
        };
        let text = chain(&error);
        assert!(matches!(error, InstallError::AptLocate { .. }), "{text}");
        assert!(
            text.contains("apt-get download --print-uris pid1check-no-such-package")
                && text.ends_with("E: Unable to locate package pid1check-no-such-package"),
            "{text}"
        );
        Ok(())
    }
}
