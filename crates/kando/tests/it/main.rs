//! The kando binary driven as Kanister drives it: the CLI on local disk, the object stores on
//! real servers (MinIO, Azurite, fake-gcs-server; with the engine's backend conformance suite
//! run against the same servers), and peak memory against stream length.

mod cli;
mod cloud;
mod concurrency;
mod crash;
mod keys;
mod maintain;
mod memory;
mod verify;
