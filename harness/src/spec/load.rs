//! Loading and validating spec files. (Being written.)
