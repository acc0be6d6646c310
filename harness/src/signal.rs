//! Signal numbers as the kernel and this machine's C library number them, with every spelling
//! people write in Dockerfiles, manifests and man pages (`TERM`, `SIGTERM`, `15`, `RTMIN+3`,
//! `SIGRTMIN+3`, `37`, `SIGRTMAX-2`, any case).
//!
//! nix's `Signal` cannot hold real-time signals, so the number is the type. Real-time names
//! follow glibc and `kill -l`: `SIGRTMIN` is 34 (the kernel's 32 and 33 are taken by NPTL),
//! `RTMIN+n` up to `RTMIN+15`, `RTMAX-n` above, `SIGRTMAX` 64.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A signal number, 1..=64 on Linux.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SignalNumber(pub i32);

/// The standard (non-real-time) signals of Linux on x86_64/aarch64, as `signal(7)` lists them.
const STANDARD: &[(&str, i32)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("PWR", 30),
    ("SYS", 31),
];

/// Aliases accepted on input, never printed.
const ALIASES: &[(&str, i32)] = &[("IOT", 6), ("CLD", 17), ("POLL", 29), ("UNUSED", 31)];

/// The C library's first real-time signal (glibc: 34).
pub const RTMIN: i32 = 34;
/// The last real-time signal.
pub const RTMAX: i32 = 64;

/// Why a spelling is not a signal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{input}` is not a signal: write a name (TERM, SIGTERM, term), a number 1-64, \
     or a real-time signal (RTMIN, RTMIN+3, SIGRTMAX-2)"
)]
pub struct ParseSignalError {
    /// What was written.
    pub input: String,
}

impl SignalNumber {
    /// SIGKILL.
    pub const KILL: SignalNumber = SignalNumber(9);
    /// SIGTERM.
    pub const TERM: SignalNumber = SignalNumber(15);
    /// SIGPWR: LXC's default halt signal.
    pub const PWR: SignalNumber = SignalNumber(30);

    /// The raw number, for syscalls.
    pub fn raw(self) -> i32 {
        self.0
    }

    /// Whether this is a real-time signal (queued, never coalesced).
    pub fn is_realtime(self) -> bool {
        (RTMIN..=RTMAX).contains(&self.0)
    }

    /// The canonical spelling without `SIG`: `TERM`, `RTMIN+3`, `RTMAX-2`, or the number for 32
    /// and 33, which the C library reserves and names nothing.
    pub fn name(self) -> String {
        let n = self.0;
        if let Some((name, _)) = STANDARD.iter().find(|(_, num)| *num == n) {
            return (*name).to_owned();
        }
        match n {
            RTMIN => "RTMIN".to_owned(),
            RTMAX => "RTMAX".to_owned(),
            _ if (RTMIN + 1..=RTMIN + 15).contains(&n) => format!("RTMIN+{}", n - RTMIN),
            _ if (RTMIN + 16..RTMAX).contains(&n) => format!("RTMAX-{}", RTMAX - n),
            _ => n.to_string(),
        }
    }
}

impl fmt::Display for SignalNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for SignalNumber {
    type Err = ParseSignalError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = || ParseSignalError {
            input: input.to_owned(),
        };
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(fail());
        }
        if trimmed.bytes().all(|b| b.is_ascii_digit()) {
            let n: i32 = trimmed.parse().map_err(|_| fail())?;
            return if (1..=RTMAX).contains(&n) {
                Ok(SignalNumber(n))
            } else {
                Err(fail())
            };
        }
        let upper = trimmed.to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        if let Some((_, n)) = STANDARD
            .iter()
            .chain(ALIASES)
            .find(|(name, _)| *name == bare)
        {
            return Ok(SignalNumber(*n));
        }
        let realtime = |base: i32, rest: &str, sign: i32| -> Option<SignalNumber> {
            if rest.is_empty() {
                return Some(SignalNumber(base));
            }
            let offset = rest.strip_prefix(if sign > 0 { '+' } else { '-' })?;
            if offset.is_empty() || !offset.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let offset: i32 = offset.parse().ok()?;
            let n = base + sign * offset;
            (RTMIN..=RTMAX).contains(&n).then_some(SignalNumber(n))
        };
        let parsed = if let Some(rest) = bare.strip_prefix("RTMIN") {
            realtime(RTMIN, rest, 1)
        } else if let Some(rest) = bare.strip_prefix("RTMAX") {
            realtime(RTMAX, rest, -1)
        } else {
            None
        };
        parsed.ok_or_else(fail)
    }
}

