//! Locator tables (docs/format.md §15): per live tree node, where its blob is and, for a leaf,
//! where every chunk it lists is, so that a pull finds a snapshot's chunks leaf by leaf, with
//! ranged reads of a sorted table, instead of scanning every index object once per window of
//! its stream (issue 12; docs/architecture.md, "Pull pipeline").
//!
//! gc writes them from the trees it walks and the index it has read, pointing only at packs it
//! does not delete; compaction writes them again after moving chunks. Each run replaces every
//! table listed before it, and gc does so **before it deletes any pack**, so no table outlives a
//! pack it names. A push adds a table for the nodes it stores (repo::push_locators). Records
//! are hints: a pull uses one only when none of its packs is marked for deletion, checks every
//! chunk and node it reads against its id as always, and locates whatever no usable record
//! covers (nodes a push could not locate, tables gone or damaged) with the index scan it used
//! before. A push relies on more: a chunk a usable record locates counts as having a copy
//! outside the marked packs (repo::cursor), so "no table outlives a pack it names" is a safety
//! rule.
//!
//! Writing keeps the records of the existing tables whose packs all still hold (indexed, not
//! deleted, not marked) and reads again only the other live nodes (new snapshots' nodes, and
//! all of them after compaction moved chunks).
//!
//! Memory: writing holds the records (~6 B per live chunk, ~120 B per node) until they are
//! sorted and written, one existing table at a time while reading them, and, when some node
//! must be read again, the locations of the live chunks (~70 B each, beside gc's own ~250 B
//! per chunk). Reading holds a [`TableSet`] of [`BLOCK_CACHE`] blocks and [`RECORD_CACHE`]
//! decoded records (~3 KB each).
//!
//! Must not: delete a pack, or let a table name a pack that a sweep is about to delete.

use super::read_index::{BlobLoc, ReadIndex};
use super::tables::TableSet;
use super::{Repository, for_each_bounded};
use crate::error::{ErrorKind, Result};
use crate::format::index::IndexFile;
use crate::format::locator::{LocBlob, Locator};
use crate::format::table::{self, TableWriter};
use crate::format::tree::Node;
use crate::id::{Id, IdSet};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Prefix of locator table objects.
pub const LOC_PREFIX: &str = "locs/";
/// Magic of locator table objects.
pub const LOC_MAGIC: &[u8; 8] = b"KRLOCS01";
/// Raw bytes after which a writer starts another table object.
const TABLE_BYTES: usize = 64 << 20;
/// Decoded records a reader keeps (a pull's two tree walkers are about one index window, ~230
/// leaves of ~500 chunks, apart; the second finds the first one's records here).
const RECORD_CACHE: usize = 512;
/// Decoded table blocks a reader keeps (records are looked up once; the block cache only saves
/// reads for neighbours in one block).
const BLOCK_CACHE: usize = 8;
/// Tree nodes a writer reads at once.
const NODE_READS: usize = 16;
/// A writer locates only the chunks of the nodes it must read when they are at most one in
/// this many live nodes (else it indexes every live chunk).
const FEW: usize = 16;
/// What skipping a locator table costs.
const SKIP_COST: &str = "the pull locates those chunks by scanning the index";

/// Reads the locator tables of a repository (see the module docs).
pub(crate) struct Locators {
    set: TableSet,
    records: Mutex<(HashMap<Id, Option<Arc<Locator>>>, VecDeque<Id>)>,
    /// Tables found gone or damaged: skipped from then on (said once).
    skip: Mutex<Vec<bool>>,
    /// Records kept in `records`.
    cap: usize,
}

impl Locators {
    /// No table was found.
    pub(crate) fn is_empty(&self) -> bool {
        self.set.tables.is_empty()
    }

    /// Keep at most `n` decoded records (default [`RECORD_CACHE`]; a push looks each up once).
    pub(crate) fn cache_records(mut self, n: usize) -> Locators {
        self.cap = n.max(1);
        self
    }

