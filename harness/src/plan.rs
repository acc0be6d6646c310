//! The plan: candidates × cases × profiles, sorted, and each run resolved into the
//! [`RunSpec`] the launcher executes. Pure: no I/O, so a plan can be inspected and tested.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pid1check_probe::{CHANNEL_DIR, PARENT_ARG, PROBE_FILE, Workload};

use crate::run::RunSpec;
use crate::sandbox::{ImageBind, SandboxMode, SandboxSpec};
use crate::signal::SignalNumber;
use crate::spec::{
    Behaviour, Candidate, Case, ImageWorkload, Install, Node, Pid1Process, Placement, Profile,
    RebootCommand, Runtime, SignalRef, Step, WorkloadExec,
};
use crate::stop::{
    ImageFacts, KUBERNETES_MIN_GRACE_MS, ProfileError, StopSequence, StopSignal, choose,
};

/// The default `--time-scale`: docker's 10 s grace becomes 500 ms.
pub const DEFAULT_TIME_SCALE: f64 = 0.05;
/// No scaled time goes below this (unless the case wrote less): under it, scheduling noise on
/// a loaded two-core machine would decide outcomes, not the init.
pub const SCALE_FLOOR_MS: u64 = 50;
/// How long a workload may take to report `started` and `settled` everywhere; not scaled (it is start-up
/// cost, not a modelled wait).
pub const READY_TIMEOUT_MS: u64 = 5_000;
/// Slack added to a run's computed length to make its hard deadline.
pub const DEADLINE_SLACK_MS: u64 = 5_000;
/// The environment PID 1 starts with, as a container runtime gives it.
pub const PID1_ENV: &[&str] = &[
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "container=pid1check",
];

/// One cell of the matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRun {
    /// The init under test.
    pub candidate: Candidate,
    /// The scenario.
    pub case: Case,
    /// How the runtime stops it.
    pub profile: Profile,
}

/// Every candidate × case × profile, sorted by their names.
pub fn plan(candidates: &[Candidate], cases: &[Case], profiles: &[Profile]) -> Vec<PlannedRun> {
    let mut runs: Vec<PlannedRun> = candidates
        .iter()
        .flat_map(|candidate| {
            cases.iter().flat_map(move |case| {
                profiles.iter().map(move |profile| PlannedRun {
                    candidate: candidate.clone(),
                    case: case.clone(),
                    profile: profile.clone(),
                })
            })
        })
        .collect();
    runs.sort_by(|a, b| {
        (&a.candidate.name, &a.case.name, &a.profile.name).cmp(&(
            &b.candidate.name,
            &b.case.name,
            &b.profile.name,
        ))
    });
    runs
}

/// What resolving a run needs from outside the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// `--time-scale`.
    pub time_scale: f64,
    /// Sandbox privilege mode.
    pub mode: SandboxMode,
    /// Host path of the installed candidate binary (`{bin}`).
    pub bin: PathBuf,
    /// Host directories every candidate may need read-only (the unpacked packages); the
    /// candidate's own binary directory and file directory are added to them.
    pub read_only_paths: Vec<PathBuf>,
    /// Host path of the static probe.
    pub probe: PathBuf,
    /// The run's private directory.
    pub run_dir: PathBuf,
}

/// File name, inside the channel directory, where nothing exists (`exec = "missing"`).
pub const MISSING_WORKLOAD_FILE: &str = "missing-workload";
/// File name, inside the channel directory, of a file without any execute bit that the
/// launcher writes (`exec = "not-executable"`).
pub const NOT_EXECUTABLE_WORKLOAD_FILE: &str = "not-executable-workload";

/// The path inside the sandbox that stands for `{workload}` in PID 1's argv.
pub fn workload_path(exec: WorkloadExec) -> PathBuf {
    let file = match exec {
        WorkloadExec::Probe => PROBE_FILE,
        WorkloadExec::Missing => MISSING_WORKLOAD_FILE,
        WorkloadExec::NotExecutable => NOT_EXECUTABLE_WORKLOAD_FILE,
    };
    Path::new(CHANNEL_DIR).join(file)
}

/// Scale a case or profile time, never below [`SCALE_FLOOR_MS`] (or the original, if less).
pub fn scale_ms(ms: u64, time_scale: f64) -> u64 {
    let scaled = (ms as f64 * time_scale).round() as u64;
    scaled.max(ms.min(SCALE_FLOOR_MS))
}

