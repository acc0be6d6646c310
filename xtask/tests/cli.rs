//! The command line's contract: bad input exits 2 with a message that names the file, line and
//! field; an unknown name lists what exists. These fail before any run, so they need no root.

use assert_cmd::Command;

fn xtask() -> Command {
    Command::cargo_bin("xtask").expect("the xtask binary is built for its tests")
}

#[test]
fn a_bad_case_file_exits_2_naming_file_line_and_field() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // Line 9 has the typo `signl` in a `caught` expectation.
    let text = "title = \"t\"\nwhy = \"w\"\nsources = [\"s\"]\n[workload]\nrole = \"app\"\n\
                [[must]]\nkind = \"caught\"\nrole = \"app\"\nsignl = \"TERM\"\n";
    std::fs::write(dir.path().join("broken.toml"), text).expect("writing the case");
    let output = xtask()
        .args(["conformance", "--cases-dir"])
        .arg(dir.path())
        .args(["--candidate", "bare"])
        .output()
        .expect("running xtask");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("broken.toml:9:"),
        "no file:line in: {stderr}"
    );
    assert!(
        stderr.contains("signl"),
        "the field is not named in: {stderr}"
    );
}

/// A race naming a case that does not exist is bad input, placed at its file, line and field,
/// and the candidate is left out rather than run.
#[test]
fn a_race_on_an_unknown_case_exits_2_naming_file_line_and_field() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let text = "title = \"t\"\nkind = \"app\"\nargv = [\"{bin}\", \"{workload}\"]\n\
                install = { kind = \"probe\" }\n[[races]]\ncases = [\"term-froward\"]\n\
                why = \"w\"\n";
    let file = dir.path().join("racy.toml");
    std::fs::write(&file, text).expect("writing the candidate");
    let output = xtask()
        .args(["conformance", "--candidate"])
        .arg(&file)
        .args(["--case", "term-forward", "--profile", "docker"])
        .output()
        .expect("running xtask");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("racy.toml:6:10: races[0].cases[0]: no case named \"term-froward\""),
        "no file:line:field in: {stderr}"
    );
    assert!(!stderr.contains("running "), "a run started: {stderr}");
}

/// A case whose reading says it does not apply to the candidate's kind executes nothing and
/// needs no snapshot: n/a never fails the command.
#[test]
fn only_n_a_runs_exit_0_and_say_n_a() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let text = "title = \"t\"\nwhy = \"w\"\nsources = [\"s\"]\n[workload]\nrole = \"app\"\n\
                [[must]]\nkind = \"no-escalation\"\n[reading.app]\n\
                not_applicable = \"the app is PID 1\"\n";
    std::fs::write(dir.path().join("app-left-out.toml"), text).expect("writing the case");
    let output = xtask()
        .args(["conformance", "--cases-dir"])
        .arg(dir.path())
        .args(["--candidate", "bare", "--profile", "docker", "--out"])
        .arg(dir.path().join("out"))
        .output()
        .expect("running xtask");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("n/a") && stderr.contains("the app is PID 1"),
        "{stderr}"
    );
    assert!(
        !root_snapshot("bare__app-left-out__docker").exists(),
        "an n/a run has no snapshot"
    );
}

fn root_snapshot(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../reports/snapshots")
        .join(format!("{name}.snap"))
}

#[test]
fn an_unknown_candidate_exits_2_listing_the_known_ones() {
    let output = xtask()
        .args([
            "conformance",
            "--candidate",
            "no-such-init",
            "--case",
            "term-forward",
        ])
        .output()
        .expect("running xtask");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no-such-init"), "{stderr}");
    assert!(
        stderr.contains("tini"),
        "the known candidates are not listed: {stderr}"
    );
}

#[test]
fn an_unknown_flag_exits_2() {
    let output = xtask()
        .args(["conformance", "--no-such-flag"])
        .output()
        .expect("running xtask");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}

#[test]
fn a_bad_time_scale_exits_2() {
    let output = xtask()
        .args(["conformance", "--time-scale", "0"])
        .output()
        .expect("running xtask");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}

/// `xtask conformance` of tini × grace-escalation at time scale 1, where the stop waits out
/// docker's 10 s grace: time enough to interrupt it. In a process group of its own (its pid).
/// Builds the launcher once, as the xtask does (cargo's `launcher` profile, optimised, in a
/// directory of its own), before a test starts timing: its fresh build takes about two minutes
/// on 2 cores, and a bound on a run coming up must time the run, not cargo.
fn launcher_built() {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        if let Err(error) =
            harness::install::build_launcher(&root, &assert_cmd::cargo::cargo_bin("xtask"))
        {
            panic!(
                "building the launcher: {}",
                harness::conformance::chain(&error)
            );
        }
    });
}

fn start_long_run(
    out: &std::path::Path,
    extra: &[&str],
    stderr: std::process::Stdio,
) -> std::process::Child {
    use std::os::unix::process::CommandExt as _;

    launcher_built();
    std::process::Command::new(assert_cmd::cargo::cargo_bin("xtask"))
        .args([
            "conformance",
            "--candidate",
            "tini",
            "--case",
            "grace-escalation",
        ])
        .args(["--time-scale", "1"])
        .args(extra)
        .arg("--out")
        .arg(out)
        .process_group(0)
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("starting xtask")
}

