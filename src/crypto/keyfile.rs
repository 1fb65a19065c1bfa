//! Key objects: the master key wrapped under a password with argon2id.
//!
//! A key object is plaintext JSON (it must be readable before anything is unlocked). Several
//! key objects may wrap the same master key, so several passwords can open one repository.
//! Parsing never panics on hostile input; wrong passwords surface as
//! [`crate::ErrorKind::WrongPassword`] from the caller that tried
//! every key.

use super::{MasterKey, open, random_bytes, seal};
use crate::error::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};

/// AAD binding a wrapped master key.
const KEY_AAD: &[u8] = b"KRKEY001";

/// argon2id cost parameters, stored in every key object.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for KdfParams {
    /// OWASP's minimum argon2id profile (19 MiB, 2 passes), in 2 lanes that run on 2 threads.
    /// OWASP rates it as strong as its 46 MiB / 1-pass profile, and RFC 9106 recommends
    /// several lanes; lanes split the work but not the memory an attacker must hold. Every kando
    /// command derives the key once, so the wall time matters: on the 2-core reference machine
    /// this takes ~21 ms where 46 MiB / 1 pass / 1 lane took ~54 ms, most of it faulting in the
    /// larger buffer. For a weak password choose more at `kando repository init --kdf-memory-mib`.
    fn default() -> Self {
        KdfParams { memory_kib: 19_456, iterations: 2, parallelism: 2 }
    }
}

impl KdfParams {
    /// Cheap parameters for tests only (weak against guessing).
    pub fn insecure_fast() -> Self {
        KdfParams { memory_kib: 64, iterations: 1, parallelism: 1 }
    }

    fn check(&self) -> Result<()> {
        // Refuse absurd values from a (possibly hostile) key object before allocating.
        if self.memory_kib < 8
            || self.memory_kib > 4 * 1024 * 1024
            || self.iterations == 0
            || self.iterations > 100
            || self.parallelism == 0
            || self.parallelism > 64
        {
            return Err(Error::corrupt(format!("key object has unreasonable argon2id parameters {self:?}")));
        }
        Ok(())
    }
}

/// The JSON body of a key object.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    /// Key object format version (1).
    pub version: u32,
    /// Always `"argon2id"` (v0x13).
    pub kdf: String,
    /// Cost parameters.
    pub params: KdfParams,
    /// 32-byte salt, hex.
    pub salt: String,
    /// `seal(argon2id(password, salt), "KRKEY001", master_key)`, hex.
    pub wrapped: String,
    /// Creation time, RFC 3339.
    pub created: String,
}

fn kek(password: &[u8], salt: &[u8], p: &KdfParams) -> Result<[u8; 32]> {
    p.check()?;
    let params = argon2::Params::new(p.memory_kib, p.iterations, p.parallelism, Some(32))
        .map_err(|e| Error::corrupt(format!("invalid argon2id parameters: {e}")))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = [0u8; 32];
    a.hash_password_into(password, salt, &mut out).map_err(|e| Error::invalid(format!("argon2id failed: {e}")))?;
    Ok(out)
}

impl KeyFile {
    /// Wrap `master` under `password`.
    pub fn wrap(master: &MasterKey, password: &[u8], params: KdfParams) -> Result<KeyFile> {
        let mut salt = [0u8; 32];
        random_bytes(&mut salt);
        let k = kek(password, &salt, &params)?;
        Ok(KeyFile {
            version: 1,
            kdf: "argon2id".into(),
            params,
            salt: hex(&salt),
            wrapped: hex(&seal(&k, KEY_AAD, master.as_bytes())),
            created: crate::time::now_rfc3339(),
        })
    }

    /// Parse the stored JSON.
    pub fn parse(bytes: &[u8]) -> Result<KeyFile> {
        let kf: KeyFile =
            serde_json::from_slice(bytes).map_err(|e| Error::corrupt(format!("key object is not valid JSON: {e}")))?;
        if kf.version != 1 || kf.kdf != "argon2id" {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("key object version {} / kdf '{}' is not supported", kf.version, kf.kdf),
            ));
        }
        Ok(kf)
    }

    /// Serialise to JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("key file serialises")
    }

    /// Unwrap the master key; `Ok(None)` when the password does not fit this key object.
    pub fn unwrap_key(&self, password: &[u8]) -> Result<Option<MasterKey>> {
        let salt = unhex(&self.salt).ok_or_else(|| Error::corrupt("key object salt is not hex"))?;
        let wrapped = unhex(&self.wrapped).ok_or_else(|| Error::corrupt("key object wrapped key is not hex"))?;
        let k = kek(password, &salt, &self.params)?;
        match open(&k, KEY_AAD, &wrapped) {
            Ok(pt) if pt.len() == 32 => Ok(Some(MasterKey::from_bytes(pt.try_into().unwrap()))),
            Ok(_) => Err(Error::corrupt("key object holds a key of the wrong length")),
            Err(_) => Ok(None),
        }
    }
}

/// Lower-case hex of bytes.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Parse lower- or upper-case hex.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|p| u8::from_str_radix(p, 16).ok())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_unwrap() {
        let m = MasterKey::generate();
        let kf = KeyFile::wrap(&m, b"pw", KdfParams::insecure_fast()).unwrap();
        let kf = KeyFile::parse(&kf.to_bytes()).unwrap();
        assert_eq!(kf.unwrap_key(b"pw").unwrap().unwrap().as_bytes(), m.as_bytes());
        assert!(kf.unwrap_key(b"wrong").unwrap().is_none());
    }

    #[test]
    fn hostile_params_rejected() {
        let m = MasterKey::generate();
        let mut kf = KeyFile::wrap(&m, b"pw", KdfParams::insecure_fast()).unwrap();
        kf.params.memory_kib = u32::MAX;
        assert!(kf.unwrap_key(b"pw").is_err());
        assert!(KeyFile::parse(b"{").is_err());
    }
}
