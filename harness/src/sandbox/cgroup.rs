//! A run's own cgroup on the host's cgroup2 hierarchy, for a PID 1 that manages cgroups
//! (systemd): created by the launcher before PID 1 starts, entered by PID 1 before it execs,
//! and removed, with everything PID 1 created below it, once the run is over.
//!
//! The host may be pure cgroup v2 (`/sys/fs/cgroup`) or hybrid (`/sys/fs/cgroup/unified`, as on
//! this machine): the hierarchy is found in `/proc/self/mountinfo`, not assumed.

use std::path::{Path, PathBuf};

/// The run's cgroup directory on the host; removed (depth first) when dropped.
#[derive(Debug)]
pub struct RunCgroup {
    path: PathBuf,
}

impl RunCgroup {
    /// Create `pid1check-run-PID` (PID = this launcher) below the launcher's own cgroup2
    /// cgroup.
    pub fn create() -> std::io::Result<RunCgroup> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
        let mount = cgroup2_mount(&mountinfo).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no cgroup2 hierarchy is mounted on this host",
            )
        })?;
        let own = own_cgroup2(&std::fs::read_to_string("/proc/self/cgroup")?).unwrap_or_default();
        let path = mount
            .join(own.trim_start_matches('/'))
            .join(format!("pid1check-run-{}", std::process::id()));
        // A leftover of a launcher that was SIGKILLed with the same pid: empty by now, since
        // its namespace died with it.
        remove_tree(&path);
        std::fs::create_dir(&path)?;
        Ok(RunCgroup { path })
    }

    /// Its directory on the host.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunCgroup {
    fn drop(&mut self) {
        remove_tree(&self.path);
    }
}

/// Remove a cgroup and its children, deepest first: `rmdir` is the only way to delete a cgroup,
/// and it fails while a child or a process is left. Best effort: a cgroup that cannot go yet
/// is left to the next run with this pid.
fn remove_tree(path: &Path) {
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&entry.path());
            }
        }
    }
    let _ = std::fs::remove_dir(path);
}

/// The mount point of the first cgroup2 file system in a `/proc/self/mountinfo` text
/// (proc(5): field 5 is the mount point, the file system type follows the ` - ` separator).
fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (mount, fs) = line.split_once(" - ")?;
        let fs_type = fs.split_whitespace().next()?;
        let point = mount.split_whitespace().nth(4)?;
        (fs_type == "cgroup2").then(|| PathBuf::from(unescape_octal(point)))
    })
}

/// This process's cgroup2 path from `/proc/self/cgroup` (the `0::PATH` line, cgroups(7)).
fn own_cgroup2(cgroup: &str) -> Option<String> {
    cgroup
        .lines()
        .find_map(|line| line.strip_prefix("0::").map(str::to_owned))
}

/// mountinfo escapes space, tab, newline and backslash as `\\ooo`.
fn unescape_octal(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 4);
        match code.and_then(|c| u8::from_str_radix(c, 8).ok()) {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[at + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_unified_hierarchy_of_a_hybrid_host_and_of_a_pure_v2_host() {
        let hybrid = "\
35 26 0:30 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
36 35 0:31 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
37 35 0:32 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd
";
        assert_eq!(
            cgroup2_mount(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let pure = "29 23 0:26 / /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup2_mount(pure), Some(PathBuf::from("/sys/fs/cgroup")));
        assert_eq!(cgroup2_mount("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"), None);
        let escaped = "29 23 0:26 / /mnt/my\\040cgroups rw - cgroup2 none rw\n";
        assert_eq!(
            cgroup2_mount(escaped),
            Some(PathBuf::from("/mnt/my cgroups"))
        );
    }

    #[test]
    fn reads_the_v2_line_of_proc_self_cgroup() {
        let hybrid = "9:name=systemd:/\n4:memory:/x\n0::/user.slice/session-1.scope\n";
        assert_eq!(
            own_cgroup2(hybrid).as_deref(),
            Some("/user.slice/session-1.scope")
        );
        assert_eq!(own_cgroup2("4:memory:/x\n"), None);
    }
}
