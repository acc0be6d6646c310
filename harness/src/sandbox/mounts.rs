//! The root file system of a run as an ordered list of mount operations: one step per line,
//! each subtlety explained where it happens. Pure: [`mount_plan`] computes the list, the
//! spawned child applies it ([`super::spawn`]).

use std::path::{Path, PathBuf};

use pid1check_probe::{CHANNEL_DIR, PROBE_FILE};

use super::{SandboxNeed, SandboxSpec};

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
    /// Move this process into a cgroup (by writing to its `cgroup.procs`), then unshare the
    /// cgroup namespace, so that cgroup becomes the `/` of every cgroup2 mount made after.
    EnterCgroup {
        /// The cgroup's directory on the host.
        cgroup: PathBuf,
    },
    /// A fresh sysfs, read-only: it shows the host's devices but cannot change them.
    Sysfs {
        /// Mount point.
        target: PathBuf,
    },
    /// A cgroup2 file system; inside a new cgroup namespace it shows that namespace's root.
    Cgroup2 {
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

/// What the launcher prepared on the host for one run, which the mount plan refers to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostSide<'a> {
    /// The run's cgroup on the host, when the candidate needs cgroup2.
    pub run_cgroup: Option<&'a Path>,
    /// The terminal bound over `/dev/console`, when the candidate needs one.
    pub console: Option<&'a Path>,
}

