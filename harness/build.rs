//! Records the optimisation level cargo builds the harness with, so that a benchmark can say
//! which build of the launcher its figures are of.

fn main() {
    let level = std::env::var("OPT_LEVEL").unwrap_or_else(|_| "unknown".to_owned());
    println!("cargo:rustc-env=PID1CHECK_OPT_LEVEL={level}");
    println!("cargo:rerun-if-changed=build.rs");
}
