//! Applying a layer to a root file system, as the OCI image spec's "Applying changesets" says:
//! a `.wh.NAME` entry deletes NAME from the layers below, `.wh..wh..opq` empties its directory
//! of what the layers below put there, and every other entry is extracted over what is there.
//!
//! One pass over the layer: a whiteout never deletes what its own layer adds, whatever the
//! order of the tar (the layer's own paths are remembered). Nothing is ever deleted or
//! written through a symbolic link: a layer cannot reach outside the root.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};

use super::ImageError;

/// The prefix of a whiteout entry's name.
const WHITEOUT: &str = ".wh.";
/// The name of an opaque-directory whiteout.
const OPAQUE: &str = ".wh..wh..opq";

/// Apply the layer blob at `layer` (a tar, gzip-compressed or not) to `root`.
pub fn apply_layer(layer: &Path, root: &Path) -> Result<(), ImageError> {
    // Paths (relative to the root) this layer has written so far.
    let mut created: HashSet<PathBuf> = HashSet::new();
    for_each_entry(layer, |entry, path| {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let parent = path.parent().unwrap_or(Path::new(""));
        if name == OPAQUE {
            let keep = |child: &Path| created.iter().any(|c| c.starts_with(child));
            return empty_dir_inside(root, parent, &keep).map_err(entry_error(layer, path));
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT) {
            let target = parent.join(hidden);
            if created.contains(&target) {
                return Ok(());
            }
            return remove_inside(root, &target).map_err(entry_error(layer, path));
        }
        let kind = entry.header().entry_type();
        // A device node in an image would hand PID 1 (root in the sandbox) a host device.
        if kind.is_block_special() || kind.is_character_special() {
            return Ok(());
        }
        let inside = entry.unpack_in(root).map_err(|error| ImageError::Entry {
            layer: layer.to_path_buf(),
            entry: path.display().to_string(),
            message: format!("extracting: {error}"),
        })?;
        if !inside {
            return Err(entry_error(layer, path)(
                "points outside the root".to_owned(),
            ));
        }
        created.insert(path.to_path_buf());
        Ok(())
    })
}

/// Call `visit` with every entry of the layer and its normalised relative path.
fn for_each_entry(
    layer: &Path,
    mut visit: impl FnMut(&mut tar::Entry<'_, Box<dyn Read>>, &Path) -> Result<(), ImageError>,
) -> Result<(), ImageError> {
    let mut archive = tar::Archive::new(open_layer(layer)?);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(false);
    archive.set_unpack_xattrs(false);
    archive.set_overwrite(true);
    let entries = archive
        .entries()
        .map_err(ImageError::io(layer, "reading the layer"))?;
    for entry in entries {
        let mut entry = entry.map_err(ImageError::io(layer, "reading the layer"))?;
        let raw = entry
            .path()
            .map_err(ImageError::io(layer, "reading an entry's path"))?
            .into_owned();
        let path = relative(&raw).map_err(entry_error(layer, &raw))?;
        if path.as_os_str().is_empty() {
            continue;
        }
        visit(&mut entry, &path)?;
    }
    Ok(())
}

/// The layer's bytes, decompressed when they start with gzip's magic number.
fn open_layer(layer: &Path) -> Result<Box<dyn Read>, ImageError> {
    let mut magic = [0u8; 4];
    let mut file = File::open(layer).map_err(ImageError::io(layer, "opening the layer"))?;
    let read = file
        .read(&mut magic)
        .map_err(ImageError::io(layer, "reading the layer"))?;
    let file = File::open(layer).map_err(ImageError::io(layer, "opening the layer"))?;
    match &magic[..read] {
        [0x1f, 0x8b, ..] => Ok(Box::new(flate2::read::GzDecoder::new(BufReader::new(file)))),
        [0x28, 0xb5, 0x2f, 0xfd] => Err(ImageError::field(
            layer,
            "mediaType",
            "a zstd layer: not supported yet (re-push it with gzip layers)",
        )),
        _ => Ok(Box::new(BufReader::new(file))),
    }
}

/// An entry's path relative to the root: `./a/b` and `/a/b` become `a/b`; `..` is refused.
fn relative(raw: &Path) -> Result<PathBuf, String> {
    let mut out = PathBuf::new();
    for component in raw.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err("a `..` path would leave the root".to_owned());
            }
        }
    }
    Ok(out)
}

fn entry_error(layer: &Path, path: &Path) -> impl FnOnce(String) -> ImageError {
    let (layer, entry) = (layer.to_path_buf(), path.display().to_string());
    move |message| ImageError::Entry {
        layer,
        entry,
        message,
    }
}

