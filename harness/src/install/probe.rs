//! The probe as PID 1's workload: one static binary (no `PT_INTERP`, so it runs in any root),
//! built with cargo into its own target directory.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::command::{describe, run_streamed};
use super::error::{CommandError, InstallError, ManifestError};
use super::layout::{
    PROBE_TARGET, create_dir, lock_exclusive, probe_binary, probe_target_dir, resolve_root,
    static_binary,
};

/// The probe's crate, relative to the workspace root.
const PROBE_CRATE: &str = "fixtures/probe";

/// Builds the static probe from `<root>/fixtures/probe` and returns the binary's absolute path,
/// `<root>/target/probe/x86_64-unknown-linux-gnu/release/probe`.
///
/// Runs `cargo build -p pid1check-probe --release --target x86_64-unknown-linux-gnu
/// --target-dir <root>/target/probe` with `RUSTFLAGS=-C target-feature=+crt-static` (cargo from
/// the `CARGO` variable when set), copying cargo's progress to stderr. Holds
/// `target/probe/.lock` so concurrent callers build once; an up-to-date build takes cargo's
/// no-op time.
pub fn build_probe(root: &Path) -> Result<PathBuf, InstallError> {
    let root = resolve_root(root)?;
    let package = crate_manifest(&root, PROBE_CRATE)?.name;
    build_static(&root, &package, None, |source| InstallError::ProbeBuild {
        source,
    })?;
    Ok(probe_binary(&root))
}

/// Builds binary `binary` of the workspace crate in `<root>/<crate_dir>` the way the probe is
/// built (static, in the probe's target directory, whose dependencies it shares) and returns
/// its absolute path.
pub(crate) fn build_fixture(
    root: &Path,
    crate_dir: &str,
    binary: &str,
) -> Result<PathBuf, InstallError> {
    let root = resolve_root(root)?;
    let package = crate_manifest(&root, crate_dir)?.name;
    build_static(&root, &package, Some(binary), |source| {
        InstallError::FixtureBuild {
            binary: binary.to_owned(),
            source,
        }
    })?;
    Ok(static_binary(&root, binary))
}

/// `cargo build -p PACKAGE [--bin BINARY]`, static, into `target/probe`; checks the binary is
/// there (the probe's `probe` when no binary is named). `failed` names what was being built.
fn build_static(
    root: &Path,
    package: &str,
    binary: Option<&str>,
    failed: impl Fn(CommandError) -> InstallError,
) -> Result<(), InstallError> {
    let target_dir = probe_target_dir(root);
    create_dir(&target_dir)?;
    let _lock = lock_exclusive(&target_dir.join(".lock"))?;
    let mut command = cargo_command();
    command.current_dir(root).args([
        "build",
        "-p",
        package,
        "--release",
        "--target",
        PROBE_TARGET,
    ]);
    if let Some(binary) = binary {
        command.args(["--bin", binary]);
    }
    command
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        // It would override RUSTFLAGS (cargo reads it first); a parent cargo may have set it.
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    let built = match binary {
        Some(binary) => static_binary(root, binary),
        None => probe_binary(root),
    };
    cargo_build(&mut command, &built).map_err(failed)
}

/// `cargo`, from the `CARGO` variable when set (the cargo running us).
pub(super) fn cargo_command() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")))
}

/// Runs a `cargo build` command (progress copied to stderr) and checks that it left `built`.
pub(super) fn cargo_build(command: &mut Command, built: &Path) -> Result<(), CommandError> {
    run_streamed(command)?;
    if !built.is_file() {
        return Err(CommandError::Unexpected {
            command: describe(command),
            problem: format!("left no {}", built.display()),
        });
    }
    Ok(())
}

/// A fixture crate's `[package]` name and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CrateManifest {
    /// `package.name`.
    pub(crate) name: String,
    /// `package.version`.
    pub(crate) version: String,
}

