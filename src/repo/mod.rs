//! The repository: opening and creating it, metadata objects, and the push/pull pipelines.
//!
//! Object layout on the backend (docs/format.md):
//! `config`, `keys/<id>`, `packs/<id[0..2]>/<id>`, `index/<id>`, `snapshots/<id>`, where every
//! `<id>` except the config is the BLAKE3 of the object's bytes. Everything is written
//! create-only, in the order packs → index → snapshot, so a snapshot exists only once all
//! the data it needs is stored.
//!
//! This module owns the keys; it never hands them to the backend layer.

pub mod compact;
mod cursor;
mod dedup;
mod follow;
pub mod forget;
pub mod gc;
mod hooks;
mod keys;
pub mod lease;
mod live;
mod locators;
pub mod maintenance;
mod marks;
mod progress;
mod pull;
mod pull_index;
mod pull_plan;
mod push;
mod push_locators;
mod push_stages;
mod read_index;
mod recover;
pub mod repair;
mod stage;
mod tables;
pub mod usage;
pub mod verify;
mod walk;

pub use keys::{KeyInfo, KeyState, PasswordChange};
pub use progress::{Progress, StageProgress};
pub use pull::PullOptions;
pub use push::PushOptions;
pub use read_index::ReadIndex;

use crate::backend::{Backend, ObjectInfo};
use crate::chunker::ChunkerParams;
use crate::compress;
use crate::crypto::keyfile::{KdfParams, KeyFile};
use crate::crypto::{Keys, MasterKey};
use crate::error::{Error, ErrorKind, Result};
use crate::format::config::{CONFIG_MAGIC, Config};
use crate::format::index::{INDEX_MAGIC, IndexFile};
use crate::format::snapshot::{SNAPSHOT_MAGIC, Snapshot};
use crate::format::strip_magic;
use crate::id::{Id, IdSet};
use bytes::Bytes;
use std::sync::Arc;

/// Snapshot objects [`Repository::snapshots`] reads at once.
const SNAPSHOT_READS: usize = 16;

/// Which blobs of an index object to keep (by pack id and kind).
pub(crate) type IndexFilter = Arc<dyn Fn(&Id, crate::format::pack::BlobKind) -> bool + Send + Sync>;

/// Options for creating a repository.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Chunk sizes.
    pub chunker: ChunkerParams,
    /// zstd parameters for data frames.
    pub zstd: crate::compress::Params,
    /// Raw bytes grouped into one compressed frame.
    pub frame_target: u32,
    /// Pack size target.
    pub pack_target: u32,
    /// argon2id cost of the first key object.
    pub kdf: KdfParams,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            chunker: ChunkerParams::default(),
            zstd: crate::compress::Params::DATA,
            frame_target: 1 << 20,
            pack_target: 16 << 20,
            kdf: KdfParams::default(),
        }
    }
}

/// One snapshot and its object id.
#[derive(Debug, Clone)]
pub struct SnapshotEntry {
    /// Object id (the name under `snapshots/`).
    pub id: Id,
    /// Content.
    pub snapshot: Snapshot,
}

/// Sizes of what the repository stores.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RepoStats {
    /// Snapshot count.
    pub snapshots: u64,
    /// Sum of snapshot stream sizes.
    pub logical_bytes: u64,
    /// Pack objects.
    pub packs: u64,
    /// Bytes in packs.
    pub pack_bytes: u64,
    /// Index objects.
    pub index_objects: u64,
    /// Bytes in index objects.
    pub index_bytes: u64,
    /// Bytes in snapshot objects.
    pub snapshot_bytes: u64,
    /// Key objects.
    pub keys: u64,
    /// Every stored byte.
    pub total_bytes: u64,
}

pub(crate) fn pack_key(id: &Id) -> String {
    let h = id.to_hex();
    format!("packs/{}/{h}", &h[..2])
}

/// An open repository.
pub struct Repository {
    backend: Arc<dyn Backend>,
    master: MasterKey,
    keys: Arc<Keys>,
    config: Config,
    /// BLAKE3 of the key object that opened this repository (see keys.rs).
    key_id: Id,
    /// Lease TTL and refresh rate (lease.rs).
    lease_timing: lease::LeaseTiming,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Repository({})", self.backend.location())
    }
}

async fn kdf_blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::new(ErrorKind::Io, format!("key derivation task: {e}")))?
}

