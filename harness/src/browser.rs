//! A real headless browser for the HTML report: loads a page and returns the DOM it built, or
//! takes a screenshot of it. Debian's chromium-headless-shell, unpacked under `target/` by
//! [`crate::install::install_browser`]; its profile, cache and `$HOME` are a temporary
//! directory under `target/`, so nothing is written elsewhere.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::install::{CommandError, InstallError, InstalledBrowser, install_browser};

/// What can go wrong while loading a page in the browser.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// The browser could not be installed.
    #[error("installing the headless browser")]
    Install(#[from] InstallError),
    /// Its temporary profile directory could not be created.
    #[error("creating the browser's profile directory under {}", dir.display())]
    Profile {
        /// Where.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The page does not exist or cannot be resolved to an absolute path.
    #[error("finding the page {}", page.display())]
    Page {
        /// The page as given.
        page: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The browser failed.
    #[error("loading {} in the headless browser", page.display())]
    Run {
        /// The page.
        page: PathBuf,
        /// The failed command.
        #[source]
        source: CommandError,
    },
    /// The browser exited successfully without writing the screenshot.
    #[error("the headless browser wrote no screenshot to {}", png.display())]
    NoScreenshot {
        /// Where it should be.
        png: PathBuf,
    },
}

/// The installed headless browser, ready to load pages.
#[derive(Debug)]
pub struct Browser {
    installed: InstalledBrowser,
    profile: tempfile::TempDir,
}

impl Browser {
    /// The browser of the workspace at `root`, installed under `target/` first if needed.
    pub fn new(root: &Path) -> Result<Browser, BrowserError> {
        let installed = install_browser(root)?;
        let dir = root.join("target");
        let profile = tempfile::Builder::new()
            .prefix("browser-profile-")
            .tempdir_in(&dir)
            .map_err(|source| BrowserError::Profile { dir, source })?;
        Ok(Browser { installed, profile })
    }

    /// The browser's package version.
    pub fn version(&self) -> &str {
        &self.installed.version
    }

    /// Loads `page` (a local file) and returns the DOM after loading, serialised as HTML.
    pub fn dump_dom(&self, page: &Path) -> Result<String, BrowserError> {
        let url = file_url(page)?;
        let mut command = self.command();
        command.arg("--dump-dom").arg(&url);
        run(&mut command, page)
    }

    /// Loads `page` in a window of `width` × `height` px and writes what it shows to `png`.
    pub fn screenshot(
        &self,
        page: &Path,
        png: &Path,
        (width, height): (u32, u32),
    ) -> Result<(), BrowserError> {
        let url = file_url(page)?;
        // A stale file must not pass for a new screenshot.
        let _ = std::fs::remove_file(png);
        let mut command = self.command();
        command
            .arg("--hide-scrollbars")
            .arg(format!("--window-size={width},{height}"))
            .arg(format!("--screenshot={}", png.display()))
            .arg(&url);
        run(&mut command, page)?;
        match std::fs::metadata(png) {
            Ok(meta) if meta.len() > 0 => Ok(()),
            _ => Err(BrowserError::NoScreenshot {
                png: png.to_owned(),
            }),
        }
    }

    /// The browser with its libraries, its own profile, and no sandbox: as root, chromium
    /// refuses to start with its sandbox, and it only loads our own local pages.
    fn command(&self) -> Command {
        let mut command = Command::new(&self.installed.bin);
        let library_path = std::env::join_paths(&self.installed.library_path).unwrap_or_default();
        let home = self.profile.path();
        command
            .env("LD_LIBRARY_PATH", library_path)
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            .arg("--no-sandbox")
            .arg("--disable-gpu")
            .arg("--no-first-run")
            .arg("--disable-crash-reporter")
            .arg(format!(
                "--user-data-dir={}",
                home.join("profile").display()
            ));
        command
    }
}

/// `file:///abs/path` of a local page.
fn file_url(page: &Path) -> Result<String, BrowserError> {
    let absolute = page.canonicalize().map_err(|source| BrowserError::Page {
        page: page.to_owned(),
        source,
    })?;
    Ok(format!("file://{}", absolute.display()))
}

fn run(command: &mut Command, page: &Path) -> Result<String, BrowserError> {
    crate::install::run_captured(command).map_err(|source| BrowserError::Run {
        page: page.to_owned(),
        source,
    })
}