    /// The record of node `id` that names no pack in `marked`, if a table holds one. A table
    /// that cannot be read counts as holding none (with a warning). Blocking: call from a
    /// thread outside the runtime.
    pub(crate) fn get(&self, rt: &tokio::runtime::Handle, id: &Id, marked: &IdSet) -> Option<Arc<Locator>> {
        if let Some(hit) = self.records.lock().unwrap().0.get(id) {
            return hit.clone();
        }
        let mut found = None;
        let skip = |t: usize| self.skip.lock().unwrap()[t] = true;
        'tables: for (t, (name, footer)) in self.set.tables.iter().enumerate() {
            if self.skip.lock().unwrap()[t] {
                continue;
            }
            for b in footer.blocks_for(&id.0) {
                let block = match self.set.block(rt, t, b) {
                    Ok(b) => b,
                    Err(e) if e.kind() == ErrorKind::NotFound => {
                        tracing::debug!("locator table {name} is gone (a gc replaced it)");
                        skip(t);
                        continue 'tables;
                    }
                    Err(e) => {
                        tracing::warn!("locator table {name}: {e} (not used by this pull: {SKIP_COST})");
                        skip(t);
                        continue 'tables;
                    }
                };
                for v in block.get(&id.0) {
                    match Locator::decode(v) {
                        Ok(l) if !l.packs.iter().any(|p| marked.contains(p)) => {
                            found = Some(Arc::new(l));
                            break 'tables;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!("locator table {name}: {e} (not used by this pull: {SKIP_COST})");
                            skip(t);
                            continue 'tables;
                        }
                    }
                }
            }
        }
        let mut c = self.records.lock().unwrap();
        if c.1.len() >= self.cap
            && let Some(old) = c.1.pop_front()
        {
            c.0.remove(&old);
        }
        c.0.insert(*id, found.clone());
        c.1.push_back(*id);
        found
    }
}

/// The bytes of tree node `id` read from the blob its record `l` names (one ranged read),
/// checked against its id; also the bytes read.
pub(crate) async fn read_node_at(
    backend: &dyn crate::backend::Backend,
    keys: &crate::crypto::Keys,
    l: &Locator,
    id: &Id,
) -> Result<(Vec<u8>, u64)> {
    let b = l.node;
    let key = super::pack_key(&l.packs[b.pack as usize]);
    let what = format!("tree node {} in {key}", id.short());
    let sealed = backend.get_range(&key, b.offset as u64, b.sealed_len as u64).await.map_err(|e| e.context(&what))?;
    let raw = crate::compress::decode(&crate::format::pack::open_blob(keys, &sealed, &what)?)
        .map_err(|e| e.context(&what))?;
    if raw.len() != b.raw_len as usize || keys.chunk_id(&raw) != *id {
        return Err(crate::error::Error::corrupt(format!("{what}: content does not match its id")));
    }
    Ok((raw, sealed.len() as u64))
}

/// Builds one node's record from the locations of the live chunks.
fn record(ri: &ReadIndex, id: &Id, leaf: Option<&[(Id, u64)]>) -> Option<Locator> {
    let mut packs: Vec<Id> = Vec::new();
    let mut pack_pos: HashMap<u32, u16> = HashMap::new();
    let mut blob_of = |b: &BlobLoc, packs: &mut Vec<Id>| -> LocBlob {
        let pack = *pack_pos.entry(b.pack).or_insert_with(|| {
            packs.push(ri.packs[b.pack as usize]);
            (packs.len() - 1) as u16
        });
        LocBlob { pack, offset: b.offset, sealed_len: b.sealed_len, raw_len: b.raw_len }
    };
    // A tree blob holds its node alone (format §6); a reader reads the whole blob.
    let own = ri.get(id).filter(|o| o.inner == 0 && o.len == ri.blobs[o.blob as usize].raw_len)?;
    let node = blob_of(&ri.blobs[own.blob as usize], &mut packs);
    let mut l = Locator { node, ..Locator::default() };
    if let Some(entries) = leaf {
        let mut blob_pos: HashMap<u32, u16> = HashMap::new();
        for (cid, len) in entries {
            let c = ri.get(cid).filter(|c| c.len as u64 == *len)?;
            let b = match blob_pos.get(&c.blob) {
                Some(b) => *b,
                None => {
                    let lb = blob_of(&ri.blobs[c.blob as usize], &mut packs);
                    l.blobs.push(lb);
                    let b = (l.blobs.len() - 1) as u16;
                    blob_pos.insert(c.blob, b);
                    b
                }
            };
            l.entries.push((b, c.inner));
        }
    }
    l.packs = packs;
    Some(l)
}