/// The stop sequence of a run, with its times scaled, and why the runtime chose that signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStop {
    /// What the launcher performs.
    pub sequence: StopSequence,
    /// How the runtime chose the signal, in one line.
    pub why: String,
}

/// The command the runtime sees as the image's PID 1 (what podman's systemd detection looks
/// at): the binary's path inside its package, the host program, or argv[0] as written.
pub fn image_command(candidate: &Candidate) -> String {
    match candidate.argv.first().map(String::as_str) {
        Some("{bin}") | None => match &candidate.install {
            Install::Debian { binary, .. } => format!("/{binary}"),
            Install::Host { path } => path.clone(),
            Install::Pypi { script, .. } => format!("/usr/local/bin/{script}"),
            Install::Fixture { binary, .. } => format!("/usr/local/bin/{binary}"),
            Install::Probe => Path::new(CHANNEL_DIR)
                .join(PROBE_FILE)
                .to_string_lossy()
                .into_owned(),
            Install::Image { .. } => String::new(),
        },
        Some(first) => first.to_owned(),
    }
}

/// The grace period after scaling: never below the candidate's own timers (unless the
/// profile's real grace is shorter still: scaling must not make a runtime more patient than
/// it is).
pub fn scaled_grace_ms(grace_ms: u64, candidate: &Candidate, time_scale: f64) -> u64 {
    let scaled = scale_ms(grace_ms, time_scale);
    match candidate.min_grace_ms {
        Some(needed) => scaled.max(needed.min(grace_ms)),
        None => scaled,
    }
}

/// The profile's stop sequence for this candidate, scaled; or why the runtime refuses it.
pub fn stop_sequence(run: &PlannedRun, time_scale: f64) -> Result<PlannedStop, ProfileError> {
    let profile = &run.profile;
    let command = image_command(&run.candidate);
    let choice = choose(
        profile,
        ImageFacts {
            stop_signal: run.candidate.stop_signal.as_deref(),
            command: &command,
        },
    )?;
    let kubernetes = profile.runtime == Runtime::Kubernetes;
    Ok(PlannedStop {
        sequence: StopSequence {
            pre_stop: profile.pre_stop.clone(),
            signal: choice.signal,
            grace_ms: scaled_grace_ms(profile.grace_ms, &run.candidate, time_scale),
            min_grace_after_pre_stop_ms: if kubernetes {
                scaled_grace_ms(KUBERNETES_MIN_GRACE_MS, &run.candidate, time_scale)
            } else {
                0
            },
        },
        why: choice.why,
    })
}

