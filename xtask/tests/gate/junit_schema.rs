//! The gate's JUnit file against the common JUnit schema: Jenkins' `junit-10.xsd`, vendored in
//! fixtures/gate/ (its header says where from and under which licence), checked with libxml2's
//! `xmllint --schema`, which the tests unpack under target/ from Debian's libxml2-utils like a
//! candidate (nothing is installed on the machine). A file the schema rejects fails with
//! xmllint's own words, which name the element and attribute.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use harness::gate::report::render_junit;
use harness::install::{InstalledTool, install_xmllint};

use super::every_kind::every_kind_of_case;
use super::root;

/// The vendored schema.
fn schema() -> PathBuf {
    root().join("fixtures/gate/junit-10.xsd")
}

/// xmllint, unpacked once per test binary; a failure to install it fails the test, never skips.
fn xmllint() -> &'static InstalledTool {
    static XMLLINT: OnceLock<InstalledTool> = OnceLock::new();
    XMLLINT.get_or_init(|| {
        install_xmllint(&root())
            .unwrap_or_else(|e| panic!("installing xmllint: {}", harness::error_chain(&e)))
    })
}

/// Whether `xml` validates against the schema: Ok, or xmllint's complaint.
pub fn validate(xml: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("junit.xml");
    std::fs::write(&file, xml).expect("writing the JUnit file");
    let tool = xmllint();
    let mut command = Command::new(&tool.bin);
    if !tool.library_path.is_empty() {
        let paths = std::env::join_paths(&tool.library_path).expect("library paths without ':'");
        command.env("LD_LIBRARY_PATH", paths);
    }
    let output = command
        .args(["--noout", "--nonet", "--schema"])
        .arg(schema())
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", tool.bin.display()));
    let said = String::from_utf8_lossy(&output.stderr).replace(&*file.to_string_lossy(), "FILE");
    match output.status.code() {
        Some(0) => Ok(()),
        // 3: the file does not validate; anything else is xmllint failing (a bad schema, no file).
        Some(3) => Err(said),
        other => panic!("xmllint exited {other:?}: {said}"),
    }
}

/// Fails the test with the file and xmllint's words when `xml` does not validate.
pub fn assert_valid(xml: &str) {
    if let Err(said) = validate(xml) {
        panic!("the JUnit file does not validate against junit-10.xsd:\n{said}\n{xml}");
    }
}

#[test]
fn every_kind_of_case_the_gate_writes_validates() {
    let xml = render_junit(&every_kind_of_case()).expect("rendering the JUnit file");
    assert_valid(&xml);
    // Failures (a must, a rule), errors (unknown, not run), skips (n/a) and passes are all in
    // the file.
    for element in ["<failure ", "<error ", "<skipped ", "<system-out>"] {
        assert!(xml.contains(element), "no {element} in\n{xml}");
    }
}

/// The check can fail: each file breaks the schema once, and xmllint says where.
#[test]
fn the_schema_rejects_a_broken_junit_file() {
    let valid = "<testsuites name=\"g\" tests=\"1\" failures=\"0\" errors=\"0\">\n\
                 <testsuite name=\"runs\" tests=\"1\" errors=\"0\" failures=\"0\">\n\
                 <testcase name=\"a × b\" classname=\"runs\"/>\n</testsuite>\n</testsuites>\n";
    assert_eq!(validate(valid), Ok(()));
    for (fault, xml, said) in [
        (
            "quick-junit's disabled attribute",
            valid.replace(
                "errors=\"0\" failures",
                "disabled=\"0\" errors=\"0\" failures",
            ),
            "attribute 'disabled': The attribute 'disabled' is not allowed",
        ),
        (
            "a test case without a name",
            valid.replace("name=\"a × b\" ", ""),
            "The attribute 'name' is required but missing",
        ),
        (
            "a suite without its test count",
            valid.replace(
                "<testsuite name=\"runs\" tests=\"1\"",
                "<testsuite name=\"runs\"",
            ),
            "The attribute 'tests' is required but missing",
        ),
        (
            "a failure outside a test case",
            valid.replace(
                "<testcase name=\"a × b\" classname=\"runs\"/>",
                "<failure message=\"m\"/>",
            ),
            "Element 'failure': This element is not expected",
        ),
    ] {
        match validate(&xml) {
            Ok(()) => panic!("{fault}: validated:\n{xml}"),
            Err(error) => assert!(error.contains(said), "{fault}: {error}"),
        }
    }
}
