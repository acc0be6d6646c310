//! Executing one run. The harness ([`launch`]) hands a fully resolved [`RunSpec`] to the
//! single-threaded `pid1check-launch` helper, which builds the sandbox, becomes the parent of
//! PID 1 and drives the run ([`drive`]), and hands back the raw [`crate::trace::Trace`].
//! Splitting it this way keeps every fork out of the multi-threaded harness, and lets the
//! harness kill a whole run by killing one process. The helper of each run is forked by one
//! long-lived `pid1check-launch --serve` (`serve`), not exec'd: its start costs a fork.

mod driver;
mod launch;
mod serve;
mod spec;
mod witness;

pub use driver::{drive, launcher_main, monotonic_ns};
pub use launch::{LaunchServer, Launcher, RunError, end_launchers, launch, launch_server};
pub use spec::RunSpec;
