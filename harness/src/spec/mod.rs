//! The inputs a user writes: cases (`cases/*.toml`), candidates (`fixtures/candidates/*.toml`)
//! and runtime profiles, parsed with serde and validated before anything runs.

mod candidate;
mod case;
mod load;
mod profile;

pub use candidate::{Candidate, CandidateKind, EVERY, ImageFile, ImageWorkload, Install, Race};
pub use case::{
    Applies, Behaviour, Case, CaseSandbox, Expectation, ExpectationKind, Level, MAX_SIGNAL_COUNT,
    Node, Pid1Process, Placement, Reading, RebootCommand, RebootErrno, SignalRef, Step, StopPlan,
    Target, WorkloadExec,
};
pub use load::{
    LoadError, Loaded, Location, Named, check_race_names, load_candidate, load_candidates,
    load_case, load_cases, load_profile, load_profiles, parse_candidate, parse_case, parse_profile,
    select,
};
pub use profile::{Profile, Runtime};
