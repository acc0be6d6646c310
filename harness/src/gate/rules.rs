//! Static checks: what an image's config alone says about how it will stop, before anything
//! runs. Each finding has a rule id, one line on what is wrong and one on how to fix it.

use std::path::Path;

use serde::Serialize;

use crate::image::ImageConfig;
use crate::image::elf::Libc;
use crate::image::rootfs::{find_command, interpreter_of, libc_in_root, resolve_in_root};
use crate::signal::SignalNumber;
use crate::spec::{Profile, Runtime};
use crate::stop::{RTMIN_3, Reading, SignalSyntax};

/// How much a finding matters to the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Worth knowing; never fails the gate.
    Warning,
    /// The image will not stop cleanly under this profile: fails the gate.
    Error,
}

impl Severity {
    /// The word reports use (the serde spelling).
    pub fn name(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One static finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable id (`PID1-SHELL-FORM`), for policies that allow a rule.
    pub rule: &'static str,
    /// Whether it fails the gate.
    pub severity: Severity,
    /// What is wrong, in one line.
    pub finding: String,
    /// How to fix it, in one line.
    pub fix: String,
}

/// Every rule the gate knows, with one line on what it checks (for `--list-rules` and docs).
pub const RULES: &[(&str, &str)] = &[
    (
        "PID1-SYSTEMD-STOPSIGNAL",
        "systemd or /sbin/init as PID 1 without STOPSIGNAL SIGRTMIN+3: SIGTERM makes systemd re-execute, not halt",
    ),
    (
        "PID1-SHELL-FORM",
        "a shell-form entrypoint (`/bin/sh -c ...`): the shell is PID 1 and does not forward the stop signal",
    ),
    (
        "PID1-NO-INIT",
        "no known init in front of the command: nothing reaps orphans or forwards signals unless the app does",
    ),
    (
        "STOPSIGNAL-MANGLED",
        "a STOPSIGNAL that a runtime's parser rejects or silently replaces with SIGTERM",
    ),
    (
        "STOPSIGNAL-MUSL-RTMIN",
        "SIGRTMIN+3 for a musl program: runtimes send glibc's 37, musl's SIGRTMIN+3 is 38",
    ),
    (
        "ENTRYPOINT-MISSING",
        "the entrypoint (or its dynamic loader) is not in the image, or there is no entrypoint or cmd",
    ),
];

/// Other inits that reap zombies and handle the stop signal (service managers), by the
/// basename of PID 1's program.
const SUPERVISORS: &[&str] = &[
    "s6-svscan",
    "s6-overlay-suexec",
    "runsvdir",
    "runit",
    "runit-init",
    "pid1",
    "supervisord",
    "systemd",
    "init",
    "openrc-init",
    "busybox",
];

/// Inits that start one command given as their arguments and forward signals to it: the
/// probe can take the app's place in their argv.
pub const FORWARDERS: &[&str] = &[
    "tini",
    "tini-static",
    "docker-init",
    "dumb-init",
    "catatonit",
];

/// Shells that become PID 1 in a shell-form entrypoint.
const SHELLS: &[&str] = &["sh", "bash", "dash", "ash", "zsh", "ksh"];

/// The static findings for an image with `config` unpacked at `rootfs`, stopped under
/// `profile`.
pub fn check(config: &ImageConfig, rootfs: &Path, profile: &Profile) -> Vec<Finding> {
    let argv = config.argv();
    let mut findings = Vec::new();
    let Some(program) = argv.first() else {
        findings.push(Finding {
            rule: "ENTRYPOINT-MISSING",
            severity: Severity::Error,
            finding: "the image has neither Entrypoint nor Cmd: there is no PID 1 to run"
                .to_owned(),
            fix: "set ENTRYPOINT [\"/usr/bin/tini\", \"--\"] and CMD [\"your-app\"]".to_owned(),
        });
        return findings;
    };
    let base = basename(program);
    let binary = find_command(rootfs, program, &config.env);
    if binary.is_none() {
        findings.push(Finding {
            rule: "ENTRYPOINT-MISSING",
            severity: Severity::Error,
            finding: format!("{program:?} is not an executable file in the image"),
            fix: "install it in the image, or correct ENTRYPOINT/CMD".to_owned(),
        });
    }
    if let Some(interp) = binary.as_deref().and_then(interpreter_of)
        && resolve_in_root(rootfs, &interp).is_none()
    {
        findings.push(Finding {
            rule: "ENTRYPOINT-MISSING",
            severity: Severity::Error,
            finding: format!(
                "{program} needs the dynamic loader {interp}, which is not in the image: \
                 exec fails with ENOENT"
            ),
            fix: "copy the loader and the libraries `ldd` lists into the image, or build the \
                  program statically"
                .to_owned(),
        });
    }
    let stop = config.stop_signal.as_deref();
    let stop_number = stop.and_then(|s| s.parse::<SignalNumber>().ok());
    let systemd = is_systemd(program);
    if systemd && stop_number != Some(RTMIN_3) {
        findings.push(Finding {
            rule: "PID1-SYSTEMD-STOPSIGNAL",
            severity: Severity::Error,
            finding: format!(
                "PID 1 is {program} with STOPSIGNAL {}: systemd re-executes on SIGTERM \
                 instead of shutting down, so every stop ends in SIGKILL",
                stop.unwrap_or("unset (SIGTERM)")
            ),
            fix: "add STOPSIGNAL SIGRTMIN+3 (systemd's halt request)".to_owned(),
        });
    }
    let shell_form = SHELLS.contains(&base) && argv.get(1).is_some_and(|a| a == "-c");
    if shell_form {
        findings.push(Finding {
            rule: "PID1-SHELL-FORM",
            severity: Severity::Error,
            finding: format!(
                "PID 1 is the shell {program} (`{}`): it does not forward the stop signal \
                 to the command it runs",
                argv.join(" ")
            ),
            fix: "use the exec form (ENTRYPOINT [\"/usr/bin/tini\", \"--\", \"app\"]), or \
                  `exec app` at the end of the script"
                .to_owned(),
        });
    } else if !systemd && !FORWARDERS.contains(&base) && !SUPERVISORS.contains(&base) {
        findings.push(Finding {
            rule: "PID1-NO-INIT",
            severity: Severity::Warning,
            finding: format!(
                "PID 1 is {program}, not a known init: orphans are reaped and the stop signal \
                 handled only if the program does it itself"
            ),
            fix: "put an init in front: ENTRYPOINT [\"/usr/bin/tini\", \"--\"] (or run with \
                  `docker run --init`)"
                .to_owned(),
        });
    }
    if let Some(spelling) = stop {
        findings.extend(mangled(spelling, profile));
    }
    if stop_number == Some(RTMIN_3)
        && let Some(binary) = &binary
        && libc_in_root(rootfs, binary) == Libc::Musl
    {
        findings.push(Finding {
            rule: "STOPSIGNAL-MUSL-RTMIN",
            severity: Severity::Error,
            finding: format!(
                "{program} is a musl program and STOPSIGNAL {:?} is sent as 37 (glibc's \
                 SIGRTMIN+3); musl's SIGRTMIN+3 is 38, so it receives SIGRTMIN+2",
                stop.unwrap_or_default()
            ),
            fix: "write STOPSIGNAL 38 (musl's SIGRTMIN+3 as a number)".to_owned(),
        });
    }
    findings
}

/// The runtimes' parsers that do not read `spelling` as written: an error when the profile's
/// own runtime is one of them, a warning otherwise.
fn mangled(spelling: &str, profile: &Profile) -> Vec<Finding> {
    let parsers = [
        (
            SignalSyntax::CrioLegacy,
            Runtime::CrioLegacy,
            "CRI-O before 1.22",
        ),
        (SignalSyntax::Runc, Runtime::CrioLegacy, "runc kill"),
    ];
    let mut findings = Vec::new();
    let moby = SignalSyntax::Moby.read(spelling);
    if let Reading::Rejected(message) = &moby {
        findings.push(Finding {
            rule: "STOPSIGNAL-MANGLED",
            severity: Severity::Error,
            finding: format!(
                "STOPSIGNAL {spelling:?} is refused by docker and containerd: {message}"
            ),
            fix: "write a signal name like SIGTERM, or a number".to_owned(),
        });
        return findings;
    }
    for (syntax, runtime, who) in parsers {
        let reading = syntax.read(spelling);
        let what = match &reading {
            Reading::Signal(_) => continue,
            Reading::Replaced(signal) => format!("silently replaces it with {signal}"),
            Reading::Rejected(message) => format!("rejects it ({message})"),
        };
        let severity = if profile.runtime == runtime {
            Severity::Error
        } else {
            Severity::Warning
        };
        findings.push(Finding {
            rule: "STOPSIGNAL-MANGLED",
            severity,
            finding: format!("STOPSIGNAL {spelling:?}: {who}'s parser {what}"),
            fix: match syntax {
                SignalSyntax::Runc => "write the number (37) where runc reads the signal name",
                _ => "upgrade CRI-O (1.22+), or stop with a signal below 32 written SIGNAME",
            }
            .to_owned(),
        });
    }
    findings
}

fn basename(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

/// podman's systemd detection (`/sbin/init`, `/usr/sbin/init`, or a program named systemd).
fn is_systemd(program: &str) -> bool {
    matches!(
        program,
        "/sbin/init" | "/usr/sbin/init" | "/usr/local/sbin/init"
    ) || basename(program) == "systemd"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(argv: &[&str], stop: Option<&str>) -> ImageConfig {
        ImageConfig {
            entrypoint: argv.iter().map(|s| (*s).to_owned()).collect(),
            stop_signal: stop.map(str::to_owned),
            ..ImageConfig::default()
        }
    }

    fn rules(findings: &[Finding]) -> Vec<(&'static str, Severity)> {
        findings.iter().map(|f| (f.rule, f.severity)).collect()
    }

    fn root_with(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for file in files {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, "x").expect("write");
        }
        dir
    }

    #[test]
    fn shell_form_and_systemd_without_rtmin3_are_errors_tini_is_clean() {
        let root = root_with(&["bin/sh", "sbin/init", "usr/bin/tini", "app"]);
        let docker = Profile::docker();
        let shell = check(
            &config(&["/bin/sh", "-c", "app"], None),
            root.path(),
            &docker,
        );
        assert_eq!(rules(&shell), [("PID1-SHELL-FORM", Severity::Error)]);
        let systemd = check(
            &config(&["/sbin/init"], Some("SIGTERM")),
            root.path(),
            &docker,
        );
        assert_eq!(
            rules(&systemd),
            [("PID1-SYSTEMD-STOPSIGNAL", Severity::Error)]
        );
        let tini = check(
            &config(&["/usr/bin/tini", "--", "/app"], None),
            root.path(),
            &docker,
        );
        assert_eq!(rules(&tini), []);
        let bare = check(&config(&["/app"], None), root.path(), &docker);
        assert_eq!(rules(&bare), [("PID1-NO-INIT", Severity::Warning)]);
        let missing = check(&config(&["/nope"], None), root.path(), &docker);
        assert_eq!(
            rules(&missing),
            [
                ("ENTRYPOINT-MISSING", Severity::Error),
                ("PID1-NO-INIT", Severity::Warning)
            ]
        );
    }

    #[test]
    fn a_numeric_rt_stopsignal_is_an_error_only_under_the_legacy_crio_profile() {
        let root = root_with(&["sbin/init"]);
        let image = config(&["/sbin/init"], Some("37"));
        let docker = check(&image, root.path(), &Profile::docker());
        assert_eq!(rules(&docker), [("STOPSIGNAL-MANGLED", Severity::Warning)]);
        let mut legacy = Profile::docker();
        legacy.runtime = Runtime::CrioLegacy;
        let crio = check(&image, root.path(), &legacy);
        assert_eq!(rules(&crio), [("STOPSIGNAL-MANGLED", Severity::Error)]);
        // The name: CRI-O legacy replaces it and runc's table lacks it.
        let named = check(
            &config(&["/sbin/init"], Some("SIGRTMIN+3")),
            root.path(),
            &legacy,
        );
        assert_eq!(
            rules(&named),
            [
                ("STOPSIGNAL-MANGLED", Severity::Error),
                ("STOPSIGNAL-MANGLED", Severity::Error)
            ]
        );
    }

    #[test]
    fn rtmin3_for_a_program_in_a_musl_root_is_an_error() {
        let root = root_with(&["sbin/init", "lib/ld-musl-x86_64.so.1"]);
        let image = config(&["/sbin/init"], Some("SIGRTMIN+3"));
        let findings = check(&image, root.path(), &Profile::docker());
        assert_eq!(
            rules(&findings),
            [
                ("STOPSIGNAL-MANGLED", Severity::Warning),
                ("STOPSIGNAL-MANGLED", Severity::Warning),
                ("STOPSIGNAL-MUSL-RTMIN", Severity::Error)
            ]
        );
        let glibc = root_with(&["sbin/init"]);
        let findings = check(&image, glibc.path(), &Profile::docker());
        assert!(findings.iter().all(|f| f.rule != "STOPSIGNAL-MUSL-RTMIN"));
    }

    /// A dynamic program without its loader in the image cannot be executed at all.
    #[test]
    fn a_dynamic_entrypoint_without_its_loader_is_missing() {
        let exe = std::env::current_exe().expect("this test binary");
        let interp = interpreter_of(&exe).expect("the test binary is dynamic");
        let root = root_with(&[]);
        std::fs::create_dir_all(root.path().join("bin")).expect("mkdir");
        std::fs::copy(&exe, root.path().join("bin/tini")).expect("copy");
        let image = config(&["/bin/tini", "--", "/app"], None);
        let without = check(&image, root.path(), &Profile::docker());
        assert_eq!(rules(&without), [("ENTRYPOINT-MISSING", Severity::Error)]);
        let loader = root.path().join(interp.trim_start_matches('/'));
        std::fs::create_dir_all(loader.parent().expect("parent")).expect("mkdir");
        std::fs::write(&loader, "x").expect("write");
        let with = check(&image, root.path(), &Profile::docker());
        assert_eq!(rules(&with), []);
    }
}
