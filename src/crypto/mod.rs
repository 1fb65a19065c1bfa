//! Keys, content ids and sealing.
//!
//! * [`MasterKey`]: the repository secret; every working key is derived from it with
//!   BLAKE3 `derive_key` under a fixed context string, so one 32-byte secret is all a key
//!   object wraps.
//! * [`Keys::chunk_id`]: keyed BLAKE3 content ids (the id key never leaves this module).
//! * [`seal`]/[`open`]: AES-256-GCM with a per-message derived key (see docs/format.md §2):
//!   a 24-byte random nonce field, the first 12 bytes of which select a one-message subkey
//!   `keyed_blake3(seal_key, nonce[0..12])`, the last 12 bytes being the GCM nonce. No
//!   nonce counter to keep, no 2^32-message limit per key.
//! * [`keyfile`]: the password-wrapped master key (argon2id).
//!
//! This module does no I/O and knows nothing about packs, indexes or backends.

pub mod keyfile;

use crate::error::{Error, Result};
use crate::id::Id;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce, Tag};

/// Bytes added by [`seal`]: 24-byte nonce field + 16-byte tag.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Fill `buf` from the operating system's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system's random source failed");
}

/// The repository master secret (32 bytes). Never written anywhere except wrapped in key objects.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    /// A fresh random master key.
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        random_bytes(&mut k);
        MasterKey(k)
    }

    /// From raw bytes (unwrapped from a key object).
    pub fn from_bytes(b: [u8; 32]) -> Self {
        MasterKey(b)
    }

    /// Raw bytes, only for wrapping into a key object.
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Derive the working keys.
    pub fn derive(&self) -> Keys {
        Keys {
            id_key: blake3::derive_key("kanrepo v1 chunk id", &self.0),
            seal_key: blake3::derive_key("kanrepo v1 seal", &self.0),
            chunker_seed: {
                let k = blake3::derive_key("kanrepo v1 chunker seed", &self.0);
                u64::from_le_bytes(k[..8].try_into().unwrap())
            },
        }
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// Keys derived from the master key.
#[derive(Clone)]
pub struct Keys {
    id_key: [u8; 32],
    seal_key: [u8; 32],
    /// Seed XOR-ed into the FastCDC gear table so cut points differ between repositories.
    pub chunker_seed: u64,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

impl Keys {
    /// Content id of a chunk or tree node: keyed BLAKE3 of its plaintext.
    pub fn chunk_id(&self, data: &[u8]) -> Id {
        Id(*blake3::keyed_hash(&self.id_key, data).as_bytes())
    }

    /// Seal `plaintext` for storage; `aad` names the object type (see docs/format.md).
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        seal(&self.seal_key, aad, plaintext)
    }

    /// Seal the concatenation of `parts`, appending to `out` (avoids copies when building packs).
    pub fn seal_into(&self, aad: &[u8], parts: &[&[u8]], out: &mut Vec<u8>) {
        seal_into(&self.seal_key, aad, parts, out)
    }

    /// Open a sealed message; `what` names it in the error.
    pub fn open(&self, aad: &[u8], sealed: &[u8], what: &dyn std::fmt::Display) -> Result<Vec<u8>> {
        open(&self.seal_key, aad, sealed).map_err(|e| e.context(what))
    }

    /// [`Keys::open`] in place: `sealed` is decrypted where it lies; returns the range of it
    /// that holds the plaintext (the rest is envelope). Readers of large objects hold one
    /// copy instead of two.
    pub fn open_in_place(
        &self,
        aad: &[u8],
        sealed: &mut [u8],
        what: &dyn std::fmt::Display,
    ) -> Result<std::ops::Range<usize>> {
        open_in_place(&self.seal_key, aad, sealed).map_err(|e| e.context(what))
    }

    /// [`Keys::open`] into `out` (cleared first; its capacity is reused).
    pub fn open_into(&self, aad: &[u8], sealed: &[u8], what: &dyn std::fmt::Display, out: &mut Vec<u8>) -> Result<()> {
        open_into(&self.seal_key, aad, sealed, out).map_err(|e| e.context(what))
    }
}

fn cipher_for(key: &[u8; 32], salt: &[u8]) -> Aes256Gcm {
    let sub = blake3::keyed_hash(key, salt);
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(*sub.as_bytes()))
}

/// Seal with an explicit 32-byte key (used for key objects and by [`Keys::seal`]).
pub fn seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(plaintext.len() + SEAL_OVERHEAD);
    seal_into(key, aad, &[plaintext], &mut out);
    out
}

