//! `verify`: prove that the repository is intact, or say exactly what is not and which
//! snapshots it affects.
//!
//! Checks, in order (each problem names the object — `keys/…`, `config`, `index/…`,
//! `snapshots/…`, `packs/hh/…`, a chunk or tree node id — and the snapshots it affects):
//!
//! 1. **Key objects**: each is named by the BLAKE3 of its bytes and parses.
//! 2. **Config**: opens with the master key and parses. ([`Repository::verify_at`] also
//!    diagnoses a repository that does not open: a damaged config or key object is a
//!    reported problem, a wrong password an error.)
//! 3. **Snapshot and index objects**: named by their BLAKE3, authenticate, decode.
//! 4. **Pack headers**: every pack is listed; the sealed header of each is read with ranged
//!    reads (never the whole pack) and compared, blob by blob and chunk by chunk, with what the
//!    index objects record for that pack. Indexed packs that do not exist are problems; packs
//!    no index lists (left by an interrupted push) are notes.
//! 5. **Data** (only with [`ReadData`] other than `None`): the selected packs are read whole;
//!    `BLAKE3(pack) == name`; every blob the index records opens (AES-GCM), its frame
//!    decodes, and every chunk and tree node matches its keyed id.
//! 6. **Trees**: every snapshot's tree is walked from its root: every node is indexed, reads,
//!    matches its id, has the level its parent expects and covers the bytes its parent says
//!    (the root covers the snapshot's `size`); every chunk is indexed as data, with the
//!    length the tree gives, in a pack that exists and whose data (if read) is intact. A node
//!    whose subtree was found clean is not walked again for later snapshots.
//!
//! Verify never writes or deletes anything, and never reports a repository clean when it
//! could not read it: storage errors other than "not found" fail the run instead of becoming
//! problems.
//!
//! Memory, with C chunks and P packs in the repository: the checked index (≈ 60–90 B per
//! chunk plus 17 B per blob, as for a pull), ≈ 100 B per pack (existence, size and a 32-byte
//! digest of each index object's records for it), ≈ 50 B per tree node found clean (about one
//! per 500 chunks), and per problem the set of snapshots it affects; damaged chunks found by
//! reading data cost ≈ 40 B each. Reads in flight: 8 pack headers (≤ 256 KiB each), and with
//! data reading `R` = cores + 1 (at most 5) whole packs plus one decoded frame each, ≈ R ×
//! (pack size + 2 MiB): ≈ 55 MiB with 16 MiB packs on 2 cores. Nothing grows with the total
//! size of the data read.

use super::walk::{
    CheckedIndex, Event, NodeSource, Walk, blob_name, cut_piece, decode_index, is_damage, open_frame, pack_id_of_key,
    read_pack_header, read_piece,
};
use super::{Repository, SnapshotEntry, for_each_bounded, kdf_blocking, open_meta, pack_key};
use crate::backend::{Backend, ObjectInfo};
use crate::crypto::Keys;
use crate::crypto::keyfile::KeyFile;
use crate::error::{Error, ErrorKind, Result};
use crate::format::config::{CONFIG_MAGIC, Config};
use crate::format::index::IndexFile;
use crate::format::pack::{BlobHeader, BlobKind, read_header};
use crate::format::snapshot::{SNAPSHOT_MAGIC, Snapshot};
use crate::format::tree::Node;
use crate::id::{Id, IdMap, IdSet};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Pack headers (ranged reads) in flight.
const HEADER_READS: usize = 8;
/// Snapshot objects read at once.
const SNAPSHOT_READS: usize = 8;
/// Distinct chunks reported one by one; beyond, one summary problem counts the rest.
const MAX_CHUNK_PROBLEMS: usize = 100;
/// Damaged blobs described in one pack's problem.
const MAX_BLOBS_DESCRIBED: usize = 3;

/// Which packs `verify` reads whole.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum ReadData {
    /// None: structure only (headers and trees by ranged reads).
    #[default]
    None,
    /// Every indexed pack.
    All,
    /// Subset `n` of `m` (1-based): the packs whose id's first 8 bytes, read as a big-endian
    /// integer, are `n - 1` modulo `m`. Deterministic, so `1/m` … `m/m` on successive runs
    /// cover every pack once.
    Subset {
        /// Which subset, 1 ≤ n ≤ m.
        n: u32,
        /// How many subsets.
        m: u32,
    },
    /// A random `p` percent of the packs (rounded up; at least one pack when p > 0).
    Percent(f64),
}

impl ReadData {
    /// True if pack `id` is in subset `n` of `m` (see [`ReadData::Subset`]).
    pub fn in_subset(id: &Id, n: u32, m: u32) -> bool {
        m > 0 && u64::from_be_bytes(id.0[..8].try_into().unwrap()) % m as u64 == (n as u64).wrapping_sub(1)
    }

    /// The packs of `candidates` (sorted) to read.
    fn select(&self, candidates: &[Id]) -> Vec<Id> {
        match *self {
            ReadData::None => Vec::new(),
            ReadData::All => candidates.to_vec(),
            ReadData::Subset { n, m } => candidates.iter().filter(|id| Self::in_subset(id, n, m)).copied().collect(),
            ReadData::Percent(p) => {
                let want = ((p / 100.0) * candidates.len() as f64).ceil() as usize;
                let want = want.max(usize::from(p > 0.0)).min(candidates.len());
                let mut v = candidates.to_vec();
                // Partial Fisher–Yates with the system's random source.
                for i in 0..want {
                    let mut r = [0u8; 8];
                    crate::crypto::random_bytes(&mut r);
                    let j = i + (u64::from_le_bytes(r) % (v.len() - i) as u64) as usize;
                    v.swap(i, j);
                }
                v.truncate(want);
                v.sort();
                v
            }
        }
    }
}

impl std::str::FromStr for ReadData {
    type Err = Error;
    /// `N/M` (subset N of M, 1-based) or `P%` (a random P percent, 0 < P ≤ 100).
    fn from_str(s: &str) -> Result<ReadData> {
        let s = s.trim();
        let bad = || {
            Error::invalid(format!(
                "'{s}' is not a data subset: give N/M (the N-th of M subsets, 1 ≤ N ≤ M, e.g. 2/7) or P% (a random \
                 P percent of the packs, e.g. 10%)"
            ))
        };
        if let Some(p) = s.strip_suffix('%') {
            let p: f64 = p.trim().parse().map_err(|_| bad())?;
            if !(p > 0.0 && p <= 100.0) {
                return Err(bad());
            }
            return Ok(ReadData::Percent(p));
        }
        let (n, m) = s.split_once('/').ok_or_else(bad)?;
        let (n, m): (u32, u32) = (n.trim().parse().map_err(|_| bad())?, m.trim().parse().map_err(|_| bad())?);
        if n == 0 || m == 0 || n > m {
            return Err(bad());
        }
        Ok(ReadData::Subset { n, m })
    }
}