/// The ordered mount script of a run's root file system.
pub fn mount_plan(spec: &SandboxSpec, view: RootView, host: HostSide<'_>) -> Vec<MountOp> {
    let run_cgroup = host.run_cgroup;
    let scratch = spec.scratch_dir();
    let root = scratch.join("root");
    let mut ops = vec![
        // Private first: without it a mount below would propagate to the host's namespace.
        MountOp::MakePrivate,
    ];
    if let Some(cgroup) = run_cgroup.filter(|_| spec.needs(SandboxNeed::Cgroup2)) {
        // Before any cgroup2 mount: the mount shows the namespace's root, which is the cgroup
        // this process is in when it unshares.
        ops.push(MountOp::EnterCgroup {
            cgroup: cgroup.to_path_buf(),
        });
    }
    ops.extend([
        // All writes of the run land in this tmpfs, which vanishes with the mount namespace.
        MountOp::Tmpfs {
            target: scratch.clone(),
            mode: 0o755,
        },
        MountOp::Mkdir { path: root.clone() },
    ]);
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
    for bind in &spec.image_binds {
        let inside = under(&root, &bind.at.to_string_lossy());
        ops.push(if bind.source.is_dir() {
            MountOp::Mkdir {
                path: inside.clone(),
            }
        } else {
            MountOp::Touch {
                path: inside.clone(),
            }
        });
        ops.push(MountOp::Bind {
            source: bind.source.clone(),
            target: inside,
            recursive: false,
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
    if spec.needs(SandboxNeed::Sysfs) {
        ops.push(MountOp::Mkdir {
            path: under(&root, "/sys"),
        });
        ops.push(MountOp::Sysfs {
            target: under(&root, "/sys"),
        });
    }
    if run_cgroup.is_some() && spec.needs(SandboxNeed::Cgroup2) {
        // sysfs has this directory; the mount point exists although sysfs is read-only.
        ops.push(MountOp::Cgroup2 {
            target: under(&root, "/sys/fs/cgroup"),
        });
    }
    let console = host
        .console
        .filter(|_| spec.needs(SandboxNeed::Console))
        .unwrap_or(Path::new("/dev/null"));
    ops.extend(dev_ops(&under(&root, "/dev"), console));
    ops.extend(channel_ops(spec, &root));
    ops.push(MountOp::PivotRoot { new_root: root });
    ops
}

/// A private /dev with only harmless devices, as bubblewrap's `--dev` builds it: the host's
/// /dev would expose its disks to a root PID 1. `console` is bound over /dev/console.
fn dev_ops(dev: &Path, console: &Path) -> Vec<MountOp> {
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
        // /dev/console: inits write boot messages there; /dev/null unless the candidate needs
        // a terminal there (its output then reaches the run's console log).
        let source = if *device == "console" {
            console.to_path_buf()
        } else {
            Path::new("/dev").join(device)
        };
        ops.push(MountOp::Bind {
            source,
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

/// The probe's channel at the same path in every root: the run's channel directory and the
/// probe binary, both read-only. The probe only connects to the socket there, which a
/// read-only mount allows (the kernel refuses writes to regular files, directories and links
/// only: fs/namei.c, inode_permission), so PID 1 cannot rewrite the workload or leave files in
/// the host's run directory. The probe's mount point is created by [`super::spawn_pid1`].
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
            read_only: true,
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

    fn spec_with(
        needs: Vec<SandboxNeed>,
        image_binds: Vec<crate::sandbox::ImageBind>,
    ) -> SandboxSpec {
        SandboxSpec {
            mode: SandboxMode::Root,
            run_dir: PathBuf::from("/r"),
            probe: PathBuf::from("/p/probe"),
            read_only_paths: Vec::new(),
            argv: vec!["/lib/systemd/systemd".to_owned()],
            env: Vec::new(),
            hostname: "h".to_owned(),
            needs,
            image_binds,
            cap_sys_boot: false,
            image_root: None,
            working_dir: None,
            user: None,
        }
    }

    /// sysfs and cgroup2 are a candidate's declared needs, never the default: a plan without
    /// them has neither, and the cgroup is entered before anything could mount cgroup2.
    #[test]
    fn sysfs_and_cgroup2_come_only_with_the_need_and_in_order() {
        let is_extra = |op: &MountOp| {
            matches!(
                op,
                MountOp::Sysfs { .. } | MountOp::Cgroup2 { .. } | MountOp::EnterCgroup { .. }
            )
        };
        let cgroup = Path::new("/sys/fs/cgroup/unified/pid1check-run-7");
        let host = HostSide {
            run_cgroup: Some(cgroup),
            console: None,
        };
        let plain = mount_plan(&spec_with(Vec::new(), Vec::new()), RootView::Overlay, host);
        assert!(!plain.iter().any(is_extra), "{plain:#?}");

        let sysfs_only = mount_plan(
            &spec_with(vec![SandboxNeed::Sysfs], Vec::new()),
            RootView::Overlay,
            HostSide::default(),
        );
        let root = PathBuf::from("/r/scratch/root");
        let extra: Vec<&MountOp> = sysfs_only.iter().filter(|op| is_extra(op)).collect();
        assert_eq!(
            extra,
            [&MountOp::Sysfs {
                target: root.join("sys")
            }]
        );

        let plan = mount_plan(
            &spec_with(vec![SandboxNeed::Cgroup2], Vec::new()),
            RootView::Overlay,
            host,
        );
        let extra: Vec<&MountOp> = plan.iter().filter(|op| is_extra(op)).collect();
        assert_eq!(
            extra,
            [
                &MountOp::EnterCgroup {
                    cgroup: cgroup.to_path_buf()
                },
                &MountOp::Sysfs {
                    target: root.join("sys")
                },
                &MountOp::Cgroup2 {
                    target: root.join("sys/fs/cgroup")
                },
            ],
            "cgroup2 implies sysfs"
        );
        let at = |wanted: &MountOp| plan.iter().position(|op| op == wanted);
        assert_eq!(at(&MountOp::MakePrivate), Some(0));
        assert_eq!(
            at(&MountOp::EnterCgroup {
                cgroup: cgroup.to_path_buf()
            }),
            Some(1),
            "the cgroup namespace is made before any mount"
        );
        assert!(matches!(plan.last(), Some(MountOp::PivotRoot { .. })));
    }

    /// /dev/console is /dev/null unless the candidate needs a terminal and the launcher made
    /// one.
    #[test]
    fn the_console_is_a_terminal_only_with_the_need() {
        let console_source = |plan: &[MountOp]| {
            plan.iter().find_map(|op| match op {
                MountOp::Bind { source, target, .. } if target.ends_with("dev/console") => {
                    Some(source.clone())
                }
                _ => None,
            })
        };
        let pts = Path::new("/dev/pts/9");
        let host = HostSide {
            run_cgroup: None,
            console: Some(pts),
        };
        let with_need = spec_with(vec![SandboxNeed::Console], Vec::new());
        let plan = mount_plan(&with_need, RootView::Overlay, host);
        assert_eq!(console_source(&plan), Some(pts.to_path_buf()));
        let without = mount_plan(&spec_with(Vec::new(), Vec::new()), RootView::Overlay, host);
        assert_eq!(console_source(&without), Some(PathBuf::from("/dev/null")));
        let unprepared = mount_plan(&with_need, RootView::Overlay, HostSide::default());
        assert_eq!(
            console_source(&unprepared),
            Some(PathBuf::from("/dev/null"))
        );
    }

    /// An image's files are bound read-only after the fresh /run and /tmp, which would
    /// otherwise hide them.
    #[test]
    fn image_files_are_bound_read_only_after_the_fresh_run() {
        let bind = crate::sandbox::ImageBind {
            source: PathBuf::from("/nonexistent-units"),
            at: PathBuf::from("/run/systemd/system"),
        };
        let plan = mount_plan(
            &spec_with(Vec::new(), vec![bind]),
            RootView::Overlay,
            HostSide::default(),
        );
        let root = PathBuf::from("/r/scratch/root");
        let fresh_run = plan.iter().position(
            |op| matches!(op, MountOp::Tmpfs { target, .. } if *target == root.join("run")),
        );
        let bound = plan.iter().position(|op| {
            *op == MountOp::Bind {
                source: PathBuf::from("/nonexistent-units"),
                target: root.join("run/systemd/system"),
                recursive: false,
                read_only: true,
            }
        });
        assert!(fresh_run.is_some() && bound.is_some(), "{plan:#?}");
        assert!(fresh_run < bound, "{plan:#?}");
    }

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
            needs: Vec::new(),
            image_binds: Vec::new(),
            cap_sys_boot: false,
            image_root: None,
            working_dir: None,
            user: None,
        };
        let plan = mount_plan(&spec, RootView::Overlay, HostSide::default());
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
            needs: Vec::new(),
            image_binds: Vec::new(),
            cap_sys_boot: false,
            image_root: Some(PathBuf::from("/work/target/gate/image.x/rootfs")),
            working_dir: None,
            user: None,
        };
        assert_eq!(spec.root_view(), RootView::ImageRoot);
        let plan = mount_plan(&spec, spec.root_view(), HostSide::default());
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
