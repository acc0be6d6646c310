//! `cargo xtask`: pid1check's command line. (Being written.)
fn main() {}
