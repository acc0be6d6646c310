//! The rules serde cannot check: a case or candidate that parsed but cannot mean anything.
//! Each rule names the field it is about; [`super::span::Doc`] turns that into a place.

use std::collections::BTreeMap;

use crate::signal::SignalNumber;
use crate::spec::{
    Candidate, CandidateKind, Case, EVERY, ExpectationKind, Install, MAX_SIGNAL_COUNT, Node,
    Profile, SignalRef, Step, Target, WorkloadExec,
};
use crate::stop::check_profile;

use super::span::{Anchor, Doc, FieldPath};

/// A broken rule: which field, which end of it to point at, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Invalid {
    pub(super) path: FieldPath,
    pub(super) anchor: Anchor,
    pub(super) message: String,
}

fn at(path: FieldPath, message: impl Into<String>) -> Invalid {
    Invalid {
        path,
        anchor: Anchor::Value,
        message: message.into(),
    }
}

/// Role names that mean something other than a workload process in traces and targets.
/// `init` is the candidate when a parent is PID 1 (`[sandbox] pid1 = "parent"`).
const RESERVED_ROLES: &[&str] = &["pid1", pid1check_probe::INIT_ROLE, "runtime", "outside"];

/// Placeholders a candidate's argv may use.
const PLACEHOLDERS: &[&str] = &["bin", "workload", "dir"];

/// Checks a parsed case; the first broken rule, in file order as far as it can tell.
pub(super) fn validate_case(case: &Case, doc: &Doc<'_>) -> Result<(), Invalid> {
    let root = FieldPath::root();
    not_blank(
        &case.title,
        root.key("title"),
        "say in one line what the case checks",
    )?;
    not_blank(
        &case.why,
        root.key("why"),
        "say why this matters when a container stops",
    )?;
    cited(
        &case.sources,
        root.key("sources"),
        "cite where the behaviour comes from (`project: path/file (function) — what it establishes`)",
    )?;

    let workload = root.key("workload");
    if case.workload.orphan {
        return Err(at(
            workload.key("orphan"),
            "the root of the workload is the process the candidate starts, so it cannot be an orphan",
        ));
    }
    let mut roles = BTreeMap::new();
    check_node(&case.workload, &workload, &mut roles, doc)?;

    let steps = root.key("stop").key("steps");
    if case.stop.steps.is_empty() {
        return Err(at(
            steps,
            "is empty: give at least one step (`{ kind = \"stop\" }` runs the profile's stop sequence)",
        ));
    }
    let mut first_stop = None;
    // Every scan's label, zombie or state, with the kind of scan: one label, one scan.
    let mut labels: BTreeMap<&str, (FieldPath, &str)> = BTreeMap::new();

    for (index, step) in case.stop.steps.iter().enumerate() {
        let here = steps.index(index);
        match step {
            Step::Stop => {
                if let Some(first) = &first_stop {
                    return Err(at(
                        here,
                        format!(
                            "a second `stop` step: the profile's stop sequence runs once per run \
                             (the first is {first})"
                        ),
                    ));
                }
                first_stop = Some(here);
            }
            Step::Signal { target, count, .. } => {
                if !(1..=MAX_SIGNAL_COUNT).contains(count) {
                    return Err(at(
                        here.key("count"),
                        format!(
                            "{count} is out of range: send a signal from 1 to {MAX_SIGNAL_COUNT} \
                             times"
                        ),
                    ));
                }
                if let Target::Role(role) = target
                    && !roles.contains_key(role.as_str())
                {
                    return Err(at(
                        here.key("target"),
                        format!(
                            "no workload process has the role {role:?} (targets: pid1, {})",
                            role_list(&roles)
                        ),
                    ));
                }
            }
            // `pid1`: wait for PID 1 to exit by itself, as a runtime waits out its grace.
            Step::WaitExit { role, .. } if role == "pid1" => {}
            Step::WaitExit { role, .. } => role_exists(&roles, role, here.key("role"))?,
            Step::ScanZombies { label, .. } | Step::ScanStates { label, .. } => {
                if let Some((first, _)) = labels.get(label.as_str()) {
                    return Err(at(
                        here.key("label"),
                        format!("the label {label:?} is already used by {first}"),
                    ));
                }
                let kind = match step {
                    Step::ScanZombies { .. } => SCAN_ZOMBIES,
                    _ => SCAN_STATES,
                };
                labels.insert(label, (here, kind));
            }
            Step::Freeze { within_ms } => {
                if *within_ms == 0 {
                    return Err(at(
                        here.key("within_ms"),
                        "is 0: give the freeze time to see every process stopped (250 ms is \
                         plenty; it is not scaled)",
                    ));
                }
            }
            Step::Pause { .. } => {}
            Step::Exec { command, .. } => {
                if command
                    .first()
                    .is_none_or(|program| program.trim().is_empty())
                {
                    return Err(at(
                        here.key("command"),
                        "is empty: give the command to run inside, like [\"kill\", \"-TERM\", \"1\"]",
                    ));
                }
            }
        }
    }

    let known = Known {
        roles: &roles,
        labels: &labels,
    };
    check_expectations(&case.must, &case.should, &root, &known)?;
    let readings = root.key("reading");
    for (kind, reading) in &case.reading {
        let here = readings.key(kind.name());
        let expects = !reading.must.is_empty() || !reading.should.is_empty();
        match (&reading.not_applicable, expects) {
            (Some(reason), false) => not_blank(
                reason,
                here.key("not_applicable"),
                "say why the case says nothing about this kind of candidate",
            )?,
            (Some(_), true) => {
                return Err(at(
                    here.key("not_applicable"),
                    format!(
                        "a reading is either `not_applicable` or expectations, not both: drop \
                         this line or the reading's must/should for {}",
                        kind.name()
                    ),
                ));
            }
            (None, false) => {
                return Err(at(
                    here,
                    format!(
                        "the {} reading is empty: give it `must`/`should` expectations, or \
                         `not_applicable = \"why\"`",
                        kind.name()
                    ),
                ));
            }
            (None, true) => check_expectations(&reading.must, &reading.should, &here, &known)?,
        }
    }
    Ok(())
}