/// Resolve a planned run into what the launcher executes; fails only when the runtime
/// refuses the image (see [`stop_sequence`]).
pub fn resolve(run: &PlannedRun, with: &Resolution) -> Result<RunSpec, ProfileError> {
    let scale = |ms| scale_ms(ms, with.time_scale);
    let exec = run.case.workload.exec;
    let workload_file = workload_path(exec);
    let candidate_argv = run.candidate.argv.iter().map(|arg| {
        arg.replace("{bin}", &with.bin.to_string_lossy())
            .replace("{workload}", &workload_file.to_string_lossy())
            .replace("{dir}", &run.candidate.dir.to_string_lossy())
    });
    // Under a parent, PID 1 is the probe in its parent mode and the candidate its child.
    let parent = match run.case.sandbox.pid1 {
        Pid1Process::Candidate => Vec::new(),
        Pid1Process::Parent => vec![
            workload_path(WorkloadExec::Probe)
                .to_string_lossy()
                .into_owned(),
            PARENT_ARG.to_owned(),
        ],
    };
    let argv = parent.into_iter().chain(candidate_argv).collect();
    let stop = stop_sequence(run, with.time_scale)?.sequence;
    let mut steps: Vec<Step> = run
        .case
        .stop
        .steps
        .iter()
        .map(|step| match step {
            Step::Stop | Step::Signal { .. } => step.clone(),
            // Waiting for PID 1 is a grace period: never below the candidate's own timers.
            Step::WaitExit { role, within_ms } if role == "pid1" => Step::WaitExit {
                role: role.clone(),
                within_ms: scaled_grace_ms(*within_ms, &run.candidate, with.time_scale),
            },
            Step::WaitExit { role, within_ms } => Step::WaitExit {
                role: role.clone(),
                within_ms: scale(*within_ms),
            },
            // A tolerance for the scheduler, not a modelled wait: never scaled.
            Step::ScanZombies { .. } | Step::ScanStates { .. } | Step::Freeze { .. } => {
                step.clone()
            }
            Step::Pause { ms } => Step::Pause { ms: scale(*ms) },
            Step::Exec { command, within_ms } => Step::Exec {
                command: command.clone(),
                within_ms: scale(*within_ms),
            },
        })
        .collect();
    // Every run ends with the runtime stopping the container: nothing may outlive its plan.
    if !steps.contains(&Step::Stop) {
        steps.push(Step::Stop);
    }
    let mut read_only_paths = with.read_only_paths.clone();
    read_only_paths.push(run.candidate.dir.clone());
    if let Some(bin_dir) = with.bin.parent() {
        read_only_paths.push(bin_dir.to_path_buf());
    }
    let mut env: Vec<String> = PID1_ENV.iter().map(|s| (*s).to_owned()).collect();
    let (mut image_root, mut working_dir, mut workload_beside, mut user) = (None, None, None, None);
    // An image brings its own root and environment; nothing of the host is shown to it.
    if let Install::Image {
        rootfs,
        env: image_env,
        working_dir: image_dir,
        workload,
        user: image_user,
        ..
    } = &run.candidate.install
    {
        user = *image_user;
        if *workload == ImageWorkload::Beside {
            workload_beside = Some(vec![workload_file.to_string_lossy().into_owned()]);
        }
        read_only_paths.clear();
        env = image_environment(image_env);
        image_root = Some(rootfs.clone());
        working_dir = image_dir.as_ref().map(PathBuf::from);
    }
    // A preStop hook and the signal each get at most the grace period (plus the minimum the
    // signal keeps after the hook).
    let stop_ms = stop.grace_ms * if stop.pre_stop.is_some() { 2 } else { 1 }
        + stop.min_grace_after_pre_stop_ms;
    let steps_ms: u64 = steps.iter().map(|step| step.bound_ms(stop_ms)).sum();
    // A system manager stops its app with its own signal: that is what `stop` means to the app.
    let workload_stop = match run.candidate.service_stop_signal {
        Some(signal) => StopSignal::Fixed { signal },
        None => stop.signal,
    };
    let image_binds = run
        .candidate
        .files
        .iter()
        .map(|file| ImageBind {
            source: run.candidate.dir.join(&file.source),
            at: PathBuf::from(&file.at),
        })
        .collect();
    Ok(RunSpec {
        sandbox: SandboxSpec {
            mode: with.mode,
            run_dir: with.run_dir.clone(),
            probe: with.probe.clone(),
            read_only_paths,
            argv,
            env,
            hostname: "pid1check".to_owned(),
            needs: run.candidate.needs.clone(),
            image_binds,
            // A case about reboot(2) may decide for itself; otherwise the runtime does.
            cap_sys_boot: run
                .case
                .cap_sys_boot
                .unwrap_or_else(|| keeps_cap_sys_boot(run.profile.runtime)),
            image_root,
            working_dir,
            user,
        },
        workload: Workload {
            root: wire_node(&run.case.workload, workload_stop, with.time_scale),
        },
        // A workload that cannot be executed never reports: the launcher waits for PID 1 to
        // exit by itself instead (bounded by the same timeout).
        ready_roles: match exec {
            WorkloadExec::Probe => roles(&run.case.workload),
            WorkloadExec::Missing | WorkloadExec::NotExecutable => Vec::new(),
        },
        workload_exec: exec,
        ready_timeout_ms: READY_TIMEOUT_MS,
        steps,
        stop,
        deadline_ms: READY_TIMEOUT_MS + steps_ms + DEADLINE_SLACK_MS,
        // The harness plans the witness when it executes the run (it owns the collector).
        witness: crate::observe::witness::WitnessPlan::default(),
        workload_beside,
    })
}