/// `root/relative` if every directory on the way is a real directory (not a symbolic link);
/// `None` when one is missing (nothing there to delete).
fn real_path_inside(root: &Path, relative: &Path) -> Result<Option<PathBuf>, String> {
    let mut at = root.to_path_buf();
    let parts: Vec<_> = relative.components().collect();
    let Some((_, parents)) = parts.split_last() else {
        return Ok(Some(at));
    };
    for part in parents {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(format!(
                    "{} is a symbolic link: a whiteout may not reach through it",
                    at.display()
                ));
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) | Err(_) => return Ok(None),
        }
    }
    Ok(Some(root.join(relative)))
}

/// Delete `relative` (a file, link or whole directory) from `root`, if it is there.
fn remove_inside(root: &Path, relative: &Path) -> Result<(), String> {
    let Some(path) = real_path_inside(root, relative)? else {
        return Ok(());
    };
    let removed = match std::fs::symlink_metadata(&path) {
        Err(_) => return Ok(()),
        // remove_dir_all never follows a symbolic link inside the tree.
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&path),
        Ok(_) => std::fs::remove_file(&path),
    };
    removed.map_err(|error| format!("deleting {}: {error}", path.display()))
}

/// Delete what the layers below put in directory `relative` of `root` (an opaque whiteout):
/// everything but the paths `keep` names (relative to the root: this layer's own entries and
/// the directories on their way).
fn empty_dir_inside(
    root: &Path,
    relative: &Path,
    keep: &dyn Fn(&Path) -> bool,
) -> Result<(), String> {
    let Some(path) = real_path_inside(root, relative)? else {
        return Ok(());
    };
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_dir() => {}
        _ => return Ok(()),
    }
    let entries =
        std::fs::read_dir(&path).map_err(|error| format!("listing {}: {error}", path.display()))?;
    for entry in entries {
        let entry = entry.map_err(|error| format!("listing {}: {error}", path.display()))?;
        let child = relative.join(entry.file_name());
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !keep(&child) {
            remove_inside(root, &child)?;
        } else if is_dir {
            // The layer put something below it: keep that, drop what lower layers left there.
            empty_dir_inside(root, &child, keep)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(dir: &Path, name: &str, entries: &[(&str, Option<&str>)]) -> PathBuf {
        let path = dir.join(name);
        let file = File::create(&path).expect("create layer");
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        for (name, content) in entries {
            let mut header = tar::Header::new_gnu();
            match content {
                Some(text) => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(text.len() as u64);
                    header.set_mode(0o644);
                    header.set_cksum();
                    builder
                        .append_data(&mut header, name, text.as_bytes())
                        .expect("append");
                }
                None => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_size(0);
                    header.set_mode(0o755);
                    header.set_cksum();
                    builder
                        .append_data(&mut header, name, std::io::empty())
                        .expect("append");
                }
            }
        }
        builder
            .into_inner()
            .and_then(|gz| gz.finish())
            .expect("finish");
        path
    }

    #[test]
    fn whiteouts_delete_lower_files_and_opaque_dirs_keep_only_their_own_layer() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let root = scratch.path().join("root");
        std::fs::create_dir(&root).expect("root");
        let lower = layer(
            scratch.path(),
            "lower",
            &[
                ("etc/", None),
                ("etc/keep", Some("k")),
                ("etc/gone", Some("g")),
                ("opt/", None),
                ("opt/old", Some("o")),
                ("opt/sub/", None),
                ("opt/sub/old", Some("o")),
            ],
        );
        // The opaque marker comes after its layer's own file: order must not matter.
        let upper = layer(
            scratch.path(),
            "upper",
            &[
                ("etc/.wh.gone", Some("")),
                ("opt/new", Some("n")),
                ("opt/sub/new", Some("n")),
                ("opt/.wh..wh..opq", Some("")),
            ],
        );
        apply_layer(&lower, &root).expect("lower");
        apply_layer(&upper, &root).expect("upper");
        assert!(root.join("etc/keep").is_file());
        assert!(!root.join("etc/gone").exists());
        assert!(!root.join("etc/.wh.gone").exists());
        assert!(!root.join("opt/old").exists());
        assert!(root.join("opt/new").is_file());
        assert!(root.join("opt/sub/new").is_file());
        assert!(!root.join("opt/sub/old").exists());
        assert!(!root.join("opt/.wh..wh..opq").exists());
    }

    #[test]
    fn a_whiteout_cannot_reach_through_a_symbolic_link() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let root = scratch.path().join("root");
        let outside = scratch.path().join("outside");
        std::fs::create_dir_all(&root).expect("root");
        std::fs::create_dir_all(&outside).expect("outside");
        std::fs::write(outside.join("precious"), "p").expect("write");
        std::os::unix::fs::symlink(&outside, root.join("escape")).expect("symlink");
        let evil = layer(scratch.path(), "evil", &[("escape/.wh.precious", Some(""))]);
        let error = apply_layer(&evil, &root).expect_err("must refuse");
        assert!(error.to_string().contains("symbolic link"), "{error}");
        assert!(outside.join("precious").is_file());
    }
}
