//! The stop sequence: what a runtime does to end a container, worked out for one candidate
//! under one profile. Pure: [`choose`] applies the runtime's rules to the image's STOPSIGNAL
//! and command; [`crate::plan`] scales the times; the launcher performs it.

mod syntax;

use serde::{Deserialize, Serialize};

pub use syntax::{Reading, SignalSyntax};

use crate::signal::{RTMIN, SignalNumber};
use crate::spec::{Profile, Runtime};

/// Kubernetes never gives the stop signal less than this after a preStop hook
/// (`minimumGracePeriodInSeconds`), before scaling.
pub const KUBERNETES_MIN_GRACE_MS: u64 = 2_000;

/// systemd's halt request: SIGRTMIN+3.
pub const RTMIN_3: SignalNumber = SignalNumber(RTMIN + 3);

/// The stop sequence the launcher performs, every time already scaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopSequence {
    /// A command executed inside the container first (a preStop hook), bounded by the grace
    /// period.
    #[serde(default)]
    pub pre_stop: Option<Vec<String>>,
    /// The signal to PID 1.
    pub signal: StopSignal,
    /// How long the runtime waits after the signal before SIGKILL to PID 1.
    pub grace_ms: u64,
    /// After a preStop hook the signal gets what is left of the grace period, never less.
    #[serde(default)]
    pub min_grace_after_pre_stop_ms: u64,
}

/// Which signal the runtime sends to PID 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum StopSignal {
    /// No signal: SIGKILL at once (containerd with `timeout == 0`).
    None,
    /// This signal.
    Fixed {
        /// The signal.
        signal: SignalNumber,
    },
    /// `signal` if PID 1 blocks it when the stop begins (how LXC recognises systemd), else
    /// `otherwise`. Decided by the launcher from `/proc/PID/status`.
    IfPid1Blocks {
        /// Sent when PID 1 blocks it.
        signal: SignalNumber,
        /// Sent otherwise.
        otherwise: SignalNumber,
    },
}

impl StopSignal {
    /// The signal, or how it is decided: `TERM`, `none`, `RTMIN+3 if blocked, else PWR`.
    pub fn describe(self) -> String {
        match self {
            StopSignal::None => "none".to_owned(),
            StopSignal::Fixed { signal } => signal.name(),
            StopSignal::IfPid1Blocks { signal, otherwise } => {
                format!("{signal} if PID 1 blocks it, else {otherwise}")
            }
        }
    }
}

/// What the runtime is told about the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageFacts<'a> {
    /// The image's STOPSIGNAL exactly as written, if any.
    pub stop_signal: Option<&'a str>,
    /// The command PID 1 runs, as the runtime sees it (`/sbin/init`, `/lib/systemd/systemd`).
    pub command: &'a str,
}

/// A runtime's choice of stop signal, and why, in one line for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopChoice {
    /// The signal.
    pub signal: StopSignal,
    /// How it was chosen (`image STOPSIGNAL "SIGRTMIN+3"`; `crio-legacy did not understand
    /// "37" and sent TERM`).
    pub why: String,
}

/// Why a profile cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProfileError {
    /// What is wrong and how to fix it.
    pub message: String,
}

/// The syntax `runtime` reads an explicit stop signal with (its command-line flag or API
/// field).
pub fn override_syntax(runtime: Runtime) -> SignalSyntax {
    match runtime {
        Runtime::Kubernetes => SignalSyntax::Kubernetes,
        Runtime::CrioLegacy => SignalSyntax::CrioLegacy,
        Runtime::Docker
        | Runtime::Podman
        | Runtime::ContainerdCri
        | Runtime::Lxc
        | Runtime::Nspawn => SignalSyntax::Moby,
    }
}

/// The syntax `runtime` reads an image's STOPSIGNAL with.
fn image_syntax(runtime: Runtime) -> SignalSyntax {
    match runtime {
        Runtime::CrioLegacy => SignalSyntax::CrioLegacy,
        _ => SignalSyntax::Moby,
    }
}

/// Checks what a profile says against its runtime's rules: the override must be a signal the
/// runtime accepts.
pub fn check_profile(profile: &Profile) -> Result<(), ProfileError> {
    if let Some(spelling) = &profile.signal
        && let Reading::Rejected(message) = override_syntax(profile.runtime).read(spelling)
    {
        return Err(ProfileError {
            message: format!("{} rejects it: {message}", profile.runtime.name()),
        });
    }
    Ok(())
}

