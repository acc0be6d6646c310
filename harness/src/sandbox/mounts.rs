//! The root file system of a run as an ordered list of mount operations: one step per line,
//! each subtlety explained where it happens. Pure: [`mount_plan`] computes the list, the
//! spawned child applies it ([`super::spawn`]).

use std::path::{Path, PathBuf};

use pid1check_probe::{CHANNEL_DIR, PROBE_FILE};

use super::SandboxSpec;

/// What PID 1 sees as `/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootView {
    /// An overlay with the host's `/` as read-only lower layer and a tmpfs upper: everything
    /// is writable, nothing reaches the host.
    Overlay,
    /// A tmpfs root with the host's system directories bind-mounted read-only.
    ReadOnlyBinds,
    /// An overlay with an image's unpacked root ([`SandboxSpec::image_root`]) as read-only
    /// lower layer and a tmpfs upper: the host's tree is not visible at all.
    ImageRoot,
}

/// Host directories a [`RootView::ReadOnlyBinds`] root shows, when they exist.
const SYSTEM_DIRS: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc", "/opt"];
/// Device nodes bind-mounted from the host into the sandbox's private `/dev`.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// One step of building the root, applied in order inside the new mount namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountOp {
    /// Make every mount private (recursively), so nothing propagates back to the host.
    MakePrivate,
    /// A fresh tmpfs.
    Tmpfs {
        /// Mount point.
        target: PathBuf,
        /// Mode of its root directory.
        mode: u32,
    },
    /// Create a directory (and its parents).
    Mkdir {
        /// Path.
        path: PathBuf,
    },
    /// Create an empty file to bind a file onto.
    Touch {
        /// Path.
        path: PathBuf,
    },
    /// An overlay: `lower` read-only, writes go to `upper`.
    Overlay {
        /// Read-only lower layer.
        lower: PathBuf,
        /// Writable upper layer.
        upper: PathBuf,
        /// overlayfs' work directory (same file system as `upper`).
        work: PathBuf,
        /// Mount point.
        target: PathBuf,
    },
    /// A bind mount; `recursive` carries submounts; `read_only` remounts it read-only after.
    Bind {
        /// Existing path.
        source: PathBuf,
        /// Mount point (must exist).
        target: PathBuf,
        /// Include submounts.
        recursive: bool,
        /// Remount read-only.
        read_only: bool,
    },
    /// A fresh procfs: it shows the PID namespace of the process that mounts it.
    Proc {
        /// Mount point.
        target: PathBuf,
    },
    /// A private devpts instance.
    Devpts {
        /// Mount point.
        target: PathBuf,
    },
    /// A symbolic link.
    Symlink {
        /// What it points to.
        points_to: PathBuf,
        /// Where it is created.
        path: PathBuf,
    },
    /// Make `new_root` the root and detach the old one, so the host tree is unreachable.
    PivotRoot {
        /// The new root.
        new_root: PathBuf,
    },
}

fn under(root: &Path, absolute: &str) -> PathBuf {
    root.join(absolute.trim_start_matches('/'))
}

