//! Executing one run. (Being written.)
