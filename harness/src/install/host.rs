//! Host candidates: a program of this machine (`/bin/sh`), used where it is; its version is the
//! version of the Debian package that owns it, so a verdict still names a real package.

use std::path::Path;
use std::process::Command;

use super::Installed;
use super::command::run_captured;
use super::error::{CommandError, InstallError};

/// Resolves `path` (following symlinks) and finds the package that owns it and its version.
/// Reads only.
pub(crate) fn resolve(path: &str) -> Result<Installed, InstallError> {
    let resolved = std::fs::canonicalize(path).map_err(|source| InstallError::HostPath {
        path: path.to_owned(),
        source,
    })?;
    let mut tried = Vec::new();
    let mut last_error = None;
    let mut owner = None;
    for query in owner_queries(&resolved, path) {
        let mut command = dpkg_query();
        command.arg("-S").arg(&query);
        match run_captured(&mut command) {
            Ok(listing) => match parse_owner(&listing, &query) {
                Some(package) => {
                    owner = Some(package);
                    break;
                }
                None => {
                    last_error = Some(CommandError::Unexpected {
                        command: super::command::describe(&command),
                        problem: format!("named no package for {query}"),
                    });
                }
            },
            // Exit status 1 is "no path found"; try the next spelling.
            Err(error @ CommandError::Failed { .. }) => last_error = Some(error),
            Err(error) => {
                tried.push(query);
                return Err(InstallError::HostOwner {
                    resolved,
                    tried,
                    source: error,
                });
            }
        }
        tried.push(query);
    }
    let Some(package) = owner else {
        return Err(InstallError::HostOwner {
            resolved,
            tried,
            source: last_error.unwrap_or_else(|| CommandError::Unexpected {
                command: "dpkg-query -S".into(),
                problem: "was never asked".into(),
            }),
        });
    };
    let mut command = dpkg_query();
    command.args(["-W", "-f", "${Version}", &package]);
    let version = run_captured(&mut command)
        .map_err(|source| InstallError::HostVersion {
            package: package.clone(),
            source,
        })?
        .trim()
        .to_owned();
    if version.is_empty() {
        return Err(InstallError::HostVersion {
            package: package.clone(),
            source: CommandError::Unexpected {
                command: super::command::describe(&command),
                problem: "printed no version".into(),
            },
        });
    }
    Ok(Installed {
        bin: resolved,
        source: format!("host:{path} ({package} {version})"),
        version,
    })
}

/// `dpkg-query` with messages in English.
fn dpkg_query() -> Command {
    let mut command = Command::new("dpkg-query");
    command.env("LC_ALL", "C");
    command
}

/// The paths to ask `dpkg-query -S` about, best first: the resolved file, its other spelling
/// under merged /usr (Debian 12 links /bin to /usr/bin, but dpkg's database still lists
/// `/bin/dash`, so `/usr/bin/dash` is owned by nobody), then the path as the candidate wrote it.
fn owner_queries(resolved: &Path, declared: &str) -> Vec<String> {
    let resolved = resolved.to_string_lossy().into_owned();
    let alias = usrmerge_alias(&resolved);
    let mut queries: Vec<String> = Vec::new();
    for query in [Some(resolved), alias, Some(declared.to_owned())]
        .into_iter()
        .flatten()
    {
        if !queries.contains(&query) {
            queries.push(query);
        }
    }
    queries
}

/// `/usr/bin/dash` ↔ `/bin/dash` (and sbin, lib*): the directories merged /usr aliases.
fn usrmerge_alias(path: &str) -> Option<String> {
    const MERGED: [&str; 6] = ["bin", "sbin", "lib", "lib32", "lib64", "libx32"];
    let merged = |rest: &str| {
        let top = rest.split('/').nth(1)?;
        MERGED.contains(&top).then_some(())
    };
    match path.strip_prefix("/usr") {
        Some(rest) if merged(rest).is_some() => Some(rest.to_owned()),
        Some(_) => None,
        None => merged(path).map(|()| format!("/usr{path}")),
    }
}

/// The first package `dpkg-query -S PATH` names for exactly `path`. Its lines read
/// `dash: /bin/dash` or `pkg1, pkg2: /path`; diversions add `diversion by dash from: /bin/sh`.
fn parse_owner(listing: &str, path: &str) -> Option<String> {
    listing
        .lines()
        .filter(|line| !line.starts_with("diversion by "))
        .find_map(|line| {
            let (packages, owned) = line.split_once(": ")?;
            (owned == path).then(|| packages.split(", ").next().map(str::to_owned))?
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_skips_diversions() {
        let listing = "diversion by dash from: /bin/sh\n\
                       diversion by dash to: /bin/sh.distrib\n\
                       dash: /bin/sh\n";
        assert_eq!(parse_owner(listing, "/bin/sh").as_deref(), Some("dash"));
        assert_eq!(
            parse_owner("dash: /bin/dash\n", "/bin/dash").as_deref(),
            Some("dash")
        );
        assert_eq!(
            parse_owner("libc-bin, libc6:amd64: /usr/lib\n", "/usr/lib").as_deref(),
            Some("libc-bin")
        );
        assert_eq!(parse_owner("dash: /bin/dash\n", "/bin/sh"), None);
    }

    #[test]
    fn merged_usr_spellings() {
        assert_eq!(
            usrmerge_alias("/usr/bin/dash").as_deref(),
            Some("/bin/dash")
        );
        assert_eq!(
            usrmerge_alias("/bin/dash").as_deref(),
            Some("/usr/bin/dash")
        );
        assert_eq!(
            usrmerge_alias("/usr/sbin/init").as_deref(),
            Some("/sbin/init")
        );
        assert_eq!(usrmerge_alias("/usr/libexec/x"), None);
        assert_eq!(usrmerge_alias("/opt/x"), None);
        assert_eq!(
            owner_queries(Path::new("/usr/bin/dash"), "/bin/sh"),
            ["/usr/bin/dash", "/bin/dash", "/bin/sh"]
        );
    }

    /// This machine's /bin/sh (Debian: dash) resolves to a package and a version that
    /// `dpkg-query` agrees with.
    #[test]
    fn bin_sh_is_owned_by_a_package() -> Result<(), Box<dyn std::error::Error>> {
        let installed = resolve("/bin/sh")?;
        assert_eq!(installed.bin, std::fs::canonicalize("/bin/sh")?);
        let package = installed
            .source
            .strip_prefix("host:/bin/sh (")
            .and_then(|rest| rest.split_once(' '))
            .map(|(package, _)| package.to_owned())
            .ok_or_else(|| format!("unexpected source {:?}", installed.source))?;
        let output = Command::new("dpkg-query")
            .args(["-W", "-f", "${Version}", &package])
            .output()?;
        assert_eq!(String::from_utf8(output.stdout)?, installed.version);
        assert_eq!(
            installed.source,
            format!("host:/bin/sh ({package} {})", installed.version)
        );
        Ok(())
    }

    #[test]
    fn a_missing_path_names_the_step() {
        let Err(error) = resolve("/nonexistent/pid1check-sh") else {
            panic!("a missing path should not resolve");
        };
        assert_eq!(
            error.to_string(),
            "resolving host path /nonexistent/pid1check-sh"
        );
    }
}
