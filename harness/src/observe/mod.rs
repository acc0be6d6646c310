//! Observers: sources of evidence. (Being written.)
