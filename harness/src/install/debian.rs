//! Debian candidates: `apt-get download` into `target/candidates/.debs/`, `dpkg -x` into
//! `target/candidates/NAME/VERSION/`, and an `installed.json` beside the unpacked tree. The
//! machine's own packages are never touched: no `apt-get install`, no `dpkg -i`.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use super::Installed;
use super::command::{describe, run_captured};
use super::error::{CommandError, InstallError, NotInstalled};
use super::layout::{candidates_dir, create_dir, debs_dir, lock_exclusive, remove_tree, shown};
use super::record::{ExtraPackage, InstallRecord, RECORD_FILE};
use super::version::compare_debian_versions;

/// Whether this process already ran `apt-get update`: it runs at most once. Held for the whole
/// update, so a fetch that failed while another thread was refreshing the lists (apt reads a
/// half-replaced list as "Can't find a source to download version") waits for that refresh to
/// end and retries against the new lists, instead of failing because the refresh was "done".
static LISTS_REFRESHED: Mutex<bool> = Mutex::new(false);

/// What a Debian candidate asks for: its package, the binary in it, and the further packages
/// unpacked into the same tree.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DebianRequest<'a> {
    /// The candidate's name (its directory under `target/candidates/`).
    pub(crate) name: &'a str,
    /// The package holding the binary.
    pub(crate) package: &'a str,
    /// The binary's path inside the package.
    pub(crate) binary: &'a str,
    /// Further packages unpacked beside it.
    pub(crate) extra_packages: &'a [String],
}

/// The installed candidate `request.name`, read from its `installed.json`; the highest version
/// wins if several are there. Reads only.
pub(crate) fn find(root: &Path, request: DebianRequest<'_>) -> Result<Installed, NotInstalled> {
    let DebianRequest {
        name,
        package,
        binary,
        extra_packages,
    } = request;
    let dir = candidates_dir(root).join(name);
    let not_installed = |detail: String| NotInstalled {
        reason: format!("{name} is not installed: run `cargo xtask candidates` ({detail})"),
    };
    let no_record = || format!("no {}", shown(root, &dir.join("*").join(RECORD_FILE)));
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Err(not_installed(no_record()));
    };
    let mut best: Option<(InstallRecord, PathBuf)> = None;
    let mut problem = None;
    for entry in entries.flatten() {
        // Dot names are unfinished unpacks (`.VERSION.partial`).
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let version_dir = entry.path();
        let record_path = shown(root, &version_dir.join(RECORD_FILE));
        let record = match InstallRecord::read(&version_dir) {
            Ok(record) => record,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => {
                problem.get_or_insert(format!("{record_path} is unreadable: {error}"));
                continue;
            }
        };
        if (
            record.name.as_str(),
            record.package.as_str(),
            record.binary.as_str(),
        ) != (name, package, binary)
        {
            problem.get_or_insert(format!(
                "{record_path} records candidate `{}`, package `{}`, binary `{}`; the candidate \
                 file asks for package `{package}`, binary `{binary}`",
                record.name, record.package, record.binary
            ));
            continue;
        }
        let recorded: Vec<&str> = record
            .extra_packages
            .iter()
            .map(|extra| extra.package.as_str())
            .collect();
        if recorded != extra_packages {
            problem.get_or_insert(format!(
                "{record_path} records extra packages {recorded:?}; the candidate file asks for \
                 {extra_packages:?}"
            ));
            continue;
        }
        let bin = version_dir.join(binary);
        if !bin.is_file() {
            problem.get_or_insert(format!("{} is missing", shown(root, &bin)));
            continue;
        }
        let newer = best.as_ref().is_none_or(|(kept, _)| {
            compare_debian_versions(&record.version, &kept.version).is_gt()
        });
        if newer {
            best = Some((record, bin));
        }
    }
    match best {
        Some((record, bin)) => Ok(Installed {
            bin,
            version: record.version,
            source: record.source,
        }),
        None => Err(not_installed(problem.unwrap_or_else(no_record))),
    }
}

