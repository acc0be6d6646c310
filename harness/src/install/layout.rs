//! Where installs live: everything under `<root>/target/`, nothing elsewhere on the machine.
//!
//! ```text
//! target/candidates/.lock                       serialises installs across processes
//! target/candidates/.debs/PKG_VERSION_ARCH.deb  what apt-get download fetched (shared)
//! target/candidates/NAME/VERSION/               `dpkg -x` of the package(s) + installed.json
//! target/candidates/NAME/venv/                  a PyPI candidate's venv + installed.json
//! target/tools/.lock                            serialises installs of PyPI tools
//! target/tools/NAME/venv/                       a PyPI tool's venv (junit2html) + installed.json
//! target/probe/.lock                            serialises probe builds
//! target/probe/x86_64-unknown-linux-gnu/release/probe   (and static fixture binaries: hostile)
//! ```

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::error::InstallError;

/// The target the probe is built for; explicit, so `RUSTFLAGS` reach only the probe and not
/// the proc-macros compiled for the host (cargo's documented rule for `--target`).
pub(crate) const PROBE_TARGET: &str = "x86_64-unknown-linux-gnu";

/// The probe's binary name (`[[bin]] name` in `fixtures/probe/Cargo.toml`).
const PROBE_BIN: &str = "probe";

/// `<root>/target/candidates`.
pub(crate) fn candidates_dir(root: &Path) -> PathBuf {
    root.join("target").join("candidates")
}

/// `<root>/target/tools`: programs the tests use that come from PyPI, each in its own venv.
pub(crate) fn tools_dir(root: &Path) -> PathBuf {
    root.join("target").join("tools")
}

/// `<root>/target/candidates/.debs`.
pub(crate) fn debs_dir(root: &Path) -> PathBuf {
    candidates_dir(root).join(".debs")
}

/// `<root>/target/probe`, cargo's target directory for the static probe.
pub(crate) fn probe_target_dir(root: &Path) -> PathBuf {
    root.join("target").join("probe")
}

/// Where [`build_probe`](super::build_probe) leaves the static probe (it may not exist yet).
pub fn probe_binary(root: &Path) -> PathBuf {
    static_binary(root, PROBE_BIN)
}

/// Where a static build of the binary `name` lands (the probe, a fixture candidate).
pub(crate) fn static_binary(root: &Path, name: &str) -> PathBuf {
    probe_target_dir(root)
        .join(PROBE_TARGET)
        .join("release")
        .join(name)
}

/// `path` relative to `root` when it is inside it, for messages.
pub(crate) fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// `root` made absolute and free of `..` and symlinks, so every path handed out is plain.
pub(crate) fn resolve_root(root: &Path) -> Result<PathBuf, InstallError> {
    std::fs::canonicalize(root).map_err(|source| InstallError::Root {
        path: root.to_owned(),
        source,
    })
}

/// Creates `dir` and its parents.
pub(crate) fn create_dir(dir: &Path) -> Result<(), InstallError> {
    std::fs::create_dir_all(dir).map_err(|source| InstallError::CreateDir {
        path: dir.to_owned(),
        source,
    })
}

/// Removes a directory tree if it exists.
pub(crate) fn remove_tree(dir: &Path) -> Result<(), InstallError> {
    match std::fs::remove_dir_all(dir) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(InstallError::Record {
            path: dir.to_owned(),
            source: error,
        }),
        _ => Ok(()),
    }
}

/// Takes an exclusive lock on `path` (created if absent), waiting for whoever holds it; the
/// lock lasts as long as the returned file is open.
pub(crate) fn lock_exclusive(path: &Path) -> Result<File, InstallError> {
    let error = |source: io::Error| InstallError::Lock {
        path: path.to_owned(),
        source,
    };
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(error)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            eprintln!(
                "waiting for {} (another install or build holds it)",
                path.display()
            );
            file.lock().map_err(error)?;
        }
        Err(std::fs::TryLockError::Error(source)) => return Err(error(source)),
    }
    Ok(file)
}
