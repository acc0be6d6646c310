//! PyPI packages in a venv of their own at `HOME/NAME/venv/` (`python3 -m venv`), the package
//! installed into it by the venv's pip (no pip cache: nothing is written outside the venv), and
//! an `installed.json` inside it written last. HOME is `target/candidates` for a candidate
//! (docker-systemctl-replacement) and `target/tools` for a program the tests use (junit2html).
//! The machine's Python is never changed.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Installed;
use super::command::{describe, run_captured};
use super::error::{CommandError, InstallError, NotInstalled};
use super::layout::{create_dir, lock_exclusive, remove_tree, shown};
use super::record::{InstallRecord, RECORD_FILE};

/// What to install from PyPI and where: the console script `script` of package `package`, in
/// the venv `home/name/venv`, with installs into `home` serialised by `home/.lock`.
#[derive(Debug, Clone)]
pub(crate) struct PypiRequest<'a> {
    /// The directory of such venvs: `target/candidates` or `target/tools`.
    pub(crate) home: PathBuf,
    /// The candidate's or tool's name: its directory under `home`.
    pub(crate) name: &'a str,
    /// The PyPI package.
    pub(crate) package: &'a str,
    /// The console script the package installs into the venv's `bin/`.
    pub(crate) script: &'a str,
    /// What to do when it is missing, for [`find`]'s sentence: run `cargo xtask candidates`.
    pub(crate) remedy: &'a str,
}

impl PypiRequest<'_> {
    /// `home/name/venv` (not versioned: a venv's scripts name its python by absolute path, so
    /// it cannot be renamed into place).
    fn venv(&self) -> PathBuf {
        self.home.join(self.name).join("venv")
    }
}

/// The installed package of `request`, read from its venv's `installed.json`. Reads only.
pub(crate) fn find(root: &Path, request: &PypiRequest<'_>) -> Result<Installed, NotInstalled> {
    let PypiRequest {
        name,
        package,
        script,
        remedy,
        ..
    } = *request;
    let dir = request.venv();
    let not_installed = |detail: String| NotInstalled {
        reason: format!("{name} is not installed: {remedy} ({detail})"),
    };
    let record_path = shown(root, &dir.join(RECORD_FILE));
    let record = InstallRecord::read(&dir).map_err(|error| {
        not_installed(if error.kind() == std::io::ErrorKind::NotFound {
            format!("no {record_path}")
        } else {
            format!("{record_path} is unreadable: {error}")
        })
    })?;
    let binary = script_path(script);
    if (record.package.as_str(), record.binary.as_str()) != (package, binary.as_str()) {
        return Err(not_installed(format!(
            "{record_path} records package `{}`, script `{}`; wanted package `{package}`, \
             script `{binary}`",
            record.package, record.binary
        )));
    }
    let bin = dir.join(&binary);
    if !bin.is_file() {
        return Err(not_installed(format!("{} is missing", shown(root, &bin))));
    }
    Ok(Installed {
        bin,
        version: record.version,
        source: record.source,
    })
}