/// Installs candidate `request.name` from its Debian package (and extra packages, unpacked
/// into the same tree) unless [`find`] already finds it; holds `target/candidates/.lock`
/// throughout, so concurrent installs wait for each other.
pub(crate) fn install(root: &Path, request: DebianRequest<'_>) -> Result<Installed, InstallError> {
    let (name, package, binary) = (request.name, request.package, request.binary);
    let candidates = candidates_dir(root);
    create_dir(&candidates)?;
    let _lock = lock_exclusive(&candidates.join(".lock"))?;
    // Checked under the lock: another process may have installed it while we waited.
    if let Ok(installed) = find(root, request) {
        return Ok(installed);
    }
    let deb = fetch(root, package)?;
    let version = deb_version(&deb)?;

    let name_dir = candidates.join(name);
    create_dir(&name_dir)?;
    let partial = name_dir.join(format!(".{version}.partial"));
    remove_tree(&partial)?;
    unpack(&deb, &partial)?;
    check_binary(&partial, package, &version, binary, &deb)?;
    let mut extras = Vec::new();
    for extra in request.extra_packages {
        let extra_deb = fetch(root, extra)?;
        extras.push(ExtraPackage {
            package: extra.clone(),
            version: deb_version(&extra_deb)?,
        });
        unpack(&extra_deb, &partial)?;
    }
    let record = InstallRecord {
        name: name.to_owned(),
        package: package.to_owned(),
        version: version.clone(),
        binary: binary.to_owned(),
        source: debian_source(package, &extras),
        extra_packages: extras,
    };
    record
        .write(&partial)
        .map_err(|source| InstallError::Record {
            path: partial.join(RECORD_FILE),
            source,
        })?;
    let final_dir = name_dir.join(&version);
    // Anything already there is a tree `find` rejected (a different binary, a broken record).
    remove_tree(&final_dir)?;
    std::fs::rename(&partial, &final_dir).map_err(|source| InstallError::Record {
        path: final_dir.clone(),
        source,
    })?;
    Ok(Installed {
        bin: final_dir.join(binary),
        version,
        source: record.source,
    })
}

/// `dpkg -x DEB DIR`: unpacks a package's files (no maintainer scripts run, nothing is
/// registered with dpkg).
fn unpack(deb: &Path, dir: &Path) -> Result<(), InstallError> {
    run_captured(Command::new("dpkg").arg("-x").arg(deb).arg(dir))
        .map(drop)
        .map_err(|source| InstallError::Extract {
            deb: deb.to_owned(),
            dir: dir.to_owned(),
            source,
        })
}

/// `debian:PKG`, then `with EXTRA VERSION, ...` when further packages were unpacked beside it.
fn debian_source(package: &str, extras: &[ExtraPackage]) -> String {
    if extras.is_empty() {
        return format!("debian:{package}");
    }
    let extras: Vec<String> = extras
        .iter()
        .map(|extra| format!("{} {}", extra.package, extra.version))
        .collect();
    format!("debian:{package} with {}", extras.join(", "))
}

/// The `.deb` of `package` in `target/candidates/.debs/`, downloaded unless a file of the
/// size apt expects is already there. If apt cannot locate or fetch the package (empty or
/// stale package lists on a fresh machine), runs `apt-get update` once and retries once.
fn fetch(root: &Path, package: &str) -> Result<PathBuf, InstallError> {
    match fetch_once(root, package) {
        Err(error) if lists_may_be_stale(&error) => {
            refresh_lists_once(package)?;
            fetch_once(root, package)
        }
        result => result,
    }
}

