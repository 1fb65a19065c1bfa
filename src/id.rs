//! 32-byte identifiers: chunk ids (keyed BLAKE3), object names (BLAKE3 of stored bytes).
//!
//! Pure value types: no I/O, no crypto beyond naming helpers.

use crate::error::{Error, Result};
use std::fmt;
use std::hash::{BuildHasher, Hasher};

/// A 256-bit identifier.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Id(pub [u8; 32]);

impl Id {
    /// Length in bytes.
    pub const LEN: usize = 32;

    /// Lower-case hex (64 characters).
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(char::from_digit((b >> 4) as u32, 16).unwrap());
            s.push(char::from_digit((b & 15) as u32, 16).unwrap());
        }
        s
    }

    /// Parse 64 hex characters.
    pub fn from_hex(s: &str) -> Result<Id> {
        let b = s.as_bytes();
        if b.len() != 64 {
            return Err(Error::invalid(format!("'{s}' is not a 64-character hex id")));
        }
        let mut out = [0u8; 32];
        for (i, pair) in b.chunks(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16);
            let lo = (pair[1] as char).to_digit(16);
            match (hi, lo) {
                (Some(h), Some(l)) => out[i] = (h * 16 + l) as u8,
                _ => return Err(Error::invalid(format!("'{s}' is not a hex id"))),
            }
        }
        Ok(Id(out))
    }

    /// Read an id from the first 32 bytes of `b` (caller checks length).
    pub fn from_slice(b: &[u8]) -> Id {
        let mut out = [0u8; 32];
        out.copy_from_slice(&b[..32]);
        Id(out)
    }

    /// Unkeyed BLAKE3 of `data`: how stored objects are named.
    pub fn of_bytes(data: &[u8]) -> Id {
        Id(*blake3::hash(data).as_bytes())
    }

    /// The first 8 characters of the hex form, for display.
    pub fn short(&self) -> String {
        self.to_hex()[..8].to_string()
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.short())
    }
}

/// A hasher for maps keyed by [`Id`]: ids are already uniformly random, so the first eight
/// bytes are the hash. Never use it for attacker-chosen keys that are not keyed-hash outputs.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // `Id` hashes as its 32-byte array (with no length prefix for arrays).
        let mut b = [0u8; 8];
        let n = bytes.len().min(8);
        b[..n].copy_from_slice(&bytes[..n]);
        self.0 ^= u64::from_le_bytes(b);
    }
}

/// `BuildHasher` for [`IdHasher`].
#[derive(Default, Clone, Copy)]
pub struct IdBuildHasher;

impl BuildHasher for IdBuildHasher {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

/// A set of ids with the cheap hasher.
pub type IdSet = std::collections::HashSet<Id, IdBuildHasher>;
/// A map from ids with the cheap hasher.
pub type IdMap<V> = std::collections::HashMap<Id, V, IdBuildHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = Id::of_bytes(b"abc");
        assert_eq!(Id::from_hex(&id.to_hex()).unwrap(), id);
        assert!(Id::from_hex("zz").is_err());
        assert!(Id::from_hex(&"g".repeat(64)).is_err());
    }

    #[test]
    fn id_set_works() {
        let mut s = IdSet::default();
        for i in 0..1000u32 {
            s.insert(Id::of_bytes(&i.to_le_bytes()));
        }
        assert_eq!(s.len(), 1000);
        assert!(s.contains(&Id::of_bytes(&5u32.to_le_bytes())));
        assert!(!s.contains(&Id::of_bytes(b"x")));
    }
}