impl fmt::Display for ReadData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadData::None => f.write_str("none"),
            ReadData::All => f.write_str("all"),
            ReadData::Subset { n, m } => write!(f, "{n}/{m}"),
            ReadData::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// Options of [`Repository::verify`].
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Which packs to read whole.
    pub read_data: ReadData,
    /// Whole packs read at once (0: cores + 1, at most 5). Each holds a pack in memory.
    pub pack_reads: usize,
}

/// Live counters of a verify run, for a progress display.
#[derive(Debug, Default)]
pub struct VerifyProgress {
    stage: Mutex<&'static str>,
    /// Objects checked so far.
    pub objects: AtomicU64,
    /// Bytes read from the backend.
    pub bytes_read: AtomicU64,
    /// Packs whose header (or data) check is done, in the current stage.
    pub packs_done: AtomicU64,
    /// Packs to check in the current stage.
    pub packs_total: AtomicU64,
    /// Snapshot trees walked.
    pub snapshots_done: AtomicU64,
    /// Snapshots to walk.
    pub snapshots_total: AtomicU64,
    /// Problems found so far.
    pub problems: AtomicU64,
}

impl VerifyProgress {
    /// What is being checked now ("pack headers", "pack data", "trees", …).
    pub fn stage(&self) -> &'static str {
        *self.stage.lock().unwrap()
    }
    fn set_stage(&self, s: &'static str) {
        *self.stage.lock().unwrap() = s;
        self.packs_done.store(0, Ordering::Relaxed);
    }
    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// What kind of object a [`Problem`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// A key object (`keys/…`) is damaged, or there is none.
    Key,
    /// The config is damaged or missing.
    Config,
    /// An index object is damaged or disagrees with a pack header.
    Index,
    /// A snapshot object is damaged.
    Snapshot,
    /// A deletion mark or other maintenance object is damaged.
    Maintenance,
    /// A pack the index lists does not exist.
    PackMissing,
    /// A pack's data is damaged (found by reading it).
    PackDamaged,
    /// A pack's header does not open or does not describe the pack.
    PackHeader,
    /// A tree node is missing, damaged or inconsistent.
    TreeNode,
    /// A chunk is in no index object, or is indexed with the wrong kind or length.
    Chunk,
}

/// A snapshot, as problems name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotRef {
    /// Object id (hex).
    pub id: String,
    /// Its path.
    pub path: String,
    /// Its time.
    pub time: String,
}

impl fmt::Display for SnapshotRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", &self.id[..8.min(self.id.len())], self.path)
    }
}

/// One thing found wrong.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// What kind of object.
    pub kind: ProblemKind,
    /// The object: a key (`packs/ab/ab…`, `index/…`, `snapshots/…`, `keys/…`, `config`) or a
    /// chunk or tree node id.
    pub object: String,
    /// What is wrong with it.
    pub detail: String,
    /// Snapshots that cannot be restored in full because of it.
    pub snapshots: Vec<SnapshotRef>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let noun = match self.kind {
            ProblemKind::Key => "key object ",
            ProblemKind::Config | ProblemKind::Maintenance => "",
            ProblemKind::Index => "index object ",
            ProblemKind::Snapshot => "snapshot ",
            ProblemKind::PackMissing | ProblemKind::PackDamaged | ProblemKind::PackHeader => "pack ",
            ProblemKind::TreeNode => "tree node ",
            ProblemKind::Chunk => "chunk ",
        };
        write!(f, "{noun}{} {}", self.object, self.detail)?;
        if !self.snapshots.is_empty() {
            let n = self.snapshots.len();
            write!(f, ": needed by snapshot{} ", if n == 1 { "" } else { "s" })?;
            for (i, s) in self.snapshots.iter().take(10).enumerate() {
                write!(f, "{}{s}", if i > 0 { ", " } else { "" })?;
            }
            if n > 10 {
                write!(f, " and {} more", n - 10)?;
            }
        }
        Ok(())
    }
}

/// A snapshot that cannot be restored in full.
#[derive(Debug, Clone, Serialize)]
pub struct DamagedSnapshot {
    /// Which one.
    #[serde(flatten)]
    pub snapshot: SnapshotRef,
    /// Stream size.
    pub size: u64,
    /// Bytes of the stream that are missing or damaged (as far as this run could tell).
    pub unreadable_bytes: u64,
}

/// What [`Repository::verify`] found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Repository location.
    pub location: String,
    /// Which packs were read whole (`none`, `all`, `N/M`, `P%`).
    pub read_data: String,
    /// False when the checks had to stop early (the repository did not open).
    pub complete: bool,
    /// Key objects checked.
    pub key_objects: u64,
    /// Index objects checked.
    pub index_objects: u64,
    /// Snapshot objects checked.
    pub snapshots: u64,
    /// Packs listed.
    pub packs: u64,
    /// Of those, packs some index object lists.
    pub packs_indexed: u64,
    /// Pack headers read and compared with the index.
    pub pack_headers_checked: u64,
    /// Packs read whole.
    pub packs_read: u64,
    /// Blobs opened and decoded.
    pub blobs_read: u64,
    /// Chunks and tree nodes whose keyed id was checked by reading data.
    pub chunks_read: u64,
    /// Tree nodes read and checked (a node whose subtree was found clean is read once; one in
    /// a damaged subtree once per snapshot that needs it).
    pub tree_nodes: u64,
    /// Chunk references checked in snapshot trees (subtrees found clean before are counted
    /// once).
    pub chunk_refs: u64,
    /// Bytes read from the backend.
    pub bytes_read: u64,
    /// Wall time.
    pub seconds: f64,
    /// Problems: any makes the repository fail verification.
    pub problems: Vec<Problem>,
    /// Snapshots that cannot be restored in full.
    pub damaged_snapshots: Vec<DamagedSnapshot>,
    /// Things worth knowing that are not problems (unindexed packs, objects not checked).
    pub notes: Vec<String>,
}

impl VerifyReport {
    /// True when no problem was found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// A digest of what one index object records for one pack, comparable with the pack header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PackDigest {
    hash: [u8; 32],
    blobs: u32,
    chunks: u32,
}

