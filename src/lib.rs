//! kanrepo: a streaming, deduplicating, compressing, encrypting repository engine, and the
//! library behind `kando`.
//!
//! A stream is cut into content-defined chunks ([`chunker`]), identified by keyed BLAKE3
//! ([`crypto`]), deduplicated against the repository, compressed in frames ([`compress`]),
//! sealed with AES-256-GCM and stored in packs ([`format`](mod@format)) on a [`backend`]. A
//! [`Repository`] ties it together: [`Repository::push`] stores a stream as a snapshot,
//! [`Repository::pull`] writes it back, verified. `docs/format.md` specifies the bytes and
//! `docs/architecture.md` the pipelines. The engine has no Kubernetes dependency; [`profile`]
//! only parses the profile JSON that Kanister renders.
//!
//! ```
//! use kanrepo::backend::memory::MemoryBackend;
//! use kanrepo::{InitOptions, Progress, PullOptions, PushOptions, Repository};
//! use std::sync::{Arc, Mutex};
//!
//! # #[derive(Clone, Default)] struct Buf(Arc<Mutex<Vec<u8>>>);
//! # impl std::io::Write for Buf {
//! #     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().extend_from_slice(b); Ok(b.len()) }
//! #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
//! # }
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! rt.block_on(async {
//!     let opts = InitOptions { kdf: kanrepo::crypto::keyfile::KdfParams::insecure_fast(), ..Default::default() };
//!     let repo = Repository::init(Arc::new(MemoryBackend::new()), b"password", &opts).await?;
//!     let dump = b"INSERT INTO t VALUES (1);\n".repeat(10_000);
//!     let push = PushOptions { path: "db/backup.sql".into(), ..Default::default() };
//!     let (_, snap) = repo.push(Box::new(std::io::Cursor::new(dump.clone())), &push, Arc::new(Progress::default())).await?;
//!     let out = Buf::default();
//!     repo.pull(&snap, Box::new(out.clone()), &PullOptions::default(), Arc::new(Progress::default())).await?;
//!     assert_eq!(*out.0.lock().unwrap(), dump);
//!     Ok::<_, kanrepo::Error>(())
//! }).unwrap();
//! ```
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
pub mod legacy;
pub mod pool;
pub mod profile;
pub mod repo;
pub mod testdata;

pub use repo::{InitOptions, Progress, PullOptions, PushOptions, Repository, StageProgress};
