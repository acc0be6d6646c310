//! Installing candidates and building the probe. (Being written.)
