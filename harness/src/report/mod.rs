//! Pure renderers of a [`crate::matrix::Matrix`]: `results.json` for tools, `matrix.md` for
//! people, `candidates/NAME.md` per candidate. Each takes the whole matrix and returns text;
//! writing files is the caller's job.

mod candidate_page;
mod cases;
mod json;
mod markdown;

pub use candidate_page::{render_candidate_page, timer_notes};
pub use cases::render_cases;
pub use json::render_json;
pub use markdown::{render_markdown, render_profiles};
