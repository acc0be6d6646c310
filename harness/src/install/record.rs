//! `installed.json`: what a Debian or PyPI install put where, written last (atomically) so that its
//! presence means the unpacked tree beside it is complete.

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// File name of the record, inside `target/candidates/NAME/VERSION/`.
pub(crate) const RECORD_FILE: &str = "installed.json";

/// One installed candidate, as recorded in `installed.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InstallRecord {
    /// The candidate's name (its file stem).
    pub(crate) name: String,
    /// The Debian or PyPI package it came from.
    pub(crate) package: String,
    /// The package's full version (`0.19.0-1+b3`, `1.7.1097`).
    pub(crate) version: String,
    /// The binary's path inside the package, relative to the record's directory
    /// (`usr/bin/tini`), so the tree survives the workspace moving.
    pub(crate) binary: String,
    /// Where it came from: `debian:PKG`, plus the further packages unpacked beside it.
    pub(crate) source: String,
    /// Further Debian packages unpacked into the same tree, in the candidate's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) extra_packages: Vec<ExtraPackage>,
}

/// A further package of an install: its name and the version that was unpacked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExtraPackage {
    /// The package.
    pub(crate) package: String,
    /// Its full Debian version.
    pub(crate) version: String,
}

impl InstallRecord {
    /// Writes the record into `dir` through a temporary file and a rename, so a reader sees
    /// either no record or a whole one.
    pub(crate) fn write(&self, dir: &Path) -> io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        let temporary = dir.join(format!(".{RECORD_FILE}.tmp"));
        std::fs::write(&temporary, text + "\n")?;
        std::fs::rename(&temporary, dir.join(RECORD_FILE))
    }

    /// Reads the record in `dir`.
    pub(crate) fn read(dir: &Path) -> io::Result<Self> {
        let text = std::fs::read_to_string(dir.join(RECORD_FILE))?;
        serde_json::from_str(&text)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tini() -> InstallRecord {
        InstallRecord {
            name: "tini".into(),
            package: "tini".into(),
            version: "0.19.0-1+b3".into(),
            binary: "usr/bin/tini".into(),
            source: "debian:tini".into(),
            extra_packages: Vec::new(),
        }
    }

    #[test]
    fn round_trip_through_the_file() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        tini().write(dir.path())?;
        assert_eq!(InstallRecord::read(dir.path())?, tini());
        // Only the record remains: the temporary file was renamed over it.
        let names: Vec<_> = std::fs::read_dir(dir.path())?
            .map(|entry| entry.map(|entry| entry.file_name()))
            .collect::<io::Result<_>>()?;
        assert_eq!(names, [RECORD_FILE]);
        Ok(())
    }

    #[test]
    fn the_file_is_readable_json_with_these_keys() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        tini().write(dir.path())?;
        let value: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(RECORD_FILE))?)?;
        assert_eq!(
            value,
            serde_json::json!({
                "name": "tini",
                "package": "tini",
                "version": "0.19.0-1+b3",
                "binary": "usr/bin/tini",
                "source": "debian:tini",
            })
        );
        Ok(())
    }

    #[test]
    fn extra_packages_round_trip_and_stay_out_of_records_without_them() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let s6 = InstallRecord {
            name: "s6-svscan".into(),
            package: "s6".into(),
            version: "2.11.3.2-1".into(),
            binary: "usr/bin/s6-svscan".into(),
            source: "debian:s6 with libskarnet2.13 2.13.1.1-1".into(),
            extra_packages: vec![ExtraPackage {
                package: "libskarnet2.13".into(),
                version: "2.13.1.1-1".into(),
            }],
        };
        s6.write(dir.path())?;
        assert_eq!(InstallRecord::read(dir.path())?, s6);
        tini().write(dir.path())?;
        let text = std::fs::read_to_string(dir.path().join(RECORD_FILE))?;
        assert!(!text.contains("extra_packages"), "{text}");
        Ok(())
    }

    #[test]
    fn an_unknown_key_is_invalid_data() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        std::fs::write(
            dir.path().join(RECORD_FILE),
            r#"{"name":"tini","package":"tini","version":"1","binary":"b","source":"s","extra":1}"#,
        )?;
        let Err(error) = InstallRecord::read(dir.path()) else {
            panic!("a record with an unknown key should not load");
        };
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        Ok(())
    }
}
