//! Why an image cannot be read: each error names the file and the field or entry.

use std::path::PathBuf;

/// An image that cannot be read or unpacked.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A file of the layout could not be read or written.
    #[error("{}: {what}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A JSON document of the layout is not what the OCI image spec says.
    #[error("{}: {what}", path.display())]
    Spec {
        /// The file.
        path: PathBuf,
        /// What was being read.
        what: String,
        /// The cause.
        #[source]
        source: oci_spec::OciSpecError,
    },
    /// A field has a value the gate cannot use.
    #[error("{}: {field}: {message}", path.display())]
    Field {
        /// The file.
        path: PathBuf,
        /// The field (`manifests[0].mediaType`, `config.digest`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A layer entry that would land outside the root or that the gate refuses to create.
    #[error("{}: entry {entry:?}: {message}", layer.display())]
    Entry {
        /// The layer blob.
        layer: PathBuf,
        /// The entry's path in the tar.
        entry: String,
        /// What is wrong with it.
        message: String,
    },
}

impl ImageError {
    /// An I/O error on `path` while doing `what`.
    pub fn io(path: impl Into<PathBuf>, what: &str) -> impl FnOnce(std::io::Error) -> ImageError {
        let path = path.into();
        let what = what.to_owned();
        move |source| ImageError::Io { path, what, source }
    }

    /// A field error.
    pub fn field(path: impl Into<PathBuf>, field: &str, message: impl Into<String>) -> ImageError {
        ImageError::Field {
            path: path.into(),
            field: field.to_owned(),
            message: message.into(),
        }
    }
}