/// Runs `apt-get update` unless this process already did; returns once the lists are fresh.
fn refresh_lists_once(package: &str) -> Result<(), InstallError> {
    // A poisoned lock only means another thread panicked while holding it; the flag is still
    // meaningful (it is set after a successful update only).
    let mut refreshed = LISTS_REFRESHED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !*refreshed {
        eprintln!("apt could not find or fetch `{package}`: running `apt-get update` once");
        run_captured(apt(None).arg("update"))
            .map_err(|source| InstallError::AptUpdate { source })?;
        *refreshed = true;
    }
    Ok(())
}

/// One attempt of [`fetch`].
fn fetch_once(root: &Path, package: &str) -> Result<PathBuf, InstallError> {
    let debs = debs_dir(root);
    // `--print-uris` leaves out files already present in its directory, so ask in an empty one.
    let query = debs.join(".query");
    create_dir(&query)?;
    let mut locate = apt(Some(&query));
    locate.args(["download", "--print-uris", package]);
    let listing = run_captured(&mut locate).map_err(|source| InstallError::AptLocate {
        package: package.to_owned(),
        source,
    })?;
    let Some((file, size)) = parse_print_uris(&listing, package) else {
        return Err(InstallError::AptLocate {
            package: package.to_owned(),
            source: CommandError::Unexpected {
                command: describe(&locate),
                problem: format!("printed no `'URI' {package}_VERSION_ARCH.deb SIZE HASH` line"),
            },
        });
    };
    let deb = debs.join(&file);
    if file_size(&deb) == Some(size) {
        return Ok(deb);
    }
    let mut download = apt(Some(&debs));
    download.args(["download", package]);
    // As root, apt warns that its `_apt` sandbox user cannot write here and downloads
    // unsandboxed: a warning on stderr with exit status 0, so only the status counts.
    run_captured(&mut download).map_err(|source| InstallError::AptDownload {
        package: package.to_owned(),
        source,
    })?;
    if file_size(&deb) != Some(size) {
        return Err(InstallError::AptDownload {
            package: package.to_owned(),
            source: CommandError::Unexpected {
                command: describe(&download),
                problem: format!("left no {file} of {size} bytes"),
            },
        });
    }
    Ok(deb)
}

/// `apt-get` with messages in English (they are matched) and, if given, run in `dir`.
fn apt(dir: Option<&Path>) -> Command {
    let mut command = Command::new("apt-get");
    command.env("LC_ALL", "C");
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    command
}

/// Whether apt's complaint means its package lists are missing or out of date.
fn lists_may_be_stale(error: &InstallError) -> bool {
    let (InstallError::AptLocate { source, .. } | InstallError::AptDownload { source, .. }) = error
    else {
        return false;
    };
    source.stderr_tail().iter().any(|line| {
        [
            "Unable to locate package",
            "has no installation candidate",
            "Can't select candidate version",
            // The lists name a version no source offers: read while being replaced, or stale.
            "Can't find a source to download version",
            "404",
        ]
        .iter()
        .any(|sign| line.contains(sign))
    })
}

/// The file name and size from `apt-get download --print-uris PKG`, whose lines read
/// `'URI' PKG_VERSION_ARCH.deb SIZE SHA256:HASH`.
fn parse_print_uris(listing: &str, package: &str) -> Option<(String, u64)> {
    listing.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        let uri = words.next()?;
        let file = words.next()?;
        let size = words.next()?.parse().ok()?;
        let expected = uri.starts_with('\'')
            && file.starts_with(&format!("{package}_"))
            && file.ends_with(".deb")
            && !file.contains('/');
        expected.then(|| (file.to_owned(), size))
    })
}

/// The package version a `.deb` declares.
fn deb_version(deb: &Path) -> Result<String, InstallError> {
    let mut command = Command::new("dpkg-deb");
    command.arg("-f").arg(deb).arg("Version");
    let error = |source| InstallError::DebVersion {
        deb: deb.to_owned(),
        source,
    };
    let version = run_captured(&mut command).map_err(error)?.trim().to_owned();
    // The version names a directory: refuse anything that could escape it.
    if version.is_empty() || version.contains('/') || version.starts_with('.') {
        return Err(error(CommandError::Unexpected {
            command: describe(&command),
            problem: format!("printed {version:?}, not a Debian version"),
        }));
    }
    Ok(version)
}