/// What expectations may refer to: the workload's roles and the scans' labels with their kind.
struct Known<'a> {
    roles: &'a BTreeMap<String, FieldPath>,
    labels: &'a BTreeMap<&'a str, (FieldPath, &'a str)>,
}

/// Every `must` and `should` expectation under `root` names a role and a scan that exist and
/// has the fields its kind needs.
fn check_expectations(
    must: &[ExpectationKind],
    should: &[ExpectationKind],
    root: &FieldPath,
    known: &Known<'_>,
) -> Result<(), Invalid> {
    let labels = known.labels;
    for (level, list) in [("must", must), ("should", should)] {
        for (index, expectation) in list.iter().enumerate() {
            let here = root.key(level).index(index);
            if let ExpectationKind::Caught {
                at_least, times, ..
            } = expectation
            {
                match (at_least, times) {
                    (Some(_), Some(_)) => {
                        return Err(at(
                            here.key("times"),
                            "caught takes at most one of `at_least` or `times`, not both",
                        ));
                    }
                    (Some(0), None) => {
                        return Err(at(
                            here.key("at_least"),
                            "0 is always met: give at least 1, or use `not-caught`",
                        ));
                    }
                    _ => {}
                }
            }
            match expectation {
                ExpectationKind::Caught { role, .. }
                | ExpectationKind::NotCaught { role, .. }
                | ExpectationKind::ExitedCleanly { role, .. }
                | ExpectationKind::KilledBy { role, .. }
                | ExpectationKind::RebootFailed { role, .. } => {
                    role_exists(known.roles, role, here.key("role"))?
                }
                ExpectationKind::NoZombies { scan } => {
                    scan_exists(labels, scan, SCAN_ZOMBIES, here.key("scan"))?;
                }
                ExpectationKind::NotStopped { scan, role } => {
                    scan_exists(labels, scan, SCAN_STATES, here.key("scan"))?;
                    if role != "pid1" && !known.roles.contains_key(role.as_str()) {
                        return Err(at(
                            here.key("role"),
                            format!(
                                "no workload process has the role {role:?} (roles: pid1, {})",
                                role_list(known.roles)
                            ),
                        ));
                    }
                }
                ExpectationKind::Pid1Exit { code, signal } => match (code, signal) {
                    (Some(_), Some(_)) => {
                        return Err(at(
                            here.key("signal"),
                            "pid1-exit takes exactly one of `code` or `signal`, not both",
                        ));
                    }
                    (None, None) => {
                        return Err(at(
                            here,
                            "pid1-exit needs exactly one of `code` (an exit status) or `signal` \
                             (the signal that ended PID 1)",
                        ));
                    }
                    _ => {}
                },
                ExpectationKind::NoEscalation
                | ExpectationKind::Escalated
                | ExpectationKind::NoSurvivors
                | ExpectationKind::Pid1ExitNonzero
                | ExpectationKind::Pid1ExitsBeforeStop
                | ExpectationKind::ConsoleNamesWorkload => {}
            }
        }
    }
    Ok(())
}

