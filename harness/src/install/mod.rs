//! Installing candidates and building the probe, all under `<root>/target/` and never on the
//! machine itself (no `apt-get install`, no `dpkg -i`).
//!
//! - [`install_candidate`]: Debian packages are fetched with `apt-get download` and unpacked
//!   with `dpkg -x` into `target/candidates/NAME/VERSION/` beside an `installed.json` (with any
//!   extra packages unpacked into the same tree); PyPI packages are pip-installed into a venv
//!   of their own at `target/candidates/NAME/venv/`; host programs are resolved to the
//!   package that owns them; the probe is built. Idempotent, and serialised across processes
//!   by `target/candidates/.lock`.
//! - [`find_installed`]: the same answer without side effects, or a [`NotInstalled`] sentence.
//! - [`build_probe`]: the static probe, serialised by `target/probe/.lock`.
//! - [`install_browser`], [`install_xmllint`]: Debian's chromium-headless-shell (to check the
//!   HTML report) and libxml2's xmllint (to validate the gate's JUnit file against its schema),
//!   unpacked like a candidate, with the libraries they need that the machine lacks.
//! - [`install_junit2html`]: the JUnit viewer that renders the gate's JUnit file, from PyPI,
//!   pip-installed like a PyPI candidate into its own venv at `target/tools/junit2html/venv/`.
//!
//! Every function takes the workspace root; none guesses it.

mod candidate;
mod command;
mod debian;
mod error;
mod host;
mod launcher;
mod layout;
mod probe;
mod pypi;
mod record;
mod tool;
mod version;

pub use candidate::{Installed, find_installed, install_candidate, source_label};
pub(crate) use command::run_captured;
pub use error::{CommandError, InstallError, ManifestError, NotInstalled};
pub use launcher::{
    LAUNCHER_PROFILE, OPT_LEVEL, OPT_LEVEL_FLAG, build_launcher, launcher_opt_level,
};
pub use layout::probe_binary;
pub use probe::build_probe;
pub use tool::{
    BROWSER, BROWSER_PACKAGE, DebianTool, InstalledBrowser, InstalledTool, JUNIT2HTML, PypiTool,
    XMLLINT, install_browser, install_junit2html, install_pypi_tool, install_tool, install_xmllint,
};
