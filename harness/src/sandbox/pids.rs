//! The pids limit of a run: a fork bomb under PID 1 must hit a wall inside the run, never the
//! machine's `pid_max`. Where a pids controller is writable (cgroup v1 `pids` hierarchy, or a
//! cgroup v2 hierarchy with `pids` enabled) each run gets its own cgroup with `pids.max`, PID 1
//! is put in it before it is released, and the cgroup is removed after the run. Elsewhere
//! `RLIMIT_NPROC` is used where the kernel enforces it (inside a user namespace, where it
//! counts the namespace's root), and the trace says when no limit applied at all.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::SandboxMode;

/// Most tasks (processes and threads) a run may have at once: far above any case's workload
/// or a system manager's boot, far below this machine's `pid_max`.
pub const PIDS_MAX: u64 = 1024;

/// Which limit a run got, and what it saw: part of the trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PidsLimit {
    /// A per-run cgroup with `pids.max`.
    Cgroup {
        /// The cgroup's directory on the host.
        path: PathBuf,
        /// `pids.max`.
        max: u64,
        /// `pids.peak`: the most tasks at once (absent on kernels without the file).
        peak: Option<u64>,
        /// Forks refused because of the limit (`max` in `pids.events`).
        refused_forks: Option<u64>,
        /// Whether the cgroup was removed after the run, or why not.
        removed: Result<(), String>,
    },
    /// `RLIMIT_NPROC` of PID 1, enforced because PID 1 lives in its own user namespace.
    Rlimit {
        /// The limit.
        max: u64,
    },
    /// No limit could be set: a fork bomb is bounded only by the machine.
    None {
        /// Why not, in a sentence.
        reason: String,
    },
}

impl PidsLimit {
    /// One line for reports: `pids cgroup max 1024 (peak 5)` or why there was none.
    pub fn describe(&self) -> String {
        match self {
            PidsLimit::Cgroup {
                max,
                peak,
                refused_forks,
                ..
            } => {
                let mut text = format!("pids cgroup max {max}");
                if let Some(peak) = peak {
                    text.push_str(&format!(", peak {peak}"));
                }
                if let Some(refused) = refused_forks.filter(|n| *n > 0) {
                    text.push_str(&format!(", {refused} forks refused"));
                }
                text
            }
            PidsLimit::Rlimit { max } => format!("RLIMIT_NPROC {max}"),
            PidsLimit::None { reason } => format!("no pids limit: {reason}"),
        }
    }
}

/// How a run will be limited, decided before PID 1 is cloned.
#[derive(Debug)]
pub(crate) enum PidsPlan {
    /// A created cgroup that PID 1 must be added to before it is released.
    Cgroup(RunCgroup),
    /// Set `RLIMIT_NPROC` in the child before exec.
    Rlimit(u64),
    /// No limit; why.
    None(String),
}

impl PidsPlan {
    /// Choose and prepare the limit for a run in `mode`; `name` makes the cgroup unique.
    pub(crate) fn prepare(mode: SandboxMode, name: &str) -> PidsPlan {
        let cgroup = find_pids_hierarchy().and_then(|(parent, version)| {
            remove_stale_cgroups(&parent);
            RunCgroup::create(&parent, name, version)
        });
        match (cgroup, mode) {
            (Ok(cgroup), _) => PidsPlan::Cgroup(cgroup),
            (Err(_), SandboxMode::Unprivileged) => PidsPlan::Rlimit(PIDS_MAX),
            (Err(why), SandboxMode::Root) => PidsPlan::None(format!(
                "{why}; RLIMIT_NPROC does not bind root in the initial user namespace"
            )),
        }
    }

    /// The trace's view of a plan that was never used (PID 1 did not start).
    pub(crate) fn finish(self) -> PidsLimit {
        match self {
            PidsPlan::Cgroup(cgroup) => cgroup.finish(),
            PidsPlan::Rlimit(max) => PidsLimit::Rlimit { max },
            PidsPlan::None(reason) => PidsLimit::None { reason },
        }
    }
}

/// A run's own pids cgroup on the host; removed by [`RunCgroup::finish`].
#[derive(Debug)]
pub(crate) struct RunCgroup {
    path: PathBuf,
    /// In a cgroup v1 hierarchy, its `tasks` file, open for PID 1 to join by itself
    /// ([`RunCgroup::self_join`]).
    tasks: Option<std::fs::File>,
}