fn digest<'a>(blobs: impl IntoIterator<Item = &'a BlobHeader>) -> PackDigest {
    let mut v: Vec<&BlobHeader> = blobs.into_iter().collect();
    v.sort_by_key(|b| b.offset);
    let mut h = blake3::Hasher::new();
    let mut chunks = 0u32;
    for b in &v {
        h.update(&[b.kind as u8]);
        h.update(&b.offset.to_le_bytes());
        h.update(&b.sealed_len.to_le_bytes());
        h.update(&b.raw_len.to_le_bytes());
        h.update(&(b.chunks.len() as u32).to_le_bytes());
        for (id, len) in &b.chunks {
            h.update(&id.0);
            h.update(&len.to_le_bytes());
        }
        chunks = chunks.saturating_add(b.chunks.len() as u32);
    }
    PackDigest { hash: *h.finalize().as_bytes(), blobs: v.len() as u32, chunks }
}

/// Problems found so far and what they are attributed to.
#[derive(Default)]
struct Findings {
    problems: Vec<(Problem, BTreeSet<u32>)>,
    /// Packs whose every blob is unreadable (missing, vanished): pack id → problem.
    whole_pack: IdMap<usize>,
    /// Chunks and tree nodes found damaged by reading data → problem (of their pack).
    damaged: IdMap<usize>,
    /// Per-chunk problems (at most [`MAX_CHUNK_PROBLEMS`]).
    by_chunk: IdMap<usize>,
    /// Per-tree-node problems.
    by_node: IdMap<usize>,
    /// The summary problem for chunks beyond the cap, and how many references it counts.
    chunk_overflow: Option<(usize, u64)>,
    /// Header problems per pack (a later data problem of the same pack is folded into it).
    header: IdMap<usize>,
    /// See [`Findings::unindexed`]: the problem and how many references it counts.
    unindexed: Option<(usize, u64)>,
}

impl Findings {
    fn add(&mut self, progress: &VerifyProgress, kind: ProblemKind, object: String, detail: String) -> usize {
        VerifyProgress::add(&progress.problems, 1);
        self.problems.push((Problem { kind, object, detail, snapshots: Vec::new() }, BTreeSet::new()));
        self.problems.len() - 1
    }

    fn touch(&mut self, p: usize, snap: u32) {
        self.problems[p].1.insert(snap);
    }

    /// The one problem that collects references to chunks and nodes in no readable index
    /// object when some index object is damaged (they are most likely its entries).
    fn unindexed(&mut self, progress: &VerifyProgress) -> usize {
        let p = match self.unindexed {
            Some((p, n)) => {
                self.unindexed = Some((p, n + 1));
                p
            }
            None => {
                let p = self.add(progress, ProblemKind::Chunk, "(unindexed)".into(), String::new());
                self.unindexed = Some((p, 1));
                p
            }
        };
        let n = self.unindexed.unwrap().1;
        self.problems[p].0.detail = format!(
            "references: {n} chunk(s) or tree node(s) the snapshots need are in no readable index object, most              likely because they are listed by the damaged index object(s) (`kando repository repair index`              rebuilds the index from the packs)"
        );
        p
    }

    /// The problem of chunk `id`, created with `detail` on first sight.
    fn chunk(&mut self, progress: &VerifyProgress, id: &Id, detail: impl FnOnce() -> String) -> usize {
        if let Some(p) = self.by_chunk.get(id) {
            return *p;
        }
        if self.by_chunk.len() >= MAX_CHUNK_PROBLEMS {
            let p = match self.chunk_overflow {
                Some((p, n)) => {
                    self.chunk_overflow = Some((p, n + 1));
                    p
                }
                None => {
                    let p = self.add(progress, ProblemKind::Chunk, "(more)".into(), String::new());
                    self.chunk_overflow = Some((p, 1));
                    p
                }
            };
            let n = self.chunk_overflow.unwrap().1;
            self.problems[p].0.detail = format!(
                "and {n} more reference(s) to chunks that are missing or wrongly indexed (only the first \
                 {MAX_CHUNK_PROBLEMS} chunks are listed one by one)"
            );
            return p;
        }
        let p = self.add(progress, ProblemKind::Chunk, id.to_hex(), detail());
        self.by_chunk.insert(*id, p);
        p
    }
}

/// Counters the tree walk updates.
#[derive(Default)]
struct WalkCounts {
    tree_nodes: u64,
    chunk_refs: u64,
}

/// Tree nodes for the walk: read through the checked index; subtrees found clean are skipped.
struct Nodes<'a> {
    rt: tokio::runtime::Handle,
    backend: Arc<dyn Backend>,
    keys: Arc<Keys>,
    ci: &'a CheckedIndex,
    clean: IdMap<(u8, u64)>,
    progress: &'a VerifyProgress,
}

impl NodeSource for Nodes<'_> {
    fn node(&mut self, id: &Id) -> Result<Vec<u8>> {
        let Some(loc) = self.ci.get(id) else {
            return Err(Error::corrupt(format!("tree node {} is in no index object", id.short())));
        };
        let (bytes, n) = read_piece(&self.rt, &self.backend, &self.keys, self.ci, id, loc, BlobKind::Tree)?;
        VerifyProgress::add(&self.progress.bytes_read, n);
        Ok(bytes)
    }

    fn skip(&mut self, id: &Id, level: u8, covered: u64) -> bool {
        self.clean.get(id) == Some(&(level, covered))
    }
}

/// The result of reading one pack whole.
struct PackData {
    /// `BLAKE3(pack) == name`.
    name_ok: bool,
    /// Blobs that failed: offset, the ids they hold (or the one that failed), why.
    bad: Vec<(u32, Vec<Id>, String)>,
    blobs: u64,
    chunks: u64,
    /// Why the blobs could not be checked at all, if so.
    unchecked: Option<String>,
}

