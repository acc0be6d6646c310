//! The signal timeline of one run, as SVG: [`build_timeline`] turns the raw trace into plain
//! data (lanes, markers, arrows, ends, reaps, zombie spans) and [`render_svg`] draws it on a
//! time axis whose long idle stretches are compressed ([`axis`]).

pub mod axis;
mod model;
mod svg;

pub use model::{
    EndMark, FOLDED, Fate, Lane, Life, Marker, MarkerKind, ReapMark, SignalArrow, Timeline,
    ZombieSpan, build_timeline,
};
pub use svg::{format_time, render_svg};

#[cfg(test)]
mod tests;
