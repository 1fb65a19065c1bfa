//! Snapshot objects: one pushed stream.
//!
//! ```text
//! object = "KRSNAP01" || seal(aad "KRSNAP01", frame(json))
//! ```
//! The JSON fields are those of [`Snapshot`]. A snapshot is written last, after every pack
//! and index object it needs, so its presence means the stream is complete.

use crate::error::{Error, Result};
use crate::id::Id;
use serde::{Deserialize, Serialize};

/// Magic and AAD of snapshot objects.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"KRSNAP01";

/// Counters recorded with a snapshot.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SnapshotStats {
    /// Chunks in the stream.
    pub chunks: u64,
    /// Chunks that were not in the repository yet.
    pub new_chunks: u64,
    /// Raw bytes of those new chunks.
    pub new_bytes: u64,
    /// Bytes this push added to the repository (packs, index objects and this snapshot excluded).
    pub stored_bytes: u64,
}

/// One stream pushed to the repository.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// Snapshot format version (1).
    pub version: u32,
    /// The `--path` it was pushed under.
    pub path: String,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// Completion time, RFC 3339 UTC.
    pub time: String,
    /// Host that pushed it.
    pub hostname: String,
    /// Stream length in bytes.
    pub size: u64,
    /// Unkeyed BLAKE3 of the whole stream, hex.
    pub blake3: String,
    /// Root node of the chunk-list tree, hex.
    pub root: String,
    /// Counters.
    pub stats: SnapshotStats,
    /// Program and version that wrote it.
    pub program: String,
}

impl Snapshot {
    /// Serialise the JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("snapshot serialises")
    }

    /// Parse untrusted JSON and check its invariants.
    pub fn from_json(b: &[u8]) -> Result<Snapshot> {
        let s: Snapshot = serde_json::from_slice(b).map_err(|e| Error::corrupt(format!("snapshot JSON: {e}")))?;
        if s.version != 1 {
            return Err(Error::new(crate::ErrorKind::Unsupported, format!("snapshot version {}", s.version)));
        }
        Id::from_hex(&s.root).map_err(|_| Error::corrupt("snapshot root is not a hex id"))?;
        Id::from_hex(&s.blake3).map_err(|_| Error::corrupt("snapshot hash is not hex"))?;
        if crate::time::parse_rfc3339(&s.time).is_none() {
            return Err(Error::corrupt("snapshot time is not RFC 3339"));
        }
        Ok(s)
    }

    /// Root node id.
    pub fn root_id(&self) -> Id {
        Id::from_hex(&self.root).expect("checked when parsed")
    }

    /// Sort key: (seconds, nanoseconds) of `time`.
    pub fn time_key(&self) -> (i64, u32) {
        crate::time::parse_rfc3339(&self.time).unwrap_or((0, 0))
    }
}
