//! The engine's integration tests: round trips, properties, a multi-GB stream, fuzz corpus
//! replay. (The kando binary, and the object stores on real servers, are tested in crates/kando.)

mod dedup_sources;
mod engine;
mod faulty;
mod fixture;
mod fuzz_corpus;
mod gc_faults;
mod large;
mod locators;
mod maintenance;
mod properties;
mod push_startup;
mod storage_faults;
mod support;
mod verify;
