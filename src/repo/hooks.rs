//! The hook table: where in which snapshot a sampled chunk id was seen, so that a push can
//! find dedup sources other than its parent without any index of every chunk in memory
//! (docs/architecture.md, "Dedup and lookup without a global index"; docs/format.md §13).
//!
//! A *hook* is a chunk id with `u32_le(id[4..8]) mod HOOK_RATE == 0` (one chunk in ~64), and
//! the first chunk of every stream.
//! Every push writes, after its snapshot, one table object `hooks/<blake3>` (format::table,
//! magic `KRHOOK01`) with an entry per hook in its stream: key = the id's first 16 bytes,
//! value = the snapshot's root node id and the stream offset where the tree leaf holding the
//! hook starts. gc merges the tables, keeping only entries whose root belongs to a live
//! snapshot, at most [`KEEP_PER_HOOK`] per key (the newest snapshots).
//!
//! Hooks are hints: a missing, damaged or stale table costs dedup, never correctness, so
//! readers skip what they cannot use (with a warning) and never fail a push for it.
//! This module never reads or writes chunk data.
//!
//! Memory: a push collects 24 B per hook of its own stream (~0.4 B per chunk); the reader
//! holds what a [`TableSet`] holds (footers, ~32 B per 64 KiB of table, and at most
//! [`HOOK_CACHE_BLOCKS`] decoded blocks).

use super::Repository;
use super::tables::{TableSet, skippable};
use crate::crypto::Keys;
use crate::error::{ErrorKind, Result};
use crate::format::table::{self, TableWriter};
use crate::id::{Id, IdMap};

/// Prefix of hook table objects.
pub const HOOK_PREFIX: &str = "hooks/";
/// Magic of hook table objects.
pub const HOOK_MAGIC: &[u8; 8] = b"KRHOOK01";
/// One chunk in this many (by id) is a hook.
pub const HOOK_RATE: u32 = 64;
/// Entries per hook key that a merge keeps (the newest snapshots holding it).
pub const KEEP_PER_HOOK: usize = 2;
const KEY: usize = 16;
/// Times a push lists the tables again after finding one gone.
const MAX_RELOADS: u32 = 4;

/// True if `id` is a hook.
pub fn is_hook(id: &Id) -> bool {
    u32::from_le_bytes(id.0[4..8].try_into().unwrap()).is_multiple_of(HOOK_RATE)
}

fn key_of(id: &Id) -> [u8; KEY] {
    id.0[..KEY].try_into().unwrap()
}

/// Where a hook was seen: a snapshot's root node and the start of the leaf holding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HookPos {
    /// Root node id of the snapshot's tree.
    pub root: Id,
    /// Stream offset where the leaf holding the hook starts.
    pub offset: u64,
}

fn value(p: &HookPos) -> [u8; 40] {
    let mut v = [0u8; 40];
    v[..32].copy_from_slice(&p.root.0);
    v[32..].copy_from_slice(&p.offset.to_le_bytes());
    v
}

fn decode_value(v: &[u8]) -> Option<HookPos> {
    (v.len() == 40)
        .then(|| HookPos { root: Id::from_slice(&v[..32]), offset: u64::from_le_bytes(v[32..].try_into().unwrap()) })
}

/// The hooks of one push's stream, collected while its tree is built.
#[derive(Default)]
pub(crate) struct HookCollector {
    entries: Vec<([u8; KEY], u64)>,
    /// Where the leaf being filled starts.
    leaf_start: u64,
    started: bool,
}

impl HookCollector {
    /// The next chunk of the stream (it goes into the leaf that started at the last
    /// [`HookCollector::leaf_ended`]). The stream's first chunk is always a hook too, so that
    /// the same stream pushed under another path is found from its first byte.
    pub(crate) fn chunk(&mut self, id: &Id) {
        if is_hook(id) || !self.started {
            self.entries.push((key_of(id), self.leaf_start));
        }
        self.started = true;
    }

    /// The leaf being filled ended at stream offset `end`: the next chunk starts a new leaf.
    pub(crate) fn leaf_ended(&mut self, end: u64) {
        self.leaf_start = end;
    }

    /// The table object for a snapshot whose tree has root `root`, or `None` without hooks.
    pub(crate) fn into_table(mut self, keys: &Keys, root: &Id) -> Option<Vec<u8>> {
        if self.entries.is_empty() {
            return None;
        }
        self.entries.sort_unstable();
        self.entries.dedup_by_key(|e| e.0);
        let mut w = TableWriter::new(HOOK_MAGIC, KEY);
        for (k, off) in &self.entries {
            w.add(keys, k, &value(&HookPos { root: *root, offset: *off }));
        }
        Some(w.finish(keys).0)
    }
}

/// Reads the hook tables of a repository by ranged requests.
pub(crate) struct HookIndex {
    set: TableSet,
    /// Times the tables were listed again because one had gone (a gc merged them).
    reloads: u32,
}

/// Decoded hook-table blocks a push keeps (≤ 64 KiB each: ≤ 1 MiB). Hook ids are random, so
/// once the tables outgrow the cache most lookups miss whatever its size; a bigger cache only
/// made a push's memory grow with the repository until the tables outgrew it (64 blocks: 4 MiB
/// more at 20 M stored chunks than at 1 M, docs/benchmarks.md "Repository scale").
const HOOK_CACHE_BLOCKS: usize = 16;