/// Check every blob of `records` in the whole pack `bytes`.
fn check_blobs(keys: &Keys, bytes: &[u8], records: &[BlobHeader], out: &mut PackData) {
    let mut seen = std::collections::HashSet::new();
    for b in records {
        if !seen.insert(b.offset) {
            continue;
        }
        out.blobs += 1;
        // The problem names the pack already.
        let what = format!("blob at offset {}", b.offset);
        let ids = || b.chunks.iter().map(|c| c.0).collect::<Vec<_>>();
        let end = b.offset as usize + b.sealed_len as usize;
        let Some(sealed) = bytes.get(b.offset as usize..end) else {
            out.bad.push((b.offset, ids(), format!("blob at offset {} extends past the end of the pack", b.offset)));
            continue;
        };
        let raw = match open_frame(keys, sealed, b.raw_len, &what) {
            Ok(r) => r,
            Err(e) => {
                out.bad.push((b.offset, ids(), e.to_string()));
                continue;
            }
        };
        let mut inner = 0u32;
        for (id, len) in &b.chunks {
            out.chunks += 1;
            let loc = super::read_index::ChunkLoc { blob: 0, inner, len: *len };
            inner = inner.saturating_add(*len);
            let noun = if b.kind == BlobKind::Tree { "tree node" } else { "chunk" };
            match cut_piece(keys, &raw, id, loc, noun, &what) {
                Ok(piece) if b.kind == BlobKind::Tree => {
                    if let Err(e) = Node::decode(piece) {
                        out.bad.push((b.offset, vec![*id], format!("tree node {}: {e} ({what})", id.short())));
                    }
                }
                Ok(_) => {}
                Err(e) => out.bad.push((b.offset, vec![*id], e.to_string())),
            }
        }
    }
}

/// The records one index object holds for `pack` (used when a pack's own header cannot be).
async fn records_from_index(
    backend: &Arc<dyn Backend>,
    keys: &Arc<Keys>,
    key: &str,
    pack: &Id,
) -> Result<Vec<BlobHeader>> {
    let bytes = backend.get(key).await?;
    let f: IndexFile = decode_index(keys, key, &bytes)?;
    let Some(p) = f.packs.iter().position(|x| x == pack) else { return Ok(Vec::new()) };
    Ok(f.blobs.into_iter().filter(|(q, _)| *q as usize == p).map(|(_, b)| b).collect())
}

fn snapshot_ref(s: &SnapshotEntry) -> SnapshotRef {
    SnapshotRef { id: s.id.to_hex(), path: s.snapshot.path.clone(), time: s.snapshot.time.clone() }
}

/// Key objects: listed, read, named by their BLAKE3, parsed. Returns the parseable ones.
async fn check_keys(
    backend: &Arc<dyn Backend>,
    f: &mut Findings,
    report: &mut VerifyReport,
    progress: &VerifyProgress,
) -> Result<Vec<(String, KeyFile)>> {
    progress.set_stage("key objects");
    let mut good = Vec::new();
    let listed = backend.list("keys/").await.map_err(|e| e.context("listing key objects"))?;
    for o in listed {
        let bytes = match backend.get(&o.key).await {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(e.context(format!("reading {}", o.key))),
        };
        report.key_objects += 1;
        VerifyProgress::add(&progress.objects, 1);
        VerifyProgress::add(&progress.bytes_read, bytes.len() as u64);
        if Id::of_bytes(&bytes).to_hex() != o.key.trim_start_matches("keys/") {
            f.add(progress, ProblemKind::Key, o.key, "is damaged: its content does not match its name".into());
            continue;
        }
        match KeyFile::parse(&bytes) {
            Ok(kf) => good.push((o.key, kf)),
            Err(e) => {
                f.add(progress, ProblemKind::Key, o.key, format!("does not parse: {e}"));
            }
        }
    }
    if report.key_objects == 0 {
        f.add(progress, ProblemKind::Key, "keys/".into(), "(none): the repository has no key object".into());
    }
    Ok(good)
}

impl VerifyReport {
    fn new(location: String, opts: &VerifyOptions) -> VerifyReport {
        VerifyReport { location, read_data: opts.read_data.to_string(), complete: true, ..Default::default() }
    }

    fn finish(&mut self, f: Findings, snaps: &[SnapshotEntry], t0: Instant, progress: &VerifyProgress) {
        self.problems = f
            .problems
            .into_iter()
            .map(|(mut p, s)| {
                p.snapshots = s.into_iter().map(|i| snapshot_ref(&snaps[i as usize])).collect();
                p
            })
            .collect();
        self.bytes_read = progress.bytes_read.load(Ordering::Relaxed);
        self.seconds = t0.elapsed().as_secs_f64();
    }
}

impl Repository {
    /// Open the repository at `backend` and verify it. Unlike [`Repository::open`] followed by
    /// [`Repository::verify`], a repository that does not open because its config or key
    /// objects are damaged gives a report naming them (with `complete` false) rather than an
    /// error; a wrong password with intact key objects is still an error.
    pub async fn verify_at(
        backend: Arc<dyn Backend>,
        password: &[u8],
        opts: &VerifyOptions,
        progress: Arc<VerifyProgress>,
    ) -> Result<VerifyReport> {
        let open_err = match Repository::open(backend.clone(), password).await {
            Ok(repo) => return repo.verify(opts, progress).await,
            Err(e) => e,
        };
        let t0 = Instant::now();
        let mut report = VerifyReport::new(backend.location(), opts);
        report.complete = false;
        let mut f = Findings::default();
        let keys = check_keys(&backend, &mut f, &mut report, &progress).await?;
        match open_err.kind() {
            ErrorKind::WrongPassword => {
                let cfg = backend.get("config").await.map_err(|e| e.context("reading the config"))?;
                let mut opened = None;
                for (key, kf) in keys {
                    let pw = password.to_vec();
                    if let Ok(Some(master)) = kdf_blocking(move || kf.unwrap_key(&pw)).await {
                        opened = Some((key, master));
                        break;
                    }
                }
                match opened {
                    Some((key, master)) => {
                        let e = open_meta(&master.derive(), CONFIG_MAGIC, &cfg, &"config").err();
                        f.add(
                            &progress,
                            ProblemKind::Config,
                            "config".into(),
                            format!(
                                "is damaged: it does not authenticate with the master key that key object {key} \
                                 unwraps{} (or that key object belongs to another repository)",
                                e.map(|e| format!(" ({e})")).unwrap_or_default()
                            ),
                        );
                    }
                    None if f.problems.is_empty() => return Err(open_err),
                    None => report.notes.push(
                        "the password opens none of the intact key objects: either it is wrong, or the key object \
                         it would open is among the damaged ones"
                            .into(),
                    ),
                }
            }
            ErrorKind::NotFound if report.key_objects > 0 => {
                f.add(&progress, ProblemKind::Config, "config".into(), "is missing".into());
            }
            ErrorKind::Corrupt | ErrorKind::Unsupported if report.key_objects > 0 => {
                f.add(&progress, ProblemKind::Config, "config".into(), format!("is damaged: {open_err}"));
            }
            ErrorKind::Corrupt if !f.problems.is_empty() => {}
            _ => return Err(open_err),
        }
        report.notes.push("the repository does not open, so nothing else was checked".into());
        report.finish(f, &[], t0, &progress);
        Ok(report)
    }