/// The ordered mount script of a run's root file system.
pub fn mount_plan(spec: &SandboxSpec, view: RootView) -> Vec<MountOp> {
    let scratch = spec.scratch_dir();
    let root = scratch.join("root");
    let mut ops = vec![
        // Private first: without it a mount below would propagate to the host's namespace.
        MountOp::MakePrivate,
        // All writes of the run land in this tmpfs, which vanishes with the mount namespace.
        MountOp::Tmpfs {
            target: scratch.clone(),
            mode: 0o755,
        },
        MountOp::Mkdir { path: root.clone() },
    ];
    match view {
        RootView::Overlay | RootView::ImageRoot => {
            let (upper, work) = (scratch.join("upper"), scratch.join("work"));
            ops.push(MountOp::Mkdir {
                path: upper.clone(),
            });
            ops.push(MountOp::Mkdir { path: work.clone() });
            // overlayfs sees only the root file system itself, not its submounts: /proc, /dev,
            // /sys of the host stay out, and are rebuilt below.
            let lower = match (view, &spec.image_root) {
                (RootView::ImageRoot, Some(image)) => image.clone(),
                _ => PathBuf::from("/"),
            };
            ops.push(MountOp::Overlay {
                lower,
                upper,
                work,
                target: root.clone(),
            });
        }
        RootView::ReadOnlyBinds => {
            ops.push(MountOp::Tmpfs {
                target: root.clone(),
                mode: 0o755,
            });
            for dir in SYSTEM_DIRS {
                if Path::new(dir).is_symlink() {
                    // merged-/usr systems: /bin -> usr/bin, keep the link.
                    if let Ok(points_to) = std::fs::read_link(dir) {
                        ops.push(MountOp::Symlink {
                            points_to,
                            path: under(&root, dir),
                        });
                    }
                } else if Path::new(dir).is_dir() {
                    ops.push(MountOp::Mkdir {
                        path: under(&root, dir),
                    });
                    ops.push(MountOp::Bind {
                        source: PathBuf::from(dir),
                        target: under(&root, dir),
                        recursive: true,
                        read_only: true,
                    });
                }
            }
        }
    }
    // A container starts with empty /tmp and /run; systemd's boot-time cleanup of /tmp then
    // cleans this tmpfs, not the host's.
    for (dir, mode) in [("/tmp", 0o1777), ("/run", 0o755), ("/var/tmp", 0o1777)] {
        ops.push(MountOp::Mkdir {
            path: under(&root, dir),
        });
        ops.push(MountOp::Tmpfs {
            target: under(&root, dir),
            mode,
        });
    }
    // After the fresh /tmp and /run: a checkout under /tmp (a CI clone) must stay visible, not
    // be hidden under the new tmpfs.
    for path in &spec.read_only_paths {
        let inside = under(&root, &path.to_string_lossy());
        ops.push(MountOp::Mkdir {
            path: inside.clone(),
        });
        ops.push(MountOp::Bind {
            source: path.clone(),
            target: inside,
            recursive: true,
            read_only: true,
        });
    }
    ops.push(MountOp::Mkdir {
        path: under(&root, "/proc"),
    });
    // Mounted by PID 1 itself (the child of clone), so it shows the new PID namespace.
    ops.push(MountOp::Proc {
        target: under(&root, "/proc"),
    });
    ops.extend(dev_ops(&under(&root, "/dev")));
    ops.extend(channel_ops(spec, &root));
    ops.push(MountOp::PivotRoot { new_root: root });
    ops
}

/// A private /dev with only harmless devices, as bubblewrap's `--dev` builds it: the host's
/// /dev would expose its disks to a root PID 1.
fn dev_ops(dev: &Path) -> Vec<MountOp> {
    let mut ops = vec![
        MountOp::Mkdir {
            path: dev.to_path_buf(),
        },
        MountOp::Tmpfs {
            target: dev.to_path_buf(),
            mode: 0o755,
        },
    ];
    for device in DEVICES.iter().chain(["console"].iter()) {
        ops.push(MountOp::Touch {
            path: dev.join(device),
        });
        // /dev/console: inits write boot messages there; it is /dev/null until a case needs
        // to read them.
        let source = if *device == "console" { "null" } else { device };
        ops.push(MountOp::Bind {
            source: Path::new("/dev").join(source),
            target: dev.join(device),
            recursive: false,
            read_only: false,
        });
    }
    for dir in ["pts", "shm"] {
        ops.push(MountOp::Mkdir {
            path: dev.join(dir),
        });
    }
    ops.push(MountOp::Devpts {
        target: dev.join("pts"),
    });
    ops.push(MountOp::Tmpfs {
        target: dev.join("shm"),
        mode: 0o1777,
    });
    for (link, points_to) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        ops.push(MountOp::Symlink {
            points_to: PathBuf::from(points_to),
            path: dev.join(link),
        });
    }
    ops
}