/// Seal the concatenation of `parts`, appending `nonce || ciphertext || tag` to `out`.
pub fn seal_into(key: &[u8; 32], aad: &[u8], parts: &[&[u8]], out: &mut Vec<u8>) {
    let mut nonce = [0u8; NONCE_LEN];
    random_bytes(&mut nonce);
    let total: usize = parts.iter().map(|p| p.len()).sum();
    out.reserve(total + SEAL_OVERHEAD);
    let start = out.len();
    out.extend_from_slice(&nonce);
    for p in parts {
        out.extend_from_slice(p);
    }
    let cipher = cipher_for(key, &nonce[..12]);
    let gcm_nonce = Nonce::from(<[u8; 12]>::try_from(&nonce[12..]).unwrap());
    let body = &mut out[start + NONCE_LEN..];
    let tag = cipher.encrypt_inout_detached(&gcm_nonce, aad, body.into()).expect("AES-GCM message within size limits");
    out.extend_from_slice(tag.as_slice());
}

/// Open `nonce || ciphertext || tag`; fails with [`crate::ErrorKind::Corrupt`] if it does not authenticate.
pub fn open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    open_into(key, aad, sealed, &mut out)?;
    Ok(out)
}

/// [`open`] in place (see [`Keys::open_in_place`]); on failure the buffer's content is
/// unspecified.
pub fn open_in_place(key: &[u8; 32], aad: &[u8], sealed: &mut [u8]) -> Result<std::ops::Range<usize>> {
    if sealed.len() < SEAL_OVERHEAD {
        return Err(Error::corrupt(format!(
            "sealed message is {} bytes, shorter than the {SEAL_OVERHEAD}-byte envelope",
            sealed.len()
        )));
    }
    let end = sealed.len() - TAG_LEN;
    let (head, tag) = sealed.split_at_mut(end);
    let (nonce, ct) = head.split_at_mut(NONCE_LEN);
    let cipher = cipher_for(key, &nonce[..12]);
    let gcm_nonce = Nonce::from(<[u8; 12]>::try_from(&nonce[12..]).unwrap());
    let tag = Tag::from(<[u8; 16]>::try_from(&*tag).unwrap());
    if cipher.decrypt_inout_detached(&gcm_nonce, aad, ct.into(), &tag).is_err() {
        return Err(Error::corrupt("authentication failed (data modified or wrong key)"));
    }
    Ok(NONCE_LEN..end)
}

/// [`open`] into `out`, which is cleared first (and left empty on failure).
pub fn open_into(key: &[u8; 32], aad: &[u8], sealed: &[u8], out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    if sealed.len() < SEAL_OVERHEAD {
        return Err(Error::corrupt(format!(
            "sealed message is {} bytes, shorter than the {SEAL_OVERHEAD}-byte envelope",
            sealed.len()
        )));
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
    out.extend_from_slice(ct);
    let cipher = cipher_for(key, &nonce[..12]);
    let gcm_nonce = Nonce::from(<[u8; 12]>::try_from(&nonce[12..]).unwrap());
    let tag = Tag::from(<[u8; 16]>::try_from(tag).unwrap());
    if cipher.decrypt_inout_detached(&gcm_nonce, aad, out.as_mut_slice().into(), &tag).is_err() {
        out.clear();
        return Err(Error::corrupt("authentication failed (data modified or wrong key)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper() {
        let keys = MasterKey::generate().derive();
        for len in [0usize, 1, 15, 16, 17, 1000, 70000] {
            let pt: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let s = keys.seal(b"T", &pt);
            assert_eq!(s.len(), len + SEAL_OVERHEAD);
            assert_eq!(keys.open(b"T", &s, &"x").unwrap(), pt);
            let mut inplace = s.clone();
            let r = keys.open_in_place(b"T", &mut inplace, &"x").unwrap();
            assert_eq!(&inplace[r], &pt[..]);
            let mut bad = s.clone();
            bad[s.len() / 2] ^= 1;
            assert!(keys.open_in_place(b"T", &mut bad, &"x").is_err());
            assert!(keys.open_in_place(b"U", &mut s.clone(), &"x").is_err());
            assert!(keys.open(b"U", &s, &"x").is_err(), "aad must bind");
            for pos in [0, 12, 24, s.len() - 1] {
                let mut bad = s.clone();
                bad[pos] ^= 1;
                assert!(keys.open(b"T", &bad, &"x").is_err(), "flip at {pos}");
            }
        }
        let other = MasterKey::generate().derive();
        assert!(other.open(b"T", &keys.seal(b"T", b"hi"), &"x").is_err());
        assert!(keys.open(b"T", &[0u8; 10], &"x").is_err());
    }

    #[test]
    fn ids_are_keyed() {
        let a = MasterKey::generate().derive();
        let b = MasterKey::generate().derive();
        assert_eq!(a.chunk_id(b"x"), a.chunk_id(b"x"));
        assert_ne!(a.chunk_id(b"x"), b.chunk_id(b"x"));
        assert_ne!(a.chunk_id(b"x"), Id::of_bytes(b"x"));
    }
}
