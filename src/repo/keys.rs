//! Key management: the passwords of a repository, each a key object (`keys/<BLAKE3>`,
//! docs/format.md §3) that wraps the same master key.
//!
//! * [`Repository::list_keys`]: every key object with its creation time, argon2id cost and
//!   state — the one this repository was opened with, and, when given the password, which
//!   others that password unlocks. A key object of another password is listed but can only be
//!   judged by that password, so it is never flagged as bad.
//! * [`Repository::add_password`]: a new key object, read back and proven to open the
//!   repository before it is reported.
//! * [`Repository::remove_key`]: deletes a key object by id prefix; refuses the last one that
//!   may open the repository, and the one in use unless forced.
//! * [`Repository::change_password`]: add the new key, prove it, then remove the old one. At
//!   every moment at least one key object opens the repository: an interruption leaves both.
//!
//! Storage is create-only, so a key object is never modified: adding writes a new object and
//! removing deletes one. This module never logs or returns a password or key material; its
//! errors name key objects by id only.

use super::{Repository, open_meta};
use crate::crypto::keyfile::{KdfParams, KeyFile};
use crate::error::{Error, ErrorKind, Result};
use crate::format::config::CONFIG_MAGIC;
use crate::id::Id;

/// Shortest id prefix [`Repository::remove_key`] accepts (as for snapshot ids).
const MIN_KEY_PREFIX: usize = 6;

/// What is known about one key object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyState {
    /// The key object this repository was opened with.
    InUse,
    /// Another key object of the checking password that wraps this repository's master key
    /// (a second copy of the password in use, perhaps with another argon2id cost).
    SamePassword,
    /// Not unlocked by the checking password (or no password was given to check it): it may
    /// belong to another password, and only that password can tell whether it opens the
    /// repository.
    OtherPassword,
    /// Unlocked by the checking password but wraps another master key (left by a lost
    /// initialisation race): it opens nothing in this repository.
    Foreign,
    /// Not a readable key object (invalid JSON, unsupported version, unreasonable argon2id
    /// parameters): it opens nothing.
    Unreadable,
}

impl KeyState {
    /// Whether the key object may open the repository (for the last-key rule).
    pub fn may_open(self) -> bool {
        matches!(self, KeyState::InUse | KeyState::SamePassword | KeyState::OtherPassword)
    }

    /// Short human description.
    pub fn describe(self) -> &'static str {
        match self {
            KeyState::InUse => "in use",
            KeyState::SamePassword => "same password as the key in use",
            KeyState::OtherPassword => "another password",
            KeyState::Foreign => "foreign: wraps another master key, opens nothing here",
            KeyState::Unreadable => "unreadable",
        }
    }
}

/// One key object, as [`Repository::list_keys`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyInfo {
    /// Object id: the name under `keys/` (hex BLAKE3 of the object).
    pub id: String,
    /// Creation time (RFC 3339) recorded in the object, if readable.
    pub created: Option<String>,
    /// argon2id cost, if readable.
    pub kdf: Option<KdfParams>,
    /// True for the key object this repository was opened with.
    pub in_use: bool,
    /// What is known about it.
    pub state: KeyState,
    /// Why it is unreadable, when it is.
    pub problem: Option<String>,
}

impl KeyInfo {
    /// The first 8 characters of the id, for display.
    pub fn short(&self) -> &str {
        self.id.get(..8).unwrap_or(&self.id)
    }
}

/// What [`Repository::change_password`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordChange {
    /// The new key object (now in use).
    pub added: Id,
    /// The key objects removed: the one the repository had been opened with, and any other of
    /// the same password.
    pub removed: Vec<String>,
}

/// Refuse argon2id parameters a reader would refuse (docs/format.md §3), with the ranges.
fn check_kdf_params(p: &KdfParams) -> Result<()> {
    let ok = (8..=4 * 1024 * 1024).contains(&p.memory_kib)
        && (1..=100).contains(&p.iterations)
        && (1..=64).contains(&p.parallelism)
        && p.memory_kib >= 8 * p.parallelism;
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "argon2id parameters memory {} KiB, {} passes, {} lanes are outside what readers accept: memory \
             8 KiB–4 GiB and at least 8 KiB per lane, 1–100 passes, 1–64 lanes",
            p.memory_kib, p.iterations, p.parallelism
        )))
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::new(ErrorKind::Io, format!("key derivation task: {e}")))
}

impl Repository {
    /// The id (BLAKE3 of the object) of the key object this repository was opened with.
    pub fn key_in_use(&self) -> Id {
        self.key_id
    }