    /// Verify the repository (see the module docs). Returns a report; `Err` only when the
    /// checks could not run (storage unreachable, permission refused), never for damage.
    pub async fn verify(&self, opts: &VerifyOptions, progress: Arc<VerifyProgress>) -> Result<VerifyReport> {
        let t0 = Instant::now();
        let mut report = VerifyReport::new(self.location(), opts);
        let mut f = Findings::default();
        check_keys(&self.backend, &mut f, &mut report, &progress).await?;

        progress.set_stage("config");
        match self.backend.get("config").await {
            Ok(b) => {
                VerifyProgress::add(&progress.bytes_read, b.len() as u64);
                if let Err(e) = open_meta(&self.keys, CONFIG_MAGIC, &b, &"config").and_then(|j| Config::from_json(&j)) {
                    f.add(&progress, ProblemKind::Config, "config".into(), format!("is damaged: {e}"));
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                f.add(&progress, ProblemKind::Config, "config".into(), "is missing".into());
            }
            Err(e) => return Err(e.context("reading the config")),
        }

        progress.set_stage("listing");
        // Objects verify does not check, for the notes.
        let (mut other, mut maintenance) = (Vec::new(), 0u64);
        for o in self.backend.list("").await.map_err(|e| e.context("listing the repository"))? {
            match o.key.split('/').next().unwrap_or("") {
                "config" | "keys" => {}
                "snapshots" if Id::from_hex(o.key.trim_start_matches("snapshots/")).is_ok() => {}
                "index" if Id::from_hex(o.key.trim_start_matches("index/")).is_ok() => {}
                "packs" if pack_id_of_key(&o.key).is_some() => {}
                "leases" | "gc" => maintenance += 1,
                _ => other.push(o.key),
            }
        }
        // The objects to check, listed in the reverse of the order writers store them
        // (packs, index, snapshot): whatever a listed snapshot needs is in the later listings,
        // even if a push commits meanwhile.
        let list = |prefix: &'static str| async move {
            self.backend.list(prefix).await.map_err(|e| e.context(format!("listing {prefix}")))
        };
        let snap_objs: Vec<ObjectInfo> = list("snapshots/")
            .await?
            .into_iter()
            .filter(|o| Id::from_hex(o.key.trim_start_matches("snapshots/")).is_ok())
            .collect();
        let index_objs: Vec<ObjectInfo> = list("index/")
            .await?
            .into_iter()
            .filter(|o| Id::from_hex(o.key.trim_start_matches("index/")).is_ok())
            .collect();
        let packs: IdMap<u64> =
            list("packs/").await?.into_iter().filter_map(|o| Some((pack_id_of_key(&o.key)?, o.size))).collect();
        report.packs = packs.len() as u64;
        if maintenance > 0 {
            report.notes.push(format!(
                "{maintenance} lease and gc object(s) were not checked (they belong to running or finished maintenance)"
            ));
        }
        if !other.is_empty() {
            report.notes.push(format!(
                "{} object(s) outside the repository layout were not checked (e.g. backups written by upstream \
                 kando): {}{}",
                other.len(),
                other.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
                if other.len() > 5 { ", …" } else { "" }
            ));
        }

        // Snapshot objects.
        progress.set_stage("snapshot objects");
        let mut snaps: Vec<SnapshotEntry> = Vec::with_capacity(snap_objs.len());
        {
            let task = |o: ObjectInfo| {
                let (b, k) = (self.backend.clone(), self.keys.clone());
                async move {
                    let bytes = match b.get(&o.key).await {
                        Ok(b) => b,
                        Err(e) if e.kind() == ErrorKind::NotFound => return Ok((o.key, 0, None)),
                        Err(e) => return Err(e.context(format!("reading {}", o.key))),
                    };
                    let n = bytes.len() as u64;
                    let r = (|| {
                        if Id::of_bytes(&bytes).to_hex() != o.key.trim_start_matches("snapshots/") {
                            return Err(Error::corrupt("its content does not match its name"));
                        }
                        let json = open_meta(&k, SNAPSHOT_MAGIC, &bytes, &o.key)?;
                        Snapshot::from_json(&json)
                    })();
                    Ok((o.key, n, Some(r)))
                }
            };
            for_each_bounded(snap_objs, SNAPSHOT_READS, task, |r| {
                let (key, n, r) = r?;
                VerifyProgress::add(&progress.bytes_read, n);
                VerifyProgress::add(&progress.objects, 1);
                match r {
                    None => report.notes.push(format!("{key} was deleted while verify ran")),
                    Some(Ok(snapshot)) => {
                        let id = Id::from_hex(key.trim_start_matches("snapshots/")).expect("filtered above");
                        snaps.push(SnapshotEntry { id, snapshot });
                    }
                    Some(Err(e)) => {
                        f.add(&progress, ProblemKind::Snapshot, key, format!("is damaged: {e}"));
                    }
                }
                Ok(())
            })
            .await?;
        }
        snaps.sort_by(|a, b| a.snapshot.time_key().cmp(&b.snapshot.time_key()).then(a.id.cmp(&b.id)));
        report.snapshots =
            snaps.len() as u64 + f.problems.iter().filter(|p| p.0.kind == ProblemKind::Snapshot).count() as u64;

        // Deletion marks: pulls prefer copies outside marked packs, and so does the check.
        let marked = match self.marked_packs().await {
            Ok(m) => m,
            Err(e) if is_damage(&e) => {
                f.add(
                    &progress,
                    ProblemKind::Maintenance,
                    "gc/marks/".into(),
                    format!("a deletion mark is damaged: {e}"),
                );
                IdSet::default()
            }
            Err(e) => return Err(e.context("reading deletion marks")),
        };

        // Index objects.
        progress.set_stage("index objects");
        let existing: IdSet = packs.keys().copied().collect();
        let mut index_names: Vec<String> = Vec::new();
        let mut records: IdMap<Vec<(u32, PackDigest)>> = IdMap::default();
        let ci = self
            .load_index_checked(index_objs, &existing, &marked, |key, file| {
                let obj = index_names.len() as u32;
                index_names.push(key.to_string());
                let mut per: Vec<Vec<&BlobHeader>> = vec![Vec::new(); file.packs.len()];
                for (p, b) in &file.blobs {
                    per[*p as usize].push(b);
                }
                for (pack, blobs) in file.packs.iter().zip(per) {
                    // A pack table entry without blobs records nothing to compare.
                    if !blobs.is_empty() {
                        records.entry(*pack).or_default().push((obj, digest(blobs)));
                    }
                }
                VerifyProgress::add(&progress.objects, 1);
            })
            .await
            .map_err(|e| e.context("reading the index"))?;
        VerifyProgress::add(&progress.bytes_read, ci.bytes);
        report.index_objects = ci.objects + ci.damaged.len() as u64;
        for (key, e) in &ci.damaged {
            f.add(
                &progress,
                ProblemKind::Index,
                key.clone(),
                format!("is damaged: {e} (every pull fails until `kando repository repair index` replaces it)"),
            );
        }
        let mut missing_problem = Vec::with_capacity(ci.missing_packs.len());
        for pack in &ci.missing_packs {
            let p = f.add(
                &progress,
                ProblemKind::PackMissing,
                pack_key(pack),
                "is missing (the index lists it; `kando repository repair index` drops it from the index, \
                 `repair snapshots` rewrites the snapshots that need it)"
                    .into(),
            );
            f.whole_pack.insert(*pack, p);
            missing_problem.push(p);
        }
        report.packs_indexed = records.keys().filter(|p| existing.contains(p)).count() as u64;

        // Pack headers, by ranged reads.
        progress.set_stage("pack headers");
        let mut all_packs: Vec<(Id, u64)> = packs.iter().map(|(k, v)| (*k, *v)).collect();
        all_packs.sort();
        progress.packs_total.store(all_packs.len() as u64, Ordering::Relaxed);
        let (mut orphans, mut orphans_bad) = (0u64, Vec::new());
        {
            let task = |(id, size): (Id, u64)| {
                let (b, k) = (self.backend.clone(), self.keys.clone());
                async move {
                    let r = read_pack_header(&b, &k, &pack_key(&id), size).await;
                    Ok((id, r))
                }
            };
            for_each_bounded(all_packs.clone(), HEADER_READS, task, |r| {
                let (id, r) = r?;
                VerifyProgress::add(&progress.packs_done, 1);
                let key = pack_key(&id);
                let indexed = records.get(&id);
                match (r, indexed) {
                    (Ok((blobs, n)), Some(recs)) => {
                        VerifyProgress::add(&progress.bytes_read, n);
                        report.pack_headers_checked += 1;
                        let d = digest(&blobs);
                        for (obj, want) in recs {
                            if want.hash != d.hash {
                                let how = if (want.blobs, want.chunks) != (d.blobs, d.chunks) {
                                    format!(
                                        "it lists {} blob(s) with {} chunk(s) for it, the header {} blob(s) with {} chunk(s)",
                                        want.blobs, want.chunks, d.blobs, d.chunks
                                    )
                                } else {
                                    "the blob and chunk counts agree, but offsets, lengths or ids differ".into()
                                };
                                f.add(
                                    &progress,
                                    ProblemKind::Index,
                                    index_names[*obj as usize].clone(),
                                    format!("disagrees with the header of pack {key}: {how}"),
                                );
                            }
                        }
                    }
                    (Ok((_, n)), None) => {
                        VerifyProgress::add(&progress.bytes_read, n);
                        orphans += 1;
                    }
                    (Err(e), Some(_)) if e.kind() == ErrorKind::NotFound => {
                        let p = f.add(
                            &progress,
                            ProblemKind::PackMissing,
                            key,
                            "was deleted while verify ran (by a concurrent gc?)".into(),
                        );
                        f.whole_pack.insert(id, p);
                    }
                    (Err(e), Some(_)) if is_damage(&e) => {
                        let p = f.add(
                            &progress,
                            ProblemKind::PackHeader,
                            key,
                            format!(
                                "has a damaged header: {e} (its data stays readable through the index, but \
                                 `repair index` cannot rebuild its entries)"
                            ),
                        );
                        f.header.insert(id, p);
                    }
                    (Err(e), None) if is_damage(&e) => orphans_bad.push(format!("{key}: {e}")),
                    (Err(e), _) => return Err(e.context(format!("reading the header of {key}"))),
                }
                Ok(())
            })
            .await?;
        }
        if orphans > 0 {
            report.notes.push(format!(
                "{orphans} pack(s) are in no index object (left by an interrupted push; the next push, or `kando \
                 repository repair index`, indexes them)"
            ));
        }
        if !orphans_bad.is_empty() {
            report.notes.push(format!(
                "{} pack(s) in no index object have a header that does not open (no snapshot needs them): {}",
                orphans_bad.len(),
                orphans_bad.join("; ")
            ));
        }

        // Pack data.
        let mut candidates: Vec<Id> = records.keys().filter(|p| existing.contains(p)).copied().collect();
        candidates.sort();
        let selected = opts.read_data.select(&candidates);
        if opts.read_data != ReadData::None {
            progress.set_stage("pack data");
            progress.packs_total.store(selected.len() as u64, Ordering::Relaxed);
            let limit = if opts.pack_reads > 0 {
                opts.pack_reads
            } else {
                (std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) + 1).min(5)
            };
            let index_names = Arc::new(index_names.clone());
            let task = |id: Id| {
                let (b, k) = (self.backend.clone(), self.keys.clone());
                let recs: Vec<(u32, PackDigest)> = records.get(&id).cloned().unwrap_or_default();
                let names = index_names.clone();
                async move {
                    let key = pack_key(&id);
                    let bytes = match b.get(&key).await {
                        Ok(b) => b,
                        Err(e) if e.kind() == ErrorKind::NotFound => return Ok((id, 0, None)),
                        Err(e) => return Err(e.context(format!("reading {key}"))),
                    };
                    let n = bytes.len() as u64;
                    let (k2, b2) = (k.clone(), bytes.clone());
                    let (name_ok, header) = tokio::task::spawn_blocking(move || {
                        let name_ok = Id::of_bytes(&b2) == id;
                        let header = read_header(&k2, &b2, &pack_key(&id)).ok();
                        (name_ok, header)
                    })
                    .await
                    .map_err(|e| Error::new(ErrorKind::Io, format!("pack check task: {e}")))?;
                    let mut out = PackData { name_ok, bad: Vec::new(), blobs: 0, chunks: 0, unchecked: None };
                    // The blobs as the index records them: the header's list when it matches an
                    // index object, else the records of the first index object listing the pack.
                    let recs_match = header.as_ref().is_some_and(|h| {
                        let d = digest(h);
                        recs.iter().any(|(_, r)| r.hash == d.hash)
                    });
                    let list = match (header, recs_match, recs.first()) {
                        (Some(h), true, _) => Some(h),
                        (_, _, Some((obj, _))) => match records_from_index(&b, &k, &names[*obj as usize], &id).await {
                            Ok(r) => Some(r),
                            Err(e) if is_damage(&e) => {
                                out.unchecked = Some(format!("its index records could not be read again: {e}"));
                                None
                            }
                            Err(e) => return Err(e),
                        },
                        _ => None,
                    };
                    let out = match list {
                        None => out,
                        Some(list) => tokio::task::spawn_blocking(move || {
                            let mut out = out;
                            check_blobs(&k, &bytes, &list, &mut out);
                            out
                        })
                        .await
                        .map_err(|e| Error::new(ErrorKind::Io, format!("pack check task: {e}")))?,
                    };
                    Ok((id, n, Some(out)))
                }
            };
            for_each_bounded(selected, limit, task, |r| {
                let (id, n, out) = r?;
                VerifyProgress::add(&progress.packs_done, 1);
                VerifyProgress::add(&progress.bytes_read, n);
                let key = pack_key(&id);
                let Some(out) = out else {
                    let p = f.add(
                        &progress,
                        ProblemKind::PackMissing,
                        key,
                        "was deleted while verify ran (by a concurrent gc?)".into(),
                    );
                    f.whole_pack.insert(id, p);
                    return Ok(());
                };
                report.packs_read += 1;
                report.blobs_read += out.blobs;
                report.chunks_read += out.chunks;
                if out.name_ok && out.bad.is_empty() && out.unchecked.is_none() {
                    return Ok(());
                }
                let mut detail = Vec::new();
                if !out.name_ok {
                    detail.push("its content does not match its name (BLAKE3)".to_string());
                }
                if let Some(u) = &out.unchecked {
                    detail.push(format!("its blobs could not be checked: {u}"));
                }
                if !out.bad.is_empty() {
                    let blobs: BTreeSet<u32> = out.bad.iter().map(|b| b.0).collect();
                    let mut d = format!("{} of its {} blob(s) are damaged: ", blobs.len(), out.blobs);
                    let described: Vec<String> =
                        out.bad.iter().take(MAX_BLOBS_DESCRIBED).map(|b| b.2.clone()).collect();
                    d.push_str(&described.join("; "));
                    if out.bad.len() > MAX_BLOBS_DESCRIBED {
                        d.push_str("; …");
                    }
                    detail.push(d);
                } else if !out.name_ok && out.unchecked.is_none() {
                    detail.push(
                        "every blob the index lists authenticates, so the damage is in the header or trailer".into(),
                    );
                    if f.header.contains_key(&id) {
                        return Ok(()); // Already reported as a damaged header.
                    }
                }
                let p = f.add(&progress, ProblemKind::PackDamaged, key, format!("is damaged: {}", detail.join("; ")));
                for (_, ids, _) in out.bad {
                    for id in ids {
                        f.damaged.insert(id, p);
                    }
                }
                Ok(())
            })
            .await?;
        }

