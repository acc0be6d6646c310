//! Pure renderers of a [`crate::matrix::Matrix`]: `results.json` for tools, `matrix.md` for
//! people. Each takes the whole matrix and returns text; writing files is the caller's job.

mod json;
mod markdown;

pub use json::render_json;
pub use markdown::{render_markdown, render_profiles};
