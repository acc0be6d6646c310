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
