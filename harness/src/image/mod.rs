//! Container images as the gate reads them: an OCI image layout (a directory or a tar of one)
//! unpacked into a root file system, or a root directory with its config given by hand.
//!
//! Reading is [`layout`] (index → manifest → config and layers, each blob checked against its
//! digest), unpacking is [`unpack`] (layers in order, whiteouts applied), and [`elf`] tells a
//! musl binary from a glibc one. Nothing here runs the image.

pub mod elf;
mod error;
pub mod layout;
pub mod rootfs;
pub mod unpack;

use std::path::PathBuf;

use serde::Serialize;

pub use error::ImageError;
pub use layout::open_oci;

/// The parts of an image's config that decide how its PID 1 starts and stops.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImageConfig {
    /// `Entrypoint`: the start of PID 1's argv.
    pub entrypoint: Vec<String>,
    /// `Cmd`: appended to the entrypoint (the whole argv when there is no entrypoint).
    pub cmd: Vec<String>,
    /// `StopSignal`, exactly as written.
    pub stop_signal: Option<String>,
    /// `User`, as written (`""` means root).
    pub user: Option<String>,
    /// `Env`, `KEY=VALUE`.
    pub env: Vec<String>,
    /// `WorkingDir`.
    pub working_dir: Option<String>,
}

impl ImageConfig {
    /// PID 1's argv: entrypoint then cmd, as docker and the kubelet join them.
    pub fn argv(&self) -> Vec<String> {
        self.entrypoint.iter().chain(&self.cmd).cloned().collect()
    }
}

/// An image ready to run: its unpacked root and its config.
#[derive(Debug)]
pub struct Image {
    /// Where the image came from (`oci:PATH@sha256:...`, `rootfs:PATH`), for reports.
    pub source: String,
    /// The unpacked root file system on the host.
    pub rootfs: PathBuf,
    /// The config.
    pub config: ImageConfig,
    /// Keeps the scratch directory of an unpacked OCI image alive; `None` for `--rootfs`.
    pub scratch: Option<tempfile::TempDir>,
}

impl Image {
    /// An image given as a root directory with its config on the command line (`--rootfs`).
    pub fn from_rootfs(dir: &std::path::Path, config: ImageConfig) -> Result<Image, ImageError> {
        if !dir.is_dir() {
            return Err(ImageError::field(dir, "--rootfs", "not a directory"));
        }
        let rootfs = dir
            .canonicalize()
            .map_err(ImageError::io(dir, "resolving the root"))?;
        Ok(Image {
            source: format!("rootfs:{}", rootfs.display()),
            rootfs,
            config,
            scratch: None,
        })
    }
}
