//! The launcher: a small single-threaded process that builds one run's sandbox, becomes the
//! parent of its PID 1, drives the stop sequence and prints the raw trace as JSON on stdout.
//! Reads a `RunSpec` as JSON on stdin. Exit code 0 with a trace, 2 on bad input.

fn main() {
    std::process::exit(harness::run::launcher_main());
}
