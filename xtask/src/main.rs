//! `cargo xtask`: pid1check's only command line. Parses flags into structs and hands each
//! subcommand to its module; all scenario logic lives in the `harness` library.

mod bench;
mod bench_witness;
mod candidates;
mod conformance;
mod exit_code;
mod gate;
mod interrupt;
mod progress;
#[cfg(test)]
mod readme_snippets;
mod report;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// pid1check: how does an init behave as PID 1 when a container stops?
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run candidates × cases, compare the traces with their snapshots and write reports.
    Conformance(conformance::ConformanceArgs),
    /// Install the candidates under target/candidates (or list them with --list).
    Candidates(candidates::CandidatesArgs),
    /// Gate a container image: static checks, then its entrypoint run under the policy's
    /// cases; exit 0 pass, 1 fail, 2 bad input.
    Gate(gate::GateArgs),
    /// Measure the matrix's wall time, its deliberate waiting and the per-run overhead;
    /// write reports/bench.json and reports/bench.md.
    Bench(bench::BenchArgs),
    /// Measure what the kernel witness adds to the matrix's wall time.
    BenchWitness(bench_witness::WitnessBenchArgs),
    /// Render one run's page of the HTML report to PNG in a headless browser.
    Report(report::ReportArgs),
}

/// The workspace root: xtask lives one level below it.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let usage = error.use_stderr();
            let _ = error.print();
            return ExitCode::from(if usage {
                exit_code::BAD_INPUT
            } else {
                exit_code::OK
            });
        }
    };
    let root = project_root();
    match cli.command {
        Command::Conformance(args) => {
            if let Err(error) = interrupt::clean_up_on_interrupt() {
                eprintln!("error: taking over SIGINT: {error:#}");
                return ExitCode::from(exit_code::FAILED);
            }
            conformance::run(&root, &args)
        }
        Command::Gate(args) => {
            if let Err(error) = interrupt::clean_up_on_interrupt() {
                eprintln!("error: taking over SIGINT: {error:#}");
                return ExitCode::from(exit_code::FAILED);
            }
            gate::run(&root, &args)
        }
        Command::Candidates(args) => exit_with(candidates::run(&root, &args)),
        Command::Bench(args) => exit_with(bench::run(&root, &args)),
        Command::BenchWitness(args) => exit_with(bench_witness::run(&root, &args)),
        Command::Report(args) => exit_with(report::run(&root, &args)),
    }
}

/// 0, or 1 after printing the error and its causes.
fn exit_with(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::from(exit_code::OK),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(exit_code::FAILED)
        }
    }
}
