//! Looking at an unpacked root from outside: resolving a path the way the container will see
//! it (absolute symbolic links point into the root, not the host), finding a command on the
//! image's `PATH`, and telling which C library the root's PID 1 uses.

use std::path::{Component, Path, PathBuf};

use super::elf::{Libc, interpreter, libc_of_interpreter};

/// How many symbolic links a lookup follows before giving up (the kernel's limit).
const MAX_LINKS: usize = 40;
/// `PATH` when the image sets none (docker's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The host path of `path` as seen inside `root`, following symbolic links inside the root;
/// `None` if it does not exist or leaves the root.
pub fn resolve_in_root(root: &Path, path: &str) -> Option<PathBuf> {
    let mut pending: Vec<String> = components(path);
    pending.reverse();
    let mut resolved: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate: PathBuf = resolved
            .iter()
            .chain([&part])
            .fold(root.to_path_buf(), |p, c| p.join(c));
        let meta = std::fs::symlink_metadata(&candidate).ok()?;
        if meta.file_type().is_symlink() {
            links += 1;
            if links > MAX_LINKS {
                return None;
            }
            let target = std::fs::read_link(&candidate).ok()?;
            let target = target.to_string_lossy();
            if target.starts_with('/') {
                resolved.clear();
            }
            let mut more = components(&target);
            more.reverse();
            pending.extend(more);
        } else {
            resolved.push(part);
        }
    }
    Some(resolved.iter().fold(root.to_path_buf(), |p, c| p.join(c)))
}

fn components(path: &str) -> Vec<String> {
    Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".to_owned()),
            _ => None,
        })
        .collect()
}

/// The host path of the program `argv0` names inside `root`: itself if it holds a `/`, else
/// the first match on the image's `PATH` (from `env`).
pub fn find_command(root: &Path, argv0: &str, env: &[String]) -> Option<PathBuf> {
    if argv0.contains('/') {
        return resolve_in_root(root, argv0).filter(|p| p.is_file());
    }
    let path = env
        .iter()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    path.split(':')
        .filter(|dir| !dir.is_empty())
        .find_map(|dir| resolve_in_root(root, &format!("{dir}/{argv0}")).filter(|p| p.is_file()))
}

/// How much of a binary is read to find its interpreter: the program headers and the
/// interpreter's path sit at the start of every ELF file a linker writes.
const ELF_HEAD_BYTES: u64 = 64 * 1024;

/// The ELF interpreter of `binary` (a host path), read from its first bytes.
pub fn interpreter_of(binary: &Path) -> Option<String> {
    use std::io::Read;
    let mut head = Vec::new();
    std::fs::File::open(binary)
        .ok()?
        .take(ELF_HEAD_BYTES)
        .read_to_end(&mut head)
        .ok()?;
    interpreter(&head)
}

/// The C library of `binary` (a host path inside `root`): its ELF interpreter's, or for a
/// binary without one, musl when the root's only loader is musl's.
pub fn libc_in_root(root: &Path, binary: &Path) -> Libc {
    let from_binary = interpreter_of(binary).map(|interp| libc_of_interpreter(&interp));
    match from_binary {
        Some(libc) => libc,
        None if has_musl_loader(root) && !has_glibc_loader(root) => Libc::Musl,
        None => Libc::Unknown,
    }
}

fn loader_present(root: &Path, prefix: &str) -> bool {
    ["lib", "lib64", "usr/lib"].iter().any(|dir| {
        std::fs::read_dir(root.join(dir)).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
        })
    })
}

/// Whether the root ships musl's dynamic loader (`/lib/ld-musl-*`): an Alpine-like image.
pub fn has_musl_loader(root: &Path) -> bool {
    loader_present(root, "ld-musl-")
}

fn has_glibc_loader(root: &Path) -> bool {
    loader_present(root, "ld-linux")
}

