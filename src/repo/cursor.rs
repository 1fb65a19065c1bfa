//! A push's dedup sources: *cursors*, windows over other snapshots' tree leaves in stream
//! order, instead of an index of every stored chunk (docs/architecture.md, "Dedup and lookup
//! without a global index", which gives the measurements behind the parameters below).
//!
//! The parent snapshot (the latest of the same path) opens the first cursor at offset 0; a push
//! that resumes one that died opens another over the index objects that push recorded in its
//! lease ([`Sources::open_indexed`]): the chunks it stored, in stream order.
//! Before a batch of chunks is decided, the hooks of that batch and of the few after it
//! (push_stages.rs, `LOOKAHEAD`) that no cursor covers are looked up in the hook tables (repo::hooks),
//! and the best-scoring positions in live snapshots open more cursors, from the leaf before the
//! hook's (a match may start before its first hook).
//! A chunk (or tree node) is *known* when a cursor's window holds it (or the node is one of the
//! inner nodes the cursor walked) and it has a copy outside the packs marked for deletion (the
//! same rule as the old whole-index dedup, which keeps gc's protocol safe, docs/maintenance.md):
//! certain when the leaf's locator record is usable (it names no marked pack) or the node was
//! read from an unmarked pack; otherwise, while marks exist, checked against the ids whose only
//! copies are in marked packs ([`marked_only`], one index scan the first time it is needed).
//! A hit moves every cursor holding the id forward; each keeps the leaves from one before its
//! furthest hit to [`AHEAD`] past it.
//!
//! Tree nodes are read through their locator records; a node no usable record covers makes the
//! push scan the index for tree-node locations once. A push whose sources are covered by
//! records (the common case: gc writes them for every live node, each push for its own) reads
//! no index object at all.
//!
//! Leaves are read by a task per cursor on the runtime, [`AHEAD`] + 2 ahead, so the dedup
//! thread rarely waits for storage. A source that cannot be read (damaged, deleted meanwhile)
//! closes its cursor with a warning: sources cost dedup, never correctness, because a chunk
//! not found is simply stored again. This module never writes anything.
//!
//! Each leaf read from a snapshot comes with its locator record when a table holds a usable one
//! (one lookup per leaf): [`Sources::known`] then also says where a known chunk is, for the
//! push's own records (repo::push_locators).
//!
//! Memory: at most [`MAX_CURSORS`] × ([`AHEAD`] + 4) leaves of ≤ 4,096 ids (~50 B each with
//! the map, ~7 B more with a record): ≤ 12 MB in the worst case, ~0.6 MB for ~500-chunk
//! leaves; the inner nodes each cursor walked (one per ~4,096 leaves: a few dozen ids for a 200
//! GB stream); `resume` (capped by the push); and only after a scan, the marked-only ids (32 B
//! per chunk in marked packs) and the tree-node locations (~0.1 B per stored chunk).

use super::hooks::{HookIndex, HookPos, is_hook};
use super::locators::Locators;
use super::progress::Progress;
use super::read_index::ReadIndex;
use super::{IndexDecoder, scan_index};
use crate::backend::Backend;
use crate::crypto::Keys;
use crate::error::{Error, Result};
use crate::format::index::{INDEX_MAGIC, IndexFile};
use crate::format::locator::Locator;
use crate::format::tree::Node;
use crate::id::{Id, IdMap, IdSet};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Leaves a cursor keeps loaded past its furthest hit.
pub(crate) const AHEAD: u64 = 4;
/// Cursors open at once.
pub(crate) const MAX_CURSORS: usize = 8;
/// Cursors opened through hooks per batch.
const OPEN_PER_BATCH: usize = 2;
/// Index objects decoded at once by a scan (each up to ~10 MB decoded).
const SCAN_OBJECTS: usize = 2;

/// What reading source trees needs: storage, keys, and where tree nodes are.
pub(crate) struct TreeCtx {
    pub backend: Arc<dyn Backend>,
    pub keys: Arc<Keys>,
    /// Locations of tree nodes no usable locator record covers (see
    /// [`ReadIndex::of_trees`]): one scan of the index, the first time such a node is read.
    pub nodes: tokio::sync::OnceCell<ReadIndex>,
    /// The locator tables, to learn where the chunks of a source leaf are (a push writes
    /// records for its own new leaves from them, repo::push_locators); none: not looked up.
    pub locators: Option<Arc<Locators>>,
    /// Packs marked for deletion: a record naming one is not used.
    pub marked: Arc<IdSet>,
    /// Counts the index scans made (`index_scans`).
    pub progress: Arc<Progress>,
    /// Sizes of the packs records named (`None`: missing or unreadable), asked once each.
    pub pack_sizes: std::sync::Mutex<HashMap<Id, Arc<tokio::sync::OnceCell<Option<u64>>>>>,
}

