//! One entry point per question: install a candidate (network allowed), or find it installed
//! (reads only), whatever its [`Install`] kind.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::debian::DebianRequest;
use super::error::{InstallError, NotInstalled};
use super::layout::{candidates_dir, probe_binary, resolve_root, shown, static_binary};
use super::probe::{build_fixture, build_probe, crate_manifest, probe_version};
use super::pypi::PypiRequest;
use super::{debian, host, pypi};
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
        Install::Debian {
            package,
            binary,
            extra_packages,
        } => {
            check_name(&candidate.name)?;
            let request = DebianRequest {
                name: &candidate.name,
                package,
                binary,
                extra_packages,
            };
            debian::install(&root, request)
        }
        Install::Pypi { package, script } => {
            check_name(&candidate.name)?;
            pypi::install(
                &root,
                &pypi_candidate(&root, &candidate.name, package, script),
            )
        }
        Install::Host { path } => host::resolve(path),
        Install::Image { .. } => Ok(image_installed(&candidate.install)),
        Install::Probe => Ok(Installed {
            bin: build_probe(&root)?,
            version: probe_version(&root)?,
            source: source_label(&candidate.install),
        }),
        Install::Fixture { path, binary } => Ok(Installed {
            bin: build_fixture(&root, path, binary)?,
            version: crate_manifest(&root, path)?.version,
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
        Install::Debian {
            package,
            binary,
            extra_packages,
        } => {
            check_name(name).map_err(|error| NotInstalled {
                reason: format!("{name} is not installed: {}", chain(&error)),
            })?;
            let request = DebianRequest {
                name,
                package,
                binary,
                extra_packages,
            };
            debian::find(&root, request)
        }
        Install::Pypi { package, script } => {
            check_name(name).map_err(|error| NotInstalled {
                reason: format!("{name} is not installed: {}", chain(&error)),
            })?;
            pypi::find(&root, &pypi_candidate(&root, name, package, script))
        }
        Install::Host { path } => host::resolve(path).map_err(|error| NotInstalled {
            reason: format!("{name} cannot use host program {path}: {}", chain(&error)),
        }),
        Install::Image { .. } => Ok(image_installed(&candidate.install)),
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
        Install::Fixture { path, binary } => {
            let bin = static_binary(&root, binary);
            let manifest = crate_manifest(&root, path).map_err(|error| NotInstalled {
                reason: format!("{name} is not installed: {}", chain(&error)),
            })?;
            if !bin.is_file() {
                return Err(NotInstalled {
                    reason: format!("{name} is not installed: no {}", shown(&root, &bin)),
                });
            }
            Ok(Installed {
                bin,
                version: manifest.version,
                source: source_label(&candidate.install),
            })
        }
    }
}

/// A PyPI candidate's venv request: `target/candidates/NAME/venv`.
fn pypi_candidate<'a>(
    root: &Path,
    name: &'a str,
    package: &'a str,
    script: &'a str,
) -> PypiRequest<'a> {
    PypiRequest {
        home: candidates_dir(root),
        name,
        package,
        script,
        remedy: "run `cargo xtask candidates`",
    }
}

/// Where a candidate's binary comes from, before it is installed: `debian:tini`,
/// `debian:s6 with libskarnet2.13`, `pypi:docker-systemctl-replacement`, `host:/bin/sh`,
/// `probe:fixtures/probe`. (Once installed, [`Installed::source`] adds versions.)
pub fn source_label(install: &Install) -> String {
    match install {
        Install::Debian {
            package,
            extra_packages,
            ..
        } if extra_packages.is_empty() => format!("debian:{package}"),
        Install::Debian {
            package,
            extra_packages,
            ..
        } => format!("debian:{package} with {}", extra_packages.join(", ")),
        Install::Pypi { package, .. } => format!("pypi:{package}"),
        Install::Host { path } => format!("host:{path}"),
        Install::Probe => "probe:fixtures/probe".to_owned(),
        Install::Fixture { path, binary } => format!("fixture:{path} ({binary})"),
        Install::Image { source, .. } => source.clone(),
    }
}

