//! The sandbox of one run: the namespaces PID 1 lives in and the root file system it sees.
//!
//! A run's sandbox is described as plain data ([`SandboxSpec`] → [`MountOp`] list, see
//! [`mount_plan`]) and applied in one place ([`spawn_pid1`]), so the plan can be read and tested
//! without privileges. Every `unsafe` block lives in [`sys`].

mod cgroup;
mod console;
mod enter;
mod mounts;
mod pids;
mod run_parent;
mod spawn;
pub(crate) mod sys;

pub use cgroup::RunCgroup;
pub use console::ConsoleTty;
pub use enter::{Inside, exec_inside};
pub use mounts::{HostSide, MountOp, RootView, mount_plan};
pub use pids::{PIDS_MAX, PidsLimit};
pub use run_parent::run_parent;
pub use spawn::{Pid1, SandboxError, spawn_pid1};

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How privileged the sandbox is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    /// Real root: new PID, mount, UTS and IPC namespaces, as a rootful docker or podman does.
    Root,
    /// Any user: a new user namespace maps the caller to uid 0, then the same namespaces.
    Unprivileged,
}

impl SandboxMode {
    /// The mode this process can use: `Root` when it is root in the initial user namespace.
    pub fn detect() -> SandboxMode {
        if nix::unistd::geteuid().is_root() && sys::in_initial_user_namespace() {
            SandboxMode::Root
        } else {
            SandboxMode::Unprivileged
        }
    }

    /// The root view each mode can build: the kernel refuses to overlay `/` from inside a user
    /// namespace (it has locked submounts: "overlayfs: failed to clone lowerpath").
    pub fn root_view(self) -> RootView {
        match self {
            SandboxMode::Root => RootView::Overlay,
            SandboxMode::Unprivileged => RootView::ReadOnlyBinds,
        }
    }

    /// Name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            SandboxMode::Root => "root",
            SandboxMode::Unprivileged => "unprivileged",
        }
    }
}

/// Something a candidate needs from the sandbox beyond what every run gets; declared in its
/// TOML (`needs = ["sysfs", "cgroup2"]`), so no other candidate sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxNeed {
    /// A fresh read-only sysfs at `/sys`, as docker and podman mount it.
    Sysfs,
    /// A cgroup2 hierarchy PID 1 may write: a child cgroup of the launcher's, made the root of
    /// a new cgroup namespace and mounted at `/sys/fs/cgroup` (systemd refuses to boot
    /// without one). Implies [`SandboxNeed::Sysfs`].
    Cgroup2,
    /// A terminal at `/dev/console` whose output reaches the run's console log (systemd logs
    /// only to a terminal).
    Console,
}

/// A host path shown read-only at another path inside the sandbox (an image's files).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageBind {
    /// Host path.
    pub source: PathBuf,
    /// Absolute path inside the sandbox.
    pub at: PathBuf,
}

/// Everything needed to build one run's sandbox and start its PID 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// Privilege mode.
    pub mode: SandboxMode,
    /// The run's private host directory: holds `channel/`, `scratch/` and `console.log`.
    pub run_dir: PathBuf,
    /// Host path of the probe binary, bind-mounted read-only into the channel directory.
    pub probe: PathBuf,
    /// Host paths made visible read-only at the same path inside the sandbox (the candidate's
    /// unpacked package, its fixture directory).
    pub read_only_paths: Vec<PathBuf>,
    /// PID 1's argv; `argv[0]` is a path inside the sandbox.
    pub argv: Vec<String>,
    /// PID 1's complete environment, `KEY=VALUE`.
    pub env: Vec<String>,
    /// Hostname inside the UTS namespace.
    pub hostname: String,
    /// What this candidate needs beyond the common sandbox.
    #[serde(default)]
    pub needs: Vec<SandboxNeed>,
    /// The image's own files, bound read-only after the fresh `/tmp` and `/run`.
    #[serde(default)]
    pub image_binds: Vec<ImageBind>,
    /// Whether PID 1 keeps `CAP_SYS_BOOT`. LXC and systemd-nspawn leave it (a halting
    /// systemd's `reboot()` then ends the namespace with SIGINT); docker, podman and the CRI
    /// runtimes drop it (systemd then exits 0).
    #[serde(default)]
    pub cap_sys_boot: bool,
    /// An image's unpacked root: PID 1 then sees it (overlaid, writes to tmpfs) instead of
    /// the host's `/` ([`RootView::ImageRoot`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_root: Option<PathBuf>,
    /// PID 1's working directory inside its root (an image's `WorkingDir`); `/` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<PathBuf>,
    /// The uid and gid PID 1 runs as (an image's `User`); root when unset. Only the root
    /// sandbox mode can switch: the unprivileged one maps uid 0 alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<(u32, u32)>,
}

impl SandboxSpec {
    /// What PID 1 sees as `/`: the image's root when there is one, else what the mode can
    /// build from the host's.
    pub fn root_view(&self) -> RootView {
        match self.image_root {
            Some(_) => RootView::ImageRoot,
            None => self.mode.root_view(),
        }
    }

    /// The channel directory on the host (bind-mounted at `/.pid1check`).
    pub fn channel_dir(&self) -> PathBuf {
        self.run_dir.join("channel")
    }

    /// Where PID 1's stdout and stderr go.
    pub fn console_path(&self) -> PathBuf {
        self.run_dir.join("console.log")
    }

    /// Whether the sandbox must provide `need` (a need may imply another).
    pub fn needs(&self, need: SandboxNeed) -> bool {
        self.needs.iter().any(|declared| {
            *declared == need || (need == SandboxNeed::Sysfs && *declared == SandboxNeed::Cgroup2)
        })
    }

    /// The mount point of the scratch tmpfs that holds the new root.
    pub fn scratch_dir(&self) -> PathBuf {
        self.run_dir.join("scratch")
    }
}