/// Where a stored chunk is, when its source leaf has a usable locator record: the record and
/// the chunk's position among the leaf's entries.
pub(crate) type StoredAt = Option<(Arc<Locator>, u16)>;

impl TreeCtx {
    /// Node `id`, whether the copy read is in a pack not marked for deletion (always when a
    /// record located it: records naming a marked pack are not used), and the record if it
    /// located it (a record whose node is not where it says is not used for its entries
    /// either). Through its locator record when one is usable, else through the index's tree
    /// nodes, scanned once.
    async fn node(&self, id: &Id) -> Result<(Node, bool, Option<Arc<Locator>>)> {
        if let Some(l) = self.record(*id).await {
            let read = super::locators::read_node_at(self.backend.as_ref(), &self.keys, &l, id).await;
            match read.and_then(|(raw, _)| Node::decode(&raw)) {
                Ok(n) => return Ok((n, true, Some(l))),
                Err(e) => tracing::warn!("{e} (from a locator record); locating it through the index"),
            }
        }
        let nodes = self
            .nodes
            .get_or_try_init(|| async {
                Progress::add(&self.progress.index_scans, 1);
                tracing::debug!("a source tree node has no usable locator record: scanning the index for tree nodes");
                super::pull_index::build_trees(&self.backend, &self.keys, &self.marked).await
            })
            .await
            .map_err(|e| e.context("loading the index (tree nodes)"))?;
        let node = super::live::read_tree_node(self.backend.as_ref(), &self.keys, nodes, id).await?;
        // The scan prefers a copy in an unmarked pack: a marked one read means it is the only.
        let unmarked = nodes
            .get(id)
            .is_some_and(|l| !self.marked.contains(&nodes.packs[nodes.blobs[l.blob as usize].pack as usize]));
        Ok((node, unmarked, None))
    }

    /// The usable locator record of node `id`, if a table holds one (a lookup that fails only
    /// costs the record). Usable here also means that every pack it names exists and is long
    /// enough for the blobs it names: the push counts the chunks it locates as stored, and a
    /// table left by a push that stalled, was taken for dead and died could name a pack a gc
    /// swept (docs/maintenance.md).
    async fn record(&self, id: Id) -> Option<Arc<Locator>> {
        let locs = self.locators.clone()?;
        let marked = self.marked.clone();
        let rt = tokio::runtime::Handle::current();
        let l = tokio::task::spawn_blocking(move || locs.get(&rt, &id, &marked)).await.ok().flatten()?;
        let mut ends: HashMap<u16, u64> = HashMap::new();
        for b in l.blobs.iter().chain([&l.node]) {
            let end = ends.entry(b.pack).or_default();
            *end = (*end).max(b.offset as u64 + b.sealed_len as u64);
        }
        for (p, end) in ends {
            let pack = l.packs[p as usize];
            // One request per pack, also when two readers of one tree ask at once (the dedup
            // cursor and the reader following the parent, repo::follow).
            let cell = self.pack_sizes.lock().unwrap().entry(pack).or_default().clone();
            let size = *cell
                .get_or_init(|| async {
                    self.backend.size(&super::pack_key(&pack)).await.unwrap_or_else(|e| {
                        tracing::warn!("pack {}: {e} (records naming it are not used)", pack.short());
                        None
                    })
                })
                .await;
            if size.is_none_or(|s| s < end) {
                tracing::warn!(
                    "the locator record of tree node {} names pack {}, which is {} (not used; gc rewrites the tables)",
                    id.short(),
                    pack.short(),
                    if size.is_none() { "missing" } else { "shorter than the blobs it names" }
                );
                return None;
            }
        }
        Some(l)
    }
}