impl RunCgroup {
    /// `mkdir PARENT/NAME` and write `pids.max`; in a v1 hierarchy (`version` 1), open its
    /// `tasks` file for PID 1.
    fn create(parent: &Path, name: &str, version: u8) -> Result<RunCgroup, String> {
        let path = parent.join(name);
        std::fs::create_dir(&path).map_err(|e| format!("creating {}: {e}", path.display()))?;
        let mut cgroup = RunCgroup { path, tasks: None };
        let limit = cgroup.path.join("pids.max");
        if let Err(error) = std::fs::write(&limit, PIDS_MAX.to_string()) {
            let _ = cgroup.finish();
            return Err(format!(
                "writing {} (is the pids controller enabled in {}?): {error}",
                limit.display(),
                parent.display()
            ));
        }
        if version == 1 {
            let tasks = cgroup.path.join("tasks");
            match std::fs::OpenOptions::new().write(true).open(&tasks) {
                Ok(file) => cgroup.tasks = Some(file),
                Err(error) => {
                    let _ = cgroup.finish();
                    return Err(format!("opening {}: {error}", tasks.display()));
                }
            }
        }
        Ok(cgroup)
    }

    /// The descriptor through which PID 1 moves itself into the cgroup before it execs, when
    /// the hierarchy allows it (v1 `tasks`). A thread that writes `0` there moves itself
    /// without the global threadgroup lock that moving another process takes, and with it an
    /// RCU grace period (kernel/cgroup/cgroup.c, cgroup_procs_write_start: "If we migrate a
    /// single thread ... we can skip the global lock"); that wait was 5 ms median per run on
    /// a busy machine. `None`: the launcher moves PID 1 ([`RunCgroup::add`]).
    pub(crate) fn self_join(&self) -> Option<&std::fs::File> {
        self.tasks.as_ref()
    }

    /// Move `pid` (PID 1, not yet released) into the cgroup: every process it forks is
    /// counted from then on.
    pub(crate) fn add(&self, pid: i32) -> std::io::Result<()> {
        std::fs::write(self.path.join("cgroup.procs"), pid.to_string())
    }

    /// Read what the cgroup saw and remove it. Called once PID 1 is reaped: the kernel has
    /// then reaped the whole namespace (zap_pid_ns_processes), so the cgroup is empty.
    pub(crate) fn finish(mut self) -> PidsLimit {
        self.tasks = None;
        let read = |file: &str| std::fs::read_to_string(self.path.join(file)).ok();
        let peak = read("pids.peak").and_then(|text| text.trim().parse().ok());
        let refused_forks = read("pids.events").and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("max "))
                .and_then(|n| n.trim().parse().ok())
        });
        let removed = std::fs::remove_dir(&self.path)
            .map_err(|e| format!("removing {}: {e}", self.path.display()));
        PidsLimit::Cgroup {
            path: self.path,
            max: PIDS_MAX,
            peak,
            refused_forks,
            removed,
        }
    }
}

/// The prefix of every run's cgroup name; the launcher's pid follows it.
pub(crate) const CGROUP_PREFIX: &str = "pid1check-";

