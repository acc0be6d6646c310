//! The inputs a user writes: cases (`cases/*.toml`), candidates (`fixtures/candidates/*.toml`)
//! and runtime profiles, parsed with serde and validated before anything runs.

mod candidate;
mod case;
mod load;
mod profile;

pub use candidate::{Candidate, CandidateKind, Install};
pub use case::{
    Behaviour, Case, Expectation, ExpectationKind, Level, Node, Placement, Step, StopPlan, Target,
};
// pub use load::{...}; (being written)
pub use profile::{Profile, StopSignalChoice};
