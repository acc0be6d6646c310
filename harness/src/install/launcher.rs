//! The launcher of each run (`pid1check-launch`, this crate's binary), built with cargo as its
//! caller was.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use super::command::run_captured;
use super::error::InstallError;
use super::layout::resolve_root;
use super::probe::{cargo_build, cargo_command};

/// The optimisation level of this crate's build: cargo's `OPT_LEVEL`, recorded by the build
/// script. The launcher prints its own for [`OPT_LEVEL_FLAG`].
pub const OPT_LEVEL: &str = env!("PID1CHECK_OPT_LEVEL");

/// The launcher's flag that prints the optimisation level it was built with and exits.
pub const OPT_LEVEL_FLAG: &str = "--opt-level";

/// The cargo profile a dev caller's launcher is built with (the workspace's `Cargo.toml`).
pub const LAUNCHER_PROFILE: &str = "launcher";

/// The launcher's package and binary (this crate's `src/bin/pid1check-launch.rs`).
const LAUNCHER: (&str, &str) = ("pid1check-harness", "pid1check-launch");

/// Builds the launcher (`pid1check-launch`) with cargo as the program `built_like` was built
/// (same target directory and target, found from its path; the same profile too, but for a dev
/// build: then the optimised [`LAUNCHER_PROFILE`]) and returns its path.
///
/// The harness execs it once, as the launch server (`--serve`) that forks each run's launcher;
/// a binary of its own is far smaller than a caller such as the xtask (a debug xtask is 75 MB
/// with 38 000 relocations), so its start and each fork of it cost less. An up-to-date build
/// takes cargo's no-op time.
pub fn build_launcher(root: &Path, built_like: &Path) -> Result<PathBuf, InstallError> {
    let root = resolve_root(root)?;
    let layout = CargoOutput::of(built_like).ok_or_else(|| InstallError::LauncherLayout {
        built_like: built_like.to_owned(),
    })?;
    let profile = launcher_profile(&layout.profile);
    let mut command = cargo_command();
    command
        .current_dir(&root)
        .args(["build", "-p", LAUNCHER.0, "--bin", LAUNCHER.1, "--profile"])
        .arg(profile)
        .arg("--target-dir")
        .arg(&layout.target_dir);
    if let Some(target) = &layout.target {
        command.arg("--target").arg(target);
    }
    let built = layout.profile_dir.with_file_name(profile).join(LAUNCHER.1);
    cargo_build(&mut command, &built).map_err(|source| InstallError::LauncherBuild { source })?;
    Ok(built)
}

/// The optimisation level `launcher` was built with, as it reports it.
pub fn launcher_opt_level(launcher: &Path) -> Result<String, InstallError> {
    let mut command = std::process::Command::new(launcher);
    command.arg(OPT_LEVEL_FLAG);
    let output =
        run_captured(&mut command).map_err(|source| InstallError::LauncherQuery { source })?;
    Ok(output.trim().to_owned())
}

/// The profile the launcher is built with for a caller built with `caller`: the workspace's
/// `launcher` profile for a dev build, the caller's own otherwise.
fn launcher_profile(caller: &OsString) -> &OsStr {
    if caller == "dev" {
        OsStr::new(LAUNCHER_PROFILE)
    } else {
        caller
    }
}

/// Where cargo put a binary: `<target_dir>[/<target>]/<profile dir>/<binary>`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CargoOutput {
    target_dir: PathBuf,
    target: Option<OsString>,
    profile_dir: PathBuf,
    /// The profile's name (`dev` is built into `debug`).
    profile: OsString,
}

impl CargoOutput {
    /// Reads the layout from a binary's path; cargo marks its target directory with
    /// `CACHEDIR.TAG`.
    fn of(binary: &Path) -> Option<CargoOutput> {
        let profile_dir = binary.parent()?;
        let profile = match profile_dir.file_name()? {
            name if name == "debug" => OsString::from("dev"),
            name => name.to_owned(),
        };
        let above = profile_dir.parent()?;
        let (target_dir, target) = if above.join("CACHEDIR.TAG").is_file() {
            (above, None)
        } else {
            let target_dir = above.parent()?;
            if !target_dir.join("CACHEDIR.TAG").is_file() {
                return None;
            }
            (target_dir, Some(above.file_name()?.to_owned()))
        };
        Some(CargoOutput {
            target_dir: target_dir.to_owned(),
            target,
            profile_dir: profile_dir.to_owned(),
            profile,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The launcher is built as its caller was: `target/debug` is the dev profile, a target
    /// triple sits between the target directory and the profile, and a binary outside any
    /// cargo target directory has no layout.
    #[test]
    fn a_cargo_output_layout_is_read_from_a_binary_path() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let target = dir.path().join("t");
        std::fs::create_dir_all(target.join("x86_64-unknown-linux-gnu/release"))?;
        std::fs::create_dir_all(target.join("debug"))?;
        std::fs::write(
            target.join("CACHEDIR.TAG"),
            "Signature: 8a477f597d28d172789f06886806bc55",
        )?;
        assert_eq!(
            CargoOutput::of(&target.join("debug/xtask")),
            Some(CargoOutput {
                target_dir: target.clone(),
                target: None,
                profile_dir: target.join("debug"),
                profile: "dev".into(),
            })
        );
        let cross = target.join("x86_64-unknown-linux-gnu/release");
        assert_eq!(
            CargoOutput::of(&cross.join("xtask")),
            Some(CargoOutput {
                target_dir: target.clone(),
                target: Some("x86_64-unknown-linux-gnu".into()),
                profile_dir: cross,
                profile: "release".into(),
            })
        );
        assert_eq!(CargoOutput::of(&dir.path().join("bin/xtask")), None);
        Ok(())
    }

    /// A dev caller's launcher is built optimised, in a profile (and directory) of its own; any
    /// other caller's, as the caller was.
    #[test]
    fn a_dev_caller_gets_the_launcher_profile() {
        assert_eq!(launcher_profile(&"dev".into()), LAUNCHER_PROFILE);
        assert_eq!(launcher_profile(&"release".into()), "release");
        assert_eq!(launcher_profile(&"bench".into()), "bench");
    }
}
