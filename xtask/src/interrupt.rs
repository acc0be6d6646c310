//! Ctrl-C (SIGINT), SIGTERM or SIGHUP during `cargo xtask conformance`: clean up before
//! exiting. The kernel witness's tracefs instance belongs to this process and is removed when
//! the matrix ends; a process that dies of the signal never gets there, and the instance
//! would stay (tracing on, in /sys/kernel/tracing/instances). So the signals are blocked in
//! every thread and taken by one thread with `sigwait`, which ends the launchers still running
//! (they hold the instance's marker open, and die without cleaning up anyway), stops the
//! witness, removes its instance and exits with 128 + the signal. What still escapes (SIGKILL
//! of the xtask) is removed by the next conformance run, which removes instances whose owner
//! is gone.

use nix::sys::signal::{SigSet, Signal};

use crate::exit_code;

/// Take over SIGINT, SIGTERM and SIGHUP. Call before any thread is started: threads inherit
/// the blocked mask (child processes do not: `std::process::Command` resets it).
pub fn clean_up_on_interrupt() -> anyhow::Result<()> {
    let mut signals = SigSet::empty();
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        signals.add(signal);
    }
    signals.thread_block()?;
    std::thread::spawn(move || {
        let Ok(signal) = signals.wait() else {
            return;
        };
        harness::run::end_launchers();
        eprintln!("\ninterrupted by {signal}: ended the runs in progress and the kernel witness");
        std::process::exit(exit_code::INTERRUPTED_BASE + signal as i32);
    });
    Ok(())
}
