//! kanrepo: a streaming, deduplicating, compressing, encrypting repository engine.
//! (Tour written once the public API settles.)
#![warn(missing_docs)]

pub mod chunker;
pub mod crypto;
pub mod error;
pub mod id;
pub mod time;

pub use error::{Error, ErrorKind, Result};
pub use id::Id;
pub mod backend;
pub mod compress;
pub mod format;
pub mod fuzzing;
pub mod pool;
pub mod profile;
pub mod repo;

pub use repo::{InitOptions, Progress, PullOptions, PushOptions, Repository};
