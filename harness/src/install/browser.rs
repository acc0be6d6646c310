//! The headless browser that checks the HTML report: Debian's `chromium-headless-shell`,
//! fetched with `apt-get download` and unpacked with `dpkg -x` exactly like a Debian candidate
//! (into `target/candidates/chromium-headless-shell/VERSION/`), with every library it needs
//! that the machine lacks unpacked into the same tree. apt itself says which those are:
//! `apt-get install --simulate` resolves the dependencies against the installed packages and
//! changes nothing. Nothing is installed on the machine.

use std::path::PathBuf;
use std::process::Command;

use super::command::run_captured;
use super::debian::{self, DebianRequest};
use super::error::InstallError;
use super::layout::candidates_dir;
use super::record::InstallRecord;

/// The Debian package of the browser.
pub const BROWSER_PACKAGE: &str = "chromium-headless-shell";
/// Its binary inside the package.
const BROWSER_BINARY: &str = "usr/lib/chromium/chromium-headless-shell";
/// Where the unpacked libraries are, inside the tree: what `LD_LIBRARY_PATH` must name.
const LIBRARY_DIRS: [&str; 2] = [
    "usr/lib/x86_64-linux-gnu",
    "usr/lib/x86_64-linux-gnu/pulseaudio",
];

/// The unpacked browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledBrowser {
    /// The `chromium-headless-shell` binary.
    pub bin: PathBuf,
    /// Directories of the libraries unpacked beside it, for `LD_LIBRARY_PATH`.
    pub library_path: Vec<PathBuf>,
    /// The package's version.
    pub version: String,
}

/// The browser under `root`/target/candidates, installed first if it is not there.
pub fn install_browser(root: &std::path::Path) -> Result<InstalledBrowser, InstallError> {
    if let Some(found) = find_browser(root) {
        return Ok(found);
    }
    let missing = missing_dependencies()?;
    let installed = debian::install(
        root,
        DebianRequest {
            name: BROWSER_PACKAGE,
            package: BROWSER_PACKAGE,
            binary: BROWSER_BINARY,
            extra_packages: &missing,
        },
    )?;
    Ok(browser_at(installed.bin, installed.version))
}

/// An already unpacked browser, whatever libraries were unpacked with it.
fn find_browser(root: &std::path::Path) -> Option<InstalledBrowser> {
    let dir = candidates_dir(root).join(BROWSER_PACKAGE);
    let mut versions: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .flatten()
        .map(|entry| entry.path())
        .collect();
    versions.sort();
    versions.into_iter().rev().find_map(|version_dir| {
        let record = InstallRecord::read(&version_dir).ok()?;
        let extras: Vec<String> = record
            .extra_packages
            .iter()
            .map(|extra| extra.package.clone())
            .collect();
        let installed = debian::find(
            root,
            DebianRequest {
                name: BROWSER_PACKAGE,
                package: BROWSER_PACKAGE,
                binary: BROWSER_BINARY,
                extra_packages: &extras,
            },
        )
        .ok()?;
        Some(browser_at(installed.bin, installed.version))
    })
}

/// The browser whose binary is `bin`: its tree is the directory that holds the package's `usr/`.
fn browser_at(bin: PathBuf, version: String) -> InstalledBrowser {
    let tree = bin
        .ancestors()
        .nth(BROWSER_BINARY.split('/').count())
        .map(PathBuf::from)
        .unwrap_or_default();
    InstalledBrowser {
        library_path: LIBRARY_DIRS
            .iter()
            .map(|dir| tree.join(dir))
            .filter(|dir| dir.is_dir())
            .collect(),
        bin,
        version,
    }
}

/// The packages apt would install with the browser on this machine (the browser excluded):
/// `apt-get install --simulate` prints one `Inst PKG ...` line each and changes nothing.
fn missing_dependencies() -> Result<Vec<String>, InstallError> {
    let listing = run_captured(
        Command::new("apt-get")
            .env("LC_ALL", "C")
            .args(["install", "--simulate", "--no-install-recommends"])
            .arg(BROWSER_PACKAGE),
    )
    .map_err(|source| InstallError::AptSimulate {
        package: BROWSER_PACKAGE.to_owned(),
        source,
    })?;
    Ok(parse_simulated_installs(&listing)
        .into_iter()
        .filter(|package| package != BROWSER_PACKAGE)
        .collect())
}

/// The package names of `Inst PKG [OLD] (VERSION ...)` lines, in apt's order.
fn parse_simulated_installs(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|line| line.strip_prefix("Inst "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_installs_are_read_from_inst_lines_only() {
        let listing = "NOTE: This is only a simulation!\n\
                       Inst libopus0 (1.3.1-3 Debian:12.13/stable [amd64])\n\
                       Inst chromium-common (156.0.8078.79-1~deb12u1 Debian-Security:12/stable-security [amd64])\n\
                       Conf libopus0 (1.3.1-3 Debian:12.13/stable [amd64])\n";
        assert_eq!(
            parse_simulated_installs(listing),
            ["libopus0", "chromium-common"]
        );
    }
}
