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
//! - [`install_browser`]: Debian's chromium-headless-shell, unpacked like a candidate, with the
//!   libraries it needs that the machine lacks, to check the HTML report.
//!
//! Every function takes the workspace root; none guesses it.

mod browser;
mod candidate;
mod command;
mod debian;
mod error;
mod host;
mod layout;
mod probe;
mod pypi;
mod record;
mod version;

pub use browser::{BROWSER_PACKAGE, InstalledBrowser, install_browser};
pub use candidate::{Installed, find_installed, install_candidate, source_label};
pub(crate) use command::run_captured;
pub use error::{CommandError, InstallError, ManifestError, NotInstalled};
pub use layout::probe_binary;
pub use probe::build_probe;
