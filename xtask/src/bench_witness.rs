//! `cargo xtask bench-witness`: what the kernel witness costs. Runs the whole conformance matrix
//! alternately with and without it (`conformance --no-witness`), each as its own process as a
//! user runs it, and prints the wall times and the median overhead. The target is under
//! 10 %; this reports it and never fails on timing (timings vary with the machine's load).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;

/// Flags of `cargo xtask bench-witness`.
#[derive(Debug, Args)]
pub struct WitnessBenchArgs {
    /// Pairs of matrix runs (one with, one without the witness).
    #[arg(long, default_value_t = 5, value_name = "N")]
    rounds: usize,
    /// Passed to `conformance --repeat`: each matrix run executes every run N times.
    #[arg(long, default_value_t = 1, value_name = "N")]
    repeat: usize,
}

/// Run the benchmark and print its table.
pub fn run(root: &Path, args: &WitnessBenchArgs) -> anyhow::Result<()> {
    if args.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let out = root.join("target/bench-reports");
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for round in 1..=args.rounds {
        for witness in [true, false] {
            let took = time_matrix(&out, args.repeat, witness)?;
            println!(
                "round {round}: {:<10} {:>6} ms",
                if witness { "witness" } else { "no-witness" },
                took.as_millis()
            );
            if witness {
                with.push(took);
            } else {
                without.push(took);
            }
        }
    }
    let (with, without) = (median(&mut with), median(&mut without));
    let overhead = (with.as_secs_f64() / without.as_secs_f64() - 1.0) * 100.0;
    println!(
        "median: witness {} ms, no-witness {} ms, overhead {overhead:+.1} % (target < 10 %: {})",
        with.as_millis(),
        without.as_millis(),
        if overhead < 10.0 { "met" } else { "not met" }
    );
    Ok(())
}

/// Wall time of one `cargo xtask conformance` process (this binary), reports to `out`.
fn time_matrix(out: &Path, repeat: usize, witness: bool) -> anyhow::Result<Duration> {
    let program = std::env::current_exe().context("finding the xtask binary")?;
    let mut command = Command::new(program);
    command
        .arg("conformance")
        .arg("--out")
        .arg(out)
        .arg("--repeat")
        .arg(repeat.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if !witness {
        command.arg("--no-witness");
    }
    let started = Instant::now();
    let status = command.status().context("running the conformance matrix")?;
    let took = started.elapsed();
    // 1 is a snapshot mismatch, which `--no-witness` always has (no witness lines): still timed.
    if !matches!(status.code(), Some(0 | 1)) {
        bail!("the conformance matrix failed: {status}");
    }
    Ok(took)
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}
