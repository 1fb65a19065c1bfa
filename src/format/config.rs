//! The repository config object: format version and algorithm choices.
//!
//! ```text
//! object "config" = "KRCONF01" || seal(aad "KRCONF01", frame(json))
//! ```
//! Opening a repository reads a key object first (to get the master key), then this.

use crate::chunker::ChunkerParams;
use crate::error::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};

/// Magic and AAD of the config object.
pub const CONFIG_MAGIC: &[u8; 8] = b"KRCONF01";

/// Chunker choice. (No `deny_unknown_fields` here: serde does not support it together with
/// `flatten`; the flattened [`ChunkerParams`] is validated instead.)
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChunkerConfig {
    /// `"fastcdc-v2020"` (gear table XOR-ed with a key-derived seed).
    pub algorithm: String,
    /// Sizes.
    #[serde(flatten)]
    pub params: ChunkerParams,
}

/// Compression choice.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CompressionConfig {
    /// `"zstd"`.
    pub algorithm: String,
    /// zstd level for data frames (0 = store).
    pub level: i32,
    /// zstd strategy number (1 fast … 9 btultra2) used instead of the level's, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<u32>,
    /// zstd hashLog used instead of the level's, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_log: Option<u32>,
    /// zstd chainLog used instead of the level's, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_log: Option<u32>,
    /// New chunks are grouped into frames of about this many raw bytes before compression.
    pub frame_target: u32,
}

impl CompressionConfig {
    /// The compression parameters of data frames.
    pub fn params(&self) -> crate::compress::Params {
        crate::compress::Params {
            level: self.level,
            strategy: self.strategy,
            hash_log: self.hash_log,
            chain_log: self.chain_log,
        }
    }
}

/// The config object body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Repository format version (1).
    pub version: u32,
    /// Random repository id, hex.
    pub id: String,
    /// Chunking.
    pub chunker: ChunkerConfig,
    /// `"blake3-keyed-256"`.
    pub hash: String,
    /// `"aes-256-gcm-blake3-subkey"`.
    pub cipher: String,
    /// Compression.
    pub compression: CompressionConfig,
    /// Packs are closed once they reach this many bytes.
    pub pack_target: u32,
}

impl Config {
    /// A new config with defaults and a random id.
    pub fn new(chunker: ChunkerParams, zstd: crate::compress::Params, frame_target: u32, pack_target: u32) -> Config {
        let mut id = [0u8; 16];
        crate::crypto::random_bytes(&mut id);
        Config {
            version: 1,
            id: crate::crypto::keyfile::hex(&id),
            chunker: ChunkerConfig { algorithm: "fastcdc-v2020".into(), params: chunker },
            hash: "blake3-keyed-256".into(),
            cipher: "aes-256-gcm-blake3-subkey".into(),
            compression: CompressionConfig {
                algorithm: "zstd".into(),
                level: zstd.level,
                strategy: zstd.strategy,
                hash_log: zstd.hash_log,
                chain_log: zstd.chain_log,
                frame_target,
            },
            pack_target,
        }
    }

    /// Serialise.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("config serialises")
    }

    /// Parse untrusted JSON and refuse anything this build cannot honour.
    pub fn from_json(b: &[u8]) -> Result<Config> {
        let c: Config = serde_json::from_slice(b).map_err(|e| Error::corrupt(format!("config JSON: {e}")))?;
        let unsupported = |what: &str| {
            Err(Error::new(ErrorKind::Unsupported, format!("repository {what} is not supported by this kando")))
        };
        if c.version != 1 {
            return unsupported(&format!("format version {}", c.version));
        }
        if c.chunker.algorithm != "fastcdc-v2020" {
            return unsupported(&format!("chunker '{}'", c.chunker.algorithm));
        }
        if c.hash != "blake3-keyed-256" {
            return unsupported(&format!("hash '{}'", c.hash));
        }
        if c.cipher != "aes-256-gcm-blake3-subkey" {
            return unsupported(&format!("cipher '{}'", c.cipher));
        }
        if c.compression.algorithm != "zstd" {
            return unsupported(&format!("compression '{}'", c.compression.algorithm));
        }
        c.chunker.params.validate().map_err(|e| Error::corrupt(e.to_string()))?;
        c.compression.params().validate().map_err(|e| Error::corrupt(format!("config: {e}")))?;
        if c.compression.frame_target == 0
            || c.compression.frame_target as usize > crate::compress::MAX_FRAME / 2
            || c.pack_target < 1024
            || c.pack_target > 1 << 30
        {
            return Err(Error::corrupt("config has out-of-range compression or pack sizes"));
        }
        Ok(c)
    }
}
