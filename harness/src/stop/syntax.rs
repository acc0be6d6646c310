//! How each runtime reads a stop signal's spelling. They disagree: moby takes `RTMIN+3` and
//! `37`, runc's table has no real-time names, Kubernetes takes only its API's enum names, and
//! CRI-O's old parser silently turned anything it did not know into SIGTERM.
//!
//! Every syntax maps to the kernel's numbering through [`SignalNumber`]'s parser, so a name a
//! runtime accepts always means the same number as the C library's.

use serde::{Deserialize, Serialize};

use crate::signal::SignalNumber;

/// One runtime's reading of a stop-signal spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignalSyntax {
    /// moby/sys/signal `ParseSignal` (docker, containerd, podman's equivalent, LXC's
    /// `sig_parse`): a number, or a name with or without `SIG` in any case, real-time names
    /// included.
    Moby,
    /// runc's `kill` parser: a number, or a name in `x/sys/unix`'s table, which has no
    /// real-time names.
    Runc,
    /// Kubernetes' `lifecycle.stopSignal`: exactly one of the API's enum names (`SIGTERM`,
    /// `SIGRTMIN+3`); numbers, lower case and names without `SIG` are invalid.
    Kubernetes,
    /// CRI-O before the fix: `unix.SignalNum(strings.ToUpper(s))`, which knows only the
    /// `SIG`-prefixed names of signals 1-31; anything else (a number, a real-time name, `TERM`
    /// without `SIG`) gave 0 and became SIGTERM without a word.
    CrioLegacy,
}

/// What a runtime made of a spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// Understood as this signal.
    Signal(SignalNumber),
    /// Not understood, and replaced by this signal without an error (the CRI-O quirk).
    Replaced(SignalNumber),
    /// Rejected with this message.
    Rejected(String),
}

impl SignalSyntax {
    /// Reads `spelling` the way this runtime does.
    pub fn read(self, spelling: &str) -> Reading {
        let canonical = spelling.parse::<SignalNumber>();
        match self {
            SignalSyntax::Moby => match canonical {
                Ok(signal) => Reading::Signal(signal),
                Err(error) => Reading::Rejected(error.to_string()),
            },
            SignalSyntax::Runc => match canonical {
                Ok(signal) if is_number(spelling) || !signal.is_realtime() => {
                    Reading::Signal(signal)
                }
                Ok(_) => Reading::Rejected(format!(
                    "`{spelling}`: runc's signal table has no real-time names; write the number"
                )),
                Err(error) => Reading::Rejected(error.to_string()),
            },
            SignalSyntax::Kubernetes => match canonical {
                Ok(signal) if spelling == format!("SIG{}", signal.name()) => {
                    Reading::Signal(signal)
                }
                _ => Reading::Rejected(format!(
                    "`{spelling}` is not a Kubernetes stop signal: write one of the API's names, \
                     like SIGTERM or SIGRTMIN+3 (upper case, with SIG, never a number)"
                )),
            },
            SignalSyntax::CrioLegacy => match canonical {
                Ok(signal)
                    if spelling.to_ascii_uppercase().starts_with("SIG") && signal.raw() < 32 =>
                {
                    Reading::Signal(signal)
                }
                _ => Reading::Replaced(SignalNumber::TERM),
            },
        }
    }
}

fn is_number(spelling: &str) -> bool {
    let trimmed = spelling.trim();
    !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RT3: i32 = 37;

    /// The parsing table the profile issue pins: spelling → what each runtime makes of it.
    /// `Some(n)` understood as n, `Term` replaced by SIGTERM, `None` rejected.
    #[test]
    fn the_parsing_table() {
        #[derive(Debug, PartialEq)]
        enum R {
            Is(i32),
            Term,
            No,
        }
        use R::{Is, No, Term};
        let table: &[(&str, [R; 4])] = &[
            // spelling       moby       runc      kubernetes  crio-legacy
            ("TERM", [Is(15), Is(15), No, Term]),
            ("INT", [Is(2), Is(2), No, Term]),
            ("SIGTERM", [Is(15), Is(15), Is(15), Is(15)]),
            ("sigterm", [Is(15), Is(15), No, Is(15)]),
            ("15", [Is(15), Is(15), No, Term]),
            ("RTMIN+3", [Is(RT3), No, No, Term]),
            ("SIGRTMIN+3", [Is(RT3), No, Is(RT3), Term]),
            ("rtmin+3", [Is(RT3), No, No, Term]),
            ("37", [Is(RT3), Is(RT3), No, Term]),
            ("SIGRTMAX-2", [Is(62), No, Is(62), Term]),
            ("SIGPWR", [Is(30), Is(30), Is(30), Is(30)]),
            ("SIGFOO", [No, No, No, Term]),
            ("0", [No, No, No, Term]),
        ];
        let syntaxes = [
            SignalSyntax::Moby,
            SignalSyntax::Runc,
            SignalSyntax::Kubernetes,
            SignalSyntax::CrioLegacy,
        ];
        for (spelling, expected) in table {
            for (syntax, want) in syntaxes.iter().zip(expected) {
                let got = match syntax.read(spelling) {
                    Reading::Signal(signal) => Is(signal.raw()),
                    Reading::Replaced(signal) => {
                        assert_eq!(signal, SignalNumber::TERM);
                        Term
                    }
                    Reading::Rejected(_) => No,
                };
                assert_eq!(&got, want, "{syntax:?} reading {spelling:?}");
            }
        }
        assert_eq!(RT3, libc::SIGRTMIN() + 3, "glibc's numbering");
    }

    #[test]
    fn rejections_say_what_to_write() {
        let Reading::Rejected(message) = SignalSyntax::Kubernetes.read("15") else {
            panic!("a number is not a Kubernetes signal name");
        };
        assert!(message.contains("SIGRTMIN+3"), "{message}");
        let Reading::Rejected(message) = SignalSyntax::Runc.read("RTMIN+3") else {
            panic!("runc has no RT names");
        };
        assert!(message.contains("write the number"), "{message}");
    }
}
