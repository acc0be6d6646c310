//! `cargo xtask gate`: the CI gate for a container image. Reads the image (an OCI layout or a
//! root directory with its config on the command line), runs the static checks and the
//! policy's cases against the image's own entrypoint, writes the reports, and exits 0 (pass),
//! 1 (fail) or 2 (bad input).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use harness::conformance::{MatrixOptions, RunRecord, chain};
use harness::gate::report::{
    render_github_errors, render_json, render_junit, render_step_summary, render_terminal,
};
use harness::gate::rules::RULES;
use harness::gate::{AppMode, GateReport, GateSetup, Policy, load_policy, run_gate};
use harness::image::{Image, ImageConfig, open_oci};
use harness::install::build_probe;
use harness::spec::{load_cases, load_profiles, select};

use crate::conformance::launcher;
use crate::exit_code;

/// Flags of `cargo xtask gate`.
#[derive(Debug, Args)]
pub struct GateArgs {
    /// An OCI image layout (a directory, or a tar of one: `skopeo copy ... oci-archive:X`,
    /// `docker save`); a `docker save` archive of the older format is read too.
    #[arg(long, value_name = "DIR|FILE.tar", conflicts_with = "rootfs")]
    oci: Option<PathBuf>,
    /// An unpacked root file system; its config comes from --entrypoint, --cmd and friends.
    #[arg(long, value_name = "DIR", required_unless_present_any = ["oci", "list_rules"])]
    rootfs: Option<PathBuf>,
    /// Print the static rules (id and what each checks) and exit.
    #[arg(long)]
    list_rules: bool,
    /// With --rootfs: the entrypoint, as a shell would split it ('/usr/bin/tini --').
    #[arg(long, value_name = "'CMD ARGS...'", requires = "rootfs")]
    entrypoint: Option<String>,
    /// With --rootfs: the command ('my-app --serve'); replaced by the probe when run.
    #[arg(long, value_name = "'CMD ARGS...'", requires = "rootfs")]
    cmd: Option<String>,
    /// With --rootfs: the image's STOPSIGNAL, as written in the Dockerfile.
    #[arg(long, value_name = "SIGNAL", requires = "rootfs")]
    stop_signal: Option<String>,
    /// With --rootfs: an environment variable of the image; repeatable.
    #[arg(long = "env", value_name = "KEY=VALUE", requires = "rootfs")]
    env: Vec<String>,
    /// With --rootfs: the image's user (`name`, `uid`, `name:group`, `uid:gid`).
    #[arg(long, value_name = "USER", requires = "rootfs")]
    user: Option<String>,
    /// With --rootfs: the image's working directory.
    #[arg(long, value_name = "DIR", requires = "rootfs")]
    workdir: Option<String>,
    /// The runtime profile(s) to stop the image with (fixtures/profiles); repeatable.
    #[arg(long = "profile", value_name = "NAME", default_value = "docker")]
    profiles: Vec<String>,
    /// A policy file (`cases = [...]`, `allow = [RULE...]`). Default: term-forward,
    /// orphan-reaping, grace-escalation (and exit-code when it exists).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Where the case files are (fixtures/gate/cases is read too).
    #[arg(long, value_name = "DIR")]
    cases_dir: Option<PathBuf>,
    /// How the probe tree starts: as the app (the image's Cmd replaced by the probe) or
    /// beside it (the image runs unchanged; the probe is started inside it like docker exec).
    #[arg(long, value_enum, default_value_t = Mode::ProbeAsApp)]
    mode: Mode,
    /// Write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write the report as JSON here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Multiply every grace period and case delay by F (never below 50 ms). Default 1: the
    /// runtime's real grace periods, since an image's own app takes the time it takes to stop
    /// (conformance runs scale by 0.05; so can a gate of a tini-fronted probe).
    #[arg(long, default_value_t = 1.0, value_name = "F")]
    time_scale: f64,
    /// Do not record runs with the kernel witness.
    #[arg(long)]
    no_witness: bool,
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    /// The image's Cmd is replaced by the probe.
    ProbeAsApp,
    /// The image runs unchanged; the probe is started inside it.
    ProbeBeside,
}

impl Mode {
    fn app_mode(self) -> AppMode {
        match self {
            Mode::ProbeAsApp => AppMode::ProbeAsApp,
            Mode::ProbeBeside => AppMode::ProbeBeside,
        }
    }
}