/// The step kinds that take a label, as case files spell them.
const SCAN_ZOMBIES: &str = "scan-zombies";
const SCAN_STATES: &str = "scan-states";

/// An expectation's `scan` names a step of `kind`: the labels of that kind are listed.
fn scan_exists(
    labels: &BTreeMap<&str, (FieldPath, &str)>,
    scan: &str,
    kind: &str,
    path: FieldPath,
) -> Result<(), Invalid> {
    if labels.get(scan).is_some_and(|(_, found)| *found == kind) {
        return Ok(());
    }
    let known: Vec<&str> = labels
        .iter()
        .filter(|(_, (_, found))| *found == kind)
        .map(|(label, _)| *label)
        .collect();
    let known = if known.is_empty() {
        format!("none: add a `{kind}` step")
    } else {
        known.join(", ")
    };
    Err(at(
        path,
        format!("no `{kind}` step has the label {scan:?} (labels: {known})"),
    ))
}

/// Role name, uniqueness and behaviours of one node, then its children, depth first.
fn check_node(
    node: &Node,
    path: &FieldPath,
    roles: &mut BTreeMap<String, FieldPath>,
    doc: &Doc<'_>,
) -> Result<(), Invalid> {
    let role = &node.role;
    let role_path = path.key("role");
    if !is_role_name(role) {
        return Err(at(
            role_path,
            format!(
                "{role:?} is not a role name: use lowercase letters, digits and '-', \
                 starting with a letter"
            ),
        ));
    }
    if RESERVED_ROLES.contains(&role.as_str()) {
        return Err(at(
            role_path,
            format!(
                "the role {role:?} is reserved: pid1, runtime and outside name the processes \
                 around the workload"
            ),
        ));
    }
    if let Some(first) = roles.get(role) {
        return Err(at(
            role_path,
            format!("the role {role:?} is already used by {first}: roles must be unique"),
        ));
    }
    roles.insert(role.clone(), path.clone());

    let on = path.key("on");
    for uncatchable in [SignalNumber::KILL, SignalNumber(libc::SIGSTOP)] {
        if node.on.contains_key(&SignalRef::Signal(uncatchable)) {
            return Err(Invalid {
                path: on.signal(uncatchable),
                anchor: Anchor::Key,
                message: format!(
                    "SIG{uncatchable} cannot be caught or ignored (signal(7)), so a process \
                     can have no behaviour for it"
                ),
            });
        }
    }
    // `on.TERM` and `on.SIGTERM` are different TOML keys but one map key: serde keeps one.
    let mut spelled: BTreeMap<SignalNumber, String> = BTreeMap::new();
    for key in doc.keys(&on) {
        let Ok(signal) = key.parse::<SignalNumber>() else {
            continue; // `stop`
        };
        if let Some(first) = spelled.get(&signal) {
            return Err(Invalid {
                path: on.key(&key),
                anchor: Anchor::Key,
                message: format!(
                    "{first} and {key} both name SIG{signal}: give each signal one behaviour"
                ),
            });
        }
        spelled.insert(signal, key);
    }

    if node.exec != WorkloadExec::Probe && !node.children.is_empty() {
        return Err(at(
            path.key("exec"),
            format!(
                "a workload that cannot be executed (`exec = \"{}\"`) starts nothing: drop its \
                 children",
                node.exec.name()
            ),
        ));
    }
    if node.reboot.is_some() && node.reboot_after_ms.is_none() {
        return Err(at(
            path.key("reboot"),
            "says which reboot(2) command, but not when: add `reboot_after_ms`",
        ));
    }

    for (index, child) in node.children.iter().enumerate() {
        let here = path.key("children").index(index);
        if child.exec != WorkloadExec::Probe {
            return Err(at(
                here.key("exec"),
                "only the root of the workload is what PID 1 executes: `exec` belongs there",
            ));
        }
        check_node(child, &here, roles, doc)?;
    }
    Ok(())
}

