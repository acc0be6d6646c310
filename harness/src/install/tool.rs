//! Programs the checks of the reports need. From Debian packages: the headless browser that
//! loads the HTML report (`chromium-headless-shell`) and the XML schema validator that checks
//! the gate's JUnit file (`xmllint`, from `libxml2-utils`). Each is fetched with
//! `apt-get download` and unpacked with `dpkg -x` exactly like a Debian candidate (into
//! `target/candidates/PACKAGE/VERSION/`), with every library it needs that the machine lacks
//! unpacked into the same tree. apt itself says which those are: `apt-get install --simulate`
//! resolves the dependencies against the installed packages and changes nothing. From PyPI:
//! the JUnit viewer that renders the gate's JUnit file as HTML (`junit2html`), pip-installed
//! like a PyPI candidate into a venv of its own, `target/tools/junit2html/venv/`. Nothing is
//! installed on the machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::command::run_captured;
use super::debian::{self, DebianRequest};
use super::error::InstallError;
use super::layout::{candidates_dir, resolve_root, tools_dir};
use super::pypi::{self, PypiRequest};
use super::record::InstallRecord;

/// A program from a Debian package, and where its package puts it and its libraries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebianTool {
    /// The Debian package (also its directory under `target/candidates/`).
    pub package: &'static str,
    /// The program inside the package.
    pub binary: &'static str,
    /// Where libraries unpacked beside it go, inside the tree: what `LD_LIBRARY_PATH` must name.
    pub library_dirs: &'static [&'static str],
}

/// The headless browser.
pub const BROWSER: DebianTool = DebianTool {
    package: BROWSER_PACKAGE,
    binary: "usr/lib/chromium/chromium-headless-shell",
    library_dirs: &[
        "usr/lib/x86_64-linux-gnu",
        "usr/lib/x86_64-linux-gnu/pulseaudio",
    ],
};

/// The Debian package of the browser.
pub const BROWSER_PACKAGE: &str = "chromium-headless-shell";

/// libxml2's command-line tool, which validates a file against an XML schema (`--schema`).
pub const XMLLINT: DebianTool = DebianTool {
    package: "libxml2-utils",
    binary: "usr/bin/xmllint",
    library_dirs: &["usr/lib/x86_64-linux-gnu"],
};

/// A program from a PyPI package: the console script its package installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PypiTool {
    /// The PyPI package (also its directory under `target/tools/`).
    pub package: &'static str,
    /// The console script, in the venv's `bin/`.
    pub script: &'static str,
}

/// junit2html, a maintained JUnit-to-HTML viewer: it shows every test case with its outcome
/// (passed, failed, skipped) and its failure message and text.
pub const JUNIT2HTML: PypiTool = PypiTool {
    package: "junit2html",
    script: "junit2html",
};

/// An installed tool: unpacked from Debian or pip-installed into its venv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledTool {
    /// The program.
    pub bin: PathBuf,
    /// Directories of the libraries unpacked beside it, for `LD_LIBRARY_PATH`.
    pub library_path: Vec<PathBuf>,
    /// The package's version.
    pub version: String,
}

/// The unpacked browser.
pub type InstalledBrowser = InstalledTool;

/// The browser under `root`/target/candidates, installed first if it is not there.
pub fn install_browser(root: &Path) -> Result<InstalledBrowser, InstallError> {
    install_tool(root, &BROWSER)
}

/// `xmllint` under `root`/target/candidates, installed first if it is not there.
pub fn install_xmllint(root: &Path) -> Result<InstalledTool, InstallError> {
    install_tool(root, &XMLLINT)
}

/// junit2html under `root`/target/tools, installed first if it is not there.
pub fn install_junit2html(root: &Path) -> Result<InstalledTool, InstallError> {
    install_pypi_tool(root, &JUNIT2HTML)
}

/// `tool` in its venv under `root`/target/tools, pip-installed first if it is not there.
pub fn install_pypi_tool(root: &Path, tool: &PypiTool) -> Result<InstalledTool, InstallError> {
    let root = resolve_root(root)?;
    let request = PypiRequest {
        home: tools_dir(&root),
        name: tool.package,
        package: tool.package,
        script: tool.script,
        remedy: "it is installed on first use",
    };
    let installed = pypi::install(&root, &request)?;
    Ok(InstalledTool {
        bin: installed.bin,
        library_path: Vec::new(),
        version: installed.version,
    })
}

/// `tool` under `root`/target/candidates, installed first if it is not there.
pub fn install_tool(root: &Path, tool: &DebianTool) -> Result<InstalledTool, InstallError> {
    if let Some(found) = find_tool(root, tool) {
        return Ok(found);
    }
    let missing = missing_dependencies(tool.package)?;
    let installed = debian::install(
        root,
        DebianRequest {
            name: tool.package,
            package: tool.package,
            binary: tool.binary,
            extra_packages: &missing,
        },
    )?;
    Ok(tool_at(tool, installed.bin, installed.version))
}

/// An already unpacked `tool`, whatever libraries were unpacked with it.
fn find_tool(root: &Path, tool: &DebianTool) -> Option<InstalledTool> {
    let dir = candidates_dir(root).join(tool.package);
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
                name: tool.package,
                package: tool.package,
                binary: tool.binary,
                extra_packages: &extras,
            },
        )
        .ok()?;
        Some(tool_at(tool, installed.bin, installed.version))
    })
}

/// The `tool` whose program is `bin`: its tree is the directory that holds the package's `usr/`.
fn tool_at(tool: &DebianTool, bin: PathBuf, version: String) -> InstalledTool {
    let tree = bin
        .ancestors()
        .nth(tool.binary.split('/').count())
        .map(PathBuf::from)
        .unwrap_or_default();
    InstalledTool {
        library_path: tool
            .library_dirs
            .iter()
            .map(|dir| tree.join(dir))
            .filter(|dir| dir.is_dir())
            .collect(),
        bin,
        version,
    }
}

/// The packages apt would install with `package` on this machine (`package` excluded):
/// `apt-get install --simulate` prints one `Inst PKG ...` line each and changes nothing.
fn missing_dependencies(package: &str) -> Result<Vec<String>, InstallError> {
    let listing = run_captured(
        Command::new("apt-get")
            .env("LC_ALL", "C")
            .args(["install", "--simulate", "--no-install-recommends"])
            .arg(package),
    )
    .map_err(|source| InstallError::AptSimulate {
        package: package.to_owned(),
        source,
    })?;
    Ok(parse_simulated_installs(&listing)
        .into_iter()
        .filter(|name| name != package)
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

    #[test]
    fn a_tools_libraries_are_found_from_its_binarys_place_in_the_package() {
        let tree = tempfile::tempdir().expect("a temporary directory");
        let libs = tree.path().join("usr/lib/x86_64-linux-gnu");
        std::fs::create_dir_all(&libs).expect("creating the library directory");
        let bin = tree.path().join(XMLLINT.binary);
        let tool = tool_at(&XMLLINT, bin.clone(), "2.9".to_owned());
        assert_eq!(tool.library_path, [libs]);
        assert_eq!(tool.bin, bin);
    }
}
