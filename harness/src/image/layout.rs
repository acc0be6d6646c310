//! Reading an OCI image layout: `oci-layout`, `index.json`, the manifest, the config and the
//! layers, each blob found under `blobs/ALGORITHM/HEX` and checked against its digest.
//! A tar of a layout (`skopeo copy ... oci-archive:`, `docker save` since 25.0) is extracted
//! first.

use std::io::Read;
use std::path::{Path, PathBuf};

use oci_spec::image::{
    Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType, OciLayout,
};
use sha2::{Digest, Sha256};

use super::{Image, ImageConfig, ImageError, unpack};

/// How deep nested indexes may go before the gate gives up (a multi-platform index inside the
/// layout's index is one level).
const MAX_INDEX_DEPTH: usize = 4;

/// Open an OCI image layout at `input` (a directory, or a tar of one) and unpack it into a
/// fresh scratch directory under `scratch_parent`.
pub fn open_oci(input: &Path, scratch_parent: &Path) -> Result<Image, ImageError> {
    if !input.exists() {
        return Err(ImageError::field(
            input,
            "--oci",
            "no such file or directory",
        ));
    }
    std::fs::create_dir_all(scratch_parent).map_err(ImageError::io(
        scratch_parent,
        "creating the scratch directory",
    ))?;
    let scratch = tempfile::Builder::new()
        .prefix("image.")
        .tempdir_in(scratch_parent)
        .map_err(ImageError::io(
            scratch_parent,
            "creating the scratch directory",
        ))?;
    let layout = if input.is_file() {
        let dir = scratch.path().join("layout");
        extract_archive(input, &dir)?;
        dir
    } else {
        input.to_path_buf()
    };
    let read = read_layout(&layout)?;
    let rootfs = scratch.path().join("rootfs");
    std::fs::create_dir(&rootfs).map_err(ImageError::io(&rootfs, "creating the root"))?;
    for layer in &read.layers {
        unpack::apply_layer(layer, &rootfs)?;
    }
    Ok(Image {
        source: format!("oci:{}@{}", input.display(), read.manifest_digest),
        rootfs,
        config: read.config,
        scratch: Some(scratch),
    })
}

/// What a layout says about its one image.
#[derive(Debug)]
pub struct ReadLayout {
    /// The manifest's digest (`sha256:...`).
    pub manifest_digest: String,
    /// The config's run-time fields.
    pub config: ImageConfig,
    /// The layer blobs, bottom first.
    pub layers: Vec<PathBuf>,
}

/// Read the index, manifest and config of the layout in `dir`, checking every blob's digest.
pub fn read_layout(dir: &Path) -> Result<ReadLayout, ImageError> {
    let marker = dir.join("oci-layout");
    if !marker.is_file() && dir.join(DOCKER_MANIFEST).is_file() {
        return read_docker_save(dir);
    }
    if !marker.is_file() {
        return Err(ImageError::field(
            &marker,
            "imageLayoutVersion",
            "missing: this is not an OCI image layout (nor a `docker save` archive: no \
             manifest.json either)",
        ));
    }
    OciLayout::from_file(&marker).map_err(|source| ImageError::Spec {
        path: marker.clone(),
        what: "reading the layout marker".to_owned(),
        source,
    })?;
    let index_path = dir.join("index.json");
    let index = ImageIndex::from_file(&index_path).map_err(|source| ImageError::Spec {
        path: index_path.clone(),
        what: "reading the index".to_owned(),
        source,
    })?;
    let manifest_descriptor = pick_manifest(dir, &index_path, index, 0)?;
    let (manifest_path, manifest_bytes) = read_blob(dir, &manifest_descriptor)?;
    let manifest = ImageManifest::from_reader(manifest_bytes.as_slice()).map_err(|source| {
        ImageError::Spec {
            path: manifest_path.clone(),
            what: "reading the manifest".to_owned(),
            source,
        }
    })?;
    let (config_path, config_bytes) = read_blob(dir, manifest.config())?;
    let configuration =
        ImageConfiguration::from_reader(config_bytes.as_slice()).map_err(|source| {
            ImageError::Spec {
                path: config_path.clone(),
                what: "reading the image config".to_owned(),
                source,
            }
        })?;
    let mut layers = Vec::new();
    for (position, layer) in manifest.layers().iter().enumerate() {
        let path = blob_path(dir, layer, &manifest_path, &format!("layers[{position}]"))?;
        check_digest_streaming(&path, layer)?;
        layers.push(path);
    }
    Ok(ReadLayout {
        manifest_digest: manifest_descriptor.digest().to_string(),
        config: run_config(&configuration),
        layers,
    })
}

