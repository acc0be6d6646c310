//! `cargo xtask gate` end to end, on images the tests build from this machine's binaries
//! (see [`oci_image`]): the verdicts each image must get are stated here, from what its PID 1
//! is known to do. Runs need root (the sandbox and the kernel witness), like the conformance
//! tests; tini is the `tini` candidate's package, installed under target/candidates.

mod every_kind;
mod junit_schema;
mod junit_viewer;
mod oci_image;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use assert_cmd::Command;
use harness::install::install_candidate;
use harness::spec::load_candidate;
use oci_image::ImageBuilder;
use serde_json::{Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

fn xtask() -> Command {
    Command::cargo_bin("xtask").expect("the xtask binary is built for its tests")
}

/// The binary of candidate `name` (fixtures/candidates/NAME.toml), installed under
/// target/candidates as the conformance tests do (apt-get download + dpkg -x; one install at
/// a time).
fn candidate_binary(name: &str) -> PathBuf {
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = INSTALLING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let file = root().join(format!("fixtures/candidates/{name}.toml"));
    let candidate = load_candidate(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    install_candidate(&root(), &candidate)
        .unwrap_or_else(|e| panic!("installing {name}: {}", harness::error_chain(&e)))
        .bin
}

fn tini() -> PathBuf {
    candidate_binary("tini")
}

/// tini in front of the app, STOPSIGNAL SIGTERM: the good image.
fn tini_image() -> ImageBuilder {
    ImageBuilder::default()
        .binary(&tini(), "/usr/bin/tini")
        .config("Entrypoint", json!(["tini", "--"]))
        .config("Cmd", json!(["/app"]))
        .config("StopSignal", json!("SIGTERM"))
        .config("Env", json!(["PATH=/usr/bin:/bin"]))
}

/// dumb-init in front of the app: the same verdicts as its row of the conformance matrix
/// under kubernetes (reports/matrix.md): it forwards TERM to its child's process group
/// (dumb-init.c: forward_signal) and reaps every child (handle_signal on SIGCHLD).
#[test]
fn a_dumb_init_image_passes_as_its_matrix_row_does() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    ImageBuilder::default()
        .binary(&candidate_binary("dumb-init"), "/usr/bin/dumb-init")
        .config("Entrypoint", json!(["/usr/bin/dumb-init", "--"]))
        .config("Cmd", json!(["/app"]))
        .config("StopSignal", json!("SIGTERM"))
        .write_layout(dir.path());
    let run = gate(&["--oci"], dir.path(), &[]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(outcomes(&run.report), default_cases_pass());
}

/// A shell-form entrypoint: the shell is PID 1 and runs the app as its child. (The script
/// names the probe itself: a shell-form entrypoint ignores Cmd.) dash execs the last command
/// of `-c`, so the app is not last here.
fn shell_form_image() -> ImageBuilder {
    ImageBuilder::default()
        .binary(Path::new("/bin/dash"), "/bin/sh")
        .config(
            "Entrypoint",
            json!(["/bin/sh", "-c", "/.pid1check/probe; echo stopped"]),
        )
}

struct Gate {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    report: Value,
    junit: String,
}

fn gate(image_flag: &[&str], image: &Path, extra: &[&str]) -> Gate {
    let out = tempfile::tempdir().expect("a temporary directory");
    let (json_path, junit_path) = (out.path().join("gate.json"), out.path().join("junit.xml"));
    let output = xtask()
        .arg("gate")
        .args(image_flag)
        .arg(image)
        // Scaled as the conformance runs are: the kubelet's 30 s grace becomes 1.5 s.
        .args(["--profile", "kubernetes", "--time-scale", "0.05", "--json"])
        .arg(&json_path)
        .arg("--junit")
        .arg(&junit_path)
        .args(extra)
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .expect("running xtask gate");
    Gate {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        report: std::fs::read_to_string(&json_path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or(Value::Null),
        junit: std::fs::read_to_string(&junit_path).unwrap_or_default(),
    }
}

fn outcomes(report: &Value) -> Vec<(String, String)> {
    let mut runs: Vec<(String, String)> = report["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["case"].as_str().unwrap_or_default().to_owned(),
                r["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    runs.sort();
    runs
}

/// Every case of the default policy (probe as the app) passed, in `outcomes`' order: the
/// policy's four cases, all of which exist in `cases/`.
fn default_cases_pass() -> Vec<(String, String)> {
    [
        "exit-code",
        "grace-escalation",
        "orphan-reaping",
        "term-forward",
    ]
    .map(|case| (case.to_owned(), "pass".to_owned()))
    .to_vec()
}

fn rules(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            format!(
                "{}:{}",
                f["rule"].as_str().unwrap_or_default(),
                f["severity"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// tini forwards TERM to its one child and reaps orphans (tini.c: wait_and_forward_signal,
/// reap_zombies), and the kubelet escalates to KILL after the grace period: every case of
/// the default policy passes, from an OCI archive.
#[test]
fn a_tini_image_from_an_oci_archive_passes_with_exit_0() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let archive = dir.path().join("image.tar");
    tini_image().write_archive(&archive);
    let run = gate(&["--oci"], &archive, &[]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        outcomes(&run.report),
        default_cases_pass(),
        "{}",
        run.stdout
    );
    assert_eq!(rules(&run.report), Vec::<String>::new());
    assert_eq!(run.report["passed"], json!(true));
    assert_eq!(
        run.report["argv"],
        json!(["/usr/bin/tini", "--", "/.pid1check/probe"])
    );
    assert!(
        run.junit
            // Six static rules and the four cases of the default policy.
            .contains(r#"<testsuites name="pid1check-gate" tests="10" failures="0" errors="0">"#),
        "{}",
        run.junit
    );
    junit_schema::assert_valid(&run.junit);
}

/// A shell as PID 1 has no handler for TERM, so the kernel drops it (kernel/signal.c:
/// sig_task_ignored) and the app is killed at the deadline: the static rule fires and
/// term-forward fails; the tree is still killed, so grace-escalation passes.
#[test]
fn a_shell_form_image_fails_with_its_rule_and_term_forward_with_exit_1() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    shell_form_image().write_layout(dir.path());
    let run = gate(&["--oci"], dir.path(), &[]);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(rules(&run.report), ["PID1-SHELL-FORM:error"]);
    let outcomes = outcomes(&run.report);
    assert!(
        outcomes.contains(&("term-forward".to_owned(), "fail".to_owned())),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&("grace-escalation".to_owned(), "pass".to_owned())),
        "{outcomes:?}"
    );
    assert!(
        run.junit.contains(r#"type="PID1-SHELL-FORM""#),
        "{}",
        run.junit
    );
    assert!(
        run.junit.contains("[after-stop-signal]"),
        "the trace is not in the failure: {}",
        run.junit
    );
    junit_schema::assert_valid(&run.junit);
}

/// A policy file in `dir` that runs grace-escalation alone and allows a shell-form
/// entrypoint; returns its path as a flag value.
fn escalation_only_policy(dir: &Path) -> String {
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        "cases = [\"grace-escalation\"]\nallow = [\"PID1-SHELL-FORM\"]\n",
    )
    .expect("writing the policy");
    policy.to_string_lossy().into_owned()
}

/// The policy decides: allowing the rule and asking only for grace-escalation (the kubelet's
/// SIGKILL ends the tree whatever PID 1 does) lets the shell-form image pass.
#[test]
fn a_policy_can_allow_a_rule_and_choose_cases() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let layout = dir.path().join("layout");
    shell_form_image().write_layout(&layout);
    let policy_flag = escalation_only_policy(dir.path());
    let run = gate(&["--oci"], &layout, &["--policy", &policy_flag]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        outcomes(&run.report),
        [("grace-escalation".to_owned(), "pass".to_owned())]
    );
}

#[test]
fn a_directory_that_is_not_a_layout_or_a_missing_path_exits_2_naming_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let run = gate(&["--oci"], dir.path(), &[]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("oci-layout"), "{}", run.stderr);
    let missing = dir.path().join("image.tar");
    let run = gate(&["--oci"], &missing, &[]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("image.tar: --oci: no such file"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_layer_that_does_not_match_its_digest_exits_2_naming_the_blob() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let layer = tini_image().write_layout(dir.path());
    let blob = dir.path().join("blobs/sha256").join(&layer);
    std::fs::write(&blob, b"not the layer").expect("corrupting the layer");
    let run = gate(&["--oci"], dir.path(), &[]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains(&layer), "{}", run.stderr);
    assert!(run.stderr.contains("digest"), "{}", run.stderr);
}

#[test]
fn a_policy_naming_an_unknown_case_exits_2() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    tini_image().write_layout(dir.path());
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "cases = [\"no-such-case\"]\n").expect("writing the policy");
    let policy_flag = policy.to_string_lossy().into_owned();
    let run = gate(&["--oci"], dir.path(), &["--policy", &policy_flag]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("cases[0]"), "{}", run.stderr);
}

/// tini in front of `sleep infinity`, run unchanged with the probe beside it: tini reaps the
/// probe's orphan (it reaps every child, tini.c: reap_zombies) and forwards TERM to sleep,
/// which dies of it, so tini exits before the grace period ends.
#[test]
fn probe_beside_a_tini_image_passes() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    ImageBuilder::default()
        .binary(&tini(), "/usr/bin/tini")
        .binary(Path::new("/bin/sleep"), "/bin/sleep")
        .config("Entrypoint", json!(["/usr/bin/tini", "--"]))
        .config("Cmd", json!(["/bin/sleep", "infinity"]))
        .write_layout(dir.path());
    let run = gate(&["--oci"], dir.path(), &["--mode", "probe-beside"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        outcomes(&run.report),
        [
            ("orphan-reaping".to_owned(), "pass".to_owned()),
            ("stop-before-kill".to_owned(), "pass".to_owned()),
        ]
    );
    assert_eq!(
        run.report["argv"],
        json!(["/usr/bin/tini", "--", "/bin/sleep", "infinity"])
    );
}

/// `sleep` as PID 1 neither reaps (it never calls wait) nor handles TERM (the kernel drops a
/// signal to a namespace init without a handler): both cases fail, and the static check
/// warns that there is no init.
#[test]
fn probe_beside_a_bare_sleep_image_fails_both_cases() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    ImageBuilder::default()
        .binary(Path::new("/bin/sleep"), "/bin/sleep")
        .config("Cmd", json!(["/bin/sleep", "infinity"]))
        .write_layout(dir.path());
    let run = gate(&["--oci"], dir.path(), &["--mode", "probe-beside"]);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        outcomes(&run.report),
        [
            ("orphan-reaping".to_owned(), "fail".to_owned()),
            ("stop-before-kill".to_owned(), "fail".to_owned()),
        ]
    );
    assert_eq!(rules(&run.report), ["PID1-NO-INIT:warning"]);
}

/// A static init in a root whose only C library is musl, with STOPSIGNAL SIGRTMIN+3: the
/// runtime sends 37 (moby/sys hard-codes glibc's SIGRTMIN, 34), which a musl program reads as
/// its SIGRTMIN+2 (musl's SIGRTMIN is 35). tini forwards whatever it gets, so the runs pass;
/// the static error alone fails the gate. (The loader is a stand-in file: the rule reads only
/// its name, and nothing here executes it.)
#[test]
fn a_static_error_fails_the_gate_even_when_every_run_passes() {
    let tini_static = candidate_binary("tini").with_file_name("tini-static");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let loader = dir.path().join("ld-musl-x86_64.so.1");
    std::fs::write(&loader, "a stand-in").expect("writing the stand-in loader");
    ImageBuilder::default()
        .binary(&tini_static, "/sbin/tini")
        .binary(&loader, "/lib/ld-musl-x86_64.so.1")
        .config("Entrypoint", json!(["/sbin/tini", "--"]))
        .config("StopSignal", json!("SIGRTMIN+3"))
        .write_layout(&dir.path().join("layout"));
    let run = gate(&["--oci"], &dir.path().join("layout"), &[]);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        outcomes(&run.report),
        default_cases_pass(),
        "{}",
        run.stdout
    );
    assert!(
        rules(&run.report).contains(&"STOPSIGNAL-MUSL-RTMIN:error".to_owned()),
        "{:?}",
        rules(&run.report)
    );
}

/// The image's `User` is applied as runc applies it: the entrypoint (a shell that checks its
/// own uid in /proc/self/status) starts the probe only as uid 1000, so the runs are ready and
/// judged only if PID 1 really runs as `app`; as anyone else it exits 3 and nothing runs.
#[test]
fn the_images_user_runs_pid1() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let check_uid = "while read k v rest; do [ \"$k\" = Uid: ] && [ \"$v\" = 1000 ] && \
                     exec \"$0\"; done < /proc/self/status; exit 3";
    let image = |user: &str| {
        ImageBuilder::default()
            .binary(Path::new("/bin/dash"), "/bin/sh")
            .text(
                "/etc/passwd",
                "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n",
            )
            .config("Entrypoint", json!(["/bin/sh", "-c", check_uid]))
            .config("User", json!(user))
    };
    let policy_flag = escalation_only_policy(dir.path());
    for (user, expected) in [("app", Some(0)), ("root", Some(1))] {
        let layout = dir.path().join(user);
        image(user).write_layout(&layout);
        let run = gate(&["--oci"], &layout, &["--policy", &policy_flag]);
        assert_eq!(
            run.code, expected,
            "User {user}: {}\n{}",
            run.stdout, run.stderr
        );
    }
    let layout = dir.path().join("nobody");
    image("nobody").write_layout(&layout);
    let run = gate(&["--oci"], &layout, &[]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("no user \"nobody\""), "{}", run.stderr);
}