/// `[a-z][a-z0-9-]*`.
fn is_role_name(role: &str) -> bool {
    let mut bytes = role.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn not_blank(value: &str, path: FieldPath, hint: &str) -> Result<(), Invalid> {
    if value.trim().is_empty() {
        Err(at(path, format!("is empty: {hint}")))
    } else {
        Ok(())
    }
}

/// Checks a parsed candidate; the first broken rule.
pub(super) fn validate_candidate(candidate: &Candidate) -> Result<(), Invalid> {
    let root = FieldPath::root();
    not_blank(
        &candidate.title,
        root.key("title"),
        "say in one line what this init is",
    )?;

    let argv = root.key("argv");
    if candidate.argv.is_empty() {
        return Err(at(
            argv,
            "is empty: give PID 1's argv, with `{workload}` where the workload goes",
        ));
    }
    let mut workload_at: Option<FieldPath> = None;
    for (index, arg) in candidate.argv.iter().enumerate() {
        let here = argv.index(index);
        for name in placeholders(arg) {
            if !PLACEHOLDERS.contains(&name) {
                return Err(at(
                    here,
                    format!(
                        "unknown placeholder {{{name}}} (placeholders: {{bin}}, {{workload}}, \
                         {{dir}}; write shell variables as $NAME)"
                    ),
                ));
            }
            if name == "workload" && arg != "{workload}" {
                return Err(at(
                    here,
                    "{workload} must be an argument of its own: it stands for the whole \
                     workload command",
                ));
            }
        }
        if arg == "{workload}" {
            if let Some(first) = &workload_at {
                return Err(at(
                    here,
                    format!(
                        "{{workload}} appears twice (first at {first}): the workload runs once"
                    ),
                ));
            }
            workload_at = Some(here);
        }
    }
    // A system manager may start the workload from its own configuration instead (a unit
    // file among the image's files, with the probe's fixed path as its command).
    let configured = candidate.kind == CandidateKind::SystemManager && !candidate.files.is_empty();
    if workload_at.is_none() && !configured {
        return Err(at(
            argv,
            "has no `{workload}` argument: PID 1 must be told to start the workload (a \
             system-manager may instead start it from its `files`)",
        ));
    }
    for (index, file) in candidate.files.iter().enumerate() {
        let here = root.key("files").index(index);
        if !file.at.starts_with('/') {
            return Err(at(
                here.key("at"),
                format!("{:?} is not absolute: say where the image has it", file.at),
            ));
        }
        if file.source.starts_with('/') || file.source.split('/').any(|part| part == "..") {
            return Err(at(
                here.key("source"),
                format!(
                    "{:?} must be relative to the candidate's directory, without `..`",
                    file.source
                ),
            ));
        }
    }

    for (index, race) in candidate.races.iter().enumerate() {
        let here = root.key("races").index(index);
        names_or_every(&race.cases, here.key("cases"), "case")?;
        names_or_every(&race.profiles, here.key("profiles"), "profile")?;
        not_blank(
            &race.why,
            here.key("why"),
            "say what in the init makes these runs chance, citing its source",
        )?;
    }

    if let Some(spelling) = &candidate.stop_signal
        && let Err(error) = spelling.parse::<SignalNumber>()
    {
        return Err(at(root.key("stop_signal"), error.to_string()));
    }

    let install = root.key("install");
    match &candidate.install {
        Install::Debian {
            package,
            binary,
            extra_packages,
        } => {
            not_blank(package, install.key("package"), "name the Debian package")?;
            if !stays_inside(binary) {
                return Err(at(
                    install.key("binary"),
                    format!(
                        "{binary:?} is not a path inside the package: write it relative to the \
                         package root, like \"usr/bin/tini\""
                    ),
                ));
            }
            for (index, extra) in extra_packages.iter().enumerate() {
                not_blank(
                    extra,
                    install.key("extra_packages").index(index),
                    "name the Debian package",
                )?;
            }
        }
        Install::Pypi { package, script } => {
            not_blank(package, install.key("package"), "name the PyPI package")?;
            let plain = !script.is_empty() && !script.contains('/') && !script.starts_with('.');
            if !plain {
                return Err(at(
                    install.key("script"),
                    format!(
                        "{script:?} is not a file name: name the console script the package \
                         installs into the venv's bin/, like \"systemctl.py\""
                    ),
                ));
            }
        }
        Install::Host { path } => {
            if !path.starts_with('/') {
                return Err(at(
                    install.key("path"),
                    format!(
                        "{path:?} is not an absolute path: write where it is, like \"/bin/sh\""
                    ),
                ));
            }
        }
        Install::Probe => {}
        Install::Fixture { path, binary } => {
            if !stays_inside(path) {
                return Err(at(
                    install.key("path"),
                    format!(
                        "{path:?} is not a crate directory of the workspace: write it relative \
                         to the workspace root, like \"fixtures/hostile\""
                    ),
                ));
            }
            let plain = !binary.is_empty() && !binary.contains('/') && !binary.starts_with('.');
            if !plain {
                return Err(at(
                    install.key("binary"),
                    format!("{binary:?} is not a binary name: write its `[[bin]] name`"),
                ));
            }
        }
        Install::Image { .. } => {}
    }
    Ok(())
}

/// `sources` cites at least one source, and none is blank.
fn cited(sources: &[String], path: FieldPath, hint: &str) -> Result<(), Invalid> {
    if sources.is_empty() {
        return Err(at(path, format!("is empty: {hint}")));
    }
    for (index, source) in sources.iter().enumerate() {
        not_blank(source, path.index(index), "cite a source")?;
    }
    Ok(())
}

/// A race's `cases` or `profiles`: names, or `"*"` alone; which names exist is checked when
/// the matrix is assembled ([`crate::spec::check_race_names`]).
fn names_or_every(names: &[String], path: FieldPath, what: &str) -> Result<(), Invalid> {
    if names.is_empty() {
        return Err(at(
            path,
            format!("is empty: name a {what}, or write [\"*\"] for every {what}"),
        ));
    }
    for (index, name) in names.iter().enumerate() {
        not_blank(name, path.index(index), &format!("name a {what}"))?;
        if name == EVERY && names.len() > 1 {
            return Err(at(
                path.index(index),
                format!("\"*\" means every {what}: write it alone"),
            ));
        }
    }
    Ok(())
}

/// Every name in a race's `cases` and `profiles` is `"*"` or one of `cases` / `profiles`.
pub(super) fn known_race_names(
    candidate: &Candidate,
    cases: &[&str],
    profiles: &[&str],
) -> Result<(), Invalid> {
    for (index, race) in candidate.races.iter().enumerate() {
        let here = FieldPath::root().key("races").index(index);
        for (field, names, known, what) in [
            ("cases", &race.cases, cases, "case"),
            ("profiles", &race.profiles, profiles, "profile"),
        ] {
            for (at_index, name) in names.iter().enumerate() {
                if name != EVERY && !known.contains(&name.as_str()) {
                    return Err(at(
                        here.key(field).index(at_index),
                        format!("no {what} named {name:?} ({what}s: {})", known.join(", ")),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Checks a parsed profile; the first broken rule.
pub(super) fn validate_profile(profile: &Profile) -> Result<(), Invalid> {
    let root = FieldPath::root();
    not_blank(
        &profile.title,
        root.key("title"),
        "say in one line which runtime and configuration this is",
    )?;
    cited(
        &profile.sources,
        root.key("sources"),
        "cite the runtime's code or documentation for each fact",
    )?;
    if let Err(error) = check_profile(profile) {
        return Err(at(root.key("signal"), error.message));
    }
    if let Some(command) = &profile.pre_stop
        && command
            .first()
            .is_none_or(|program| program.trim().is_empty())
    {
        return Err(at(
            root.key("pre_stop"),
            "is empty: give the hook's command, like [\"kill\", \"-RTMIN+3\", \"1\"]",
        ));
    }
    Ok(())
}

/// Whether `path` is relative and cannot climb out of the directory it is relative to.
fn stays_inside(path: &str) -> bool {
    !path.is_empty() && !path.starts_with('/') && !path.split('/').any(|part| part == "..")
}

/// The `{name}` placeholders in an argument, `name` being `[A-Za-z_][A-Za-z0-9_]*`; other
/// braces (`${1}`, `{}`) are left alone.
fn placeholders(arg: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find('}') else { break };
        let name = &rest[..close];
        let mut bytes = name.bytes();
        let is_name = bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if is_name {
            found.push(name);
            rest = &rest[close + 1..];
        }
    }
    found
}

/// The workload's roles, for messages: `app, worker`.
fn role_list(roles: &BTreeMap<String, FieldPath>) -> String {
    roles.keys().cloned().collect::<Vec<_>>().join(", ")
}

/// `role` is a role of the workload, or an error at `path` listing the roles there are.
fn role_exists(
    roles: &BTreeMap<String, FieldPath>,
    role: &str,
    path: FieldPath,
) -> Result<(), Invalid> {
    if roles.contains_key(role) {
        Ok(())
    } else {
        Err(at(
            path,
            format!(
                "no workload process has the role {role:?} (roles: {})",
                role_list(roles)
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names() {
        for good in ["app", "worker-2", "a"] {
            assert!(is_role_name(good), "{good}");
        }
        for bad in ["", "App", "2app", "-app", "app_1", "app worker", "é"] {
            assert!(!is_role_name(bad), "{bad}");
        }
    }

    #[test]
    fn placeholders_are_names_in_braces() {
        assert_eq!(placeholders("{bin}"), ["bin"]);
        assert_eq!(placeholders("{dir}/run.sh {x}"), ["dir", "x"]);
        assert!(placeholders("${1} {} { bin } {2x}").is_empty());
        assert_eq!(placeholders("{{bin}"), ["bin"]);
    }
}