/// The manifest of a `docker save` archive (before docker 25 the only one it writes).
const DOCKER_MANIFEST: &str = "manifest.json";

/// One image of a `docker save` manifest.
#[derive(Debug, serde::Deserialize)]
struct DockerSaveImage {
    /// The config file, relative to the archive.
    #[serde(rename = "Config")]
    config: String,
    /// The layer tars, bottom first, relative to the archive.
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// Read a `docker save` archive: `manifest.json` names the config and the layer tars by path
/// (they carry no digests to check).
fn read_docker_save(dir: &Path) -> Result<ReadLayout, ImageError> {
    let manifest_path = dir.join(DOCKER_MANIFEST);
    let text = std::fs::read(&manifest_path).map_err(ImageError::io(&manifest_path, "reading"))?;
    let images: Vec<DockerSaveImage> = serde_json::from_slice(&text)
        .map_err(|error| ImageError::field(&manifest_path, "[]", error.to_string()))?;
    let image = match images.as_slice() {
        [only] => only,
        other => {
            return Err(ImageError::field(
                &manifest_path,
                "[]",
                format!("{} images: the gate reads one (save one tag)", other.len()),
            ));
        }
    };
    let inside = |field: &str, relative: &str| -> Result<PathBuf, ImageError> {
        let path = Path::new(relative);
        if path.is_absolute()
            || path
                .components()
                .any(|c| c == std::path::Component::ParentDir)
        {
            return Err(ImageError::field(
                &manifest_path,
                field,
                format!("{relative:?} leaves the archive"),
            ));
        }
        Ok(dir.join(path))
    };
    let config_path = inside("[0].Config", &image.config)?;
    let configuration =
        ImageConfiguration::from_file(&config_path).map_err(|source| ImageError::Spec {
            path: config_path.clone(),
            what: "reading the image config".to_owned(),
            source,
        })?;
    let layers = image
        .layers
        .iter()
        .enumerate()
        .map(|(i, layer)| inside(&format!("[0].Layers[{i}]"), layer))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ReadLayout {
        manifest_digest: format!("docker-save:{}", image.config),
        config: run_config(&configuration),
        layers,
    })
}

/// The run-time fields of an image config.
fn run_config(configuration: &ImageConfiguration) -> ImageConfig {
    let Some(config) = configuration.config() else {
        return ImageConfig::default();
    };
    ImageConfig {
        entrypoint: config.entrypoint().clone().unwrap_or_default(),
        cmd: config.cmd().clone().unwrap_or_default(),
        stop_signal: config.stop_signal().clone().filter(|s| !s.is_empty()),
        user: config.user().clone().filter(|s| !s.is_empty()),
        env: config.env().clone().unwrap_or_default(),
        working_dir: config.working_dir().clone().filter(|s| !s.is_empty()),
    }
}

/// The one image manifest an index points to: its only manifest, or the one for this
/// machine's platform; nested indexes are followed.
fn pick_manifest(
    dir: &Path,
    index_path: &Path,
    index: ImageIndex,
    depth: usize,
) -> Result<Descriptor, ImageError> {
    let manifests = index.manifests();
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let chosen = match manifests.as_slice() {
        [] => {
            return Err(ImageError::field(
                index_path,
                "manifests",
                "empty: no image",
            ));
        }
        [only] => only.clone(),
        many => many
            .iter()
            .find(|d| {
                d.platform().as_ref().is_some_and(|p| {
                    p.os().to_string() == "linux" && p.architecture().to_string() == arch
                })
            })
            .cloned()
            .ok_or_else(|| {
                ImageError::field(
                    index_path,
                    "manifests",
                    format!("{} manifests and none for linux/{arch}", many.len()),
                )
            })?,
    };
    match chosen.media_type() {
        MediaType::ImageManifest => Ok(chosen),
        MediaType::ImageIndex if depth < MAX_INDEX_DEPTH => {
            let (nested_path, bytes) = read_blob(dir, &chosen)?;
            let nested =
                ImageIndex::from_reader(bytes.as_slice()).map_err(|source| ImageError::Spec {
                    path: nested_path.clone(),
                    what: "reading a nested index".to_owned(),
                    source,
                })?;
            pick_manifest(dir, &nested_path, nested, depth + 1)
        }
        MediaType::Other(docker) if docker.contains("docker.distribution.manifest.v2") => {
            Ok(chosen)
        }
        other => Err(ImageError::field(
            index_path,
            "manifests[].mediaType",
            format!("{other}: not an image manifest"),
        )),
    }
}

