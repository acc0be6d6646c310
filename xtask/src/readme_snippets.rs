//! The README's commands stay true to the command line: every `cargo xtask` command in its
//! `sh` and `yaml` blocks (among them the gate's GitHub Actions and GitLab CI jobs, read as
//! those systems read YAML) parses with the real [`Cli`], the profiles it names exist, and a
//! CI job uploads the JUnit file its gate writes. A renamed flag fails here, not in a user's CI.

use std::path::Path;

use clap::Parser as _;
use yaml_rust2::{Yaml, YamlLoader};

use crate::{Cli, project_root};

/// A fenced block of the README: its language and its text.
struct Block {
    language: String,
    text: String,
    /// The README line of its opening fence, for messages.
    line: usize,
}

/// The README's fenced blocks, in order.
fn blocks(readme: &str) -> Vec<Block> {
    let mut found = Vec::new();
    let mut open: Option<Block> = None;
    for (index, line) in readme.lines().enumerate() {
        match (open.take(), line.strip_prefix("```")) {
            (None, Some(language)) => {
                open = Some(Block {
                    language: language.trim().to_owned(),
                    text: String::new(),
                    line: index + 1,
                });
            }
            (Some(block), Some(_)) => found.push(block),
            (Some(mut block), None) => {
                block.text.push_str(line);
                block.text.push('\n');
                open = Some(block);
            }
            (None, None) => {}
        }
    }
    found
}

/// The shell command lines of an `sh` block, `\` continuations joined, comments cut.
fn shell_lines(text: &str) -> Vec<String> {
    text.replace("\\\n", " ")
        .lines()
        .map(|line| {
            line.split(" #")
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .filter(|line| !line.is_empty())
        .collect()
}

/// Every string scalar of a YAML document, values and keys alike.
fn scalars(yaml: &Yaml, out: &mut Vec<String>) {
    match yaml {
        Yaml::String(text) => out.push(text.clone()),
        Yaml::Array(items) => items.iter().for_each(|item| scalars(item, out)),
        Yaml::Hash(map) => map.iter().for_each(|(key, value)| {
            scalars(key, out);
            scalars(value, out);
        }),
        _ => {}
    }
}

/// The argv of the `cargo xtask` command in a shell line, from `cargo xtask` to the next shell
/// operator; a synopsis's `[optional]` brackets are dropped (the options in them are tried).
fn xtask_argv(line: &str) -> Option<Result<Vec<String>, String>> {
    let start = line.find("cargo xtask ")?;
    let Some(words) = shlex::split(&line[start..]) else {
        return Some(Err(format!("not a shell command: {line}")));
    };
    let argv = words
        .into_iter()
        .take_while(|word| !["&&", "||", ";", "|"].contains(&word.as_str()))
        .skip(2)
        .map(|word| {
            word.trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned()
        })
        .filter(|word| !word.is_empty())
        .collect();
    Some(Ok(argv))
}

/// Whether a `cargo xtask` argv is one the command line accepts, and names only profiles that
/// exist in fixtures/profiles.
fn check(argv: &[String], root: &Path) -> Result<(), String> {
    let parsed =
        Cli::try_parse_from(std::iter::once("cargo xtask").chain(argv.iter().map(String::as_str)));
    if let Err(error) = parsed {
        return Err(error.to_string());
    }
    for pair in argv.windows(2).filter(|pair| pair[0] == "--profile") {
        let file = root
            .join("fixtures/profiles")
            .join(format!("{}.toml", pair[1]));
        if !file.is_file() {
            return Err(format!(
                "no profile {} ({} is missing)",
                pair[1],
                file.display()
            ));
        }
    }
    Ok(())
}

/// The value of `--flag` in an argv.
fn flag_value<'a>(argv: &'a [String], flag: &str) -> Option<&'a str> {
    argv.windows(2)
        .find(|pair| pair[0] == flag)
        .map(|pair| pair[1].as_str())
}