/// The locations of the chunks (and tree nodes) of `files` that `keep` selects, outside the
/// packs in `gone`, a copy outside a `marked` pack preferred.
fn locations(files: &[IndexFile], keep: impl Fn(&Id) -> bool, gone: &IdSet, marked: &IdSet, n: usize) -> ReadIndex {
    let mut ri = ReadIndex::with_capacity(n);
    let mut chunks = Vec::new();
    for f in files {
        for (p, b) in &f.blobs {
            let pack = f.packs[*p as usize];
            if gone.contains(&pack) {
                continue;
            }
            chunks.clear();
            let mut inner = 0u32;
            for (id, len) in &b.chunks {
                if keep(id) {
                    chunks.push((*id, inner, *len));
                }
                inner += len;
            }
            if !chunks.is_empty() {
                let head =
                    BlobLoc { pack: 0, offset: b.offset, sealed_len: b.sealed_len, raw_len: b.raw_len, kind: b.kind };
                ri.add_blob(pack, head, &chunks, marked);
            }
        }
    }
    ri
}

impl Repository {
    /// Open every locator table (footers only).
    pub(crate) async fn locators(&self) -> Result<Locators> {
        let set = TableSet::open(self.backend.clone(), self.keys.clone(), LOC_PREFIX, LOC_MAGIC, SKIP_COST).await?;
        let skip = Mutex::new(vec![false; set.tables.len()]);
        Ok(Locators { set: set.cache_blocks(BLOCK_CACHE), records: Mutex::default(), skip, cap: RECORD_CACHE })
    }

