//! `cargo xtask report --screenshot [RUN] [--out FILE.png]`: one run's page of the HTML report
//! (written by `cargo xtask conformance`) rendered to PNG by a real headless browser, the
//! window sized to show the whole timeline.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Args;
use harness::browser::Browser;

/// The run shown when none is named: tini leaves the worker in its own session to the kernel's
/// SIGKILL, which only the kernel witness shows.
const DEFAULT_RUN: &str = "tini__grandchild-own-session__docker";
/// Width of the page around the timeline, and height above and below it, in px.
const PAGE_MARGIN: (u32, u32) = (80, 560);
/// The window when the page has no timeline.
const DEFAULT_WINDOW: (u32, u32) = (1400, 1000);

/// Flags of `cargo xtask report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Render one run's page to PNG: CANDIDATE__CASE__PROFILE (default:
    /// tini__grandchild-own-session__docker).
    #[arg(long, value_name = "RUN", num_args = 0..=1, default_missing_value = DEFAULT_RUN)]
    screenshot: Option<String>,
    /// Where to write the PNG. Default: target/screenshots/RUN.png.
    #[arg(long, value_name = "FILE.png")]
    out: Option<PathBuf>,
    /// The report directory that holds index.html and runs/. Default: reports/.
    #[arg(long, value_name = "DIR")]
    reports: Option<PathBuf>,
}

/// Run the subcommand.
pub fn run(root: &Path, args: &ReportArgs) -> anyhow::Result<()> {
    let Some(run) = &args.screenshot else {
        bail!("nothing to do: say --screenshot [RUN]");
    };
    let reports = args.reports.clone().unwrap_or_else(|| root.join("reports"));
    let page = reports.join("runs").join(format!("{run}.html"));
    let text = std::fs::read_to_string(&page).with_context(|| {
        format!(
            "reading {} (write the report with `cargo xtask conformance` first)",
            page.display()
        )
    })?;
    let png = args.out.clone().unwrap_or_else(|| {
        root.join("target")
            .join("screenshots")
            .join(format!("{run}.png"))
    });
    if let Some(dir) = png.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let window = timeline_size(&text).map_or(DEFAULT_WINDOW, |(width, height)| {
        (
            (width + PAGE_MARGIN.0).max(DEFAULT_WINDOW.0),
            height + PAGE_MARGIN.1,
        )
    });
    let browser = Browser::new(root)?;
    browser.screenshot(&page, &png, window)?;
    eprintln!(
        "{} ({}×{} px, chromium-headless-shell {})",
        png.display(),
        window.0,
        window.1,
        browser.version()
    );
    Ok(())
}

/// The width and height of the page's timeline SVG.
fn timeline_size(page: &str) -> Option<(u32, u32)> {
    let svg = &page[page.find("<svg ")?..];
    let tag = &svg[..svg.find('>')?];
    let number = |name: &str| -> Option<u32> {
        let key = format!(" {name}=\"");
        let start = tag.find(&key)? + key.len();
        let end = start + tag[start..].find('"')?;
        tag[start..end].parse().ok()
    };
    Some((number("width")?, number("height")?))
}

#[cfg(test)]
mod tests {
    use super::timeline_size;

    #[test]
    fn the_timeline_size_is_read_from_the_svg_tag() {
        let page = r#"<p>x</p><svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="1210" height="634" viewBox="0 0 1210 634"><rect width="5"/></svg>"#;
        assert_eq!(timeline_size(page), Some((1210, 634)));
        assert_eq!(timeline_size("<p>no timeline</p>"), None);
    }
}