#[test]
fn every_xtask_command_in_the_readme_parses_and_ci_jobs_upload_their_junit() {
    let root = project_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("reading README.md");
    let mut checked = Vec::new();
    let mut ci_jobs = 0;
    for block in blocks(&readme) {
        let (lines, values) = match block.language.as_str() {
            "sh" => (shell_lines(&block.text), Vec::new()),
            "yaml" => {
                let documents = YamlLoader::load_from_str(&block.text).unwrap_or_else(|e| {
                    panic!("README.md:{}: the YAML does not parse: {e}", block.line)
                });
                let mut values = Vec::new();
                documents.iter().for_each(|d| scalars(d, &mut values));
                (values.clone(), values)
            }
            _ => continue,
        };
        for line in lines {
            let Some(argv) = xtask_argv(&line) else {
                continue;
            };
            let argv = argv.unwrap_or_else(|e| panic!("README.md:{}: {e}", block.line));
            if let Err(error) = check(&argv, &root) {
                panic!(
                    "README.md:{}: `cargo xtask {}`:\n{error}",
                    block.line,
                    argv.join(" ")
                );
            }
            if block.language == "yaml" {
                // A CI job: its gate's JUnit file is what the job hands its CI system.
                assert_eq!(argv.first().map(String::as_str), Some("gate"), "{line}");
                let junit = flag_value(&argv, "--junit")
                    .and_then(|path| Path::new(path).file_name())
                    .and_then(|name| name.to_str())
                    .unwrap_or_else(|| {
                        panic!("README.md:{}: the gate writes no --junit", block.line)
                    });
                assert!(
                    values.iter().any(|value| value == junit),
                    "README.md:{}: the job never uploads {junit}",
                    block.line
                );
                ci_jobs += 1;
            }
            checked.push(argv.join(" "));
        }
    }
    // The quick start, the gate's two synopses, its GitHub Actions and GitLab CI jobs.
    assert_eq!(ci_jobs, 2, "{checked:#?}");
    assert!(checked.len() >= 5, "{checked:#?}");
}

/// The check can fail: a flag the gate does not have, a flag without its value, a profile
/// that does not exist, a flag of another subcommand.
#[test]
fn a_command_the_cli_would_refuse_is_refused() {
    let root = project_root();
    let good = "cargo xtask gate --oci image.tar --profile kubernetes --junit out.xml";
    let argv = |line: &str| {
        xtask_argv(line)
            .expect("a cargo xtask line")
            .expect("a shell line")
    };
    assert_eq!(check(&argv(good), &root), Ok(()));
    for (bad, said) in [
        (
            "cargo xtask gate --oci image.tar --junitt out.xml",
            "--junitt",
        ),
        ("cargo xtask gate --oci image.tar --junit", "--junit"),
        (
            "cargo xtask gate --oci image.tar --profile kubernetess",
            "kubernetess",
        ),
        ("cargo xtask gate --oci image.tar --bless", "--bless"),
    ] {
        match check(&argv(bad), &root) {
            Ok(()) => panic!("accepted: {bad}"),
            Err(error) => assert!(error.contains(said), "{bad}: {error}"),
        }
    }
}

#[test]
fn shell_and_yaml_forms_give_the_same_argv() {
    let folded = "jobs:\n  gate:\n    run: >\n      sudo -E cargo xtask gate --oci a.tar\n      --junit j.xml\n";
    let documents = YamlLoader::load_from_str(folded).expect("YAML");
    let mut values = Vec::new();
    documents.iter().for_each(|d| scalars(d, &mut values));
    let from_yaml: Vec<Vec<String>> = values
        .iter()
        .filter_map(|v| xtask_argv(v))
        .map(|a| a.expect("a shell line"))
        .collect();
    let from_sh: Vec<Vec<String>> =
        shell_lines("cd x && cargo xtask gate --oci a.tar \\\n    [--junit j.xml]  # comment\n")
            .iter()
            .filter_map(|l| xtask_argv(l))
            .map(|a| a.expect("a shell line"))
            .collect();
    let expected = ["gate", "--oci", "a.tar", "--junit", "j.xml"]
        .map(str::to_owned)
        .to_vec();
    assert_eq!(from_yaml, std::slice::from_ref(&expected));
    assert_eq!(from_sh, [expected]);
}
