//! The one integration-test binary: engine round trips, properties, the kando CLI, fuzz corpus replay.

mod cli;
mod cloud;
mod engine;
mod fuzz_corpus;
mod large;
mod properties;
mod support;