    /// Every key object, oldest first. With `check`, the password is tried on every key object
    /// other than the one in use (one argon2id derivation each) to tell
    /// [`KeyState::SamePassword`] and [`KeyState::Foreign`] from [`KeyState::OtherPassword`];
    /// without it every readable key object but the one in use is `OtherPassword`.
    pub async fn list_keys(&self, check: Option<&[u8]>) -> Result<Vec<KeyInfo>> {
        let objs = self.backend.list("keys/").await.map_err(|e| e.context("listing the key objects"))?;
        let mut out = Vec::with_capacity(objs.len());
        for o in objs {
            let id = o.key.strip_prefix("keys/").unwrap_or(&o.key).to_string();
            let bytes = match self.backend.get(&o.key).await {
                Ok(b) => b,
                // Removed since the listing.
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e.context(format!("reading key object {id}"))),
            };
            let in_use = Id::of_bytes(&bytes) == self.key_id;
            let kf = match KeyFile::parse(&bytes) {
                Ok(kf) => kf,
                Err(e) => {
                    let problem = Some(e.to_string());
                    out.push(KeyInfo { id, created: None, kdf: None, in_use, state: KeyState::Unreadable, problem });
                    continue;
                }
            };
            let (created, kdf) = (Some(kf.created.clone()), Some(kf.params));
            let (state, problem) = match check {
                _ if in_use => (KeyState::InUse, None),
                None => (KeyState::OtherPassword, None),
                Some(pw) => self.judge(kf, pw).await?,
            };
            out.push(KeyInfo { id, created, kdf, in_use, state, problem });
        }
        out.sort_by(|a, b| {
            let t = |k: &KeyInfo| k.created.as_deref().and_then(crate::time::parse_rfc3339);
            t(a).cmp(&t(b)).then_with(|| a.id.cmp(&b.id))
        });
        Ok(out)
    }

    /// What `password` says about a key object that is not the one in use.
    async fn judge(&self, kf: KeyFile, password: &[u8]) -> Result<(KeyState, Option<String>)> {
        let pw = password.to_vec();
        let unwrapped = blocking(move || kf.unwrap_key(&pw)).await?;
        Ok(match unwrapped {
            Ok(None) => (KeyState::OtherPassword, None),
            Ok(Some(m)) if m.as_bytes() == self.master.as_bytes() => (KeyState::SamePassword, None),
            Ok(Some(_)) => (KeyState::Foreign, None),
            Err(e) => (KeyState::Unreadable, Some(e.to_string())),
        })
    }

    /// Whether key object `keys/<name>`, as stored, unlocks this repository's master key with
    /// `password`.
    async fn unlocks(&self, name: &str, password: &[u8]) -> Result<bool> {
        let bytes = self.backend.get(&format!("keys/{name}")).await?;
        let kf = KeyFile::parse(&bytes)?;
        let pw = password.to_vec();
        let master = blocking(move || kf.unwrap_key(&pw)).await??;
        Ok(master.is_some_and(|m| m.as_bytes() == self.master.as_bytes()))
    }

    /// Check that key object `keys/<name>` as stored unlocks, with `password`, the master key of
    /// this repository, and that it opens the config.
    async fn prove_key(&self, name: &str, password: &[u8]) -> Result<()> {
        let short = name.get(..8).unwrap_or(name);
        if !self.unlocks(name, password).await.map_err(|e| e.context("reading it back"))? {
            return Err(Error::corrupt(format!(
                "key object {short} as stored does not unlock this repository's master key with the password"
            )));
        }
        let cfg = self.backend.get("config").await.map_err(|e| e.context("reading the config"))?;
        open_meta(&self.keys, CONFIG_MAGIC, &cfg, &"config")?;
        Ok(())
    }

    /// Add a password: write a new key object wrapping this repository's master key, read it
    /// back and prove that it opens the repository. Returns its id. If the proof fails the new
    /// object is deleted again and nothing changes.
    pub async fn add_password(&self, password: &[u8], kdf: KdfParams) -> Result<Id> {
        if password.is_empty() {
            return Err(Error::invalid("the new password is empty"));
        }
        check_kdf_params(&kdf)?;
        let id = self.add_key(password, kdf).await.map_err(|e| e.context("writing the new key object"))?;
        if let Err(e) = self.prove_key(&id.to_hex(), password).await {
            let _ = self.backend.delete(&format!("keys/{id}")).await;
            return Err(e.context(format!(
                "the new key object {} does not open the repository at {}, so it was deleted again; \
                 the existing passwords are unchanged",
                id.short(),
                self.location()
            )));
        }
        Ok(id)
    }

    /// Resolve an id prefix (optionally written `keys/<prefix>`) to one key object.
    fn pick_key<'a>(&self, keys: &'a [KeyInfo], prefix: &str) -> Result<&'a KeyInfo> {
        let p = prefix.trim();
        let p = p.strip_prefix("keys/").unwrap_or(p).to_ascii_lowercase();
        if p.len() < MIN_KEY_PREFIX || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::invalid(format!(
                "key id '{prefix}' is not an id prefix: give at least {MIN_KEY_PREFIX} hex characters of an id \
                 the key list shows"
            )));
        }
        let m: Vec<&KeyInfo> = keys.iter().filter(|k| k.id.starts_with(&p)).collect();
        match m.as_slice() {
            [] => Err(Error::new(
                ErrorKind::NotFound,
                format!("no key object with id '{p}' in {} (it has {} key object(s))", self.location(), keys.len()),
            )),
            [k] => Ok(k),
            many => Err(Error::invalid(format!(
                "key id '{p}' is ambiguous: it matches {} key objects ({}); give more characters",
                many.len(),
                many.iter().map(|k| k.short()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// Remove the key object whose id starts with `prefix` (at least 6 hex characters, or the
    /// whole id; `keys/<id>` is accepted too). Refuses the last key object that may open the
    /// repository (whatever `force` says), and the one this repository was opened with unless
    /// `force` (then only other passwords open it). Returns what was removed.
    pub async fn remove_key(&self, prefix: &str, force: bool) -> Result<KeyInfo> {
        let keys = self.list_keys(None).await?;
        let k = self.pick_key(&keys, prefix)?.clone();
        let others_may_open = keys.iter().filter(|o| o.id != k.id && o.state.may_open()).count();
        if k.state.may_open() && others_may_open == 0 {
            return Err(Error::invalid(format!(
                "refusing to remove key object {}: it is the last key object that opens the repository at {}, \
                 which nothing could open afterwards; add another password first",
                k.short(),
                self.location()
            )));
        }
        if k.in_use && !force {
            return Err(Error::invalid(format!(
                "refusing to remove key object {}: it is the key in use (the password given opens it)",
                k.short()
            )));
        }
        self.backend
            .delete(&format!("keys/{}", k.id))
            .await
            .map_err(|e| e.context(format!("deleting key object {}", k.short())))?;
        Ok(k)
    }

    /// Change the password this repository was opened with, `current_password`: add a key
    /// object for `new_password` with cost `kdf`, prove that it opens the repository, then
    /// delete every key object of the current password (the one in use and any copy of it),
    /// so that the current password opens nothing afterwards. Interrupted at any point, the new
    /// key object or the old ones (or both) remain and open the repository. Afterwards this
    /// `Repository` counts the new key object as in use. The same password with another `kdf`
    /// re-wraps it at that cost.
    pub async fn change_password(
        &mut self,
        current_password: &[u8],
        new_password: &[u8],
        kdf: KdfParams,
    ) -> Result<PasswordChange> {
        let keys = self.list_keys(Some(current_password)).await?;
        let Some(in_use) = keys.iter().find(|k| k.in_use) else {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "the key object this repository was opened with ({}) is gone from {}: removed concurrently?",
                    self.key_id.short(),
                    self.location()
                ),
            ));
        };
        if !self.unlocks(&in_use.id, current_password).await? {
            return Err(Error::new(
                ErrorKind::WrongPassword,
                format!(
                    "wrong password: the current password given does not open key object {}, the one this \
                     repository was opened with",
                    in_use.short()
                ),
            ));
        }
        let old: Vec<String> = keys
            .iter()
            .filter(|k| matches!(k.state, KeyState::InUse | KeyState::SamePassword))
            .map(|k| k.id.clone())
            .collect();
        let added = self.add_password(new_password, kdf).await?;
        self.key_id = added;
        for (i, name) in old.iter().enumerate() {
            self.backend.delete(&format!("keys/{name}")).await.map_err(|e| {
                let left: Vec<&str> = old[i..].iter().map(|n| n.get(..8).unwrap_or(n)).collect();
                e.context(format!(
                    "the new password works (key object {}), but deleting the old key object(s) {} failed, so the \
                     old password still opens the repository; remove them again",
                    added.short(),
                    left.join(", ")
                ))
            })?;
        }
        Ok(PasswordChange { added, removed: old })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InitOptions;
    use crate::backend::Backend;
    use crate::backend::memory::MemoryBackend;
    use crate::crypto::MasterKey;
    use bytes::Bytes;
    use std::sync::Arc;

    fn fast() -> KdfParams {
        KdfParams::insecure_fast()
    }

    async fn repo(pw: &[u8]) -> (Arc<dyn Backend>, Repository) {
        let b: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
        let opts = InitOptions { kdf: fast(), ..InitOptions::default() };
        let r = Repository::init(b.clone(), pw, &opts).await.unwrap();
        (b, r)
    }

    fn states(keys: &[KeyInfo]) -> Vec<(String, KeyState)> {
        let mut v: Vec<_> = keys.iter().map(|k| (k.id.clone(), k.state)).collect();
        v.sort();
        v
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn init_lists_one_key_in_use() {
        let (_, r) = repo(b"one").await;
        let keys = r.list_keys(Some(b"one")).await.unwrap();
        assert_eq!(keys.len(), 1);
        let k = &keys[0];
        assert!(k.in_use && k.state == KeyState::InUse && k.problem.is_none());
        assert_eq!(k.id, r.key_in_use().to_hex());
        assert_eq!(k.kdf, Some(fast()));
        assert!(crate::time::parse_rfc3339(k.created.as_deref().unwrap()).is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn second_password_opens_and_is_listed_from_both_sides() {
        let (b, r) = repo(b"one").await;
        let two = r.add_password(b"two", KdfParams { memory_kib: 8, iterations: 1, parallelism: 1 }).await.unwrap();
        let keys = r.list_keys(Some(b"one")).await.unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys.iter().filter(|k| k.in_use).count(), 1);
        let k2 = keys.iter().find(|k| k.id == two.to_hex()).unwrap();
        assert_eq!((k2.state, k2.in_use), (KeyState::OtherPassword, false));
        // Opened with the second password, that one is in use and the first is "other".
        let r2 = Repository::open(b.clone(), b"two").await.unwrap();
        assert_eq!(r2.key_in_use(), two);
        let keys2 = r2.list_keys(Some(b"two")).await.unwrap();
        assert_eq!(keys2.iter().find(|k| k.in_use).unwrap().id, two.to_hex());
        assert_eq!(keys2.iter().filter(|k| k.state == KeyState::OtherPassword).count(), 1);
        // The same password twice: the copy is recognised.
        let dup = r.add_password(b"one", fast()).await.unwrap();
        let keys = r.list_keys(Some(b"one")).await.unwrap();
        assert_eq!(keys.iter().find(|k| k.id == dup.to_hex()).unwrap().state, KeyState::SamePassword);
        // Oldest first.
        assert_eq!(keys.last().unwrap().id, dup.to_hex());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn remove_guards_the_key_in_use_and_the_last_key() {
        let (b, r) = repo(b"one").await;
        let me = r.key_in_use().to_hex();
        let e = r.remove_key(&me[..10], false).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("last key object"), "{e}");
        let e = r.remove_key(&me, true).await.unwrap_err();
        assert!(e.to_string().contains("last key object"), "force does not remove the last key: {e}");
        let two = r.add_password(b"two", fast()).await.unwrap().to_hex();
        let e = r.remove_key(&me[..8], false).await.unwrap_err();
        assert!(e.to_string().contains("key in use"), "{e}");
        // The other key goes; then the one in use is the last again.
        let removed = r.remove_key(&two[..8], false).await.unwrap();
        assert_eq!(removed.id, two);
        assert_eq!(Repository::open(b.clone(), b"two").await.unwrap_err().kind(), ErrorKind::WrongPassword);
        assert!(r.remove_key(&me, true).await.is_err());
        // Forced removal of the key in use when another password remains.
        let two = r.add_password(b"two", fast()).await.unwrap();
        r.remove_key(&me, true).await.unwrap();
        assert_eq!(Repository::open(b.clone(), b"one").await.unwrap_err().kind(), ErrorKind::WrongPassword);
        assert_eq!(Repository::open(b, b"two").await.unwrap().key_in_use(), two);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn prefixes_unknown_ambiguous_short() {
        let (b, r) = repo(b"one").await;
        // Two names sharing a long prefix (unreadable objects, so only the prefix logic counts).
        b.put("keys/abcdef0011", Bytes::from_static(b"{")).await.unwrap();
        b.put("keys/abcdef0022", Bytes::from_static(b"{")).await.unwrap();
        let e = r.remove_key("abcdef", false).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("ambiguous") && e.to_string().contains("abcdef00"), "{e}");
        let e = r.remove_key("0123456789", false).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.to_string().contains("no key object with id '0123456789'"), "{e}");
        let e = r.remove_key("abc", false).await.unwrap_err();
        assert!(e.to_string().contains("at least 6 hex"), "{e}");
        assert!(r.remove_key("zzzzzzzz", false).await.unwrap_err().to_string().contains("hex"));
        // Unreadable objects are listed, never counted as opening, and can be removed.
        let keys = r.list_keys(None).await.unwrap();
        let bad: Vec<_> = keys.iter().filter(|k| k.state == KeyState::Unreadable).collect();
        assert_eq!(bad.len(), 2);
        assert!(bad[0].problem.as_deref().unwrap().contains("not valid JSON"));
        r.remove_key("keys/abcdef0011", false).await.unwrap();
        assert_eq!(r.list_keys(None).await.unwrap().len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn foreign_key_is_flagged_and_does_not_count() {
        let (b, r) = repo(b"one").await;
        // A key object of the same password around another master key (a lost init race).
        let kf = KeyFile::wrap(&MasterKey::generate(), b"one", fast()).unwrap().to_bytes();
        let fid = Id::of_bytes(&kf);
        b.put(&format!("keys/{fid}"), Bytes::from(kf)).await.unwrap();
        let keys = r.list_keys(Some(b"one")).await.unwrap();
        assert_eq!(keys.iter().find(|k| k.id == fid.to_hex()).unwrap().state, KeyState::Foreign);
        // Unchecked, it looks like another password's key…
        let unchecked = r.list_keys(None).await.unwrap();
        assert_eq!(unchecked.iter().find(|k| k.id == fid.to_hex()).unwrap().state, KeyState::OtherPassword);
        // …and opening still picks the right one.
        assert_eq!(Repository::open(b.clone(), b"one").await.unwrap().key_in_use(), r.key_in_use());
        assert_eq!(states(&keys).len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn change_password_replaces_the_key_in_use() {
        let (b, mut r) = repo(b"old").await;
        let other = r.add_password(b"other", fast()).await.unwrap();
        let old = r.key_in_use();
        // A copy of the old password (another key object) goes too.
        let copy = r.add_password(b"old", fast()).await.unwrap();
        let e = r.change_password(b"not-old", b"new", fast()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WrongPassword, "{e}");
        assert_eq!(b.list("keys/").await.unwrap().len(), 3, "a wrong current password changes nothing");
        let ch = r.change_password(b"old", b"new", fast()).await.unwrap();
        let mut removed = vec![old.to_hex(), copy.to_hex()];
        removed.sort();
        let mut got = ch.removed.clone();
        got.sort();
        assert_eq!(got, removed);
        assert_eq!(r.key_in_use(), ch.added);
        let e = Repository::open(b.clone(), b"old").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WrongPassword);
        assert_eq!(Repository::open(b.clone(), b"new").await.unwrap().key_in_use(), ch.added);
        assert_eq!(Repository::open(b.clone(), b"other").await.unwrap().key_in_use(), other);
        let keys = r.list_keys(Some(b"new")).await.unwrap();
        assert_eq!(states(&keys), {
            let mut v = vec![(ch.added.to_hex(), KeyState::InUse), (other.to_hex(), KeyState::OtherPassword)];
            v.sort();
            v
        });
        // Re-wrapping the same password with another cost is a password change too.
        let ch2 = r
            .change_password(b"new", b"new", KdfParams { memory_kib: 16, iterations: 2, parallelism: 2 })
            .await
            .unwrap();
        assert_eq!(ch2.removed, vec![ch.added.to_hex()]);
        let r2 = Repository::open(b, b"new").await.unwrap();
        assert_eq!(r2.key_in_use(), ch2.added);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_input_changes_nothing() {
        let (b, mut r) = repo(b"old").await;
        let bad = KdfParams { memory_kib: 8, iterations: 1, parallelism: 2 };
        let e = r.add_password(b"x", bad).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("8 KiB per lane"), "{e}");
        assert!(r.change_password(b"old", b"", fast()).await.is_err());
        assert_eq!(b.list("keys/").await.unwrap().len(), 1);
        assert!(Repository::open(b, b"old").await.is_ok());
        // No error message carries a password.
        for e in [e, r.change_password(b"old", b"", fast()).await.unwrap_err()] {
            assert!(!format!("{e} {e:?}").contains("old"), "{e}");
        }
    }
}