/// Where a descriptor's blob lives in the layout.
fn blob_path(
    dir: &Path,
    descriptor: &Descriptor,
    referrer: &Path,
    field: &str,
) -> Result<PathBuf, ImageError> {
    let digest = descriptor.digest();
    let algorithm = digest.algorithm().to_string();
    if algorithm != "sha256" {
        return Err(ImageError::field(
            referrer,
            &format!("{field}.digest"),
            format!("{digest}: only sha256 digests are supported"),
        ));
    }
    let hex = digest.digest();
    if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ImageError::field(
            referrer,
            &format!("{field}.digest"),
            format!("{digest}: not a hex digest"),
        ));
    }
    Ok(dir.join("blobs").join(algorithm).join(hex))
}

/// A small blob (manifest, config, index), read whole and checked against its digest.
fn read_blob(dir: &Path, descriptor: &Descriptor) -> Result<(PathBuf, Vec<u8>), ImageError> {
    let path = blob_path(dir, descriptor, &dir.join("index.json"), "descriptor")?;
    let bytes = std::fs::read(&path).map_err(ImageError::io(&path, "reading a blob"))?;
    let actual = hex(&Sha256::digest(&bytes));
    check_matches(&path, descriptor, &actual)?;
    Ok((path, bytes))
}

/// A layer blob's digest, computed without reading it into memory.
fn check_digest_streaming(path: &Path, descriptor: &Descriptor) -> Result<(), ImageError> {
    let mut file = std::fs::File::open(path).map_err(ImageError::io(path, "opening a layer"))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file
            .read(&mut buffer)
            .map_err(ImageError::io(path, "reading a layer"))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    check_matches(path, descriptor, &hex(&hasher.finalize()))
}

fn check_matches(path: &Path, descriptor: &Descriptor, actual: &str) -> Result<(), ImageError> {
    if descriptor.digest().digest() == actual {
        Ok(())
    } else {
        Err(ImageError::field(
            path,
            "digest",
            format!(
                "the content's sha256 is {actual}, the descriptor says {}",
                descriptor.digest()
            ),
        ))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Extract a tar of a layout into `dir` (entries stay inside it: `unpack_in` refuses `..`).
fn extract_archive(archive: &Path, dir: &Path) -> Result<(), ImageError> {
    std::fs::create_dir_all(dir).map_err(ImageError::io(dir, "creating the layout directory"))?;
    let file = std::fs::File::open(archive).map_err(ImageError::io(archive, "opening"))?;
    let mut tar = tar::Archive::new(std::io::BufReader::new(file));
    let entries = tar
        .entries()
        .map_err(ImageError::io(archive, "reading the tar"))?;
    for entry in entries {
        let mut entry = entry.map_err(ImageError::io(archive, "reading the tar"))?;
        let name = entry
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            return Err(ImageError::Entry {
                layer: archive.to_path_buf(),
                entry: name,
                message: "an image archive holds only files and directories".to_owned(),
            });
        }
        let inside = entry
            .unpack_in(dir)
            .map_err(ImageError::io(archive, "extracting the tar"))?;
        if !inside {
            return Err(ImageError::Entry {
                layer: archive.to_path_buf(),
                entry: name,
                message: "points outside the archive".to_owned(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docker save` before 25.0: manifest.json names the config and the layers by path.
    #[test]
    fn a_docker_save_archive_is_read_through_its_manifest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = r#"{"architecture":"amd64","os":"linux",
            "config":{"Entrypoint":["/tini","--"],"Cmd":["app"],"StopSignal":"SIGRTMIN+3"},
            "rootfs":{"type":"layers","diff_ids":[]}}"#;
        std::fs::write(dir.path().join("abc.json"), config).expect("config");
        std::fs::write(
            dir.path().join(DOCKER_MANIFEST),
            r#"[{"Config":"abc.json","RepoTags":["x:1"],"Layers":["l1/layer.tar"]}]"#,
        )
        .expect("manifest");
        let read = read_layout(dir.path()).expect("docker save");
        assert_eq!(read.config.entrypoint, ["/tini", "--"]);
        assert_eq!(read.config.stop_signal.as_deref(), Some("SIGRTMIN+3"));
        assert_eq!(read.layers, [dir.path().join("l1/layer.tar")]);
        std::fs::write(
            dir.path().join(DOCKER_MANIFEST),
            r#"[{"Config":"../abc.json","Layers":[]}]"#,
        )
        .expect("manifest");
        let error = read_layout(dir.path()).expect_err("leaves the archive");
        assert!(error.to_string().contains("[0].Config"), "{error}");
    }
}
