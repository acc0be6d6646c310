//! Runtime profiles: how a container runtime stops a container (which signal, how long it
//! waits, how it escalates). The harness issue needs one, docker's; the profile issue adds the
//! rest as data.

use serde::{Deserialize, Serialize};

use crate::signal::SignalNumber;

/// How one runtime stops a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Profile name (`docker`).
    pub name: String,
    /// Which signal the runtime sends first.
    pub stop_signal: StopSignalChoice,
    /// Grace period before SIGKILL, in milliseconds, before scaling.
    pub grace_ms: u64,
    /// Where the facts come from.
    pub sources: Vec<String>,
}

/// A profile's stop sequence resolved for one candidate: the signal to PID 1, then SIGKILL to
/// PID 1 if it still runs when `grace_ms` has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopSequence {
    /// The stop signal.
    pub signal: SignalNumber,
    /// The grace period in milliseconds, after scaling.
    pub grace_ms: u64,
}

/// How a runtime chooses its stop signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum StopSignalChoice {
    /// The image's (candidate's) STOPSIGNAL, else this default.
    ImageOr {
        /// Fallback when the image declares none.
        default: SignalNumber,
    },
    /// Always this signal.
    Fixed {
        /// The signal.
        signal: SignalNumber,
    },
}

impl Profile {
    /// docker: `docker stop` sends the image's STOPSIGNAL (SIGTERM when unset) to PID 1, waits
    /// 10 s, then SIGKILLs PID 1; the kernel kills the rest of the namespace.
    pub fn docker() -> Profile {
        Profile {
            name: "docker".to_owned(),
            stop_signal: StopSignalChoice::ImageOr {
                default: SignalNumber::TERM,
            },
            grace_ms: 10_000,
            sources: vec![
                "moby/moby: daemon/stop.go (containerStop: stop signal, wait, then kill)"
                    .to_owned(),
                "docker stop --help: default timeout 10 s".to_owned(),
            ],
        }
    }

    /// The signal this profile sends to a candidate that declares `declared` (or nothing).
    pub fn stop_signal_for(&self, declared: Option<SignalNumber>) -> SignalNumber {
        match &self.stop_signal {
            StopSignalChoice::ImageOr { default } => declared.unwrap_or(*default),
            StopSignalChoice::Fixed { signal } => *signal,
        }
    }
}