/// Ctrl-C in a terminal sends SIGINT to the whole foreground process group: the xtask and its
/// launchers. The xtask must still remove its kernel-witness instance before it exits. Needs
/// root (the witness); fails, never skips, without it.
#[test]
fn ctrl_c_leaves_no_kernel_witness_instance_behind() {
    use std::time::{Duration, Instant};

    use harness::observe::witness::{instance_owner, list_instances};
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;

    let out = tempfile::tempdir().expect("a temporary directory");
    let mut child = start_long_run(out.path(), &[], std::process::Stdio::piped());
    let xtask = child.id() as i32;
    let of_xtask = |name: &String| instance_owner(name) == Some(xtask);
    // The launch server is a child of the xtask, started by the first run.
    let has_child = || !living_where(PPID, xtask).is_empty();
    // Wait (bounded) for the instance to exist and a run to be in progress.
    let deadline = Instant::now() + Duration::from_secs(120);
    let ours = loop {
        let ours: Vec<String> = list_instances().into_iter().filter(of_xtask).collect();
        if !ours.is_empty() && has_child() {
            break ours;
        }
        if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
            let _ = child.kill();
            let output = child.wait_with_output().expect("collecting xtask's output");
            panic!(
                "no kernel-witness instance appeared: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    killpg(Pid::from_raw(xtask), Signal::SIGINT).expect("sending SIGINT to xtask's group");
    let output = child.wait_with_output().expect("waiting for xtask");
    assert_eq!(output.status.code(), Some(130), "{output:?}");
    let left: Vec<String> = list_instances()
        .into_iter()
        .filter(|name| ours.contains(name))
        .collect();
    assert_eq!(left, Vec::<String>::new(), "{output:?}");
}

/// Fields of a `/proc/PID/stat` line, counted after the command name (proc(5)).
const PPID: usize = 1;
const PGRP: usize = 2;

/// The processes, zombies aside, whose stat `field` is `value`.
fn living_where(field: usize, value: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<i32>().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let (_, rest) = stat.rsplit_once(')')?;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let matches = fields.get(field)?.parse::<i32>().ok()? == value;
            (matches && fields.first() != Some(&"Z")).then_some(pid)
        })
        .collect()
}

/// SIGKILL of the xtask in the middle of a run, which leaves it no clean-up: its launch server
/// sees the end of its socket (and its `PR_SET_PDEATHSIG` fires), the run's launcher dies with
/// the server and PID 1 with the launcher. Nothing of the xtask's process group (the server,
/// the launchers) is left, nor the run's PID 1. Needs root (fails, never skips, without it).
#[test]
fn sigkill_of_the_xtask_leaves_no_process_of_its_runs() {
    use std::time::{Duration, Instant};

    let out = tempfile::tempdir().expect("a temporary directory");
    let mut child = start_long_run(out.path(), &["--no-witness"], std::process::Stdio::null());
    let xtask = child.id() as i32;
    // Wait (bounded) for a run's PID 1: xtask → server → launcher → PID 1. The server is
    // told by its command line: a cargo building the launcher has grandchildren too.
    let below = |pids: &[i32]| -> Vec<i32> {
        pids.iter()
            .flat_map(|&pid| living_where(PPID, pid))
            .collect()
    };
    let server = |pid: &i32| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|cmdline| cmdline.ends_with(b"--serve\0"))
    };
    // The launcher is built (`launcher_built`): this bounds the xtask's start and its first
    // run's, a second or two when the machine is not overloaded.
    let deadline = Instant::now() + Duration::from_secs(120);
    let pid1s = loop {
        let servers: Vec<i32> = below(&[xtask]).into_iter().filter(server).collect();
        let pid1s = below(&below(&servers));
        if !pid1s.is_empty() {
            break pid1s;
        }
        if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
            let _ = child.kill();
            panic!("no run of the xtask came up");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().expect("SIGKILL to the xtask");
    child.wait().expect("reaping the xtask");
    let left = || {
        let mut left = living_where(PGRP, xtask);
        left.extend(pid1s.iter().filter(|&&pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(") ")
                    .is_some_and(|(_, r)| !r.starts_with('Z'))
            })
        }));
        left
    };
    // Each dies of the SIGKILL the kernel sends when its parent dies.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !left().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(left(), Vec::<i32>::new(), "outlived the xtask");
}

#[test]
fn bench_witness_refuses_zero_rounds_before_running_anything() {
    let output = xtask()
        .args(["bench-witness", "--rounds", "0"])
        .output()
        .expect("running xtask");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--rounds"), "{stderr}");
}

#[test]
fn bench_refuses_zero_runs_as_bad_input() {
    let output = xtask()
        .args(["bench", "--runs", "0"])
        .output()
        .expect("running xtask");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--runs"), "{stderr}");
}

/// `gate` without an image is bad input; `--list-rules` needs none and names every rule.
#[test]
fn gate_without_an_image_exits_2_and_lists_rules_without_one() {
    let output = xtask().arg("gate").output().expect("running xtask");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let output = xtask()
        .args(["gate", "--list-rules"])
        .output()
        .expect("running xtask");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for rule in [
        "PID1-SHELL-FORM",
        "STOPSIGNAL-MUSL-RTMIN",
        "ENTRYPOINT-MISSING",
    ] {
        assert!(stdout.contains(rule), "{rule} missing from: {stdout}");
    }
}
