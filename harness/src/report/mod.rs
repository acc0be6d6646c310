//! Pure renderers of a [`crate::matrix::Matrix`]. (Being written.)
