//! Hostile input for the loaders (issue 6): random text and mutations of every real case and
//! candidate file never panic, and every error names the file, a line and column inside the
//! text, and a field. Bounded by proptest's case count (256 unless `PROPTEST_CASES` says
//! otherwise), so it runs in CI in seconds.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::{LoadError, parse_candidate, parse_case};

/// Every real spec file of the workspace, as (path, text): the seeds the mutations start from.
fn seeds(folders: &[&str]) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut seeds = Vec::new();
    for folder in folders {
        let Ok(entries) = std::fs::read_dir(root.join(folder)) else {
            continue;
        };
        for path in entries.flatten().map(|e| e.path()) {
            if path.extension().is_some_and(|e| e == "toml")
                && let Ok(text) = std::fs::read_to_string(&path)
            {
                seeds.push((path, text));
            }
        }
    }
    seeds.sort();
    seeds
}

fn case_seeds() -> Vec<(PathBuf, String)> {
    seeds(&["cases", "harness/tests/data/invalid-cases"])
}

fn candidate_seeds() -> Vec<(PathBuf, String)> {
    seeds(&[
        "fixtures/candidates",
        "fixtures/hostile/candidates",
        "harness/tests/data/invalid-candidates",
    ])
}

/// Pieces of TOML and of the suite's vocabulary, so mutations reach the schema and the
/// validator, not only the TOML parser.
const TOKENS: &[&str] = &[
    "=",
    "\"",
    "'",
    "[",
    "]",
    "{",
    "}",
    ",",
    ".",
    "\n",
    "#",
    "'''",
    "\"\"\"",
    "[[must]]\n",
    "[[should]]\n",
    "[workload]\n",
    "[[workload.children]]\n",
    "[install]\n",
    "[stop]\n",
    "[[stop.steps]]\n",
    "kind = \"caught\"\n",
    "kind = \"no-such-kind\"\n",
    "role = \"ghost\"\n",
    "role = \"\"\n",
    "signal = \"RTMIN+99\"\n",
    "signal = 0\n",
    "on.TERM = { action = \"exit\", code = 300 }\n",
    "on.KILL.action = \"ignore\"\n",
    "placement = \"nowhere\"\n",
    "argv = []\n",
    "argv = [\"{bin}\", \"{workload}\", \"{workload}\"]\n",
    "stop_signal = \"TERM\"\n",
    "title = \"\"\n",
    "sources = []\n",
    "within_ms = -1\n",
    "1e999",
    "-9223372036854775809",
    "true",
    "\u{0}",
    "\u{feff}",
    "é",
];

/// One edit of a text, at a character position given as a fraction of its length.
#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize),
    Delete(usize),
    DuplicateLine,
    DropLine,
}

fn mutation() -> impl Strategy<Value = (Mutation, f64, f64)> {
    (
        prop_oneof![
            (0..TOKENS.len()).prop_map(Mutation::Insert),
            (1usize..40).prop_map(Mutation::Delete),
            Just(Mutation::DuplicateLine),
            Just(Mutation::DropLine),
        ],
        0.0..1.0f64,
        0.0..1.0f64,
    )
}

/// Apply `mutation` at the character `at` (a fraction of the text's length).
fn mutate(text: &str, (mutation, at, _): &(Mutation, f64, f64)) -> String {
    let chars: Vec<char> = text.chars().collect();
    let position = ((chars.len() as f64) * at) as usize;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let line = ((lines.len() as f64) * at) as usize;
    match mutation {
        Mutation::Insert(token) => {
            let mut out: String = chars[..position].iter().collect();
            out.push_str(TOKENS[*token]);
            out.extend(&chars[position..]);
            out
        }
        Mutation::Delete(length) => {
            let end = (position + length).min(chars.len());
            chars[..position].iter().chain(&chars[end..]).collect()
        }
        Mutation::DuplicateLine => {
            let mut out: Vec<&str> = lines.clone();
            if let Some(copied) = lines.get(line) {
                out.insert(line, copied);
            }
            out.concat()
        }
        Mutation::DropLine => lines
            .iter()
            .enumerate()
            .filter(|(index, _)| *index != line)
            .map(|(_, l)| *l)
            .collect(),
    }
}

/// An error about a file's content must name that file, a line and column inside the text,
/// and a field, and read as one line.
fn check_error(path: &Path, text: &str, error: &LoadError) -> Result<(), TestCaseError> {
    let Some(location) = error.location() else {
        return Err(TestCaseError::fail(format!(
            "no location in {error} for {text:?}"
        )));
    };
    prop_assert_eq!(&location.file, path);
    let lines = text.split('\n').count();
    prop_assert!(
        (1..=lines).contains(&location.line) && location.column >= 1,
        "{} is outside the text's {} lines: {:?}",
        location,
        lines,
        text
    );
    let field = error.field().unwrap_or_default();
    prop_assert!(!field.is_empty(), "no field in {} for {:?}", error, text);
    let shown = error.to_string();
    prop_assert!(
        shown.starts_with(&format!("{location}: {field}: ")),
        "{}",
        shown
    );
    prop_assert!(!shown.contains('\n'), "not one line: {:?}", shown);
    Ok(())
}

/// Parse `text` as `path` and check the error, if any.
fn check_parse<T>(
    parse: fn(&Path, &str) -> Result<T, LoadError>,
    path: &Path,
    text: &str,
) -> Result<(), TestCaseError> {
    match parse(path, text) {
        Ok(_) => Ok(()),
        Err(error) => check_error(path, text, &error),
    }
}

/// Apply `edits` to the seed `seed` picks, parse, check the error.
fn check_mutated<T>(
    parse: fn(&Path, &str) -> Result<T, LoadError>,
    seeds: &[(PathBuf, String)],
    seed: proptest::sample::Index,
    edits: &[(Mutation, f64, f64)],
) -> Result<(), TestCaseError> {
    prop_assume!(!seeds.is_empty());
    let (path, text) = &seeds[seed.index(seeds.len())];
    let text = edits
        .iter()
        .fold(text.clone(), |text, edit| mutate(&text, edit));
    check_parse(parse, path, &text)
}

proptest! {
    #[test]
    fn random_text_is_never_a_panic_as_a_case(text in "\\PC{0,200}") {
        check_parse(parse_case, Path::new("cases/random.toml"), &text)?;
    }

    #[test]
    fn random_text_is_never_a_panic_as_a_candidate(text in "\\PC{0,200}") {
        check_parse(parse_candidate, Path::new("fixtures/candidates/random.toml"), &text)?;
    }

    #[test]
    fn mutated_cases_fail_with_file_line_and_field(
        seed in any::<proptest::sample::Index>(),
        edits in proptest::collection::vec(mutation(), 1..4),
    ) {
        check_mutated(parse_case, &case_seeds(), seed, &edits)?;
    }

    #[test]
    fn mutated_candidates_fail_with_file_line_and_field(
        seed in any::<proptest::sample::Index>(),
        edits in proptest::collection::vec(mutation(), 1..4),
    ) {
        check_mutated(parse_candidate, &candidate_seeds(), seed, &edits)?;
    }
}

#[test]
fn the_seeds_are_there() {
    // Without seeds the mutation properties would test nothing.
    assert!(case_seeds().len() >= 10, "{:?}", case_seeds().len());
    assert!(
        candidate_seeds().len() >= 10,
        "{:?}",
        candidate_seeds().len()
    );
}
