//! Test images built from this machine's own binaries: a root file system holding each binary
//! with the shared libraries `ldd` names and the dynamic loader, written as an OCI image
//! layout (`oci-layout`, `index.json`, `blobs/sha256/...`: one gzip layer, a config, a
//! manifest). No network, no container engine.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// One file of the image: where it is on the host, where it goes in the image.
struct File {
    host: PathBuf,
    inside: String,
}

/// An image being assembled.
#[derive(Default)]
pub struct ImageBuilder {
    files: Vec<File>,
    /// Files given as text: (path inside, content).
    texts: Vec<(String, String)>,
    config: serde_json::Map<String, serde_json::Value>,
}

impl ImageBuilder {
    /// A host binary at `inside`, with every library `ldd` lists at the same path as on the
    /// host (the loader included).
    pub fn binary(mut self, host: &Path, inside: &str) -> Self {
        self.files.push(File {
            host: host.to_path_buf(),
            inside: inside.trim_start_matches('/').to_owned(),
        });
        for library in libraries(host) {
            let inside = library.to_string_lossy().trim_start_matches('/').to_owned();
            if !self.files.iter().any(|f| f.inside == inside) {
                self.files.push(File {
                    host: library,
                    inside,
                });
            }
        }
        self
    }

    /// A file with this text at `inside` (mode 0644).
    pub fn text(mut self, inside: &str, content: &str) -> Self {
        self.texts.push((
            inside.trim_start_matches('/').to_owned(),
            content.to_owned(),
        ));
        self
    }

    /// A field of the config's `config` object (`Entrypoint`, `Cmd`, `StopSignal`, `Env`).
    pub fn config(mut self, field: &str, value: serde_json::Value) -> Self {
        self.config.insert(field.to_owned(), value);
        self
    }

    /// Write the image as an OCI layout in `dir`; returns the layer's digest hex.
    pub fn write_layout(&self, dir: &Path) -> String {
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).expect("creating blobs/sha256");
        let tar = self.layer_tar();
        let diff_id = sha256(&tar);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).expect("compressing the layer");
        let layer = gz.finish().expect("compressing the layer");
        let layer_digest = put(&blobs, &layer);
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": self.config,
            "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{diff_id}")] },
        });
        let config_bytes = serde_json::to_vec(&config).expect("config JSON");
        let config_digest = put(&blobs, &config_bytes);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": format!("sha256:{config_digest}"),
                "size": config_bytes.len(),
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": format!("sha256:{layer_digest}"),
                "size": layer.len(),
            }],
        });
        let manifest_bytes = serde_json::to_vec(&manifest).expect("manifest JSON");
        let manifest_digest = put(&blobs, &manifest_bytes);
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": format!("sha256:{manifest_digest}"),
                "size": manifest_bytes.len(),
            }],
        });
        std::fs::write(dir.join("index.json"), index.to_string()).expect("index.json");
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
            .expect("oci-layout");
        layer_digest
    }

    /// Write the layout and tar it into `archive` (what `oci-archive:` produces).
    pub fn write_archive(&self, archive: &Path) {
        let layout = tempfile::tempdir().expect("a temporary directory");
        self.write_layout(layout.path());
        let file = std::fs::File::create(archive).expect("creating the archive");
        let mut builder = tar::Builder::new(file);
        builder
            .append_dir_all(".", layout.path())
            .expect("archiving the layout");
        builder.finish().expect("finishing the archive");
    }

    fn layer_tar(&self) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for file in &self.files {
            builder
                .append_path_with_name(&file.host, &file.inside)
                .unwrap_or_else(|e| panic!("adding {}: {e}", file.host.display()));
        }
        for (inside, content) in &self.texts {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, inside, content.as_bytes())
                .expect("adding a text file");
        }
        builder.into_inner().expect("finishing the layer")
    }
}

/// The shared libraries and loader `ldd` lists for `binary` (none for a static one).
fn libraries(binary: &Path) -> Vec<PathBuf> {
    let Ok(output) = Command::new("ldd").arg(binary).output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux... (0x...)"
            let path = line.split("=>").last()?.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Store a blob under its digest; returns the hex digest.
fn put(blobs: &Path, bytes: &[u8]) -> String {
    let digest = sha256(bytes);
    std::fs::write(blobs.join(&digest), bytes).expect("writing a blob");
    digest
}
