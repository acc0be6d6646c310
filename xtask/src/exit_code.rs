//! The exit codes of `cargo xtask`, one constant each: scripts and CI read them.

/// Every run completed and every normalised trace matched its snapshot.
pub const OK: u8 = 0;
/// A snapshot differed, a stale snapshot was found, a run did not complete (`not run`), or a
/// run was unstable under `--repeat` without its candidate declaring that race.
pub const FAILED: u8 = 1;
/// Bad input: a case or candidate file that does not load, an unknown name, a bad flag.
pub const BAD_INPUT: u8 = 2;
/// Interrupted by a signal (Ctrl-C): this plus the signal's number (130 for SIGINT), as a
/// shell reports it; the runs in progress were ended and cleaned up.
pub const INTERRUPTED_BASE: i32 = 128;