/// What skipping a hook table costs.
const SKIP_COST: &str = "costs dedup only";

impl HookIndex {
    /// Number of tables read.
    pub(crate) fn tables(&self) -> usize {
        self.set.tables.len()
    }

    /// Positions stored under the hook `id`, from every table (possibly stale: the caller
    /// checks that the root belongs to a live snapshot). A table that has gone (merged by a gc
    /// meanwhile) makes it list the tables again, a few times per push at most. Blocking: call
    /// from a thread outside the runtime.
    pub(crate) fn lookup(&mut self, rt: &tokio::runtime::Handle, id: &Id) -> Result<Vec<HookPos>> {
        let key = key_of(id);
        let mut out = Vec::new();
        let mut gone = false;
        for (t, (name, footer)) in self.set.tables.iter().enumerate() {
            for b in footer.blocks_for(&key) {
                let block = match self.set.block(rt, t, b) {
                    Ok(b) => b,
                    Err(e) if e.kind() == ErrorKind::NotFound && self.reloads < MAX_RELOADS => {
                        gone = true;
                        continue;
                    }
                    Err(e) if skippable(&e) => {
                        tracing::warn!("hook table {name}: {e} (skipped; {SKIP_COST})");
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                out.extend(block.get(&key).filter_map(decode_value));
            }
        }
        if gone {
            self.reloads += 1;
            let set = &self.set;
            let fresh = rt.block_on(TableSet::open(set.backend(), set.keys(), HOOK_PREFIX, HOOK_MAGIC, SKIP_COST))?;
            self.set.replace(fresh);
            return self.lookup(rt, id);
        }
        Ok(out)
    }
}

impl Repository {
    /// Store the hook table of the snapshot whose root is `root` (after the snapshot: hooks
    /// only ever point at committed snapshots). A failure is a warning: hooks are hints.
    pub(crate) async fn write_hooks(&self, hooks: HookCollector, root: &Id) {
        let Some(obj) = hooks.into_table(&self.keys, root) else { return };
        if let Err(e) = self.put_named(HOOK_PREFIX.trim_end_matches('/'), obj).await {
            tracing::warn!("writing this push's hook table (later pushes dedup a little less): {e}");
        }
    }

    /// Open every hook table (footers only).
    pub(crate) async fn hook_index(&self) -> Result<HookIndex> {
        let set = TableSet::open(self.backend.clone(), self.keys.clone(), HOOK_PREFIX, HOOK_MAGIC, SKIP_COST).await?;
        Ok(HookIndex { set: set.cache_blocks(HOOK_CACHE_BLOCKS), reloads: 0 })
    }

    /// gc's part: merge every hook table into one, keeping entries whose root belongs to a
    /// live snapshot, at most [`KEEP_PER_HOOK`] per key (the newest snapshots first). Returns
    /// (tables before, tables after). Snapshots are listed *after* the tables: a push writes
    /// its table after its snapshot, so every listed table's snapshot is seen unless it was
    /// forgotten. Tables written meanwhile are not in the listing and stay.
    pub(crate) async fn merge_hooks(&self) -> Result<(usize, usize)> {
        let objs = self.backend.list(HOOK_PREFIX).await?;
        if objs.is_empty() {
            return Ok((0, 0));
        }
        let live: IdMap<u64> =
            self.snapshots().await?.iter().enumerate().map(|(i, s)| (s.snapshot.root_id(), i as u64)).collect();
        let mut entries: Vec<([u8; KEY], u64, HookPos)> = Vec::new();
        let mut stale = false;
        for o in &objs {
            let bytes = match self.backend.get(&o.key).await {
                Ok(b) => b,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let (_, blocks) = match table::open_table(&self.keys, HOOK_MAGIC, &bytes) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!("hook table {}: {e} (dropped by the merge)", o.key);
                    stale = true;
                    continue;
                }
            };
            for b in &blocks {
                for (k, v) in b.iter() {
                    match decode_value(v) {
                        Some(p) => match live.get(&p.root) {
                            Some(rank) => entries.push((k.try_into().unwrap(), *rank, p)),
                            None => stale = true,
                        },
                        None => stale = true,
                    }
                }
            }
        }
        if objs.len() == 1 && !stale {
            return Ok((1, 1));
        }
        // Per key: newest first, then keep the first KEEP_PER_HOOK distinct positions.
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.offset.cmp(&b.2.offset)));
        let mut w = TableWriter::new(HOOK_MAGIC, KEY);
        let mut i = 0;
        while i < entries.len() {
            let mut j = i;
            let mut kept = 0;
            while j < entries.len() && entries[j].0 == entries[i].0 {
                if kept < KEEP_PER_HOOK && (j == i || entries[j].2 != entries[j - 1].2) {
                    w.add(&self.keys, &entries[j].0, &value(&entries[j].2));
                    kept += 1;
                }
                j += 1;
            }
            i = j;
        }
        let (after, new_key) = if w.is_empty() {
            (0, String::new())
        } else {
            let id = self.put_named(HOOK_PREFIX.trim_end_matches('/'), w.finish(&self.keys).0).await?;
            (1, format!("{HOOK_PREFIX}{id}"))
        };
        for o in &objs {
            if o.key == new_key {
                continue;
            }
            self.backend.delete(&o.key).await.map_err(|e| e.context(format!("removing merged {}", o.key)))?;
        }
        Ok((objs.len(), after))
    }
}
