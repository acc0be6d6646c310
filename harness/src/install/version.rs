//! Debian version strings (`[epoch:]upstream[-revision]`): their order, as dpkg compares them
//! (Debian Policy §5.6.12), and their upstream part, which is what a program's `--version`
//! prints.

use std::cmp::Ordering;

/// Compares two Debian versions the way `dpkg --compare-versions` does: epoch numerically,
/// then upstream version, then revision, each with [`compare_fragment`].
pub(crate) fn compare_debian_versions(a: &str, b: &str) -> Ordering {
    let (epoch_a, upstream_a, revision_a) = split(a);
    let (epoch_b, upstream_b, revision_b) = split(b);
    epoch_a
        .cmp(&epoch_b)
        .then_with(|| compare_fragment(upstream_a, upstream_b))
        .then_with(|| compare_fragment(revision_a, revision_b))
}

/// The upstream part of a Debian version: `0.19.0-1+b3` → `0.19.0`, `1:2.36-9` → `2.36`.
/// (What a program's own `--version` prints; the tests compare the two.)
#[cfg(test)]
pub(crate) fn upstream_version(version: &str) -> &str {
    split(version).1
}

/// Splits `[epoch:]upstream[-revision]`; the epoch is 0 when absent or not a number, the
/// revision empty when absent (the upstream part may itself contain `-`, so split at the last).
fn split(version: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match version.split_once(':') {
        Some((epoch, rest)) => (epoch.parse().unwrap_or(0), rest),
        None => (0, version),
    };
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, revision),
        None => (epoch, rest, ""),
    }
}

/// dpkg's `verrevcmp`: alternate runs of non-digits (compared character by character, `~`
/// before everything including the end, letters before other characters) and runs of digits
/// (compared as numbers).
fn compare_fragment(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    while !a.is_empty() || !b.is_empty() {
        let (letters_a, rest_a) = split_run(a, |c| !c.is_ascii_digit());
        let (letters_b, rest_b) = split_run(b, |c| !c.is_ascii_digit());
        let longest = letters_a.len().max(letters_b.len());
        for i in 0..longest {
            let order = weight(letters_a.get(i).copied()).cmp(&weight(letters_b.get(i).copied()));
            if order != Ordering::Equal {
                return order;
            }
        }
        let (digits_a, rest_a) = split_run(rest_a, |c| c.is_ascii_digit());
        let (digits_b, rest_b) = split_run(rest_b, |c| c.is_ascii_digit());
        let order = compare_digits(digits_a, digits_b);
        if order != Ordering::Equal {
            return order;
        }
        (a, b) = (rest_a, rest_b);
    }
    Ordering::Equal
}

/// The sort weight of one character of a non-digit run (`None`: the run has ended).
fn weight(c: Option<u8>) -> i32 {
    match c {
        Some(b'~') => -1,
        None => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// Compares two runs of ASCII digits as numbers of any length.
fn compare_digits(a: &[u8], b: &[u8]) -> Ordering {
    let trim = |s: &[u8]| -> usize { s.iter().take_while(|&&c| c == b'0').count() };
    let (a, b) = (&a[trim(a)..], &b[trim(b)..]);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Splits off the longest prefix whose bytes satisfy `keep`.
fn split_run(s: &[u8], keep: impl Fn(u8) -> bool) -> (&[u8], &[u8]) {
    let end = s.iter().position(|&c| !keep(c)).unwrap_or(s.len());
    s.split_at(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_part_drops_epoch_and_revision() {
        assert_eq!(upstream_version("0.19.0-1+b3"), "0.19.0");
        assert_eq!(upstream_version("1.2.5-2"), "1.2.5");
        assert_eq!(upstream_version("1:2.36-9+deb12u14"), "2.36");
        assert_eq!(upstream_version("2.1.2-54+b2"), "2.1.2");
        assert_eq!(upstream_version("1.0-rc1-3"), "1.0-rc1");
        assert_eq!(upstream_version("0.5.12"), "0.5.12");
    }

    #[test]
    fn order_follows_dpkg() {
        // Each pair is ascending, as `dpkg --compare-versions A lt B` answers.
        let ascending = [
            ("0.19.0-1", "0.19.0-1+b3"),
            ("0.19.0-1+b3", "0.19.0-2"),
            ("1.0~rc1-1", "1.0-1"),
            ("1.0~~", "1.0~"),
            ("1.0", "1.0a"),
            ("1.0a", "1.0+"),
            ("1.2.5-2", "1.2.10-1"),
            ("9.9", "1:0.1"),
            ("2.36-9+deb12u9", "2.36-9+deb12u14"),
            ("0.5.12-2", "0.5.12-2.1"),
        ];
        for (low, high) in ascending {
            assert_eq!(
                compare_debian_versions(low, high),
                Ordering::Less,
                "{low} < {high}"
            );
            assert_eq!(
                compare_debian_versions(high, low),
                Ordering::Greater,
                "{high} > {low}"
            );
        }
        assert_eq!(compare_debian_versions("1.01-1", "1.1-1"), Ordering::Equal);
        assert_eq!(compare_debian_versions("0:1.0", "1.0"), Ordering::Equal);
        assert_eq!(compare_debian_versions("1.0-0", "1.0"), Ordering::Equal);
    }
}
