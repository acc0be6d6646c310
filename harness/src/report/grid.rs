//! The matrix as a grid for tables: candidates, cases and profiles in their declared order
//! (then any only the runs name), and each run by its three names.

use std::collections::BTreeMap;

use crate::matrix::{Matrix, RunResult};

/// Rows, columns and cells of a matrix's tables.
pub(super) struct Grid<'a> {
    /// Candidate names.
    pub(super) candidates: Vec<&'a str>,
    /// Case names.
    pub(super) cases: Vec<&'a str>,
    /// Profile names.
    pub(super) profiles: Vec<&'a str>,
    /// The run of each (candidate, case, profile); the first when a run is repeated.
    pub(super) cells: BTreeMap<(&'a str, &'a str, &'a str), &'a RunResult>,
}

impl<'a> Grid<'a> {
    /// The grid of `matrix`.
    pub(super) fn of(matrix: &'a Matrix) -> Grid<'a> {
        let mut cells = BTreeMap::new();
        for run in &matrix.runs {
            cells
                .entry((
                    run.candidate.as_str(),
                    run.case.as_str(),
                    run.profile.as_str(),
                ))
                .or_insert(run);
        }
        Grid {
            candidates: ordered(
                matrix.candidates.iter().map(|c| c.name.as_str()),
                matrix.runs.iter().map(|r| r.candidate.as_str()),
            ),
            cases: ordered(
                matrix.cases.iter().map(|c| c.name.as_str()),
                matrix.runs.iter().map(|r| r.case.as_str()),
            ),
            profiles: ordered(
                matrix.profiles.iter().map(|p| p.name.as_str()),
                matrix.runs.iter().map(|r| r.profile.as_str()),
            ),
            cells,
        }
    }
}

/// The names in `declared` order, then any that only `seen` mentions, each once.
fn ordered<'a>(
    declared: impl Iterator<Item = &'a str>,
    seen: impl Iterator<Item = &'a str>,
) -> Vec<&'a str> {
    let mut names: Vec<&str> = Vec::new();
    for name in declared.chain(seen) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}