/// Whether `runtime` leaves PID 1 `CAP_SYS_BOOT`. LXC and systemd-nspawn do, and read a
/// halting systemd's `reboot()` from how the namespace ends (SIGINT: halted). docker, podman and
/// the CRI runtimes leave it out of their default capability set, so systemd's `reboot()` fails
/// with EPERM and it exits 0 ("Exiting container.").
pub fn keeps_cap_sys_boot(runtime: Runtime) -> bool {
    match runtime {
        Runtime::Lxc | Runtime::Nspawn => true,
        Runtime::Docker
        | Runtime::Podman
        | Runtime::Kubernetes
        | Runtime::ContainerdCri
        | Runtime::CrioLegacy => false,
    }
}

/// An image's environment as a runtime completes it: docker adds `PATH` when the image sets
/// none, and `HOSTNAME`; `container=` tells the run apart.
fn image_environment(image_env: &[String]) -> Vec<String> {
    let mut env = image_env.to_vec();
    for default in PID1_ENV {
        let key = default.split('=').next().unwrap_or(default);
        if !env.iter().any(|kv| kv.split('=').next() == Some(key)) {
            env.push((*default).to_owned());
        }
    }
    env.push("HOSTNAME=pid1check".to_owned());
    env
}

/// Every role of the tree, preorder.
pub fn roles(node: &Node) -> Vec<String> {
    let mut out = vec![node.role.clone()];
    for child in &node.children {
        out.extend(roles(child));
    }
    out
}

/// A node's behaviours for the probe: `stop` becomes each signal the run may send as its stop
/// signal (both of LXC's candidates), and a behaviour for an explicit signal wins over it.
fn wire_behaviours(
    node: &Node,
    stop: StopSignal,
    time_scale: f64,
) -> Vec<pid1check_probe::SignalBehaviour> {
    use pid1check_probe as wire;
    let stop_signals: Vec<SignalNumber> = match stop {
        StopSignal::None => Vec::new(),
        StopSignal::Fixed { signal } => vec![signal],
        StopSignal::IfPid1Blocks { signal, otherwise } => vec![signal, otherwise],
    };
    let mut by_signal: BTreeMap<SignalNumber, Behaviour> = BTreeMap::new();
    if let Some(behaviour) = node.on.get(&SignalRef::Stop) {
        for signal in &stop_signals {
            by_signal.insert(*signal, *behaviour);
        }
    }
    for (key, behaviour) in &node.on {
        if let SignalRef::Signal(signal) = key {
            by_signal.insert(*signal, *behaviour);
        }
    }
    by_signal
        .into_iter()
        .map(|(signal, behaviour)| wire::SignalBehaviour {
            signal: signal.raw(),
            behaviour: match behaviour {
                Behaviour::Exit {
                    code,
                    cleanup_ms,
                    wait_children,
                } => wire::Behaviour::Exit {
                    code,
                    cleanup_ms: scale_ms(cleanup_ms, time_scale),
                    wait_children,
                },
                Behaviour::Ignore => wire::Behaviour::Ignore,
                Behaviour::Record => wire::Behaviour::Record,
                Behaviour::Default => wire::Behaviour::Default,
            },
        })
        .collect()
}