/// Installs `request` into its own venv unless [`find`] already finds it; holds `home/.lock`
/// throughout.
pub(crate) fn install(root: &Path, request: &PypiRequest<'_>) -> Result<Installed, InstallError> {
    let PypiRequest {
        name,
        package,
        script,
        ..
    } = *request;
    let home = request.home.as_path();
    create_dir(home)?;
    let _lock = lock_exclusive(&home.join(".lock"))?;
    if let Ok(installed) = find(root, request) {
        return Ok(installed);
    }
    let dir = request.venv();
    // Whatever is there has no valid record: an unfinished or different install.
    remove_tree(&dir)?;
    create_dir(dir.parent().unwrap_or(home))?;
    run_captured(Command::new("python3").args(["-m", "venv"]).arg(&dir)).map_err(|source| {
        InstallError::Venv {
            dir: dir.clone(),
            source,
        }
    })?;
    let python = dir.join("bin").join("python");
    run_captured(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--no-cache-dir",
            ])
            .arg(package),
    )
    .map_err(|source| InstallError::PipInstall {
        package: package.to_owned(),
        source,
    })?;
    let version = installed_version(&python, package)?;
    let binary = script_path(script);
    if !dir.join(&binary).is_file() {
        return Err(InstallError::ScriptMissing {
            package: package.to_owned(),
            version,
            script: script.to_owned(),
            bin_dir: dir.join("bin"),
        });
    }
    let record = InstallRecord {
        name: name.to_owned(),
        package: package.to_owned(),
        version: version.clone(),
        binary: binary.clone(),
        source: format!("pypi:{package}"),
        extra_packages: Vec::new(),
    };
    record.write(&dir).map_err(|source| InstallError::Record {
        path: dir.join(RECORD_FILE),
        source,
    })?;
    Ok(Installed {
        bin: dir.join(binary),
        version,
        source: record.source,
    })
}

/// A console script's path inside the venv.
fn script_path(script: &str) -> String {
    format!("bin/{script}")
}

/// The version pip installed, as the package's metadata in the venv declares it.
fn installed_version(python: &Path, package: &str) -> Result<String, InstallError> {
    let mut command = Command::new(python);
    command
        .args([
            "-c",
            "import importlib.metadata, sys; print(importlib.metadata.version(sys.argv[1]))",
        ])
        .arg(package);
    let error = |source| InstallError::PypiVersion {
        package: package.to_owned(),
        source,
    };
    let version = run_captured(&mut command).map_err(error)?.trim().to_owned();
    if version.is_empty() || version.contains('/') {
        return Err(error(CommandError::Unexpected {
            command: describe(&command),
            problem: format!("printed {version:?}, not a version"),
        }));
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::layout::candidates_dir;

    /// docker-systemctl-replacement as the candidate `dsr` asks for it, with script `script`.
    fn dsr(root: &Path, script: &'static str) -> PypiRequest<'static> {
        PypiRequest {
            home: candidates_dir(root),
            name: "dsr",
            package: "docker-systemctl-replacement",
            script,
            remedy: "run `cargo xtask candidates`",
        }
    }

    #[test]
    fn not_installed_names_the_missing_record() -> std::io::Result<()> {
        let root = tempfile::tempdir()?;
        let Err(missing) = find(root.path(), &dsr(root.path(), "x.py")) else {
            panic!("an empty root has nothing installed");
        };
        assert_eq!(
            missing.reason,
            "dsr is not installed: run `cargo xtask candidates` \
             (no target/candidates/dsr/venv/installed.json)"
        );
        Ok(())
    }

    #[test]
    fn find_rejects_a_record_for_another_script() -> std::io::Result<()> {
        let root = tempfile::tempdir()?;
        let dir = dsr(root.path(), "systemctl3.py").venv();
        std::fs::create_dir_all(dir.join("bin"))?;
        std::fs::write(dir.join("bin/systemctl3.py"), "")?;
        InstallRecord {
            name: "dsr".into(),
            package: "docker-systemctl-replacement".into(),
            version: "1.7.1097".into(),
            binary: "bin/systemctl3.py".into(),
            source: "pypi:docker-systemctl-replacement".into(),
            extra_packages: Vec::new(),
        }
        .write(&dir)?;
        let found = find(root.path(), &dsr(root.path(), "systemctl3.py"))
            .map_err(|missing| std::io::Error::other(missing.reason))?;
        assert_eq!(found.version, "1.7.1097");
        assert_eq!(found.bin, dir.join("bin/systemctl3.py"));
        let Err(other) = find(root.path(), &dsr(root.path(), "systemctl.py")) else {
            panic!("a record for systemctl3.py does not install systemctl.py");
        };
        assert!(
            other
                .reason
                .contains("wanted package `docker-systemctl-replacement`"),
            "{}",
            other.reason
        );
        Ok(())
    }
}
