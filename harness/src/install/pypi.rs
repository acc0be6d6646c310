//! PyPI candidates: a venv of their own at `target/candidates/NAME/venv/` (`python3 -m venv`),
//! the package installed into it by the venv's pip, and an `installed.json` inside it written
//! last. The machine's Python is never changed.

use std::path::Path;
use std::process::Command;

use super::Installed;
use super::command::{describe, run_captured};
use super::error::{CommandError, InstallError, NotInstalled};
use super::layout::{candidates_dir, create_dir, lock_exclusive, remove_tree, shown, venv_dir};
use super::record::{InstallRecord, RECORD_FILE};

/// The installed PyPI candidate `name`, read from its venv's `installed.json`. Reads only.
pub(crate) fn find(
    root: &Path,
    name: &str,
    package: &str,
    script: &str,
) -> Result<Installed, NotInstalled> {
    let dir = venv_dir(root, name);
    let not_installed = |detail: String| NotInstalled {
        reason: format!("{name} is not installed: run `cargo xtask candidates` ({detail})"),
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
            "{record_path} records package `{}`, script `{}`; the candidate file asks for \
             package `{package}`, script `{binary}`",
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

/// Installs candidate `name` from PyPI package `package` into its own venv unless [`find`]
/// already finds it; holds `target/candidates/.lock` throughout.
pub(crate) fn install(
    root: &Path,
    name: &str,
    package: &str,
    script: &str,
) -> Result<Installed, InstallError> {
    let candidates = candidates_dir(root);
    create_dir(&candidates)?;
    let _lock = lock_exclusive(&candidates.join(".lock"))?;
    if let Ok(installed) = find(root, name, package, script) {
        return Ok(installed);
    }
    let dir = venv_dir(root, name);
    // Whatever is there has no valid record: an unfinished or different install.
    remove_tree(&dir)?;
    create_dir(dir.parent().unwrap_or(&candidates))?;
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

    #[test]
    fn not_installed_names_the_missing_record() -> std::io::Result<()> {
        let root = tempfile::tempdir()?;
        let Err(missing) = find(root.path(), "dsr", "docker-systemctl-replacement", "x.py") else {
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
        let dir = venv_dir(root.path(), "dsr");
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
        let found = find(
            root.path(),
            "dsr",
            "docker-systemctl-replacement",
            "systemctl3.py",
        )
        .map_err(|missing| std::io::Error::other(missing.reason))?;
        assert_eq!(found.version, "1.7.1097");
        assert_eq!(found.bin, dir.join("bin/systemctl3.py"));
        let Err(other) = find(
            root.path(),
            "dsr",
            "docker-systemctl-replacement",
            "systemctl.py",
        ) else {
            panic!("a record for systemctl3.py does not install systemctl.py");
        };
        assert!(
            other.reason.contains("the candidate file asks for package"),
            "{}",
            other.reason
        );
        Ok(())
    }
}
