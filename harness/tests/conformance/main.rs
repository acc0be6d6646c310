//! The integration tests: one binary (ripgrep's habit), one module per concern. They run real
//! candidates in real sandboxes, so they need root or user namespaces, and the network to the
//! Debian registry on first use (the candidates install themselves under target/).

mod determinism;
mod hostile;
mod matrix;
mod profiles;
mod safety;
mod support;
mod systemd;
mod witness;