/// Remove the cgroups of runs whose launcher is gone (killed before it could clean up): only
/// those named after a pid that no longer exists, and only if empty (the kernel refuses to
/// remove a cgroup with a task in it), so a run that is starting keeps its own.
fn remove_stale_cgroups(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let launcher = name
            .to_str()
            .and_then(|name| name.strip_prefix(CGROUP_PREFIX))
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = launcher
            && !Path::new("/proc").join(pid.to_string()).exists()
        {
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

/// The directory of this process's cgroup in a hierarchy with the pids controller, and the
/// hierarchy's version: a cgroup v1 `pids` mount, else a cgroup2 mount whose controllers
/// include `pids`.
fn find_pids_hierarchy() -> Result<(PathBuf, u8), String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("reading /proc/self/mountinfo: {e}"))?;
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("reading /proc/self/cgroup: {e}"))?;
    let mounts = cgroup_mounts(&mountinfo);
    let v1 = mounts
        .iter()
        .find(|m| m.version == 1 && m.options.split(',').any(|o| o == "pids"));
    if let Some(mount) = v1 {
        let own_path = own_cgroup(&own, |controllers| {
            controllers.split(',').any(|c| c == "pids")
        })
        .ok_or("no pids line in /proc/self/cgroup")?;
        return Ok((join_cgroup(&mount.point, &own_path), 1));
    }
    for mount in mounts.iter().filter(|m| m.version == 2) {
        let controllers =
            std::fs::read_to_string(mount.point.join("cgroup.controllers")).unwrap_or_default();
        if controllers.split_whitespace().any(|c| c == "pids") {
            let own_path =
                own_cgroup(&own, str::is_empty).ok_or("no 0:: line in /proc/self/cgroup")?;
            return Ok((join_cgroup(&mount.point, &own_path), 2));
        }
    }
    Err("no cgroup hierarchy with the pids controller is mounted".to_owned())
}

/// A mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CgroupMount {
    /// 1 or 2.
    version: u8,
    /// Mount point.
    point: PathBuf,
    /// Super options (`rw,pids` for a v1 pids hierarchy).
    options: String,
}

/// The cgroup mounts listed in a `/proc/PID/mountinfo` text (proc(5): fields, ` - `, then file
/// system type, source, super options).
fn cgroup_mounts(mountinfo: &str) -> Vec<CgroupMount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (mount, filesystem) = line.split_once(" - ")?;
            let point = mount.split(' ').nth(4)?;
            let mut rest = filesystem.split(' ');
            let version = match rest.next()? {
                "cgroup" => 1,
                "cgroup2" => 2,
                _ => return None,
            };
            let options = rest.nth(1).unwrap_or_default().to_owned();
            Some(CgroupMount {
                version,
                point: PathBuf::from(point),
                options,
            })
        })
        .collect()
}

/// This process's path in the hierarchy whose controllers field (`pids`, or empty for v2)
/// `matches`, from a `/proc/self/cgroup` text (`8:pids:/a/b`).
fn own_cgroup(text: &str, matches: impl Fn(&str) -> bool) -> Option<String> {
    text.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        matches(controllers).then(|| path.to_owned())
    })
}

fn join_cgroup(mount: &Path, own: &str) -> PathBuf {
    mount.join(own.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn mountinfo_yields_the_v1_pids_hierarchy_and_the_cgroup2_mount() {
        let mounts = cgroup_mounts(MOUNTINFO);
        let found: Vec<(u8, &str, &str)> = mounts
            .iter()
            .map(|m| {
                (
                    m.version,
                    m.point.to_str().unwrap_or("?"),
                    m.options.as_str(),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                (1, "/sys/fs/cgroup/cpu", "rw,cpu"),
                (1, "/sys/fs/cgroup/pids", "rw,pids"),
                (2, "/sys/fs/cgroup/unified", "rw"),
            ]
        );
    }

    #[test]
    fn own_cgroup_picks_the_line_of_the_controller() {
        let text = "9:name=systemd:/\n8:pids:/a/b\n4:memory:/m\n0::/v2/path\n";
        let pids = own_cgroup(text, |c| c.split(',').any(|c| c == "pids"));
        assert_eq!(pids.as_deref(), Some("/a/b"));
        assert_eq!(own_cgroup(text, str::is_empty).as_deref(), Some("/v2/path"));
        assert_eq!(
            join_cgroup(Path::new("/sys/fs/cgroup/pids"), "/a/b"),
            PathBuf::from("/sys/fs/cgroup/pids/a/b")
        );
    }

    #[test]
    fn a_limit_reads_as_one_line() {
        let cgroup = PidsLimit::Cgroup {
            path: PathBuf::from("/sys/fs/cgroup/pids/r"),
            max: 1024,
            peak: Some(1024),
            refused_forks: Some(7),
            removed: Ok(()),
        };
        assert_eq!(
            cgroup.describe(),
            "pids cgroup max 1024, peak 1024, 7 forks refused"
        );
        let none = PidsLimit::None {
            reason: "no hierarchy".to_owned(),
        };
        assert_eq!(none.describe(), "no pids limit: no hierarchy");
    }
}