/// An image is installed by being unpacked: its root is the "binary".
fn image_installed(install: &Install) -> Installed {
    let (bin, version) = match install {
        Install::Image { rootfs, source, .. } => (
            rootfs.clone(),
            source
                .rsplit_once('@')
                .map_or("image", |(_, d)| d)
                .to_owned(),
        ),
        _ => (std::path::PathBuf::new(), String::new()),
    };
    Installed {
        bin,
        version,
        source: source_label(install),
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
        // Which candidates exist is the matrix test's business (it names each one).
        assert!(!names.is_empty(), "no candidate files in {}", dir.display());
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
        assert_eq!(
            source_label(&fixture("s6-svscan")?.install),
            "debian:s6 with libskarnet2.13, libs6-2.11"
        );
        assert_eq!(
            source_label(&fixture("systemctl-replacement")?.install),
            "pypi:docker-systemctl-replacement"
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

    /// Really installs docker-systemctl-replacement from PyPI into its own venv under
    /// target/ (network to PyPI on the first run), and runs the script, which prints the
    /// version the record holds. Fails, never skips, without python3-venv or network.
    #[test]
    fn systemctl_replacement_installs_from_pypi_into_its_own_venv() -> TestResult {
        let root = std::fs::canonicalize(workspace_root())?;
        let candidate = fixture("systemctl-replacement")?;
        let installed = install_candidate(&root, &candidate).map_err(explain)?;
        let found = find_installed(&root, &candidate).map_err(|missing| missing.reason)?;
        assert_eq!(found, installed);
        assert_eq!(installed.source, "pypi:docker-systemctl-replacement");
        assert_eq!(
            installed.bin,
            root.join("target/candidates/systemctl-replacement/venv/bin/systemctl.py")
        );
        let output = Command::new(&installed.bin).arg("--version").output()?;
        assert!(output.status.success(), "{output:?}");
        let printed = String::from_utf8(output.stdout)?;
        assert!(
            printed.contains(&format!("via systemctl.py {}", installed.version)),
            "{printed}"
        );
        Ok(())
    }

    /// Really downloads s6 and the two libraries it links, unpacks all three into one tree
    /// and runs s6-svscan from it with the loader pointed at that tree (network to Debian's
    /// registry on the first run).
    #[test]
    fn s6_installs_with_its_extra_packages_in_one_tree() -> TestResult {
        let root = std::fs::canonicalize(workspace_root())?;
        let candidate = fixture("s6-svscan")?;
        let installed = install_candidate(&root, &candidate).map_err(explain)?;
        assert!(
            installed
                .source
                .starts_with("debian:s6 with libskarnet2.13 "),
            "{}",
            installed.source
        );
        let tree = root
            .join("target/candidates/s6-svscan")
            .join(&installed.version);
        assert!(tree.join("usr/bin/s6-supervise").is_file());
        // s6-svscan without a scan directory it can use fails after loading its libraries:
        // a loader failure would exit 127 and name the missing library instead.
        let output = Command::new(&installed.bin)
            .arg("/nonexistent-scandir")
            .env("LD_LIBRARY_PATH", tree.join("usr/lib/x86_64-linux-gnu"))
            .output()?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_ne!(output.status.code(), Some(127), "{stderr}");
        assert!(stderr.contains("s6-svscan"), "{stderr}");
        Ok(())
    }

    /// What identifies a file's version on the machine: where it points (for a symlink),
    /// its inode, size and modification time; `None` when it does not exist.
    fn identity(path: &str) -> Option<(Option<PathBuf>, u64, u64, i64, i64)> {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::symlink_metadata(path).ok()?;
        let points_to = std::fs::read_link(path).ok();
        Some((
            points_to,
            metadata.ino(),
            metadata.len(),
            metadata.mtime(),
            metadata.mtime_nsec(),
        ))
    }

    /// sysvinit-core's /sbin/init would replace the machine's init if the package were
    /// installed: the install unpacks it under the root's target/ only, and the machine's
    /// /sbin/init stays as it was (network to Debian's registry). (dpkg's database is not
    /// watched: other programs on the machine may change it meanwhile.)
    #[test]
    fn installing_an_init_package_leaves_the_machines_init_and_dpkg_alone() -> TestResult {
        let root = tempfile::tempdir()?;
        let watched = ["/sbin/init"];
        let before: Vec<_> = watched.iter().map(|path| identity(path)).collect();
        let installed = install_candidate(root.path(), &fixture("sysvinit")?).map_err(explain)?;
        let after: Vec<_> = watched.iter().map(|path| identity(path)).collect();
        assert_eq!(before, after, "{watched:?} changed");
        let candidates = std::fs::canonicalize(root.path())?.join("target/candidates");
        assert!(
            installed.bin.starts_with(&candidates) && installed.bin.ends_with("sbin/init"),
            "{}",
            installed.bin.display()
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
            extra_packages: Vec::new(),
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
            extra_packages: Vec::new(),
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