/// One leaf of a source tree.
pub(crate) struct Leaf {
    /// Stream offset where it starts.
    pub start: u64,
    /// Bytes it covers.
    pub len: u64,
    /// Its node id and its chunk ids.
    pub ids: Vec<Id>,
    /// Its chunks' lengths: of `ids[1..]` for a tree leaf, of `ids` for a leaf of
    /// [`Sources::open_indexed`].
    pub lens: Vec<u32>,
    /// The inner nodes entered on the way to it (none for the leaves after the first under a
    /// node), each with whether the copy read is in an unmarked pack.
    pub inner: Vec<(Id, bool)>,
    /// Whether the leaf's own node was read from an unmarked pack (false for the leaves of
    /// [`Sources::open_indexed`], which are no node).
    pub node_unmarked: bool,
    /// Its locator record, if one is usable and fits (one entry per chunk): it also says that
    /// every chunk of the leaf has a copy in an unmarked pack.
    pub loc: Option<Arc<Locator>>,
}

/// Walk the tree under `root` from the leaf holding stream offset `from`, sending leaves.
async fn read_leaves(ctx: Arc<TreeCtx>, root: Id, from: u64, tx: mpsc::Sender<Result<Leaf>>) {
    // Stack of (level, entries, next entry, offset of that entry).
    let mut stack: Vec<(u8, Vec<(Id, u64)>, usize, u64)> = Vec::new();
    let mut pending_inner: Vec<(Id, bool)> = Vec::new();
    let mut next: Option<(Id, Option<u8>, u64, u64)> = Some((root, None, 0, u64::MAX));
    loop {
        if tx.is_closed() {
            // The cursor was closed (evicted, or the push ended): read nothing more.
            return;
        }
        if let Some((id, want_level, start, covered)) = next.take() {
            let (node, unmarked, record) = match ctx.node(&id).await {
                Ok(n) => n,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let sum: u64 = node.entries.iter().map(|e| e.1).sum();
            if want_level.is_some_and(|l| l != node.level) || (covered != u64::MAX && covered != sum) {
                let _ = tx.send(Err(Error::corrupt(format!("tree node {} does not fit its parent", id.short())))).await;
                return;
            }
            if node.level == 0 {
                let mut ids = Vec::with_capacity(node.entries.len() + 1);
                ids.push(id);
                ids.extend(node.entries.iter().map(|e| e.0));
                let lens = node.entries.iter().map(|e| u32::try_from(e.1).unwrap_or(u32::MAX)).collect();
                let inner = std::mem::take(&mut pending_inner);
                let loc = record.filter(|l| l.entries.len() == node.entries.len());
                let leaf = Leaf { start, len: sum, ids, lens, inner, node_unmarked: unmarked, loc };
                if tx.send(Ok(leaf)).await.is_err() {
                    return;
                }
            } else {
                pending_inner.push((id, unmarked));
                stack.push((node.level, node.entries, 0, start));
            }
        }
        // The next child whose bytes end after `from`.
        let Some((level, entries, i, off)) = stack.last_mut() else { return };
        if *i >= entries.len() {
            stack.pop();
            continue;
        }
        let (child, n) = entries[*i];
        let child_start = *off;
        *i += 1;
        *off += n;
        if child_start + n <= from {
            continue;
        }
        next = Some((child, Some(*level - 1), child_start, n));
    }
}

/// Ids per leaf of a cursor over index objects ([`Sources::open_indexed`]).
const INDEXED_LEAF: usize = 1024;

/// The chunk and tree-node ids that the index objects `keys` list, in order, as leaves of
/// [`INDEXED_LEAF`] ids. An object gone meanwhile (merged or collected) is skipped.
async fn read_indexed(ctx: Arc<TreeCtx>, keys: Vec<String>, tx: mpsc::Sender<Result<Leaf>>) {
    let mut start = 0u64;
    for key in keys {
        let bytes = match ctx.backend.get_if_exists(&key).await {
            Ok(Some(b)) => b,
            Ok(None) => continue,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        let k = ctx.keys.clone();
        let decoded = tokio::task::spawn_blocking(move || -> Result<Vec<(Id, u32)>> {
            if Id::of_bytes(&bytes).to_hex() != key.trim_start_matches("index/") {
                return Err(Error::corrupt(format!("{key}: content does not match its name")));
            }
            let opened = super::open_meta_in_place(&k, INDEX_MAGIC, bytes, &key)?;
            let mut ids = Vec::new();
            IndexFile::visit_frame(opened.frame(), |_, _, b| ids.extend_from_slice(&b.chunks))
                .map_err(|e| e.context(&key))?;
            Ok(ids)
        })
        .await
        .unwrap_or_else(|e| Err(Error::new(crate::error::ErrorKind::Io, format!("index decode task: {e}"))));
        let chunks = match decoded {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        for piece in chunks.chunks(INDEXED_LEAF) {
            let len: u64 = piece.iter().map(|c| c.1 as u64).sum();
            let ids = piece.iter().map(|c| c.0).collect();
            let lens = piece.iter().map(|c| c.1).collect();
            let leaf = Leaf { start, len, ids, lens, inner: Vec::new(), node_unmarked: false, loc: None };
            start += len;
            if tx.send(Ok(leaf)).await.is_err() {
                return;
            }
        }
    }
}

struct Cursor {
    root: Id,
    rx: mpsc::Receiver<Result<Leaf>>,
    /// Id → (leaf ordinal, position in the leaf's `ids`: 0 is the leaf's own node).
    ids: IdMap<(u64, u16)>,
    /// The inner nodes of the source tree walked so far, kept while the cursor lives: a push
    /// emits its own upper nodes only at the end of its stream, long after the leaves under
    /// them left the window (~1 per 4,096 leaves, so a few dozen ids); with whether the copy
    /// read is in an unmarked pack.
    inner: IdMap<bool>,
    leaves: VecDeque<Loaded>,
    /// Stream offsets of the loaded leaves: [lo, hi).
    lo: u64,
    hi: u64,
    next: u64,
    furthest: u64,
    last_use: u64,
    done: bool,
}

/// A leaf in a cursor's window.
struct Loaded {
    ord: u64,
    start: u64,
    ids: Vec<Id>,
    node_unmarked: bool,
    loc: Option<Arc<Locator>>,
}

/// Counters for the push's log line.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SourceStats {
    pub cursors_opened: u64,
    pub hook_lookups: u64,
    pub leaves_loaded: u64,
}

/// See the module docs.
pub(crate) struct Sources {
    rt: tokio::runtime::Handle,
    ctx: Arc<TreeCtx>,
    hooks: Option<HookIndex>,
    live_roots: IdSet,
    /// The ids whose only copies are in marked packs ([`marked_only`]), once needed.
    exclude: MarkedOnly,
    /// Chunks of packs an interrupted push left (indexed by this push; no snapshot refers to
    /// them): known, to resume that push.
    resume: IdSet,
    cursors: Vec<Cursor>,
    tick: u64,
    started: bool,
    pub stats: SourceStats,
}

impl Sources {
    /// Sources over the snapshots whose roots are `live_roots`, never counting as known an id
    /// whose only copies are in the packs `ctx.marked`, and counting those in `resume` as known.
    pub(crate) fn new(
        rt: tokio::runtime::Handle,
        ctx: Arc<TreeCtx>,
        hooks: Option<HookIndex>,
        live_roots: IdSet,
        resume: IdSet,
    ) -> Sources {
        Sources {
            rt,
            ctx,
            hooks,
            live_roots,
            exclude: MarkedOnly::NotRead,
            resume,
            cursors: Vec::new(),
            tick: 0,
            started: false,
            stats: SourceStats::default(),
        }
    }

    /// Open a cursor on the tree under `root` at stream offset `from`.
    pub(crate) fn open(&mut self, root: Id, from: u64) {
        let (tx, rx) = mpsc::channel(AHEAD as usize + 2);
        self.rt.spawn(read_leaves(self.ctx.clone(), root, from, tx));
        self.add(root, from, rx);
    }

    /// The leaves of the tree under `root`, from its start, read by a task as they are taken
    /// (for following the parent's cuts, repo::follow).
    pub(crate) fn leaves(&self, root: Id) -> mpsc::Receiver<Result<Leaf>> {
        let (tx, rx) = mpsc::channel(AHEAD as usize + 2);
        self.rt.spawn(read_leaves(self.ctx.clone(), root, 0, tx));
        rx
    }

    /// Open a cursor on the chunks that the index objects `index` list, in that order: the
    /// index objects an interrupted push of the same path wrote (its lease records them,
    /// repo::lease), so that a push resuming it finds the data it stored.
    pub(crate) fn open_indexed(&mut self, index: Vec<String>) {
        let name = Id::of_bytes(index.concat().as_bytes());
        let (tx, rx) = mpsc::channel(AHEAD as usize + 2);
        self.rt.spawn(read_indexed(self.ctx.clone(), index, tx));
        self.add(name, 0, rx);
    }

    fn add(&mut self, root: Id, from: u64, rx: mpsc::Receiver<Result<Leaf>>) {
        if self.cursors.len() >= MAX_CURSORS {
            let (victim, _) = self.cursors.iter().enumerate().min_by_key(|(_, c)| c.last_use).expect("cursors exist");
            self.cursors.swap_remove(victim);
        }
        self.cursors.push(Cursor {
            root,
            rx,
            ids: IdMap::default(),
            inner: IdMap::default(),
            leaves: VecDeque::new(),
            lo: from,
            hi: from,
            next: 0,
            furthest: 0,
            last_use: self.tick,
            done: false,
        });
        self.stats.cursors_opened += 1;
    }

    /// Before a batch: open cursors for hooks that nothing covers, and fill every window.
    /// Blocking (waits for leaves being read): call from a thread outside the runtime.
    pub(crate) fn prepare(&mut self, batch: &[Id]) -> Result<()> {
        self.fill();
        if let Some(hooks) = &mut self.hooks {
            let mut score: HashMap<HookPos, usize> = HashMap::new();
            // The stream's first chunk counts as a hook (repo::hooks).
            let first = if self.started { None } else { batch.first() };
            self.started = true;
            for id in batch.iter().filter(|id| is_hook(id) || Some(*id) == first) {
                if self.cursors.iter().any(|c| c.ids.contains_key(id)) {
                    continue;
                }
                self.stats.hook_lookups += 1;
                for p in hooks.lookup(&self.rt, id)? {
                    if self.live_roots.contains(&p.root) {
                        *score.entry(p).or_default() += 1;
                    }
                }
            }
            let mut best: Vec<(usize, HookPos)> = score.into_iter().map(|(p, s)| (s, p)).collect();
            best.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.offset.cmp(&b.1.offset)).then(a.1.root.cmp(&b.1.root)));
            let mut opened = 0;
            for (_, p) in best {
                if opened == OPEN_PER_BATCH {
                    break;
                }
                if self.cursors.iter().any(|c| c.root == p.root && c.lo <= p.offset && p.offset < c.hi) {
                    continue;
                }
                // From the leaf before the hook's: the match may start before the first hook.
                self.open(p.root, p.offset.saturating_sub(1));
                opened += 1;
            }
            if opened > 0 {
                self.fill();
            }
        }
        Ok(())
    }

    fn fill(&mut self) {
        for c in &mut self.cursors {
            while !c.done && c.next <= c.furthest + AHEAD {
                match c.rx.blocking_recv() {
                    Some(Ok(leaf)) => {
                        if c.leaves.is_empty() {
                            c.lo = leaf.start;
                        }
                        c.hi = leaf.start + leaf.len;
                        c.inner.extend(leaf.inner);
                        for (i, id) in leaf.ids.iter().enumerate() {
                            c.ids.insert(*id, (c.next, i as u16));
                        }
                        let (start, ids, node_unmarked, loc) = (leaf.start, leaf.ids, leaf.node_unmarked, leaf.loc);
                        c.leaves.push_back(Loaded { ord: c.next, start, ids, node_unmarked, loc });
                        c.next += 1;
                        self.stats.leaves_loaded += 1;
                    }
                    Some(Err(e)) => {
                        tracing::warn!("dedup source {} closed: {e} (its data is stored again)", c.root.short());
                        c.done = true;
                    }
                    None => c.done = true,
                }
            }
            while c.leaves.front().is_some_and(|l| l.ord + 1 < c.furthest) {
                let l = c.leaves.pop_front().unwrap();
                for id in l.ids {
                    if c.ids.get(&id).is_some_and(|&(o, _)| o == l.ord) {
                        c.ids.remove(&id);
                    }
                }
                c.lo = c.leaves.front().map_or(c.hi, |l| l.start);
            }
        }
    }

    /// `Some` if `id` is stored and may be referenced (see the module docs), with where it is
    /// when a source leaf's locator record says; moves the cursors that hold it. Blocking the
    /// first time a hit must be checked against the marks and nothing vouches for it (the index
    /// scan of [`marked_only`]).
    pub(crate) fn known(&mut self, id: &Id) -> Result<Option<StoredAt>> {
        self.tick += 1;
        let mut hit = false;
        // A copy in an unmarked pack is certain (a usable record, or the node read).
        let mut unmarked = false;
        let mut at: StoredAt = None;
        for c in &mut self.cursors {
            if let Some(&(ord, pos)) = c.ids.get(id) {
                c.furthest = c.furthest.max(ord);
                c.last_use = self.tick;
                hit = true;
                // Leaves in the window are in ordinal order, without gaps.
                let first = c.leaves.front().map_or(ord, |l| l.ord);
                let l = ord.checked_sub(first).and_then(|i| c.leaves.get(i as usize)).filter(|l| l.ord == ord);
                if let Some(l) = l {
                    if pos == 0 {
                        unmarked |= l.node_unmarked;
                    } else if let Some(r) = &l.loc {
                        unmarked = true;
                        if at.is_none() {
                            at = Some((r.clone(), pos - 1));
                        }
                    }
                }
            } else if let Some(&ok) = c.inner.get(id) {
                c.last_use = self.tick;
                hit = true;
                unmarked |= ok;
            }
        }
        if hit && (unmarked || self.ctx.marked.is_empty() || !self.only_in_marked(id)?) {
            Ok(Some(at))
        } else if self.resume.contains(id) {
            Ok(Some(None))
        } else {
            Ok(None)
        }
    }

    /// Whether `id` may have no copy outside the packs marked when the push started (scanning
    /// the index the first time it is asked).
    fn only_in_marked(&mut self, id: &Id) -> Result<bool> {
        if let MarkedOnly::NotRead = self.exclude {
            Progress::add(&self.ctx.progress.index_scans, 1);
            tracing::debug!(
                "a source chunk has no usable locator record while packs are marked: scanning the index for the chunks only marked packs hold"
            );
            let ctx = self.ctx.clone();
            let set = self
                .rt
                .block_on(marked_only(&ctx.backend, &ctx.keys, &ctx.marked))
                .map_err(|e| e.context("loading the index (chunks in packs marked for deletion)"))?;
            self.exclude = match set {
                Some(s) => MarkedOnly::Read(s),
                None => {
                    tracing::info!(
                        "packs marked for deletion when this push started are gone from the index (a gc swept them meanwhile): chunks no locator record locates are stored again"
                    );
                    MarkedOnly::Unknown
                }
            };
        }
        Ok(match &self.exclude {
            MarkedOnly::Read(s) => s.contains(id),
            _ => true,
        })
    }
}

