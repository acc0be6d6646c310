//! A gate policy: which cases an image must pass and which static rules it may break. The
//! default asks the questions every image's PID 1 must answer; a TOML file can change them.

use std::path::Path;

use serde::Deserialize;

use super::rules::RULES;

/// The cases the default policy runs, when they exist in `cases/`.
pub const DEFAULT_CASES: &[&str] = &[
    "term-forward",
    "orphan-reaping",
    "grace-escalation",
    "exit-code",
];

/// The cases the default policy runs with the probe beside the app (`stop-before-kill` is a
/// gate case, in `fixtures/gate/cases`).
pub const DEFAULT_BESIDE_CASES: &[&str] = &["orphan-reaping", "stop-before-kill"];

/// What the gate requires of an image.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Cases whose `must` expectations the image has to pass.
    pub cases: Vec<String>,
    /// Static rules that may fire without failing the gate (they are still reported).
    #[serde(default)]
    pub allow: Vec<String>,
}

impl Policy {
    /// The default policy: `defaults` ([`DEFAULT_CASES`], [`DEFAULT_BESIDE_CASES`]) among
    /// `available`, no rule allowed.
    pub fn default_for(defaults: &[&str], available: &[String]) -> Policy {
        Policy {
            cases: defaults
                .iter()
                .filter(|name| available.iter().any(|a| a == *name))
                .map(|name| (*name).to_owned())
                .collect(),
            allow: Vec::new(),
        }
    }
}

/// Why a policy file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a policy.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong, with line and column.
        message: String,
    },
}

/// Read a policy file: `cases = [...]`, optional `allow = [RULE, ...]`; cases must exist in
/// `available` and rules must be known.
pub fn load_policy(path: &Path, available: &[String]) -> Result<Policy, PolicyError> {
    let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_policy(path, &text, available)
}

/// [`load_policy`] on text already read.
pub fn parse_policy(path: &Path, text: &str, available: &[String]) -> Result<Policy, PolicyError> {
    let parse_error = |message: String| PolicyError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let policy: Policy = toml::from_str(text).map_err(|error| parse_error(error.to_string()))?;
    if policy.cases.is_empty() {
        return Err(parse_error(
            "cases: empty: a gate that runs no case passes nothing".to_owned(),
        ));
    }
    for (index, case) in policy.cases.iter().enumerate() {
        if !available.contains(case) {
            return Err(parse_error(format!(
                "cases[{index}]: no case {case:?} (there are: {})",
                available.join(", ")
            )));
        }
    }
    for (index, rule) in policy.allow.iter().enumerate() {
        if !RULES.iter().any(|(id, _)| id == rule) {
            let known: Vec<&str> = RULES.iter().map(|(id, _)| *id).collect();
            return Err(parse_error(format!(
                "allow[{index}]: no rule {rule:?} (there are: {})",
                known.join(", ")
            )));
        }
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn available() -> Vec<String> {
        ["term-forward", "orphan-reaping"]
            .map(str::to_owned)
            .to_vec()
    }

    #[test]
    fn the_default_keeps_only_cases_that_exist() {
        assert_eq!(
            Policy::default_for(DEFAULT_CASES, &available()).cases,
            ["term-forward", "orphan-reaping"]
        );
    }

    #[test]
    fn unknown_cases_rules_and_empty_policies_are_refused_with_the_field() {
        let path = Path::new("gate.toml");
        let unknown = parse_policy(path, "cases = [\"nope\"]", &available());
        assert!(
            unknown
                .as_ref()
                .is_err_and(|e| e.to_string().contains("cases[0]")),
            "{unknown:?}"
        );
        let rule = parse_policy(
            path,
            "cases = [\"term-forward\"]\nallow = [\"NOPE\"]",
            &available(),
        );
        assert!(
            rule.as_ref()
                .is_err_and(|e| e.to_string().contains("allow[0]")),
            "{rule:?}"
        );
        let empty = parse_policy(path, "cases = []", &available());
        assert!(empty.is_err(), "{empty:?}");
        let good = parse_policy(
            path,
            "cases = [\"orphan-reaping\"]\nallow = [\"PID1-NO-INIT\"]",
            &available(),
        );
        assert!(good.is_ok_and(|p| p.allow == ["PID1-NO-INIT"]));
    }
}