        // Trees.
        let (ci_missing, missing_for_walk) = (ci.missing_packs.clone(), missing_problem.clone());
        progress.set_stage("trees");
        progress.snapshots_total.store(snaps.len() as u64, Ordering::Relaxed);
        let ci = Arc::new(ci);
        let (rt, backend, keys, prog) =
            (tokio::runtime::Handle::current(), self.backend.clone(), self.keys.clone(), progress.clone());
        let walk = tokio::task::spawn_blocking(move || {
            let mut counts = WalkCounts::default();
            let mut damaged = Vec::new();
            let r = walk_trees(
                &rt,
                backend,
                keys,
                &ci,
                &snaps,
                &missing_for_walk,
                &mut f,
                &mut counts,
                &mut damaged,
                &prog,
            );
            (r, f, counts, damaged, snaps)
        });
        let (r, f, counts, damaged, snaps) =
            walk.await.map_err(|e| Error::new(ErrorKind::Io, format!("tree walk task: {e}")))?;
        r?;
        report.tree_nodes = counts.tree_nodes;
        report.chunk_refs = counts.chunk_refs;
        report.damaged_snapshots = damaged;
        // A missing pack that gc marked for deletion and no snapshot needs: a sweep is under
        // way (it deletes packs after rewriting the index). Pushes never deduplicate against
        // marked packs, so its leftover index entries are harmless.
        let mut demoted = BTreeSet::new();
        for (pack, p) in ci_missing.iter().zip(&missing_problem) {
            if marked.contains(pack) && f.problems[*p].1.is_empty() {
                demoted.insert(*p);
                report.notes.push(format!(
                    "pack {} is gone but still indexed; it was marked for deletion and no snapshot needs it (a \
                     garbage collection is finishing)",
                    pack_key(pack)
                ));
            }
        }
        let mut f = f;
        let mut i = 0;
        f.problems.retain(|_| {
            i += 1;
            !demoted.contains(&(i - 1))
        });
        report.finish(f, &snaps, t0, &progress);
        Ok(report)
    }
}