/// What a push knows of the ids whose only copies are in marked packs.
enum MarkedOnly {
    /// Not needed yet.
    NotRead,
    /// [`marked_only`]'s set.
    Read(IdSet),
    /// A marked pack was no longer indexed when the index was read: every id may be one.
    Unknown,
}

/// The ids (chunks and tree nodes) whose only indexed copies are in the packs `marked`: one
/// pass over the index for the ids in marked packs, and a second that drops those also in an
/// unmarked pack (compaction leaves every moved chunk in a marked pack too).
///
/// `None` if a pack of `marked` is in no index object: a gc swept it after the push read the
/// marks (a push that started after a mark does not hold its sweep back), and the ids it held
/// are unknown — a chunk only it held, listed by a snapshot forgotten meanwhile, must not count
/// as stored. A pack indexed at the scan but swept later is fine: its ids are in the set.
pub(crate) async fn marked_only(
    backend: &Arc<dyn Backend>,
    keys: &Arc<Keys>,
    marked: &Arc<IdSet>,
) -> Result<Option<IdSet>> {
    let mut only = IdSet::default();
    if marked.is_empty() {
        return Ok(Some(only));
    }
    let m = marked.clone();
    let decode: IndexDecoder<IndexFile> =
        Arc::new(move |frame: &[u8]| IndexFile::decode_frame_where(frame, |p, _| m.contains(p)));
    let mut indexed = IdSet::default();
    scan_index(backend, keys, SCAN_OBJECTS, decode, |f| {
        for (p, b) in f.blobs {
            indexed.insert(f.packs[p as usize]);
            only.extend(b.chunks.iter().map(|c| c.0));
        }
    })
    .await?;
    if marked.iter().any(|p| !indexed.contains(p)) {
        return Ok(None);
    }
    let m = marked.clone();
    let decode: IndexDecoder<IndexFile> =
        Arc::new(move |frame: &[u8]| IndexFile::decode_frame_where(frame, |p, _| !m.contains(p)));
    scan_index(backend, keys, SCAN_OBJECTS, decode, |f| {
        for (_, b) in &f.blobs {
            for (id, _) in &b.chunks {
                only.remove(id);
            }
        }
    })
    .await?;
    Ok(Some(only))
}