/// Run the subcommand; returns the process exit code.
pub fn run(root: &Path, args: &GateArgs) -> ExitCode {
    let bad_input = |message: String| {
        eprintln!("error: {message}");
        ExitCode::from(exit_code::BAD_INPUT)
    };
    if args.list_rules {
        for (rule, checks) in RULES {
            println!("{rule:<24} {checks}");
        }
        return ExitCode::from(exit_code::OK);
    }
    if !(args.time_scale > 0.0 && args.time_scale.is_finite()) {
        return bad_input(format!(
            "--time-scale must be positive, not {}",
            args.time_scale
        ));
    }
    let cases_dir = args.cases_dir.clone().unwrap_or_else(|| root.join("cases"));
    let mut loaded_cases = load_cases(&cases_dir);
    let gate_cases = load_cases(&root.join("fixtures/gate/cases"));
    loaded_cases.items.extend(gate_cases.items);
    loaded_cases.errors.extend(gate_cases.errors);
    if let Some(error) = loaded_cases.errors.first() {
        return bad_input(chain(error));
    }
    let available: Vec<String> = loaded_cases.items.iter().map(|c| c.name.clone()).collect();
    let mode = args.mode.app_mode();
    let policy = match &args.policy {
        Some(path) => match load_policy(path, &available) {
            Ok(policy) => policy,
            Err(error) => return bad_input(chain(&error)),
        },
        None => Policy::default_for(mode.default_cases(), &available),
    };
    let cases = match select(&loaded_cases.items, &policy.cases) {
        Ok(cases) => cases.into_iter().cloned().collect::<Vec<_>>(),
        Err(error) => return bad_input(chain(&error)),
    };
    let loaded_profiles = load_profiles(&root.join("fixtures/profiles"));
    if let Some(error) = loaded_profiles.errors.first() {
        return bad_input(chain(error));
    }
    let profiles = match select(&loaded_profiles.items, &args.profiles) {
        Ok(profiles) => profiles.into_iter().cloned().collect::<Vec<_>>(),
        Err(error) => return bad_input(chain(&error)),
    };
    let unpacking = std::time::Instant::now();
    let image = match read_image(root, args) {
        Ok(image) => image,
        Err(message) => return bad_input(message),
    };
    eprintln!(
        "image {} read in {:.2} s",
        image.source,
        unpacking.elapsed().as_secs_f64()
    );
    let options = match matrix_options(root, args) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(exit_code::FAILED);
        }
    };
    let setup = GateSetup {
        profiles: &profiles,
        cases: &cases,
        policy: &policy,
        mode,
        options: &options,
    };
    let report = match run_gate(&image, &setup, &|record: &RunRecord| {
        let r = &record.result;
        eprintln!("  {:<18} {:<12} {}", r.case, r.profile, r.outcome.name());
    }) {
        Ok(report) => report,
        Err(error) => return bad_input(error.to_string()),
    };
    print!("{}", render_terminal(&report));
    eprintln!(
        "{} runs in {:.1} s",
        report.runs.len(),
        report.runs_ms as f64 / 1000.0
    );
    if let Err(error) = write_outputs(args, &report) {
        eprintln!("error: {error:#}");
        return ExitCode::from(exit_code::FAILED);
    }
    ExitCode::from(if report.passed {
        exit_code::OK
    } else {
        exit_code::FAILED
    })
}

/// The image from --oci, or from --rootfs and its flags.
fn read_image(root: &Path, args: &GateArgs) -> Result<Image, String> {
    if let Some(oci) = &args.oci {
        return open_oci(oci, &root.join("target/gate")).map_err(|error| chain(&error));
    }
    let Some(dir) = &args.rootfs else {
        return Err("give --oci DIR|FILE.tar or --rootfs DIR".to_owned());
    };
    let split = |flag: &str, value: &Option<String>| -> Result<Vec<String>, String> {
        match value {
            None => Ok(Vec::new()),
            Some(text) => {
                shlex::split(text).ok_or_else(|| format!("{flag}: unbalanced quotes in {text:?}"))
            }
        }
    };
    let config = ImageConfig {
        entrypoint: split("--entrypoint", &args.entrypoint)?,
        cmd: split("--cmd", &args.cmd)?,
        stop_signal: args.stop_signal.clone(),
        user: args.user.clone(),
        env: args.env.clone(),
        working_dir: args.workdir.clone(),
    };
    Image::from_rootfs(dir, config).map_err(|error| chain(&error))
}

fn matrix_options(root: &Path, args: &GateArgs) -> anyhow::Result<MatrixOptions> {
    let probe = build_probe(root).context("building the probe")?;
    let launcher = launcher(root).map_err(anyhow::Error::msg)?;
    let defaults = MatrixOptions::for_workspace(root, probe, launcher);
    Ok(MatrixOptions {
        time_scale: args.time_scale,
        witness: !args.no_witness,
        // An image sees its own root and nothing of the host's.
        read_only_paths: Vec::new(),
        ..defaults
    })
}

/// --junit, --json, and GitHub's step summary and annotations when running there.
fn write_outputs(args: &GateArgs, report: &GateReport) -> anyhow::Result<()> {
    if let Some(path) = &args.junit {
        let xml = render_junit(report).context("rendering JUnit")?;
        std::fs::write(path, xml).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.json {
        let json = render_json(report).context("rendering JSON")?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty()) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&summary)
            .with_context(|| format!("opening GITHUB_STEP_SUMMARY {}", summary.display()))?;
        file.write_all(render_step_summary(report).as_bytes())
            .with_context(|| format!("appending to {}", summary.display()))?;
        print!("{}", render_github_errors(report));
    }
    Ok(())
}