impl Serialize for SignalNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for SignalNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = SignalNumber;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a signal name such as \"TERM\" or \"RTMIN+3\", or a number 1-64")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SignalNumber, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SignalNumber, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SignalNumber, E> {
                self.visit_str(&v.to_string())
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &str) -> Result<i32, ParseSignalError> {
        input.parse::<SignalNumber>().map(SignalNumber::raw)
    }

    #[test]
    fn every_spelling_gives_the_c_library_number() {
        let cases = [
            ("TERM", libc::SIGTERM),
            ("SIGTERM", libc::SIGTERM),
            ("term", libc::SIGTERM),
            ("sigterm", libc::SIGTERM),
            (" TERM ", libc::SIGTERM),
            ("15", libc::SIGTERM),
            ("KILL", libc::SIGKILL),
            ("HUP", libc::SIGHUP),
            ("USR1", libc::SIGUSR1),
            ("SIGCHLD", libc::SIGCHLD),
            ("CLD", libc::SIGCHLD),
            ("IOT", libc::SIGABRT),
            ("POLL", libc::SIGIO),
            ("PWR", libc::SIGPWR),
            ("SYS", libc::SIGSYS),
            ("STKFLT", libc::SIGSTKFLT),
            ("RTMIN", libc::SIGRTMIN()),
            ("RTMIN+3", libc::SIGRTMIN() + 3),
            ("SIGRTMIN+3", libc::SIGRTMIN() + 3),
            ("rtmin+3", libc::SIGRTMIN() + 3),
            ("37", libc::SIGRTMIN() + 3),
            ("RTMIN+15", libc::SIGRTMIN() + 15),
            ("SIGRTMAX-2", libc::SIGRTMAX() - 2),
            ("RTMAX-14", libc::SIGRTMAX() - 14),
            ("RTMAX", libc::SIGRTMAX()),
            ("64", libc::SIGRTMAX()),
            ("1", 1),
            // Taken by NPTL and named by nothing, but a number is a number.
            ("32", 32),
        ];
        for (input, expected) in cases {
            assert_eq!(parse(input), Ok(expected), "{input:?}");
        }
        // The constants this module assumes are this machine's C library's.
        assert_eq!((RTMIN, RTMAX), (libc::SIGRTMIN(), libc::SIGRTMAX()));
        assert_eq!(SignalNumber::TERM.raw(), libc::SIGTERM);
        assert_eq!(SignalNumber::KILL.raw(), libc::SIGKILL);
        assert_eq!(SignalNumber::PWR.raw(), libc::SIGPWR);
    }

    #[test]
    fn nonsense_is_rejected_with_the_accepted_forms_listed() {
        for input in [
            "RTMIN+31",
            "RTMAX+1",
            "RTMIN-1",
            "RTMAX-31",
            "RTMIN+",
            "RTMIN+-3",
            "RTMIN3",
            "0",
            "65",
            "-15",
            "+3",
            "SIGFOO",
            "SIG",
            "",
            "  ",
            "TERM2",
            "SIG TERM",
            "99999999999",
        ] {
            let error = parse(input).expect_err(input);
            assert_eq!(error.input, input);
            let message = error.to_string();
            assert!(
                message.starts_with(&format!("`{input}` is not a signal")),
                "{message}"
            );
            for form in ["TERM", "SIGTERM", "1-64", "RTMIN+3", "SIGRTMAX-2"] {
                assert!(message.contains(form), "{message} lacks {form}");
            }
        }
    }

    #[test]
    fn name_round_trips_through_parse() {
        for n in (1..=64).filter(|n| !(32..=33).contains(n)) {
            let signal = SignalNumber(n);
            let name = signal.name();
            assert_eq!(
                name.parse::<SignalNumber>(),
                Ok(signal),
                "{n} printed as {name}"
            );
            assert_eq!(
                format!("SIG{name}").parse::<SignalNumber>(),
                Ok(signal),
                "SIG{name}"
            );
            assert!(!name.bytes().all(|b| b.is_ascii_digit()), "{n} has a name");
        }
        assert_eq!(SignalNumber(32).name(), "32");
        assert_eq!(SignalNumber(libc::SIGRTMIN() + 15).name(), "RTMIN+15");
        assert_eq!(SignalNumber(libc::SIGRTMIN() + 16).name(), "RTMAX-14");
    }

    #[test]
    fn realtime_means_rtmin_to_rtmax() {
        assert!(!SignalNumber(33).is_realtime(), "reserved, not usable");
        assert!(SignalNumber(libc::SIGRTMIN()).is_realtime());
        assert!(SignalNumber(libc::SIGRTMAX()).is_realtime());
        assert!(!SignalNumber::TERM.is_realtime());
    }

    #[test]
    fn serde_reads_names_and_numbers_and_writes_names() {
        #[derive(Debug, PartialEq, Deserialize, Serialize)]
        struct Doc {
            signal: SignalNumber,
        }
        let doc: Doc = toml::from_str("signal = \"SIGRTMIN+3\"").expect("a name");
        assert_eq!(doc.signal, SignalNumber(libc::SIGRTMIN() + 3));
        let doc: Doc = toml::from_str("signal = 15").expect("a number");
        assert_eq!(doc.signal, SignalNumber::TERM);
        assert_eq!(
            toml::to_string(&doc).expect("serialises"),
            "signal = \"TERM\"\n"
        );
        let error = toml::from_str::<Doc>("signal = 0").expect_err("not a signal");
        assert!(error.message().contains("`0` is not a signal"), "{error}");
    }

    /// How a real-time spelling is written: any case, with or without `SIG`.
    fn spell(prefix: bool, lower: bool, text: String) -> String {
        let text = if prefix { format!("SIG{text}") } else { text };
        if lower { text.to_lowercase() } else { text }
    }

    proptest::proptest! {
        /// Any integer is a signal exactly when it is 1 to the C library's SIGRTMAX.
        #[test]
        fn any_integer_is_a_signal_exactly_in_range(n in proptest::num::i64::ANY) {
            let expected = (1..=i64::from(libc::SIGRTMAX())).contains(&n);
            let parsed = parse(&n.to_string());
            proptest::prop_assert_eq!(parsed.is_ok(), expected, "{}", n);
            if expected {
                proptest::prop_assert_eq!(parsed.ok().map(i64::from), Some(n));
            }
        }

        /// `RTMIN+n` is the C library's SIGRTMIN() + n and `RTMAX-n` its SIGRTMAX() - n,
        /// while that is a real-time signal.
        #[test]
        fn realtime_offsets_agree_with_the_c_library(
            n in 0..=64i32, from_max: bool, prefix: bool, lower: bool, explicit_zero: bool,
        ) {
            let (base, sign, number) = if from_max {
                ("RTMAX", '-', libc::SIGRTMAX() - n)
            } else {
                ("RTMIN", '+', libc::SIGRTMIN() + n)
            };
            let text = if n == 0 && !explicit_zero {
                base.to_owned()
            } else {
                format!("{base}{sign}{n}")
            };
            let expected =
                (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&number).then_some(number);
            proptest::prop_assert_eq!(parse(&spell(prefix, lower, text)).ok(), expected);
        }

        /// Whatever is rejected gets the message that lists the accepted forms.
        #[test]
        fn any_rejected_text_lists_the_accepted_forms(text in "\\PC{0,12}") {
            if let Err(error) = parse(&text) {
                let message = error.to_string();
                proptest::prop_assert!(
                    message.contains("TERM, SIGTERM, term")
                        && message.contains("a number 1-64")
                        && message.contains("RTMIN+3"),
                    "{}", message
                );
            }
        }
    }
}
