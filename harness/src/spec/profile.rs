//! Runtime profiles: how a container runtime stops a container (which signal, how long it
//! waits, what it does first and how it escalates), loaded from `fixtures/profiles/NAME.toml`.
//!
//! A profile is data: the runtime whose rules apply, its grace period, an optional override
//! signal (`docker stop --signal`, `lifecycle.stopSignal`, `lxc.signal.halt`) and preStop hook,
//! and the sources. The rules themselves (how each runtime picks and parses its stop signal)
//! are code, in [`crate::stop`], because they are behaviour, not settings.

use serde::{Deserialize, Serialize};

/// How one runtime, configured one way, stops a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// File stem; set by the loader.
    #[serde(skip)]
    pub name: String,
    /// One line: which runtime and configuration this is.
    pub title: String,
    /// Whose rules choose and parse the stop signal.
    pub runtime: Runtime,
    /// Grace period between the stop signal and escalation, in milliseconds, before scaling.
    /// `0` means escalate at once (containerd's `timeout == 0`).
    pub grace_ms: u64,
    /// The runtime's explicit stop signal, as the user spells it: `docker stop --signal`,
    /// Kubernetes' `lifecycle.stopSignal`, the CRI stop signal, LXC's `lxc.signal.halt`. It is
    /// read with the runtime's own parser.
    #[serde(default)]
    pub signal: Option<String>,
    /// A command the runtime executes inside the container before the stop signal (a
    /// Kubernetes preStop exec hook), bounded by the grace period.
    #[serde(default)]
    pub pre_stop: Option<Vec<String>>,
    /// Where the facts come from (`project: file (function)`).
    pub sources: Vec<String>,
}

/// The runtime whose rules a profile follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Runtime {
    /// `docker stop` (moby).
    Docker,
    /// `podman stop`.
    Podman,
    /// The kubelet deleting a pod (preStop, then the stop signal through the CRI).
    Kubernetes,
    /// containerd's CRI plugin `StopContainer`.
    ContainerdCri,
    /// CRI-O before its stop-signal parser was fixed.
    CrioLegacy,
    /// `lxc-stop` (a clean shutdown request).
    Lxc,
    /// `systemd-nspawn --boot` asked to stop (`machinectl poweroff`, SIGTERM to nspawn).
    Nspawn,
}

impl Runtime {
    /// The kebab-case name, as profile files spell it.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Podman => "podman",
            Runtime::Kubernetes => "kubernetes",
            Runtime::ContainerdCri => "containerd-cri",
            Runtime::CrioLegacy => "crio-legacy",
            Runtime::Lxc => "lxc",
            Runtime::Nspawn => "nspawn",
        }
    }
}

impl Profile {
    /// docker's defaults: `docker stop` sends the image's STOPSIGNAL (SIGTERM when unset) to
    /// PID 1, waits 10 s, then SIGKILLs it. Built in for tests and as the fallback when no
    /// profile files exist; `fixtures/profiles/docker.toml` says the same with its sources.
    pub fn docker() -> Profile {
        Profile {
            name: "docker".to_owned(),
            title: "docker stop: STOPSIGNAL or SIGTERM to PID 1, 10 s, then SIGKILL".to_owned(),
            runtime: Runtime::Docker,
            grace_ms: 10_000,
            signal: None,
            pre_stop: None,
            sources: vec![
                "moby/moby: daemon/stop.go (containerStop) — stop signal, wait, then SIGKILL"
                    .to_owned(),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Runtime;

    #[test]
    fn runtime_names_are_the_serde_spelling() {
        crate::test_support::assert_names_match_serde(
            &[
                Runtime::Docker,
                Runtime::Podman,
                Runtime::Kubernetes,
                Runtime::ContainerdCri,
                Runtime::CrioLegacy,
                Runtime::Lxc,
                Runtime::Nspawn,
            ],
            Runtime::name,
        );
    }
}
