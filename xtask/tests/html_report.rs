//! The HTML report in a real browser (Debian's chromium-headless-shell, unpacked under target/
//! on first use): a small matrix written with `--out` loads, every matrix cell links to a run
//! page that exists and holds a timeline, and `cargo xtask report --screenshot` makes a PNG of
//! one. Runs real candidates, so it needs root or user namespaces, and the Debian registry on
//! first use; it fails, never skips, without them.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use harness::browser::Browser;

const CANDIDATES: [&str; 2] = ["tini", "sh-script"];
const CASES: [&str; 2] = ["term-forward", "grandchild-own-session"];
const PROFILE: &str = "docker";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .expect("xtask lives below the workspace root")
}

fn xtask() -> Command {
    Command::cargo_bin("xtask").expect("the xtask binary is built for its tests")
}

/// The `href`s of links into `runs/` in `dom`.
fn run_links(dom: &str) -> Vec<String> {
    dom.split("href=\"runs/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_index_loads_in_chromium_and_every_cell_links_to_a_run_page_with_a_timeline() {
    let out = tempfile::tempdir().expect("a temporary directory");
    let mut conformance = xtask();
    conformance.arg("conformance");
    for candidate in CANDIDATES {
        conformance.args(["--candidate", candidate]);
    }
    for case in CASES {
        conformance.args(["--case", case]);
    }
    let output = conformance
        .args(["--profile", PROFILE, "--out"])
        .arg(out.path())
        .output()
        .expect("running xtask conformance");
    assert_eq!(output.status.code(), Some(0), "{output:?}");

    let browser = Browser::new(&root()).expect("the headless browser installs and starts");
    let dom = browser
        .dump_dom(&out.path().join("index.html"))
        .expect("chromium loads index.html");
    // The DOM chromium built, not the file: the page parsed into one table per profile.
    assert_eq!(dom.matches("<table class=\"matrix\"").count(), 1, "{dom}");
    let links = run_links(&dom);
    assert_eq!(links.len(), CANDIDATES.len() * CASES.len(), "{dom}");
    for link in &links {
        let page = out.path().join("runs").join(link);
        assert!(page.is_file(), "{link} links to no page");
    }
    for candidate in CANDIDATES {
        for case in CASES {
            let name = format!("{candidate}__{case}__{PROFILE}.html");
            assert!(links.contains(&name), "no cell links to {name}: {links:?}");
        }
    }

    // A run page: chromium builds the SVG's lanes and the kernel's SIGKILL arrow.
    let page = out
        .path()
        .join("runs/tini__grandchild-own-session__docker.html");
    let dom = browser.dump_dom(&page).expect("chromium loads a run page");
    assert!(dom.contains("<svg"), "no timeline in {dom}");
    for lane in ["runtime", "pid1", "app", "worker"] {
        assert!(
            dom.contains(&format!("<g class=\"lane\" data-lane=\"{lane}\">")),
            "no {lane} lane in {dom}"
        );
    }
    assert!(dom.contains("href=\"../index.html#profile-docker\""));

    // The timeline alone is well-formed SVG: chromium's strict XML parser reports no error.
    let text = std::fs::read_to_string(&page).expect("reading the run page");
    let svg = text
        .find("<svg")
        .zip(text.find("</svg>"))
        .map(|(start, end)| &text[start..end + "</svg>".len()])
        .expect("the page holds an SVG");
    let alone = out.path().join("timeline.svg");
    std::fs::write(&alone, svg).expect("writing the SVG");
    let parsed = browser.dump_dom(&alone).expect("chromium loads the SVG");
    assert!(!parsed.contains("parsererror"), "{parsed}");
    assert!(parsed.contains("class=\"signal fate-fatal\""), "{parsed}");

    // The screenshot command writes a PNG as wide as the timeline needs.
    let png = out.path().join("shot.png");
    let output = xtask()
        .args([
            "report",
            "--screenshot",
            "tini__grandchild-own-session__docker",
            "--reports",
        ])
        .arg(out.path())
        .arg("--out")
        .arg(&png)
        .output()
        .expect("running xtask report");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let bytes = std::fs::read(&png).expect("the screenshot exists");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let dimension = |at: usize| {
        bytes
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
    };
    // The IHDR chunk: width then height, right after the signature and chunk header.
    let (width, height) = (dimension(16), dimension(20));
    assert!(width.is_some_and(|w| w >= 1400), "{width:?}");
    assert!(height.is_some_and(|h| h > 600), "{height:?}");
}

#[test]
fn report_without_screenshot_says_what_to_do() {
    let output = xtask().arg("report").output().expect("running xtask");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("--screenshot"));
}
