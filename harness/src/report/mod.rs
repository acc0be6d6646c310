//! Pure renderers of a [`crate::matrix::Matrix`]: `results.json` for tools, `matrix.md` for
//! people, `candidates/NAME.md` per candidate, `index.html` with a page per run and its signal
//! [`timeline`]. Each returns text; writing files is the caller's job.

mod candidate_page;
mod cases;
mod grid;
mod html;
mod json;
mod markdown;
mod markup;
pub mod timeline;

pub use candidate_page::{render_candidate_page, timer_notes};
pub use cases::render_cases;
pub use html::{render_index, render_run_page, run_page_name};
pub use json::render_json;
pub use markdown::{render_markdown, render_profiles};