/// The probe's channel at the same path in every root: the run's channel directory
/// (read-write: the socket lives there) and the probe binary (read-only).
fn channel_ops(spec: &SandboxSpec, root: &Path) -> Vec<MountOp> {
    let inside = under(root, CHANNEL_DIR);
    vec![
        MountOp::Mkdir {
            path: inside.clone(),
        },
        MountOp::Bind {
            source: spec.channel_dir(),
            target: inside.clone(),
            recursive: false,
            read_only: false,
        },
        // The mount point for the probe, created in the (bound) host channel directory.
        MountOp::Touch {
            path: inside.join(PROBE_FILE),
        },
        MountOp::Bind {
            source: spec.probe.clone(),
            target: inside.join(PROBE_FILE),
            recursive: false,
            read_only: true,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::SandboxMode;

    /// A checkout under /tmp (CI clones there) was hidden by the sandbox's fresh /tmp, found
    /// by running the suite from a fresh clone: binds of host paths must come after it.
    #[test]
    fn host_paths_under_tmp_are_bound_after_the_fresh_tmp() {
        let spec = SandboxSpec {
            mode: SandboxMode::Root,
            run_dir: PathBuf::from("/tmp/clone/target/runs/r"),
            probe: PathBuf::from("/tmp/clone/target/probe/probe"),
            read_only_paths: vec![PathBuf::from("/tmp/clone/fixtures/candidates")],
            argv: vec!["/bin/true".to_owned()],
            env: Vec::new(),
            hostname: "h".to_owned(),
            image_root: None,
            working_dir: None,
            user: None,
        };
        let plan = mount_plan(&spec, RootView::Overlay);
        let root = spec.scratch_dir().join("root");
        let position = |wanted: &dyn Fn(&MountOp) -> bool| plan.iter().position(wanted);
        let fresh_tmp = position(
            &|op| matches!(op, MountOp::Tmpfs { target, .. } if *target == root.join("tmp")),
        );
        let bind = position(
            &|op| matches!(op, MountOp::Bind { target, .. } if *target == root.join("tmp/clone/fixtures/candidates")),
        );
        assert!(fresh_tmp.is_some() && bind.is_some(), "{plan:#?}");
        assert!(
            fresh_tmp < bind,
            "the bind is hidden by the later tmpfs: {plan:#?}"
        );
        assert!(
            matches!(plan.last(), Some(MountOp::PivotRoot { .. })),
            "pivot_root comes last"
        );
    }

    /// An image's run must not see the host: its root's only lower layer is the image, and no
    /// host path is bound in but the run's channel (socket directory and probe).
    #[test]
    fn an_image_root_overlays_the_image_alone() {
        let spec = SandboxSpec {
            mode: SandboxMode::Root,
            run_dir: PathBuf::from("/work/target/runs/r"),
            probe: PathBuf::from("/work/target/probe/probe"),
            read_only_paths: Vec::new(),
            argv: vec!["/usr/bin/tini".to_owned()],
            env: Vec::new(),
            hostname: "h".to_owned(),
            image_root: Some(PathBuf::from("/work/target/gate/image.x/rootfs")),
            working_dir: None,
            user: None,
        };
        assert_eq!(spec.root_view(), RootView::ImageRoot);
        let plan = mount_plan(&spec, spec.root_view());
        let lowers: Vec<&PathBuf> = plan
            .iter()
            .filter_map(|op| match op {
                MountOp::Overlay { lower, .. } => Some(lower),
                _ => None,
            })
            .collect();
        assert_eq!(lowers, [&PathBuf::from("/work/target/gate/image.x/rootfs")]);
        let host_sources: Vec<&PathBuf> = plan
            .iter()
            .filter_map(|op| match op {
                MountOp::Bind { source, .. } if !source.starts_with("/dev") => Some(source),
                _ => None,
            })
            .collect();
        assert_eq!(
            host_sources,
            [
                &spec.channel_dir(),
                &PathBuf::from("/work/target/probe/probe")
            ]
        );
    }
}