impl Repository {
    /// Create a repository; fails with `AlreadyExists` if one is there.
    pub async fn init(backend: Arc<dyn Backend>, password: &[u8], opts: &InitOptions) -> Result<Repository> {
        let loc = backend.location();
        match backend.get("config").await {
            Ok(_) => {
                return Err(Error::new(ErrorKind::AlreadyExists, format!("a repository already exists at {loc}")));
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e.context("checking for an existing repository")),
        }
        opts.chunker.validate()?;
        let master = MasterKey::generate();
        let config = Config::new(opts.chunker, opts.zstd, opts.frame_target, opts.pack_target);
        // Validate our own choices exactly as a reader will.
        Config::from_json(&config.to_json()).map_err(|e| Error::invalid(e.to_string()))?;
        let (m, pw, kdf) = (master.clone(), password.to_vec(), opts.kdf);
        let kf = kdf_blocking(move || KeyFile::wrap(&m, &pw, kdf)).await?;
        let kb = kf.to_bytes();
        let kid = Id::of_bytes(&kb);
        backend.put(&format!("keys/{kid}"), Bytes::from(kb)).await.map_err(|e| e.context("writing the key object"))?;
        let keys = Arc::new(master.derive());
        let repo =
            Repository { backend, master, keys, config, key_id: kid, lease_timing: lease::LeaseTiming::from_env() };
        let cfg = repo.seal_meta(CONFIG_MAGIC, &repo.config.to_json());
        match repo.backend.put("config", Bytes::from(cfg)).await {
            Ok(()) => Ok(repo),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                // A retried PUT whose first attempt landed finds its own config: ours if our
                // keys open it.
                if let Ok(existing) = repo.backend.get("config").await
                    && open_meta(&repo.keys, CONFIG_MAGIC, &existing, &"config").is_ok()
                {
                    return Ok(repo);
                }
                // Someone initialised it at the same time; our key object is an unused orphan.
                let _ = repo.backend.delete(&format!("keys/{kid}")).await;
                Err(Error::new(ErrorKind::AlreadyExists, format!("a repository was created concurrently at {loc}")))
            }
            Err(e) => Err(e.context("writing the config object")),
        }
    }

    /// Open with a password.
    pub async fn open(backend: Arc<dyn Backend>, password: &[u8]) -> Result<Repository> {
        let loc = backend.location();
        let cfg = match backend.get("config").await {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(Error::new(ErrorKind::NotFound, format!("no repository at {loc} (no config object)")));
            }
            Err(e) => return Err(e.context("opening the repository")),
        };
        let keys = backend.list("keys/").await?;
        if keys.is_empty() {
            return Err(Error::corrupt(format!("repository at {loc} has a config but no key objects")));
        }
        for k in &keys {
            let bytes = backend.get(&k.key).await?;
            let kf = match KeyFile::parse(&bytes) {
                Ok(kf) => kf,
                Err(e) => {
                    tracing::warn!("skipping key object {}: {e}", k.key);
                    continue;
                }
            };
            let pw = password.to_vec();
            let Some(master) = kdf_blocking(move || kf.unwrap_key(&pw)).await? else {
                continue;
            };
            let keys = master.derive();
            // A key object left by a lost init race unlocks a different master key: skip it.
            let Ok(json) = open_meta(&keys, CONFIG_MAGIC, &cfg, &"config") else {
                continue;
            };
            let config = Config::from_json(&json).map_err(|e| e.context(format!("config of {loc}")))?;
            return Ok(Repository {
                backend,
                master,
                keys: Arc::new(keys),
                config,
                key_id: Id::of_bytes(&bytes),
                lease_timing: lease::LeaseTiming::from_env(),
            });
        }
        Err(Error::new(
            ErrorKind::WrongPassword,
            format!("wrong password: it opens none of the {} key object(s) of the repository at {loc}", keys.len()),
        ))
    }

    /// Open, or create with `opts` when there is no repository yet. Returns whether it was created.
    pub async fn open_or_init(
        backend: Arc<dyn Backend>,
        password: &[u8],
        opts: &InitOptions,
    ) -> Result<(Repository, bool)> {
        match Self::open(backend.clone(), password).await {
            Ok(r) => Ok((r, false)),
            Err(e) if e.kind() == ErrorKind::NotFound => match Self::init(backend.clone(), password, opts).await {
                Ok(r) => Ok((r, true)),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok((Self::open(backend, password).await?, false)),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// Add another password.
    pub async fn add_key(&self, password: &[u8], kdf: KdfParams) -> Result<Id> {
        let master = self.master.clone();
        let pw = password.to_vec();
        let kf = kdf_blocking(move || KeyFile::wrap(&master, &pw, kdf)).await?;
        let kb = kf.to_bytes();
        let id = Id::of_bytes(&kb);
        self.backend.put(&format!("keys/{id}"), Bytes::from(kb)).await?;
        Ok(id)
    }

    /// Use this lease timing (tests: every process writing the repository must agree).
    #[doc(hidden)]
    pub fn set_lease_timing(&mut self, t: lease::LeaseTiming) {
        self.lease_timing = t;
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The backend location.
    pub fn location(&self) -> String {
        self.backend.location()
    }

    pub(crate) fn seal_meta(&self, magic: &[u8; 8], plain: &[u8]) -> Vec<u8> {
        let mut v = magic.to_vec();
        v.extend_from_slice(&self.keys.seal(magic, &compress::encode_vec(plain, 3)));
        v
    }

    /// Store a metadata object under `<prefix>/<blake3>`; an identical existing object is fine.
    pub(crate) async fn put_named(&self, prefix: &str, bytes: Vec<u8>) -> Result<Id> {
        let id = Id::of_bytes(&bytes);
        match self.backend.put(&format!("{prefix}/{id}"), Bytes::from(bytes)).await {
            Ok(()) => Ok(id),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(id),
            Err(e) => Err(e.context(format!("writing {prefix}/{}", id.short()))),
        }
    }

    pub(crate) async fn write_index(&self, f: &IndexFile) -> Result<Id> {
        let obj = self.seal_meta(INDEX_MAGIC, &f.encode());
        self.put_named("index", obj).await
    }

    /// Every snapshot, oldest first.
    pub async fn snapshots(&self) -> Result<Vec<SnapshotEntry>> {
        use futures::StreamExt;
        let objs = self.backend.list("snapshots/").await?;
        let mut ids = Vec::with_capacity(objs.len());
        for o in objs {
            ids.push(
                Id::from_hex(o.key.trim_start_matches("snapshots/"))
                    .map_err(|_| Error::corrupt(format!("unexpected object {}", o.key)))?,
            );
        }
        // Read SNAPSHOT_READS at once: one request each, and object stores answer slowly.
        let mut reads = futures::stream::iter(ids)
            .map(|id| async move { (id, self.load_snapshot(&id).await) })
            .buffer_unordered(SNAPSHOT_READS);
        let mut out = Vec::new();
        while let Some((id, r)) = reads.next().await {
            match r {
                Ok(snapshot) => out.push(SnapshotEntry { id, snapshot }),
                // Forgotten (deleted) between the listing and the read: not a snapshot any more.
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.snapshot.time_key().cmp(&b.snapshot.time_key()).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// One snapshot by id.
    pub async fn load_snapshot(&self, id: &Id) -> Result<Snapshot> {
        let key = format!("snapshots/{id}");
        let bytes = self.backend.get(&key).await?;
        if Id::of_bytes(&bytes) != *id {
            return Err(Error::corrupt(format!("{key}: content does not match its name")));
        }
        let json = open_meta(&self.keys, SNAPSHOT_MAGIC, &bytes, &key)?;
        Snapshot::from_json(&json).map_err(|e| e.context(&key))
    }

    /// Find a snapshot by full or abbreviated (≥ 6 hex chars) id.
    pub async fn find_snapshot(&self, prefix: &str) -> Result<SnapshotEntry> {
        if prefix.len() < 6 {
            return Err(Error::invalid(format!(
                "snapshot id '{prefix}' is too short (give at least 6 hex characters)"
            )));
        }
        let m: Vec<_> = self.snapshots().await?.into_iter().filter(|s| s.id.to_hex().starts_with(prefix)).collect();
        match m.len() {
            0 => Err(Error::new(ErrorKind::NotFound, format!("no snapshot {prefix} in {}", self.location()))),
            1 => Ok(m.into_iter().next().unwrap()),
            n => Err(Error::invalid(format!("snapshot id '{prefix}' is ambiguous ({n} matches)"))),
        }
    }

    /// The newest snapshot pushed under `path`.
    pub async fn latest(&self, path: &str) -> Result<SnapshotEntry> {
        self.snapshots().await?.into_iter().rev().find(|s| s.snapshot.path == path).ok_or_else(|| {
            Error::new(ErrorKind::NotFound, format!("no snapshot with path '{path}' in {}", self.location()))
        })
    }

    /// Remove one snapshot. Data is reclaimed by gc.
    pub async fn delete_snapshot(&self, id: &Id) -> Result<()> {
        self.backend.delete(&format!("snapshots/{id}")).await
    }

    /// Remove every snapshot of `path`; returns the removed ids. Data is reclaimed by gc.
    pub async fn delete_path(&self, path: &str) -> Result<Vec<Id>> {
        let mut removed = Vec::new();
        for s in self.snapshots().await? {
            if s.snapshot.path == path {
                self.backend.delete(&format!("snapshots/{}", s.id)).await?;
                removed.push(s.id);
            }
        }
        Ok(removed)
    }

    /// Decode every index object, in parallel, calling `f` on each. An object that vanishes
    /// between the listing and the read was replaced by a concurrent index rewrite (gc,
    /// compaction), which writes its new objects before deleting the old ones: the listing is
    /// then repeated for the objects not seen yet.
    pub(crate) async fn for_each_index(&self, f: impl FnMut(IndexFile)) -> Result<()> {
        self.for_each_index_where(8, None, f).await
    }

    /// [`Self::for_each_index`] with at most `limit` objects in memory at once, each decoded
    /// keeping only the blobs `keep` accepts (see [`IndexFile::decode_where`]).
    pub(crate) async fn for_each_index_where(
        &self,
        limit: usize,
        keep: Option<IndexFilter>,
        f: impl FnMut(IndexFile),
    ) -> Result<()> {
        let decode: IndexDecoder<IndexFile> = Arc::new(move |frame: &[u8]| match &keep {
            Some(keep) => IndexFile::decode_frame_where(frame, |p, k| keep(p, k)),
            None => IndexFile::decode_frame_where(frame, |_, _| true),
        });
        scan_index(&self.backend, &self.keys, limit, decode, f).await
    }

    /// Ids of every chunk and tree node the index knows.
    pub async fn load_id_set(&self) -> Result<IdSet> {
        Ok(self.load_known().await?.0)
    }

    /// Ids of every indexed chunk and tree node, and of every indexed pack.
    pub(crate) async fn load_known(&self) -> Result<(IdSet, IdSet)> {
        self.load_known_excluding(&IdSet::default()).await
    }

    /// Like [`Self::load_known`], without the chunks whose only copies are in `exclude`
    /// (packs marked for deletion); their packs still count as indexed.
    pub(crate) async fn load_known_excluding(&self, exclude: &IdSet) -> Result<(IdSet, IdSet)> {
        let (mut set, mut packs) = (IdSet::default(), IdSet::default());
        self.for_each_index(|f| {
            set.reserve(f.chunk_count());
            packs.extend(f.packs.iter().copied());
            for (p, b) in f.blobs {
                if exclude.contains(&f.packs[p as usize]) {
                    continue;
                }
                set.extend(b.chunks.into_iter().map(|c| c.0));
            }
        })
        .await?;
        Ok((set, packs))
    }

    /// The full index for reading.
    pub async fn load_read_index(&self) -> Result<ReadIndex> {
        let mut ri = ReadIndex::default();
        self.for_each_index(|f| ri.add(f)).await?;
        Ok(ri)
    }

    /// Sizes of stored objects.
    pub async fn stats(&self) -> Result<RepoStats> {
        let mut s = RepoStats::default();
        for o in self.backend.list("").await? {
            s.total_bytes += o.size;
            let top = o.key.split('/').next().unwrap_or("");
            match top {
                "packs" => (s.packs += 1, s.pack_bytes += o.size),
                "index" => (s.index_objects += 1, s.index_bytes += o.size),
                "snapshots" => (s.snapshots += 1, s.snapshot_bytes += o.size),
                "keys" => (s.keys += 1, ()),
                _ => ((), ()),
            };
        }
        s.logical_bytes = self.snapshots().await?.iter().map(|e| e.snapshot.size).sum();
        Ok(s)
    }
}

/// Run `task` on every item with at most `limit` running at once, handing each result to
/// `on_result` as it completes; stops at the first error `on_result` returns.
/// Turns the opened frame of one index object (decrypted, still compressed: decode it as it
/// is read with [`IndexFile::visit_frame`]) into what a scan keeps of it. Runs on a blocking
/// thread, at most `limit` at once.
pub(crate) type IndexDecoder<T> = Arc<dyn Fn(&[u8]) -> Result<T> + Send + Sync>;

/// Read every index object, at most `limit` in memory at once, each checked against its name,
/// opened in place and handed to `decode` on a blocking thread; `f` gets the results one at a
/// time. Memory per object in flight: its size, plus the decoder's window and what `decode`
/// keeps (one object of 2^18 chunks: ~9 MB + ~2 MB, where decoding it whole held ~3 × 9 MB).
/// Index objects that vanish while being read (merged by maintenance) are made up for by
/// listing again and reading the new ones (up to 5 rounds, then a transient error).
pub(crate) async fn scan_index<T: Send + 'static>(
    backend: &Arc<dyn Backend>,
    keys: &Arc<Keys>,
    limit: usize,
    decode: IndexDecoder<T>,
    mut f: impl FnMut(T),
) -> Result<()> {
    let mut done = std::collections::HashSet::new();
    for round in 0..5 {
        let objs: Vec<ObjectInfo> =
            backend.list("index/").await?.into_iter().filter(|o| !done.contains(&o.key)).collect();
        if objs.is_empty() {
            return Ok(());
        }
        let mut vanished = 0usize;
        let task = |o: ObjectInfo| {
            let (b, k, decode) = (backend.clone(), keys.clone(), decode.clone());
            async move {
                let Some(bytes) = b.get_if_exists(&o.key).await? else { return Ok((o.key, None)) };
                tokio::task::spawn_blocking(move || {
                    if Id::of_bytes(&bytes).to_hex() != o.key.trim_start_matches("index/") {
                        return Err(Error::corrupt(format!("{}: content does not match its name", o.key)));
                    }
                    let sealed = open_meta_in_place(&k, INDEX_MAGIC, bytes, &o.key)?;
                    let kept = decode(sealed.frame()).map_err(|e| e.context(&o.key))?;
                    Ok((o.key, Some(kept)))
                })
                .await
                .map_err(|e| Error::new(ErrorKind::Io, format!("index decode task: {e}")))?
            }
        };
        for_each_bounded(objs, limit, task, |r| {
            let (key, kept) = r?;
            match kept {
                Some(kept) => f(kept),
                None => vanished += 1,
            }
            done.insert(key);
            Ok(())
        })
        .await?;
        if vanished == 0 {
            return Ok(());
        }
        tracing::debug!(
            "{vanished} index object(s) were replaced while being read (round {round}); reading the new ones"
        );
    }
    Err(Error::new(ErrorKind::Transient, "the index kept changing while it was read (concurrent maintenance); retry"))
}

pub(crate) async fn for_each_bounded<I, T, Fut>(
    items: impl IntoIterator<Item = I>,
    limit: usize,
    task: impl Fn(I) -> Fut,
    mut on_result: impl FnMut(Result<T>) -> Result<()>,
) -> Result<()>
where
    Fut: std::future::Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    let mut iter = items.into_iter();
    loop {
        while set.len() < limit.max(1) {
            let Some(item) = iter.next() else { break };
            set.spawn(task(item));
        }
        match set.join_next().await {
            None => return Ok(()),
            Some(r) => on_result(r.map_err(|e| Error::new(ErrorKind::Io, format!("background task: {e}")))?)?,
        }
    }
}

/// A metadata object opened where it lies: [`OpenedMeta::frame`] is its (still compressed)
/// frame.
pub(crate) struct OpenedMeta {
    buf: bytes::BytesMut,
    frame: std::ops::Range<usize>,
}

impl OpenedMeta {
    pub(crate) fn frame(&self) -> &[u8] {
        &self.buf[self.frame.clone()]
    }
}

/// Open a `magic || sealed(frame)` metadata object in its own buffer (copied once only if the
/// backend still shares it), leaving the frame to be decoded by the caller.
pub(crate) fn open_meta_in_place(
    keys: &Keys,
    magic: &[u8; 8],
    bytes: Bytes,
    what: &dyn std::fmt::Display,
) -> Result<OpenedMeta> {
    strip_magic(&bytes, magic, &what.to_string())?;
    let mut buf = bytes.try_into_mut().unwrap_or_else(|b| bytes::BytesMut::from(&b[..]));
    let r = keys.open_in_place(magic, &mut buf[magic.len()..], what)?;
    Ok(OpenedMeta { buf, frame: r.start + magic.len()..r.end + magic.len() })
}

/// Open a `magic || sealed(frame)` metadata object.
pub(crate) fn open_meta(keys: &Keys, magic: &[u8; 8], bytes: &[u8], what: &dyn std::fmt::Display) -> Result<Vec<u8>> {
    let body = strip_magic(bytes, magic, &what.to_string())?;
    let frame = keys.open(magic, body, what)?;
    compress::decode(&frame).map_err(|e| e.context(what))
}
