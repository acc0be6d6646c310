//! Ctrl-C (SIGINT), SIGTERM or SIGHUP during `cargo xtask conformance`: clean up before
//! exiting. A launcher dies of the terminal's SIGINT or of `PR_SET_PDEATHSIG` without running
//! its drop, so its kernel-witness tracefs instance would be left behind (tracing on, in
//! /sys/kernel/tracing/instances). The signals are blocked in every thread and taken by one
//! thread with `sigwait`, which ends this process's launchers, removes their instances and
//! exits with 128 + the signal. Anything that still escapes (SIGKILL of the xtask) is removed
//! by the next conformance run, which removes instances whose launcher is gone.

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
        let removed = harness::run::end_witnessed_launchers();
        eprintln!(
            "\ninterrupted by {signal}: ended the runs in progress, removed {} kernel-witness \
             instance(s)",
            removed.len()
        );
        std::process::exit(exit_code::INTERRUPTED_BASE + signal as i32);
    });
    Ok(())
}