/// podman runs a container in systemd mode when its command is an init or systemd.
fn is_systemd_command(command: &str) -> bool {
    let base = command.rsplit('/').next().unwrap_or(command);
    matches!(
        command,
        "/sbin/init" | "/usr/sbin/init" | "/usr/local/sbin/init"
    ) || base == "systemd"
}

/// The stop signal `profile`'s runtime sends to PID 1 of an image with these facts, or why
/// the runtime refuses the image (docker, podman and containerd fail a STOPSIGNAL they
/// cannot parse when the container is created or stopped, rather than guess).
pub fn choose(profile: &Profile, image: ImageFacts<'_>) -> Result<StopChoice, ProfileError> {
    let runtime = profile.runtime;
    let name = runtime.name();
    let fixed = |signal: SignalNumber, why: String| StopChoice {
        signal: StopSignal::Fixed { signal },
        why,
    };
    if runtime == Runtime::ContainerdCri && profile.grace_ms == 0 {
        return Ok(StopChoice {
            signal: StopSignal::None,
            why: "timeout 0: containerd kills at once, no stop signal".to_owned(),
        });
    }
    // An explicit signal (flag, API field, config key) wins everywhere.
    if let Some(spelling) = &profile.signal {
        return Ok(match override_syntax(runtime).read(spelling) {
            Reading::Signal(signal) => fixed(signal, format!("{name} signal {spelling:?}")),
            Reading::Replaced(signal) => fixed(
                signal,
                format!("{name} did not understand {spelling:?} and sent {signal} silently"),
            ),
            // check_profile rejects this when the profile is loaded.
            Reading::Rejected(message) => {
                return Err(ProfileError {
                    message: format!("{name} rejects its stop signal: {message}"),
                });
            }
        });
    }
    Ok(match runtime {
        Runtime::Lxc => StopChoice {
            signal: StopSignal::IfPid1Blocks {
                signal: RTMIN_3,
                otherwise: SignalNumber::PWR,
            },
            why: "no lxc.signal.halt: RTMIN+3 if PID 1 blocks it (systemd), else PWR; \
                  the image's STOPSIGNAL is not read"
                .to_owned(),
        },
        Runtime::Nspawn => fixed(
            RTMIN_3,
            "--boot: the kill signal is RTMIN+3 (systemd's halt)".to_owned(),
        ),
        _ => {
            if let Some(spelling) = image.stop_signal {
                match image_syntax(runtime).read(spelling) {
                    Reading::Signal(signal) => {
                        return Ok(fixed(signal, format!("image STOPSIGNAL {spelling:?}")));
                    }
                    Reading::Replaced(signal) => {
                        return Ok(fixed(
                            signal,
                            format!(
                                "{name} did not understand STOPSIGNAL {spelling:?} and sent \
                                 {signal} silently"
                            ),
                        ));
                    }
                    Reading::Rejected(message) => {
                        return Err(ProfileError {
                            message: format!(
                                "{name} refuses the image: STOPSIGNAL {spelling:?}: {message}"
                            ),
                        });
                    }
                }
            }
            if runtime == Runtime::Podman && is_systemd_command(image.command) {
                fixed(
                    RTMIN_3,
                    format!("systemd mode ({}): RTMIN+3", image.command),
                )
            } else {
                fixed(SignalNumber::TERM, "default TERM".to_owned())
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(runtime: Runtime, signal: Option<&str>, grace_ms: u64) -> Profile {
        Profile {
            name: runtime.name().to_owned(),
            title: "t".to_owned(),
            runtime,
            grace_ms,
            signal: signal.map(str::to_owned),
            pre_stop: None,
            sources: vec!["s".to_owned()],
        }
    }

    fn signal_of(choice: &Result<StopChoice, ProfileError>) -> String {
        match choice {
            Ok(choice) => choice.signal.describe(),
            Err(error) => format!("refused: {error}"),
        }
    }

    const APP: ImageFacts<'static> = ImageFacts {
        stop_signal: None,
        command: "/usr/bin/tini",
    };
    const SYSTEMD: ImageFacts<'static> = ImageFacts {
        stop_signal: None,
        command: "/lib/systemd/systemd",
    };

    #[test]
    fn docker_takes_the_flag_then_the_image_then_term() {
        let docker = profile(Runtime::Docker, None, 10_000);
        assert_eq!(signal_of(&choose(&docker, APP)), "TERM");
        assert_eq!(
            signal_of(&choose(&docker, SYSTEMD)),
            "TERM",
            "no systemd mode"
        );
        let image = ImageFacts {
            stop_signal: Some("SIGRTMIN+3"),
            ..SYSTEMD
        };
        assert_eq!(signal_of(&choose(&docker, image)), "RTMIN+3");
        let flagged = profile(Runtime::Docker, Some("USR1"), 10_000);
        assert_eq!(signal_of(&choose(&flagged, image)), "USR1");
    }

    #[test]
    fn podman_halts_systemd_with_rtmin3_unless_the_image_says_otherwise() {
        let podman = profile(Runtime::Podman, None, 10_000);
        assert_eq!(signal_of(&choose(&podman, SYSTEMD)), "RTMIN+3");
        let init = ImageFacts {
            command: "/sbin/init",
            ..APP
        };
        assert_eq!(signal_of(&choose(&podman, init)), "RTMIN+3");
        assert_eq!(signal_of(&choose(&podman, APP)), "TERM");
        let image = ImageFacts {
            stop_signal: Some("TERM"),
            ..SYSTEMD
        };
        assert_eq!(signal_of(&choose(&podman, image)), "TERM");
    }

    #[test]
    fn crio_legacy_turns_what_it_cannot_read_into_term_and_says_so() {
        let crio = profile(Runtime::CrioLegacy, None, 10_000);
        for spelling in ["37", "RTMIN+3", "SIGRTMIN+3"] {
            let image = ImageFacts {
                stop_signal: Some(spelling),
                ..SYSTEMD
            };
            let choice = choose(&crio, image).expect("crio-legacy refuses nothing");
            assert_eq!(choice.signal.describe(), "TERM", "{spelling}");
            assert!(choice.why.contains("silently"), "{}", choice.why);
        }
        let image = ImageFacts {
            stop_signal: Some("SIGINT"),
            ..APP
        };
        assert_eq!(signal_of(&choose(&crio, image)), "INT");
    }

    #[test]
    fn docker_refuses_a_stopsignal_it_cannot_parse_rather_than_guess() {
        let docker = profile(Runtime::Docker, None, 10_000);
        let image = ImageFacts {
            stop_signal: Some("SIGFOO"),
            ..APP
        };
        let error = choose(&docker, image).expect_err("moby validates StopSignal at create");
        assert!(
            error.message.contains("docker refuses the image"),
            "{error}"
        );
    }

    #[test]
    fn containerd_with_timeout_zero_sends_no_signal() {
        let cri = profile(Runtime::ContainerdCri, None, 0);
        assert_eq!(choose(&cri, APP).map(|c| c.signal), Ok(StopSignal::None));
        let cri = profile(Runtime::ContainerdCri, None, 30_000);
        assert_eq!(signal_of(&choose(&cri, APP)), "TERM");
    }

    #[test]
    fn lxc_ignores_the_image_and_decides_by_what_pid1_blocks() {
        let lxc = profile(Runtime::Lxc, None, 60_000);
        let image = ImageFacts {
            stop_signal: Some("USR1"),
            ..APP
        };
        assert_eq!(
            choose(&lxc, image).map(|c| c.signal),
            Ok(StopSignal::IfPid1Blocks {
                signal: SignalNumber(libc::SIGRTMIN() + 3),
                otherwise: SignalNumber(libc::SIGPWR),
            })
        );
        let halt = profile(Runtime::Lxc, Some("SIGINT"), 60_000);
        assert_eq!(signal_of(&choose(&halt, APP)), "INT");
    }

    #[test]
    fn kubernetes_names_are_checked_when_the_profile_loads() {
        assert!(check_profile(&profile(Runtime::Kubernetes, Some("SIGRTMIN+3"), 1)).is_ok());
        let error = check_profile(&profile(Runtime::Kubernetes, Some("37"), 1))
            .expect_err("a number is not a Kubernetes name");
        assert!(
            error.message.starts_with("kubernetes rejects it"),
            "{error}"
        );
        assert!(check_profile(&profile(Runtime::Docker, Some("37"), 1)).is_ok());
    }
}