/// Reads `<root>/<crate_dir>/Cargo.toml` (the source a binary is built from, not the version
/// this library was compiled with).
pub(crate) fn crate_manifest(root: &Path, crate_dir: &str) -> Result<CrateManifest, InstallError> {
    let path = root.join(crate_dir).join("Cargo.toml");
    let error = |source| InstallError::ProbeVersion {
        path: path.clone(),
        source,
    };
    let text =
        std::fs::read_to_string(&path).map_err(|source| error(ManifestError::Read(source)))?;
    let manifest: toml::Table =
        toml::from_str(&text).map_err(|source| error(ManifestError::Parse(source)))?;
    let field = |key: &str| {
        manifest
            .get("package")
            .and_then(|package| package.get(key))
            .and_then(toml::Value::as_str)
            .map(str::to_owned)
    };
    Ok(CrateManifest {
        name: field("name").ok_or_else(|| error(ManifestError::NoName))?,
        version: field("version").ok_or_else(|| error(ManifestError::NoVersion))?,
    })
}

/// The probe crate's version, from `<root>/fixtures/probe/Cargo.toml`.
pub(crate) fn probe_version(root: &Path) -> Result<String, InstallError> {
    crate_manifest(root, PROBE_CRATE).map(|manifest| manifest.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The workspace this crate belongs to.
    fn workspace_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    #[test]
    fn version_comes_from_the_probe_manifest() -> Result<(), InstallError> {
        // The probe and the harness are released together, so today they agree.
        assert_eq!(probe_version(&workspace_root())?, env!("CARGO_PKG_VERSION"));
        Ok(())
    }

    #[test]
    fn a_manifest_without_version_says_so() -> std::io::Result<()> {
        let root = tempfile::tempdir()?;
        let dir = root.path().join("fixtures/probe");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("Cargo.toml"),
            "[package]\nname = \"p\"\nversion.workspace = true\n",
        )?;
        let Err(error) = probe_version(root.path()) else {
            panic!("a workspace-inherited version is not read");
        };
        assert!(matches!(
            error,
            InstallError::ProbeVersion {
                source: ManifestError::NoVersion,
                ..
            }
        ));
        Ok(())
    }

    /// The `p_type` of each program header of a 64-bit little-endian ELF file.
    fn program_header_types(elf: &[u8]) -> Result<Vec<u64>, String> {
        let field = |at: usize, len: usize| -> Result<u64, String> {
            let bytes = elf
                .get(at..at + len)
                .ok_or_else(|| format!("ELF truncated at byte {at}"))?;
            Ok(bytes.iter().rev().fold(0, |n, &b| (n << 8) | u64::from(b)))
        };
        // ELF64 header (elf(5)): magic, EI_CLASS 2 = 64-bit, EI_DATA 1 = little endian;
        // e_phoff at 0x20 (8 bytes), e_phentsize at 0x36 and e_phnum at 0x38 (2 bytes each).
        if elf.get(..6) != Some(b"\x7fELF\x02\x01") {
            return Err("not a 64-bit little-endian ELF file".into());
        }
        let phoff = usize::try_from(field(0x20, 8)?).map_err(|e| e.to_string())?;
        let entry_size = usize::try_from(field(0x36, 2)?).map_err(|e| e.to_string())?;
        let count = usize::try_from(field(0x38, 2)?).map_err(|e| e.to_string())?;
        (0..count)
            .map(|i| field(phoff + i * entry_size, 4))
            .collect()
    }

    /// `PT_INTERP` (elf(5)): the program asks for a dynamic loader.
    const PT_INTERP: u64 = 3;
    /// `PT_LOAD`: a loadable segment; every executable has one.
    const PT_LOAD: u64 = 1;

    #[test]
    fn the_probe_builds_static() -> Result<(), Box<dyn std::error::Error>> {
        let root = workspace_root();
        let started = std::time::Instant::now();
        let binary = build_probe(&root)?;
        eprintln!("build_probe took {:?}", started.elapsed());
        assert!(binary.is_absolute(), "{}", binary.display());
        assert_eq!(binary, probe_binary(&std::fs::canonicalize(&root)?));
        let types = program_header_types(&std::fs::read(&binary)?)?;
        assert!(types.contains(&PT_LOAD), "no PT_LOAD in {types:?}");
        assert!(
            !types.contains(&PT_INTERP),
            "{} has a PT_INTERP program header: it is dynamically linked",
            binary.display()
        );
        Ok(())
    }

    #[test]
    fn the_elf_reader_sees_a_dynamic_loader() -> Result<(), Box<dyn std::error::Error>> {
        // The test's own binary is built without crt-static: it must show PT_INTERP, or the
        // check above proves nothing.
        let types = program_header_types(&std::fs::read(std::env::current_exe()?)?)?;
        assert!(types.contains(&PT_INTERP), "{types:?}");
        Ok(())
    }
}
