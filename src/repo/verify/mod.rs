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
//! 3. **Snapshot and index objects**: named by their BLAKE3, authenticate, decode. So do hook
//!    tables (`hooks/…`, format §13); a damaged one costs deduplication only (the next gc
//!    rewrites the tables without it), but it is damage all the same, so it is a problem.
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

mod objects;
mod packs;
mod trees;

use packs::PackDigest;

use super::walk::CheckedIndex;
use super::{Repository, SnapshotEntry, kdf_blocking, open_meta, pack_key};
use crate::backend::{Backend, ObjectInfo};
use crate::crypto::keyfile::KeyFile;
use crate::error::{Error, ErrorKind, Result};
use crate::format::config::CONFIG_MAGIC;
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
    /// A hook table (`hooks/…`) is damaged: deduplication loses what it pointed to.
    HookTable,
    /// A locator table (`locs/…`) is damaged or names a pack that does not exist, or a blob its
    /// pack's header does not list: pulls scan the index for what it covered; pushes trust
    /// records whose packs exist (gc rewrites the tables).
    LocatorTable,
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
            ProblemKind::HookTable => "hook table ",
            ProblemKind::LocatorTable => "locator table ",
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
    /// Hook tables checked.
    pub hook_tables: u64,
    /// Locator tables checked.
    pub locator_tables: u64,
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
        let mut run = Run {
            repo: self,
            opts,
            progress: progress.clone(),
            report: VerifyReport::new(self.location(), opts),
            f: Findings::default(),
        };
        check_keys(&self.backend, &mut run.f, &mut run.report, &progress).await?;
        run.config().await?;
        let listed = run.listing().await?;
        let snaps = run.snapshot_objects(listed.snap_objs).await?;
        let marked = run.marks().await?;
        let idx = run.index_objects(listed.index_objs, &listed.packs, &marked).await?;
        run.hook_tables(listed.hook_objs).await?;
        let headers = run.pack_headers(&listed.packs, &idx).await?;
        run.locator_tables(listed.loc_objs, &listed.packs, headers).await?;
        run.pack_data(&idx).await?;
        let Indexed { ci, missing_problem, .. } = idx;
        let missing_packs = ci.missing_packs.clone();
        let snaps = run.trees(ci, snaps, missing_problem.clone()).await?;
        run.demote_finishing_sweeps(&missing_packs, &missing_problem, &marked);
        let Run { mut report, f, .. } = run;
        report.finish(f, &snaps, t0, &progress);
        Ok(report)
    }
}

/// What the stages of one verify run share (objects.rs, packs.rs, trees.rs): each adds its
/// problems to `f` and its counts to `report`.
struct Run<'a> {
    repo: &'a Repository,
    opts: &'a VerifyOptions,
    progress: Arc<VerifyProgress>,
    report: VerifyReport,
    f: Findings,
}

/// The objects to check, listed in the reverse of the order writers store them (packs, index,
/// snapshot): whatever a listed snapshot needs is in the later listings, even if a push commits
/// meanwhile.
struct Listed {
    snap_objs: Vec<ObjectInfo>,
    index_objs: Vec<ObjectInfo>,
    hook_objs: Vec<ObjectInfo>,
    loc_objs: Vec<ObjectInfo>,
    /// Pack id → size.
    packs: IdMap<u64>,
}

/// What the index objects say.
struct Indexed {
    /// Packs that exist.
    existing: IdSet,
    /// Index object names, by number.
    names: Vec<String>,
    /// Per pack: (index object number, digest of its records for the pack).
    records: IdMap<Vec<(u32, PackDigest)>>,
    ci: CheckedIndex,
    /// The problems of indexed packs that do not exist, in the order of `ci.missing_packs`.
    missing_problem: Vec<usize>,
}

impl Run<'_> {
    /// A missing pack that gc marked for deletion and no snapshot needs: a sweep is under way
    /// (it deletes packs after rewriting the index). Pushes never deduplicate against marked
    /// packs, so its leftover index entries are harmless: a note, not a problem.
    fn demote_finishing_sweeps(&mut self, missing_packs: &[Id], missing_problem: &[usize], marked: &IdSet) {
        let mut demoted = BTreeSet::new();
        for (pack, p) in missing_packs.iter().zip(missing_problem) {
            if marked.contains(pack) && self.f.problems[*p].1.is_empty() {
                demoted.insert(*p);
                self.report.notes.push(format!(
                    "pack {} is gone but still indexed; it was marked for deletion and no snapshot needs it (a \
                     garbage collection is finishing)",
                    pack_key(pack)
                ));
            }
        }
        let mut i = 0;
        self.f.problems.retain(|_| {
            i += 1;
            !demoted.contains(&(i - 1))
        });
    }
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
