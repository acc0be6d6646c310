//! Running the package tools and cargo: stdin closed, stderr kept (or streamed) so a failure
//! names the command and what it said last.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use super::error::{CommandError, Tail};

/// Runs `command` to completion with stdout and stderr captured; returns stdout.
pub(crate) fn run_captured(command: &mut Command) -> Result<String, CommandError> {
    let shown = describe(command);
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|source| CommandError::Spawn {
            command: shown.clone(),
            source,
        })?;
    if !output.status.success() {
        return Err(CommandError::Failed {
            command: shown,
            status: output.status,
            stderr_tail: Tail::of(&output.stderr).into_vec(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs `command` to completion, copying each stderr line to this process's stderr as it
/// comes (cargo's progress) and keeping the last lines for the error; stdout is discarded.
pub(crate) fn run_streamed(command: &mut Command) -> Result<(), CommandError> {
    let shown = describe(command);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| CommandError::Spawn {
            command: shown.clone(),
            source,
        })?;
    let mut tail = Tail::default();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines() {
            // A read error ends the copy; the exit status below still decides the outcome.
            let Ok(line) = line else { break };
            // eprintln! rather than a raw write: the test harness captures it.
            eprintln!("{line}");
            tail.push(line);
        }
    }
    let status = child.wait().map_err(|source| CommandError::Spawn {
        command: shown.clone(),
        source,
    })?;
    if !status.success() {
        return Err(CommandError::Failed {
            command: shown,
            status,
            stderr_tail: tail.into_vec(),
        });
    }
    Ok(())
}

/// The command as a user would type it: explicitly set variables, program, arguments, and the
/// directory it runs in when one was set.
pub(crate) fn describe(command: &Command) -> String {
    let mut words = Vec::new();
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            words.push(format!("{}={}", key.to_string_lossy(), quote(value)));
        }
    }
    words.push(quote(command.get_program()));
    words.extend(command.get_args().map(quote));
    let mut line = words.join(" ");
    if let Some(dir) = command.get_current_dir() {
        line.push_str(&format!(" (in {})", dir.display()));
    }
    line
}

/// Quotes a word for a POSIX shell when it needs it.
fn quote(word: &OsStr) -> String {
    let word = word.to_string_lossy();
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:+,@%{}".contains(c));
    if plain {
        word.into_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_shows_environment_quotes_and_directory() {
        let mut command = Command::new("cargo");
        command
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .args(["build", "-p", "pid1check-probe", "it's"])
            .current_dir("/w");
        assert_eq!(
            describe(&command),
            "RUSTFLAGS='-C target-feature=+crt-static' cargo build -p pid1check-probe 'it'\\''s' (in /w)"
        );
    }

    #[test]
    fn failure_names_command_status_and_last_stderr_line() {
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "echo first >&2; echo 'E: last words' >&2; echo >&2; exit 3",
        ]);
        let Err(error) = run_captured(&mut command) else {
            panic!("`sh -c ... exit 3` should fail");
        };
        let text = error.to_string();
        assert!(text.contains("exit status: 3"), "{text}");
        assert!(text.ends_with(": E: last words"), "{text}");
        assert_eq!(error.stderr_tail(), ["first", "E: last words", ""]);
    }

    #[test]
    fn missing_program_is_a_spawn_error() {
        let mut command = Command::new("/nonexistent/pid1check-no-such-tool");
        let Err(error) = run_captured(&mut command) else {
            panic!("a missing program should not start");
        };
        assert!(matches!(error, CommandError::Spawn { .. }), "{error:?}");
    }
}