fn wire_node(node: &Node, stop: StopSignal, time_scale: f64) -> pid1check_probe::Node {
    use pid1check_probe as wire;
    let scale = |ms| scale_ms(ms, time_scale);
    wire::Node {
        role: node.role.clone(),
        placement: match node.placement {
            Placement::Inherit => wire::Placement::Inherit,
            Placement::NewGroup => wire::Placement::NewGroup,
            Placement::NewSession => wire::Placement::NewSession,
        },
        on: wire_behaviours(node, stop, time_scale),
        children: node
            .children
            .iter()
            .map(|child| wire_node(child, stop, time_scale))
            .collect(),
        orphan: node.orphan,
        exit_after_ms: node.exit_after_ms.map(scale),
        exit_code: node.exit_code,
        reboot: node.reboot_after_ms.map(|ms| wire::Reboot {
            after_ms: scale(ms),
            command: match node.reboot.unwrap_or_default() {
                RebootCommand::PowerOff => wire::RebootCommand::PowerOff,
                RebootCommand::Restart => wire::RebootCommand::Restart,
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_with(on: &[(SignalRef, Behaviour)]) -> Node {
        Node {
            reboot: None,
            reboot_after_ms: None,
            role: "app".to_owned(),
            placement: Placement::Inherit,
            on: on.iter().copied().collect(),
            children: Vec::new(),
            orphan: false,
            exit_after_ms: None,
            exit_code: 0,
            exec: WorkloadExec::Probe,
        }
    }

    fn wired(node: &Node, stop: StopSignal) -> Vec<(i32, pid1check_probe::Behaviour)> {
        wire_behaviours(node, stop, 1.0)
            .into_iter()
            .map(|b| (b.signal, b.behaviour))
            .collect()
    }

    #[test]
    fn stop_becomes_every_signal_the_run_may_send_and_explicit_signals_win() {
        use pid1check_probe::Behaviour as Wire;
        let exit = Behaviour::Exit {
            code: 0,
            cleanup_ms: 0,
            wait_children: false,
        };
        let node = node_with(&[
            (SignalRef::Stop, exit),
            (SignalRef::Signal(SignalNumber::PWR), Behaviour::Ignore),
        ]);
        let wire_exit = Wire::Exit {
            code: 0,
            cleanup_ms: 0,
            wait_children: false,
        };
        let lxc = StopSignal::IfPid1Blocks {
            signal: SignalNumber(37),
            otherwise: SignalNumber::PWR,
        };
        assert_eq!(
            wired(&node, lxc),
            [(30, Wire::Ignore), (37, wire_exit)],
            "PWR keeps its own behaviour; RTMIN+3 gets stop's"
        );
        let docker = StopSignal::Fixed {
            signal: SignalNumber::TERM,
        };
        assert_eq!(wired(&node, docker), [(15, wire_exit), (30, Wire::Ignore)]);
        assert_eq!(wired(&node, StopSignal::None), [(30, Wire::Ignore)]);
    }

    #[test]
    fn a_candidate_timer_keeps_the_grace_from_scaling_below_it_but_never_above_the_runtime() {
        let text = "title = \"s6\"\nkind = \"system-manager\"\nargv = [\"{bin}\", \"{workload}\"]\n\
                    min_grace_ms = 3000\n[install]\nkind = \"debian\"\npackage = \"s6\"\n\
                    binary = \"usr/bin/s6-svscan\"\n";
        let s6 = crate::spec::parse_candidate(Path::new("s6.toml"), text).expect("valid");
        assert_eq!(scaled_grace_ms(10_000, &s6, 0.05), 3_000, "not 500 ms");
        assert_eq!(
            scaled_grace_ms(100_000, &s6, 0.05),
            5_000,
            "scaled above the timer"
        );
        assert_eq!(scaled_grace_ms(0, &s6, 0.05), 0, "timeout 0 stays 0");
        assert_eq!(
            scaled_grace_ms(2_000, &s6, 0.05),
            2_000,
            "never above the runtime's"
        );
    }

    /// systemd under podman: the runtime's RTMIN+3 goes to PID 1, while the app's `stop` is
    /// systemd's KillSignal (TERM); the image's files and needs reach the sandbox; podman drops
    /// CAP_SYS_BOOT and LXC keeps it.
    #[test]
    fn a_system_manager_run_gives_the_app_its_service_stop_signal_and_its_sandbox_needs() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let load_profile = |name: &str| {
            crate::spec::load_profile(&repo.join(format!("fixtures/profiles/{name}.toml")))
        };
        let run = PlannedRun {
            candidate: crate::spec::load_candidate(&repo.join("fixtures/candidates/systemd.toml"))
                .expect("systemd.toml loads"),
            case: crate::spec::load_case(&repo.join("cases/term-forward.toml"))
                .expect("term-forward loads"),
            profile: load_profile("podman").expect("podman loads"),
        };
        let with = Resolution {
            time_scale: DEFAULT_TIME_SCALE,
            mode: SandboxMode::Root,
            bin: PathBuf::from("/lib/systemd/systemd"),
            read_only_paths: Vec::new(),
            probe: PathBuf::from("/p/probe"),
            run_dir: PathBuf::from("/r"),
        };
        let spec = resolve(&run, &with).expect("podman accepts the image");
        assert_eq!(
            spec.stop.signal,
            StopSignal::Fixed {
                signal: crate::stop::RTMIN_3
            }
        );
        let app_signals: Vec<i32> = spec.workload.root.on.iter().map(|b| b.signal).collect();
        assert_eq!(
            app_signals,
            [SignalNumber::TERM.raw()],
            "stop means TERM to the app"
        );
        assert_eq!(
            spec.sandbox.needs,
            [
                crate::sandbox::SandboxNeed::Cgroup2,
                crate::sandbox::SandboxNeed::Console
            ]
        );
        assert_eq!(spec.sandbox.argv, ["/lib/systemd/systemd"]);
        assert!(
            spec.sandbox
                .image_binds
                .iter()
                .any(|b| b.at == Path::new("/etc/systemd/system")
                    && b.source.ends_with("systemd-units")),
            "{:?}",
            spec.sandbox.image_binds
        );
        assert!(!spec.sandbox.cap_sys_boot, "podman drops CAP_SYS_BOOT");
        assert_eq!(
            spec.stop.grace_ms, 3_000,
            "systemd's min_grace_ms, not 500 ms"
        );

        let lxc = PlannedRun {
            profile: load_profile("lxc").expect("lxc loads"),
            ..run
        };
        assert!(resolve(&lxc, &with).expect("lxc").sandbox.cap_sys_boot);
    }

    #[test]
    fn a_parent_case_puts_the_probes_parent_mode_in_front_of_the_candidates_argv() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut run = PlannedRun {
            candidate: crate::spec::load_candidate(&repo.join("fixtures/candidates/tini.toml"))
                .expect("tini.toml loads"),
            case: crate::spec::load_case(&repo.join("cases/term-forward.toml"))
                .expect("term-forward loads"),
            profile: crate::spec::load_profile(&repo.join("fixtures/profiles/docker.toml"))
                .expect("docker loads"),
        };
        let with = Resolution {
            time_scale: DEFAULT_TIME_SCALE,
            mode: SandboxMode::Root,
            bin: PathBuf::from("/c/usr/bin/tini"),
            read_only_paths: Vec::new(),
            probe: PathBuf::from("/p/probe"),
            run_dir: PathBuf::from("/r"),
        };
        let as_pid1 = resolve(&run, &with)
            .expect("docker accepts it")
            .sandbox
            .argv;
        assert_eq!(as_pid1, ["/c/usr/bin/tini", "--", "/.pid1check/probe"]);
        run.case.sandbox.pid1 = Pid1Process::Parent;
        let under_parent = resolve(&run, &with)
            .expect("docker accepts it")
            .sandbox
            .argv;
        assert_eq!(
            under_parent,
            [
                "/.pid1check/probe",
                "--parent",
                "/c/usr/bin/tini",
                "--",
                "/.pid1check/probe"
            ]
        );
    }

    #[test]
    fn scaling_keeps_a_floor_but_never_raises_short_times() {
        assert_eq!(scale_ms(10_000, 0.05), 500);
        assert_eq!(scale_ms(100, 0.05), 50, "floored");
        assert_eq!(
            scale_ms(20, 0.05),
            20,
            "never raised above what the case wrote"
        );
        assert_eq!(scale_ms(10_000, 1.0), 10_000);
        assert_eq!(scale_ms(0, 0.05), 0);
    }

    /// An image's run gets the image's root, environment and working directory, no host path,
    /// and (beside the app) a workload the launcher starts itself.
    #[test]
    fn an_image_run_sees_its_own_root_and_environment_only() {
        let case = crate::spec::parse_case(
            Path::new("c.toml"),
            "title = \"t\"\nwhy = \"w\"\nsources = [\"s\"]\n[workload]\nrole = \"app\"\n\
             [[must]]\nkind = \"no-escalation\"\n",
        )
        .expect("the case parses");
        let image = |workload| Candidate {
            name: "image".to_owned(),
            dir: PathBuf::from("/scratch/rootfs"),
            title: "t".to_owned(),
            kind: crate::spec::CandidateKind::Forwarder,
            install: Install::Image {
                rootfs: PathBuf::from("/scratch/rootfs"),
                source: "oci:x@sha256:1".to_owned(),
                env: vec!["PATH=/app/bin".to_owned()],
                working_dir: Some("/app".to_owned()),
                workload,
                user: Some((1000, 1000)),
            },
            argv: vec!["/usr/bin/tini".to_owned(), "--".to_owned()],
            stop_signal: None,
            min_grace_ms: None,
            service_stop_signal: None,
            needs: Vec::new(),
            files: Vec::new(),
            races: Vec::new(),
        };
        let with = Resolution {
            time_scale: 1.0,
            mode: SandboxMode::Root,
            bin: PathBuf::from("/scratch/rootfs"),
            read_only_paths: vec![PathBuf::from("/work/target/candidates")],
            probe: PathBuf::from("/work/target/probe/probe"),
            run_dir: PathBuf::from("/work/target/runs/r"),
        };
        let run = |workload| PlannedRun {
            candidate: image(workload),
            case: case.clone(),
            profile: Profile::docker(),
        };
        let spec = resolve(&run(ImageWorkload::AsApp), &with).expect("resolves");
        assert_eq!(
            spec.sandbox.image_root,
            Some(PathBuf::from("/scratch/rootfs"))
        );
        assert_eq!(spec.sandbox.working_dir, Some(PathBuf::from("/app")));
        assert_eq!(spec.sandbox.user, Some((1000, 1000)));
        assert!(spec.sandbox.read_only_paths.is_empty(), "{spec:?}");
        // The image's PATH wins; the runtime's other defaults fill in.
        assert!(spec.sandbox.env.contains(&"PATH=/app/bin".to_owned()));
        assert!(
            !spec
                .sandbox
                .env
                .iter()
                .any(|kv| kv.starts_with("PATH=/usr/local"))
        );
        assert!(spec.sandbox.env.contains(&"HOSTNAME=pid1check".to_owned()));
        assert_eq!(spec.workload_beside, None);
        let beside = resolve(&run(ImageWorkload::Beside), &with).expect("resolves");
        assert_eq!(
            beside.workload_beside,
            Some(vec!["/.pid1check/probe".to_owned()])
        );
    }

    /// `exec = "missing"` and `"not-executable"` put a path that cannot be executed where
    /// `{workload}` stands, and nothing is waited for but PID 1's exit; a wait for `pid1` is a
    /// grace period, so the candidate's own timers bound it from below.
    #[test]
    fn a_workload_that_cannot_be_executed_replaces_the_probe_in_argv() {
        let text = |exec: &str| {
            format!(
                "title = \"t\"\nwhy = \"w\"\nsources = [\"s\"]\n[workload]\nrole = \"app\"\n\
                 exec = \"{exec}\"\n[stop]\nsteps = [{{ kind = \"wait-exit\", role = \"pid1\", \
                 within_ms = 10000 }}, {{ kind = \"stop\" }}]\n"
            )
        };
        let candidate = crate::spec::parse_candidate(
            Path::new("tini.toml"),
            "title = \"tini\"\nkind = \"forwarder\"\nargv = [\"{bin}\", \"--\", \"{workload}\"]\n\
             min_grace_ms = 3000\n[install]\nkind = \"debian\"\npackage = \"tini\"\n\
             binary = \"usr/bin/tini\"\n",
        )
        .expect("the candidate parses");
        let with = Resolution {
            time_scale: 0.05,
            mode: SandboxMode::Root,
            bin: PathBuf::from("/t/tini"),
            read_only_paths: Vec::new(),
            probe: PathBuf::from("/t/probe"),
            run_dir: PathBuf::from("/t/run"),
        };
        for (exec, path) in [
            ("probe", "/.pid1check/probe"),
            ("missing", "/.pid1check/missing-workload"),
            ("not-executable", "/.pid1check/not-executable-workload"),
        ] {
            let case = crate::spec::parse_case(Path::new("c.toml"), &text(exec)).expect("parses");
            let run = PlannedRun {
                candidate: candidate.clone(),
                case,
                profile: Profile::docker(),
            };
            let spec = resolve(&run, &with).expect("resolves");
            assert_eq!(spec.sandbox.argv, ["/t/tini", "--", path], "{exec}");
            assert_eq!(spec.ready_roles.is_empty(), exec != "probe", "{exec}");
            assert_eq!(
                spec.steps[0],
                Step::WaitExit {
                    role: "pid1".to_owned(),
                    within_ms: 3000
                },
                "10 s scaled to 500 ms, raised to tini's 3 s timer"
            );
        }
    }
}
