//! Where run directories are made. Each run makes one (its channel, console log and the mount
//! point of its root) and removes it after; on a journaled file system that creation and
//! removal was a measurable part of a run (ext4: 5.81 → 5.00 ms median a run, `cargo xtask
//! bench`, 10 interleaved rounds of 100), so they go to a tmpfs when the machine has one.

use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

use nix::sys::statfs::{TMPFS_MAGIC, statfs};

/// The tmpfs for run directories: POSIX shared memory's, present on every Linux distribution.
/// A candidate never sees it: every sandbox mounts a `/dev` of its own.
const SHARED_MEMORY: &str = "/dev/shm";

/// The parent of every run directory for the workspace at `root`: this user's private
/// directory on `/dev/shm` when that is a tmpfs and the directory can be made (or is already
/// there, this user's and closed to others), else the workspace's `target/runs`.
pub fn run_parent(root: &Path) -> PathBuf {
    private_dir_on_tmpfs(Path::new(SHARED_MEMORY)).unwrap_or_else(|| root.join("target/runs"))
}

/// `base/pid1check-UID`, made mode 0700 if missing; `None` unless `base` is a tmpfs and the
/// directory is a real directory (not a link another user planted in a world-writable
/// `base`), owned by this user and closed to everyone else.
fn private_dir_on_tmpfs(base: &Path) -> Option<PathBuf> {
    if statfs(base).ok()?.filesystem_type() != TMPFS_MAGIC {
        return None;
    }
    let uid = nix::unistd::geteuid().as_raw();
    let dir = base.join(format!("pid1check-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(_) => return None,
    }
    let meta = std::fs::symlink_metadata(&dir).ok()?;
    (meta.is_dir() && meta.uid() == uid && meta.mode() & 0o077 == 0).then_some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only a tmpfs qualifies: a directory elsewhere (the temporary directory, when it is not
    /// one) is refused.
    #[test]
    fn only_a_tmpfs_holds_run_directories() -> std::io::Result<()> {
        let here = tempfile::tempdir()?;
        let on_tmpfs = statfs(here.path()).is_ok_and(|stat| stat.filesystem_type() == TMPFS_MAGIC);
        assert_eq!(private_dir_on_tmpfs(here.path()).is_some(), on_tmpfs);
        Ok(())
    }

    /// On a tmpfs, the directory is made private; one that is open to others, or a link, is
    /// refused rather than used.
    #[test]
    fn the_directory_on_a_tmpfs_is_private_or_refused() -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        let shm = Path::new(SHARED_MEMORY);
        if !statfs(shm).is_ok_and(|stat| stat.filesystem_type() == TMPFS_MAGIC) {
            panic!("{SHARED_MEMORY} is not a tmpfs on this machine: this test needs one");
        }
        let base = tempfile::tempdir_in(shm)?;
        let dir = private_dir_on_tmpfs(base.path()).expect("a private directory on the tmpfs");
        assert_eq!(std::fs::metadata(&dir)?.mode() & 0o777, 0o700);
        assert_eq!(
            private_dir_on_tmpfs(base.path()),
            Some(dir.clone()),
            "made once, reused"
        );

        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))?;
        assert_eq!(private_dir_on_tmpfs(base.path()), None, "open to others");

        std::fs::remove_dir(&dir)?;
        std::os::unix::fs::symlink(base.path(), &dir)?;
        assert_eq!(private_dir_on_tmpfs(base.path()), None, "a link");
        Ok(())
    }
}
