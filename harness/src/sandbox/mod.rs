//! Namespaces, mounts and id maps of a run. (Being written.)