    /// Write the locator tables of the live tree nodes `nodes`, then delete every locator
    /// table that existed before. A record of an existing table is kept when every pack it
    /// names is still indexed, not in `gone` (about to be deleted) and not `marked`; the other
    /// nodes are read again and located through the index objects `files` (their chunks in
    /// `live`; a copy outside a `marked` pack preferred; packs in `gone` never named). Returns
    /// (tables before, tables after, nodes read again). A node whose blob or chunks are not all located gets no
    /// record (verify reports such damage; pulls then scan for those chunks).
    pub(crate) async fn write_locators(
        &self,
        files: &[IndexFile],
        live: &IdSet,
        mut nodes: Vec<Id>,
        gone: &IdSet,
        marked: &IdSet,
    ) -> Result<(usize, usize, usize)> {
        let old = self.backend.list(LOC_PREFIX).await?;
        nodes.sort_unstable();
        nodes.dedup();
        let indexed: IdSet = files.iter().flat_map(|f| f.packs.iter().copied()).collect();
        let holds =
            |l: &Locator| l.packs.iter().all(|p| indexed.contains(p) && !gone.contains(p) && !marked.contains(p));
        // 1. Records that still hold, from the existing tables (one read whole at a time).
        let mut records: Vec<(Id, Vec<u8>)> = Vec::with_capacity(nodes.len());
        let mut have = IdSet::default();
        for o in &old {
            let bytes = match self.backend.get(&o.key).await {
                Ok(b) => b,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e.context(format!("reading {}", o.key))),
            };
            let blocks = match table::open_table(&self.keys, LOC_MAGIC, &bytes) {
                Ok((_, blocks)) => blocks,
                Err(e) => {
                    tracing::warn!("locator table {}: {e} (replaced)", o.key);
                    continue;
                }
            };
            for (k, v) in blocks.iter().flat_map(|b| b.iter()) {
                let id = Id::from_slice(k);
                if have.contains(&id) || nodes.binary_search(&id).is_err() {
                    continue;
                }
                if Locator::decode(v).is_ok_and(|l| holds(&l)) {
                    have.insert(id);
                    records.push((id, v.to_vec()));
                }
            }
        }
        let kept = records.len();
        // 2. The other nodes: read, and located through the index.
        let total = nodes.len();
        let missing: Vec<Id> = nodes.into_iter().filter(|n| !have.contains(n)).collect();
        let read = missing.len();
        drop(have);
        let mut unlocated = 0usize;
        if !missing.is_empty() {
            // Few nodes to locate (the new nodes of new snapshots, the usual case): read them
            // first (held: at most 1/FEW of the live nodes) and index only the chunks they list.
            // Many (a first gc, or after a compaction moved most chunks): index every live
            // chunk, then read the nodes, each made into its record at once. Both are one pass
            // over the index objects; the first avoids a hash table of every live chunk (~1 GB
            // and ~15 s of random lookups at 20 M chunks).
            let few = missing.len() * FEW <= total;
            let all = (!few).then(|| Arc::new(locations(files, |id| live.contains(id), gone, marked, live.len())));
            let trees = all.clone().unwrap_or_else(|| Arc::new(ReadIndex::of_trees(files)));
            let encode = |ri: &ReadIndex, id: &Id, node: &Node| {
                record(ri, id, (node.level == 0).then_some(node.entries.as_slice())).map(|r| r.encode())
            };
            // With every location at hand a node becomes its record where it is read; else the
            // nodes wait (at most 1/FEW of them) for one pass that locates only what they list.
            let mut held: Vec<(Id, Node)> = Vec::new();
            let mut add = |id: Id, rec: Option<Vec<u8>>| match rec {
                Some(v) => records.push((id, v)),
                None => unlocated += 1,
            };
            for_each_bounded(
                missing,
                NODE_READS,
                |id| {
                    let (backend, keys, trees, all) =
                        (self.backend.clone(), self.keys.clone(), trees.clone(), all.clone());
                    async move {
                        let node = super::live::read_tree_node(backend.as_ref(), &keys, &trees, &id).await?;
                        let rec = all.map(|ri| encode(&ri, &id, &node));
                        Ok((id, node, rec))
                    }
                },
                |r| {
                    match r? {
                        (id, _, Some(rec)) => add(id, rec),
                        (id, node, None) => held.push((id, node)),
                    }
                    Ok(())
                },
            )
            .await?;
            if !held.is_empty() {
                let mut want: IdSet = held.iter().map(|(id, _)| *id).collect();
                for (_, n) in held.iter().filter(|(_, n)| n.level == 0) {
                    want.extend(n.entries.iter().map(|e| e.0));
                }
                let ri = locations(files, |id| want.contains(id), gone, marked, want.len());
                for (id, node) in held {
                    add(id, encode(&ri, &id, &node));
                }
            }
        }
        if unlocated > 0 {
            tracing::warn!("{unlocated} tree node(s) have chunks in no index object: no locator record (run verify)");
        }
        // 3. One sorted run, in objects of at most TABLE_BYTES; then the old tables go.
        records.sort_unstable_by_key(|a| a.0);
        let mut written: Vec<String> = Vec::new();
        let mut w = TableWriter::new(LOC_MAGIC, 32);
        for (i, (id, v)) in records.iter().enumerate() {
            w.add(&self.keys, &id.0, v);
            if w.len() >= TABLE_BYTES || i + 1 == records.len() {
                let full = std::mem::replace(&mut w, TableWriter::new(LOC_MAGIC, 32));
                let name = self.put_named(LOC_PREFIX.trim_end_matches('/'), full.finish(&self.keys).0).await?;
                written.push(format!("{LOC_PREFIX}{name}"));
            }
        }
        let stale: Vec<String> = old.iter().map(|o| o.key.clone()).filter(|k| !written.contains(k)).collect();
        self.backend.delete_many(&stale).await.map_err(|e| e.context("removing replaced locator tables"))?;
        tracing::debug!(
            "locator tables: {} record(s) ({kept} kept, {} built) in {} table(s), {} replaced",
            records.len(),
            records.len() - kept,
            written.len(),
            stale.len()
        );
        Ok((old.len(), written.len(), read))
    }
}