/// The candidate's binary must be a regular file of the unpacked package: a symlink could
/// point out of the tree (to the host's own file), which would test the wrong binary.
fn check_binary(
    tree: &Path,
    package: &str,
    version: &str,
    binary: &str,
    deb: &Path,
) -> Result<(), InstallError> {
    let path = tree.join(binary);
    match std::fs::symlink_metadata(&path) {
        Ok(metadata) if metadata.file_type().is_file() => Ok(()),
        Ok(metadata) if metadata.file_type().is_symlink() => Err(InstallError::BinaryIsSymlink {
            package: package.to_owned(),
            version: version.to_owned(),
            binary: binary.to_owned(),
            target: std::fs::read_link(&path).unwrap_or_default(),
        }),
        _ => Err(InstallError::BinaryMissing {
            package: package.to_owned(),
            version: version.to_owned(),
            binary: binary.to_owned(),
            deb: deb.to_owned(),
        }),
    }
}

/// Size of a file, `None` when it does not exist.
fn file_size(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|metadata| metadata.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_uris_gives_file_and_size() {
        let listing = "'http://deb.debian.org/debian/pool/main/t/tini/tini_0.19.0-1%2bb3_amd64.deb' \
                       tini_0.19.0-1+b3_amd64.deb 267204 SHA256:0123abcd\n";
        assert_eq!(
            parse_print_uris(listing, "tini"),
            Some(("tini_0.19.0-1+b3_amd64.deb".to_owned(), 267_204))
        );
        // Another package's line (a `tini-static` for `tini`) or no line at all is no answer.
        let other = "'http://x/tini-static_1_amd64.deb' tini-static_1_amd64.deb 10 SHA256:00\n";
        assert_eq!(parse_print_uris(other, "tini"), None);
        assert_eq!(parse_print_uris("", "tini"), None);
    }

    #[test]
    fn unable_to_locate_means_stale_lists() {
        let failed = |line: &str| InstallError::AptLocate {
            package: "tini".into(),
            source: CommandError::Failed {
                command: "apt-get download --print-uris tini".into(),
                status: std::os::unix::process::ExitStatusExt::from_raw(100 << 8),
                stderr_tail: vec![line.to_owned()],
            },
        };
        assert!(lists_may_be_stale(&failed(
            "E: Unable to locate package tini"
        )));
        assert!(lists_may_be_stale(&failed(
            "E: Failed to fetch http://x/t.deb  404  Not Found"
        )));
        // What the CI run of 2026-12-03 hit: a query read the lists while another test's
        // `apt-get update` was replacing them.
        assert!(lists_may_be_stale(&failed(
            "E: Can't find a source to download version '3.06-4' of 'sysvinit-core:amd64'"
        )));
        assert!(!lists_may_be_stale(&failed("E: Could not open lock file")));
    }

    #[test]
    fn not_installed_names_the_missing_record() -> io::Result<()> {
        let root = tempfile::tempdir()?;
        let Err(missing) = find(root.path(), request("tini", "usr/bin/tini")) else {
            panic!("an empty root has nothing installed");
        };
        assert_eq!(
            missing.reason,
            "tini is not installed: run `cargo xtask candidates` \
             (no target/candidates/tini/*/installed.json)"
        );
        Ok(())
    }

    /// Lays out `target/candidates/NAME/VERSION/` as an install would, without dpkg.
    fn fake_install(root: &Path, record: &InstallRecord) -> io::Result<PathBuf> {
        let dir = candidates_dir(root)
            .join(&record.name)
            .join(&record.version);
        let bin = dir.join(&record.binary);
        std::fs::create_dir_all(bin.parent().unwrap_or(&dir))?;
        std::fs::write(&bin, "#!/bin/sh\n")?;
        record.write(&dir)?;
        Ok(bin)
    }

    fn record(version: &str) -> InstallRecord {
        InstallRecord {
            name: "tini-g".into(),
            package: "tini".into(),
            version: version.into(),
            binary: "usr/bin/tini".into(),
            source: "debian:tini".into(),
            extra_packages: Vec::new(),
        }
    }

    /// A request for package `tini` without extra packages.
    fn request<'a>(name: &'a str, binary: &'a str) -> DebianRequest<'a> {
        DebianRequest {
            name,
            package: "tini",
            binary,
            extra_packages: &[],
        }
    }

    #[test]
    fn find_reads_the_record_and_prefers_the_highest_version() -> io::Result<()> {
        let root = tempfile::tempdir()?;
        fake_install(root.path(), &record("0.19.0-1+b3"))?;
        let newest = fake_install(root.path(), &record("0.19.0-10"))?;
        fake_install(root.path(), &record("0.19.0-2"))?;
        let installed = find(root.path(), request("tini-g", "usr/bin/tini"))
            .map_err(|missing| io::Error::other(missing.reason))?;
        assert_eq!(
            installed,
            Installed {
                bin: newest,
                version: "0.19.0-10".into(),
                source: "debian:tini".into(),
            }
        );
        Ok(())
    }

    #[test]
    fn find_rejects_a_record_for_another_binary_and_says_so() -> io::Result<()> {
        let root = tempfile::tempdir()?;
        fake_install(root.path(), &record("0.19.0-1+b3"))?;
        let Err(stale) = find(root.path(), request("tini-g", "usr/bin/tini-static")) else {
            panic!("a record for usr/bin/tini does not install usr/bin/tini-static");
        };
        assert_eq!(
            stale.reason,
            "tini-g is not installed: run `cargo xtask candidates` \
             (target/candidates/tini-g/0.19.0-1+b3/installed.json records candidate `tini-g`, \
             package `tini`, binary `usr/bin/tini`; the candidate file asks for package `tini`, \
             binary `usr/bin/tini-static`)"
        );
        Ok(())
    }

    #[test]
    fn find_ignores_an_unfinished_unpack() -> io::Result<()> {
        let root = tempfile::tempdir()?;
        let partial = candidates_dir(root.path())
            .join("tini")
            .join(".0.19.0-1+b3.partial");
        std::fs::create_dir_all(partial.join("usr/bin"))?;
        std::fs::write(partial.join("usr/bin/tini"), "")?;
        assert!(find(root.path(), request("tini", "usr/bin/tini")).is_err());
        Ok(())
    }

    #[test]
    fn find_rejects_a_record_without_the_extra_packages_asked_for() -> io::Result<()> {
        let root = tempfile::tempdir()?;
        fake_install(root.path(), &record("0.19.0-1+b3"))?;
        let extras = ["libfoo1".to_owned()];
        let asked = DebianRequest {
            extra_packages: &extras,
            ..request("tini-g", "usr/bin/tini")
        };
        let Err(stale) = find(root.path(), asked) else {
            panic!("a record without libfoo1 does not install it");
        };
        assert!(
            stale.reason.ends_with(
                "installed.json records extra packages []; the candidate file asks for \
                 [\"libfoo1\"])"
            ),
            "{}",
            stale.reason
        );
        Ok(())
    }

    #[test]
    fn the_source_names_extra_packages_and_their_versions() {
        assert_eq!(debian_source("tini", &[]), "debian:tini");
        let extras = [
            ExtraPackage {
                package: "libskarnet2.13".into(),
                version: "2.13.1.1-1".into(),
            },
            ExtraPackage {
                package: "libs6-2.11".into(),
                version: "2.11.3.2-1".into(),
            },
        ];
        assert_eq!(
            debian_source("s6", &extras),
            "debian:s6 with libskarnet2.13 2.13.1.1-1, libs6-2.11 2.11.3.2-1"
        );
    }
}
