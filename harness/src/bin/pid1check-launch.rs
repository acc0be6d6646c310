//! The launcher: a small single-threaded process that builds one run's sandbox, becomes the
//! parent of its PID 1, drives the stop sequence and prints the raw trace as JSON.
fn main() {}