/// The uid and gid an image's `User` (`name`, `uid`, `name:group`, `uid:gid`) names, looked
/// up in the root's `/etc/passwd` and `/etc/group` as runc does: a number needs no entry (its
/// gid is then the entry's, or 0); a name must have one.
pub fn user_ids(root: &Path, user: &str) -> Result<(u32, u32), String> {
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = read_db(root, "/etc/passwd");
    let entry = passwd.iter().find(|fields| {
        fields.first().is_some_and(|name| *name == user_part)
            || fields.get(2).is_some_and(|uid| *uid == user_part)
    });
    let uid = match (user_part.parse::<u32>(), entry) {
        (Ok(uid), _) => uid,
        // Every runtime knows root, with or without an /etc/passwd.
        (Err(_), None) if user_part == "root" => 0,
        (Err(_), Some(fields)) => parse_id(fields.get(2), "/etc/passwd", user_part)?,
        (Err(_), None) => return Err(format!("no user {user_part:?} in the image's /etc/passwd")),
    };
    let gid = match group_part {
        Some(group) => match group.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                let groups = read_db(root, "/etc/group");
                let fields = groups
                    .iter()
                    .find(|fields| fields.first().is_some_and(|name| *name == group))
                    .ok_or_else(|| format!("no group {group:?} in the image's /etc/group"))?;
                parse_id(fields.get(2), "/etc/group", group)?
            }
        },
        None => match entry {
            Some(fields) => parse_id(fields.get(3), "/etc/passwd", user_part)?,
            None => 0,
        },
    };
    Ok((uid, gid))
}

fn parse_id(field: Option<&String>, file: &str, name: &str) -> Result<u32, String> {
    field
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| format!("{file}: the entry of {name:?} has no numeric id"))
}

/// The lines of a colon-separated database in the root, split into fields.
fn read_db(root: &Path, path: &str) -> Vec<Vec<String>> {
    let text = resolve_in_root(root, path)
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| line.split(':').map(str::to_owned).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_links_resolve_inside_the_root_not_on_the_host() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let root = scratch.path();
        std::fs::create_dir_all(root.join("usr/bin")).expect("mkdir");
        std::fs::write(root.join("usr/bin/tini"), "x").expect("write");
        std::os::unix::fs::symlink("/usr/bin", root.join("bin")).expect("link");
        std::os::unix::fs::symlink("/etc/passwd", root.join("pw")).expect("link");
        assert_eq!(
            resolve_in_root(root, "/bin/tini"),
            Some(root.join("usr/bin/tini"))
        );
        // The host's /etc/passwd exists; the root's does not.
        assert_eq!(resolve_in_root(root, "/pw"), None);
        let env = vec!["PATH=/bin".to_owned()];
        assert_eq!(
            find_command(root, "tini", &env),
            Some(root.join("usr/bin/tini"))
        );
        assert_eq!(find_command(root, "sh", &env), None);
    }

    #[test]
    fn users_resolve_through_the_images_passwd_and_group_like_runc() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let root = scratch.path();
        std::fs::create_dir_all(root.join("etc")).expect("mkdir");
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/:/bin/sh\n",
        )
        .expect("passwd");
        std::fs::write(root.join("etc/group"), "staff:x:50:\n").expect("group");
        assert_eq!(user_ids(root, "app"), Ok((1000, 1001)));
        assert_eq!(user_ids(root, "1000"), Ok((1000, 1001)));
        assert_eq!(user_ids(root, "app:staff"), Ok((1000, 50)));
        assert_eq!(user_ids(root, "4242"), Ok((4242, 0)));
        assert_eq!(user_ids(root, "4242:7"), Ok((4242, 7)));
        assert!(user_ids(root, "nobody").is_err());
        assert!(user_ids(root, "app:nogroup").is_err());
        let empty = tempfile::tempdir().expect("tempdir");
        assert_eq!(user_ids(empty.path(), "root"), Ok((0, 0)));
    }
}
