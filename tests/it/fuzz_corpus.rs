//! Fuzz corpus replay.