/// Walk every snapshot's tree (blocking: runs on a thread of its own), attributing problems.
#[allow(clippy::too_many_arguments)]
fn walk_trees(
    rt: &tokio::runtime::Handle,
    backend: Arc<dyn Backend>,
    keys: Arc<Keys>,
    ci: &CheckedIndex,
    snaps: &[SnapshotEntry],
    missing_problem: &[usize],
    f: &mut Findings,
    counts: &mut WalkCounts,
    damaged: &mut Vec<DamagedSnapshot>,
    progress: &VerifyProgress,
) -> Result<()> {
    let mut src = Nodes { rt: rt.clone(), backend, keys, ci, clean: IdMap::default(), progress };
    for (i, s) in snaps.iter().enumerate() {
        let si = i as u32;
        let mut walk = Walk::new(s.snapshot.root_id(), s.snapshot.size);
        let (mut bad, mut unreadable) = (0u64, 0u64);
        let mut entered: Vec<u64> = Vec::new();
        while let Some(ev) = walk.next(&mut src)? {
            match ev {
                Event::Enter => {
                    counts.tree_nodes += 1;
                    entered.push(bad);
                }
                Event::Exit { id, level, covered } => {
                    if entered.pop() == Some(bad) {
                        src.clean.insert(id, (level, covered));
                    }
                }
                Event::Skipped => {}
                Event::Chunk { id, len, .. } => {
                    counts.chunk_refs += 1;
                    if let Some(p) = chunk_problem(ci, f, missing_problem, &id, len, progress) {
                        f.touch(p, si);
                        bad += 1;
                        unreadable += len as u64;
                    }
                }
                Event::Lost { node, len, error, .. } => {
                    bad += 1;
                    unreadable = unreadable.saturating_add(len);
                    let p = node_problem(ci, f, missing_problem, &node, &error, progress);
                    f.touch(p, si);
                }
            }
        }
        if bad > 0 {
            damaged.push(DamagedSnapshot {
                snapshot: snapshot_ref(s),
                size: s.snapshot.size,
                unreadable_bytes: unreadable,
            });
        }
        VerifyProgress::add(&progress.snapshots_done, 1);
    }
    Ok(())
}

/// The problem that makes chunk `id` (of `len` bytes, per the tree) unreadable, if any.
fn chunk_problem(
    ci: &CheckedIndex,
    f: &mut Findings,
    missing_problem: &[usize],
    id: &Id,
    len: u32,
    progress: &VerifyProgress,
) -> Option<usize> {
    let Some(loc) = ci.get(id) else {
        if let Some(m) = ci.missing.get(id) {
            return Some(missing_problem[*m as usize]);
        }
        if !ci.damaged.is_empty() {
            return Some(f.unindexed(progress));
        }
        return Some(f.chunk(progress, id, || "is in no index object".into()));
    };
    let b = ci.ri.blobs[loc.blob as usize];
    let pack = ci.pack_of(&loc);
    if b.kind != BlobKind::Data {
        return Some(f.chunk(progress, id, || {
            format!("is indexed as a tree node ({}), not as data", blob_name(&pack, b.offset))
        }));
    }
    if loc.len != len {
        return Some(f.chunk(progress, id, || {
            format!("is indexed with {} bytes, the snapshot tree says {len} ({})", loc.len, blob_name(&pack, b.offset))
        }));
    }
    if let Some(p) = f.whole_pack.get(&pack) {
        return Some(*p);
    }
    f.damaged.get(id).copied()
}

/// The problem a lost subtree (at tree node `node`) is attributed to.
fn node_problem(
    ci: &CheckedIndex,
    f: &mut Findings,
    missing_problem: &[usize],
    node: &Id,
    error: &Error,
    progress: &VerifyProgress,
) -> usize {
    if let Some(p) = f.damaged.get(node) {
        return *p;
    }
    if let Some(loc) = ci.get(node)
        && let Some(p) = f.whole_pack.get(&ci.pack_of(&loc))
    {
        return *p;
    }
    if ci.get(node).is_none() {
        if let Some(m) = ci.missing.get(node) {
            return missing_problem[*m as usize];
        }
        if !ci.damaged.is_empty() {
            return f.unindexed(progress);
        }
    }
    if let Some(p) = f.by_node.get(node) {
        return *p;
    }
    let p = f.add(progress, ProblemKind::TreeNode, node.to_hex(), format!("is unreadable: {error}"));
    f.by_node.insert(*node, p);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_syntax_and_selection() {
        assert_eq!("2/7".parse::<ReadData>().unwrap(), ReadData::Subset { n: 2, m: 7 });
        assert_eq!(" 10% ".parse::<ReadData>().unwrap(), ReadData::Percent(10.0));
        for bad in ["0/3", "4/3", "1/0", "x/2", "0%", "101%", "abc", ""] {
            let e = bad.parse::<ReadData>().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}");
        }
        let ids: Vec<Id> = (0..200u32).map(|i| Id::of_bytes(&i.to_le_bytes())).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        let mut seen = 0;
        for n in 1..=7 {
            let part = ReadData::Subset { n, m: 7 }.select(&sorted);
            seen += part.len();
            assert!(part.iter().all(|id| ReadData::in_subset(id, n, 7)));
        }
        assert_eq!(seen, 200, "the subsets partition the packs");
        assert_eq!(ReadData::Percent(10.0).select(&sorted).len(), 20);
        assert_eq!(ReadData::Percent(0.1).select(&sorted).len(), 1);
        assert_eq!(ReadData::Percent(100.0).select(&sorted), sorted);
        assert!(ReadData::Percent(50.0).select(&[]).is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_index_object_that_disagrees_with_its_pack_header_is_named() {
        use crate::backend::memory::MemoryBackend;
        let opts = crate::InitOptions { kdf: crate::crypto::keyfile::KdfParams::insecure_fast(), ..Default::default() };
        let repo = Repository::init(Arc::new(MemoryBackend::new()), b"pw", &opts).await.unwrap();
        let push = crate::PushOptions { path: "p".into(), ..Default::default() };
        let stream = Box::new(std::io::Cursor::new(crate::testdata::text(300_000, 1)));
        repo.push(stream, &push, Arc::default()).await.unwrap();
        let clean = repo.verify(&VerifyOptions::default(), Arc::default()).await.unwrap();
        assert!(clean.is_clean(), "{:?}", clean.problems);
        let mut files = Vec::new();
        repo.for_each_index(|f| files.push(f)).await.unwrap();
        let mut f = files.remove(0);
        f.blobs[0].1.raw_len += 1;
        let id = repo.write_index(&f).await.unwrap();
        let r = repo.verify(&VerifyOptions::default(), Arc::default()).await.unwrap();
        // Which of the two index objects locates the blob first depends on their names: when
        // it is the bad one, the tree node it locates is reported unreadable too (a pull would
        // fail the same way until `repair index` replaces the object).
        let idx: Vec<&Problem> = r.problems.iter().filter(|p| p.kind == ProblemKind::Index).collect();
        assert_eq!(idx.len(), 1, "{:?}", r.problems);
        assert!(r.problems.iter().all(|p| matches!(p.kind, ProblemKind::Index | ProblemKind::TreeNode)));
        let p = idx[0];
        assert_eq!(p.object, format!("index/{id}"));
        assert!(p.detail.contains("disagrees with the header of pack packs/"), "{p}");
        assert!(p.detail.contains("offsets, lengths or ids differ"), "{p}");
    }

    #[test]
    fn problems_read_well() {
        let p = Problem {
            kind: ProblemKind::PackMissing,
            object: "packs/ab/ab12".into(),
            detail: "is missing".into(),
            snapshots: vec![SnapshotRef { id: "3fa2c1d4e5".into(), path: "pg/nightly.sql".into(), time: "t".into() }],
        };
        assert_eq!(p.to_string(), "pack packs/ab/ab12 is missing: needed by snapshot 3fa2c1d4 (pg/nightly.sql)");
    }
}
