//! Repair: rebuild the index from the packs, and rewrite snapshots that lost data.
//!
//! * [`Repository::repair_index`] reads the sealed header of every pack (ranged reads), writes
//!   new index objects covering every pack whose header opens, and only then deletes the old
//!   index objects it listed at the start: an interruption leaves duplicates, never a gap. A
//!   pack whose header does not open is reported and left alone (never deleted); its records
//!   from the old index, if any decode, are carried over so that its data stays readable.
//!   Index entries for packs that do not exist are dropped. It holds the gc lease, so it never
//!   runs beside a garbage collection or compaction (which rewrite the index too); pushes may
//!   run meanwhile (their index objects are written after the listing, and kept).
//! * [`Repository::repair_snapshots`] finds the snapshots whose trees reference chunks or tree
//!   nodes that the repository no longer has (not indexed in a pack that exists, or indexed
//!   with the wrong kind or length) — with `read_data` also those whose chunks are stored but
//!   fail authentication (it then reads every snapshot through, as a pull would) — and
//!   reports the byte ranges lost. With `rewrite`, it
//!   writes for each such snapshot a new one whose stream is the original with every lost
//!   range replaced by zero bytes of the same length (so offsets stay right): it reads the
//!   surviving data (a chunk that fails authentication then counts as lost too), stores the
//!   zero chunks and new tree nodes, and records the loss in the new snapshot's tags —
//!   `repaired`, `repaired-from:<original id>` and one `lost:<offset>+<length>` per range
//!   (docs/format.md §8 has no field for it and readers refuse unknown fields). The new
//!   snapshot's `time` is the original's minus one nanosecond, so it never becomes the latest
//!   of its path while the original exists. With `delete_originals` the damaged originals are
//!   then deleted; never otherwise. Rewriting holds a writer's lease (as a push does) and
//!   refuses to run on an index that lists missing packs or has damaged objects: run
//!   `repair index` first.
//!
//! Memory: `repair_index` holds the index objects being built (≤ 2^16 chunk records, ≈ 3 MiB)
//! and 8 pack headers in flight, plus 32 B per pack the old index lists that does not exist.
//! `repair_snapshots` holds the checked index (≈ 60–90 B per chunk, as a pull), the lost ranges
//! (merged when adjacent), and when rewriting one pack being built (≤ the pack target), 8
//! decoded frames (≤ 1 MiB each) and the tree builder's open nodes.
//!
//! Layout: `index.rs` rebuilds the index, `rewrite.rs` writes a repaired stream; this file
//! finds what snapshots lost and commits their repaired copies.

mod index;
mod rewrite;

use super::lease::{Lease, LeaseKind};
use super::walk::{CheckedIndex, Event, NodeSource, Walk, blob_name, is_damage, pack_id_of_key, read_piece};
use super::{Repository, SnapshotEntry, pack_key};
use crate::backend::Backend;
use crate::crypto::Keys;
use crate::error::{Error, ErrorKind, Result};
use crate::format::index::IndexFile;
use crate::format::pack::{BlobKind, PackBuilder};
use crate::format::snapshot::{SNAPSHOT_MAGIC, Snapshot, SnapshotStats};
use crate::id::{Id, IdSet};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

use rewrite::{Rewriter, Rewritten, ZERO_PIECE, just_before};

/// Options of [`Repository::repair_index`].
#[derive(Debug, Clone, Default)]
pub struct RepairIndexOptions {
    /// Read and report, write and delete nothing.
    pub dry_run: bool,
}

/// A pack whose header does not open.
#[derive(Debug, Clone, Serialize)]
pub struct UnreadablePack {
    /// Its key.
    pub pack: String,
    /// Why.
    pub error: String,
    /// Whether its records were carried over from the old index (its data stays readable).
    pub kept_from_old_index: bool,
}

/// What [`Repository::repair_index`] did (or, dry, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepairIndexReport {
    /// Nothing was written or deleted.
    pub dry_run: bool,
    /// Packs listed.
    pub packs: u64,
    /// Packs indexed from their own header.
    pub packs_indexed: u64,
    /// Chunk and tree-node records in the new index.
    pub chunks: u64,
    /// Packs whose header does not open (left alone).
    pub unreadable_packs: Vec<UnreadablePack>,
    /// Packs the old index listed that do not exist (dropped).
    pub dropped_missing_packs: Vec<String>,
    /// Old index objects that were damaged (replaced like the others).
    pub damaged_index_objects: Vec<String>,
    /// New index objects (written, or that would be written).
    pub written: Vec<String>,
    /// Old index objects deleted (or that would be).
    pub deleted: Vec<String>,
    /// Objects under `packs/` that are not named like packs (left alone).
    pub ignored: Vec<String>,
    /// Locator tables removed (or that would be) because a pack is missing or unreadable.
    pub locator_tables_removed: Vec<String>,
}

/// Options of [`Repository::repair_snapshots`].
#[derive(Debug, Clone, Default)]
pub struct RepairSnapshotsOptions {
    /// Also read every chunk of every snapshot (as a pull would): chunks that are indexed but
    /// fail authentication or their id check count as lost too. Without it, only what the
    /// index and the trees show is found (missing chunks and tree nodes).
    pub read_data: bool,
    /// Write a repaired copy of every damaged snapshot (else only report).
    pub rewrite: bool,
    /// After writing a repaired copy, delete the damaged original.
    pub delete_originals: bool,
}

/// A range of a stream that is lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LostRange {
    /// Offset in the stream.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// Why (of the first chunk or node of the range).
    pub reason: String,
    /// Chunks or subtrees the range merges.
    pub pieces: u64,
}

/// One snapshot that lost data.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotRepair {
    /// Original snapshot id.
    pub id: String,
    /// Its path.
    pub path: String,
    /// Its time.
    pub time: String,
    /// Stream size.
    pub size: u64,
    /// Lost ranges, in stream order (after a rewrite: every range replaced by zeros).
    pub lost: Vec<LostRange>,
    /// Sum of the lost lengths.
    pub lost_bytes: u64,
    /// The repaired snapshot, when one was written.
    pub new_snapshot: Option<String>,
    /// True when the original was deleted.
    pub original_deleted: bool,
    /// Why it was not rewritten, when it was not.
    pub not_rewritten: Option<String>,
}

/// What [`Repository::repair_snapshots`] found and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepairSnapshotsReport {
    /// Snapshots checked.
    pub snapshots: u64,
    /// Snapshots that lost data.
    pub damaged: Vec<SnapshotRepair>,
    /// Things to know (damaged snapshot objects, a stale index).
    pub notes: Vec<String>,
}

/// Adjacent-merging list of lost ranges.
#[derive(Default)]
struct Lost(Vec<LostRange>);

impl Lost {
    fn push(&mut self, offset: u64, len: u64, reason: impl FnOnce() -> String) {
        if len == 0 {
            return;
        }
        if let Some(last) = self.0.last_mut()
            && last.offset + last.len == offset
        {
            last.len += len;
            last.pieces += 1;
            return;
        }
        self.0.push(LostRange { offset, len, reason: reason(), pieces: 1 });
    }
    fn bytes(&self) -> u64 {
        self.0.iter().map(|r| r.len).sum()
    }
}

/// Why chunk `id` (`len` bytes per the tree) cannot be read, judging by the index.
fn chunk_missing(ci: &CheckedIndex, id: &Id, len: u32) -> Option<String> {
    let Some(loc) = ci.get(id) else {
        return Some(match ci.missing.get(id) {
            Some(m) => format!(
                "chunk {} was in pack {}, which is missing",
                id.short(),
                pack_key(&ci.missing_packs[*m as usize])
            ),
            None => format!("chunk {} is in no index object", id.short()),
        });
    };
    let b = ci.ri.blobs[loc.blob as usize];
    if b.kind != BlobKind::Data {
        return Some(format!(
            "chunk {} is indexed as a tree node ({})",
            id.short(),
            blob_name(&ci.pack_of(&loc), b.offset)
        ));
    }
    if loc.len != len {
        return Some(format!("chunk {} is indexed with {} bytes, the tree says {len}", id.short(), loc.len));
    }
    None
}

/// Tree nodes through the checked index.
struct Nodes<'a> {
    rt: &'a tokio::runtime::Handle,
    backend: &'a Arc<dyn Backend>,
    keys: &'a Keys,
    ci: &'a CheckedIndex,
}

impl NodeSource for Nodes<'_> {
    fn node(&mut self, id: &Id) -> Result<Vec<u8>> {
        let loc = self.ci.get(id).ok_or_else(|| match self.ci.missing.get(id) {
            Some(m) => Error::new(
                ErrorKind::NotFound,
                format!("it was in pack {}, which is missing", pack_key(&self.ci.missing_packs[*m as usize])),
            ),
            None => Error::corrupt("it is in no index object"),
        })?;
        Ok(read_piece(self.rt, self.backend, self.keys, self.ci, id, loc, BlobKind::Tree)?.0)
    }
}

/// The lost ranges of `snap`, judging by the index and the tree (blocking).
fn scan(
    rt: &tokio::runtime::Handle,
    backend: &Arc<dyn Backend>,
    keys: &Keys,
    ci: &CheckedIndex,
    snap: &Snapshot,
) -> Result<Lost> {
    let mut src = Nodes { rt, backend, keys, ci };
    let mut walk = Walk::new(snap.root_id(), snap.size);
    let mut lost = Lost::default();
    while let Some(ev) = walk.next(&mut src)? {
        match ev {
            Event::Chunk { id, len, offset } => {
                if let Some(r) = chunk_missing(ci, &id, len) {
                    lost.push(offset, len as u64, || r);
                }
            }
            Event::Lost { node, offset, len, error } => {
                lost.push(offset, len, || format!("tree node {} is unreadable: {error}", node.short()))
            }
            Event::Enter | Event::Exit { .. } | Event::Skipped => {}
        }
    }
    Ok(lost)
}

impl Repository {
    /// Find snapshots that lost data and, with `rewrite`, write repaired copies (see the
    /// module docs).
    pub async fn repair_snapshots(&self, opts: &RepairSnapshotsOptions) -> Result<RepairSnapshotsReport> {
        if opts.delete_originals && !opts.rewrite {
            return Err(Error::invalid("deleting originals needs rewriting them first (--rewrite-damaged)"));
        }
        if !opts.rewrite {
            return self.repair_snapshots_leased(opts, None).await;
        }
        let lease = self.acquire_lease(LeaseKind::Push, "(repair snapshots)").await?;
        let r = self.repair_snapshots_leased(opts, Some(&lease)).await;
        if let Err(e) = lease.release().await {
            tracing::warn!("removing the repair's lease (it expires by itself): {e}");
        }
        r
    }

    async fn repair_snapshots_leased(
        &self,
        opts: &RepairSnapshotsOptions,
        lease: Option<&Lease>,
    ) -> Result<RepairSnapshotsReport> {
        let mut report = RepairSnapshotsReport::default();
        let marked = self.marked_packs().await.map_err(|e| e.context("reading deletion marks"))?;
        // Listed in the reverse of the order writers store them (packs, index, snapshot), so
        // that whatever a listed snapshot needs is in the later listings: a snapshot committed
        // meanwhile must never look damaged.
        let snap_objs = self.backend.list("snapshots/").await?;
        let index_objs = self.backend.list("index/").await?;
        let existing: IdSet =
            self.backend.list("packs/").await?.iter().filter_map(|o| pack_id_of_key(&o.key)).collect();
        let ci = self.load_index_checked(index_objs, &existing, &marked, |_, _| {}).await?;
        if !ci.damaged.is_empty() || !ci.missing_packs.is_empty() {
            let mut what = Vec::new();
            if !ci.damaged.is_empty() {
                what.push(format!("{} damaged index object(s) ({})", ci.damaged.len(), ci.damaged[0].0));
            }
            if !ci.missing_packs.is_empty() {
                what.push(format!(
                    "entries for {} pack(s) that do not exist ({})",
                    ci.missing_packs.len(),
                    pack_key(&ci.missing_packs[0])
                ));
            }
            let msg = format!(
                "the index has {}: run `kando repository repair index` first, so that pulls of repaired snapshots do \
                 not look for them",
                what.join(" and ")
            );
            if opts.rewrite {
                return Err(Error::corrupt(msg));
            }
            report.notes.push(msg);
        }

        let mut snaps: Vec<SnapshotEntry> = Vec::new();
        for o in snap_objs {
            let Ok(id) = Id::from_hex(o.key.trim_start_matches("snapshots/")) else { continue };
            match self.load_snapshot(&id).await {
                Ok(snapshot) => snaps.push(SnapshotEntry { id, snapshot }),
                Err(e) if is_damage(&e) => {
                    report.notes.push(format!("{} cannot be repaired: its own object is damaged or gone ({e})", o.key))
                }
                Err(e) => return Err(e),
            }
        }
        snaps.sort_by(|a, b| a.snapshot.time_key().cmp(&b.snapshot.time_key()).then(a.id.cmp(&b.id)));
        report.snapshots = snaps.len() as u64;
        // Originals already repaired by an earlier run → their repaired copy.
        let repaired_from: HashMap<String, String> = snaps
            .iter()
            .flat_map(|s| {
                s.snapshot
                    .tags
                    .iter()
                    .filter_map(|t| t.strip_prefix("repaired-from:"))
                    .map(|o| (o.to_string(), s.id.to_hex()))
            })
            .collect();

        let ci = Arc::new(ci);
        let rt = tokio::runtime::Handle::current();
        for s in snaps {
            let earlier = repaired_from.get(&s.id.to_hex()).cloned();
            // With data reading, one pass finds the loss and (when asked to) writes the copy.
            let write_now = opts.rewrite && earlier.is_none();
            let (lost, mut pass) = if opts.read_data {
                let p = self.rewrite_pass(&s, &ci, &marked, write_now).await?;
                (Lost(p.lost.0.clone()), Some(p))
            } else {
                let (rt2, backend, keys, ci2, snap) =
                    (rt.clone(), self.backend.clone(), self.keys.clone(), ci.clone(), s.snapshot.clone());
                let lost = tokio::task::spawn_blocking(move || scan(&rt2, &backend, &keys, &ci2, &snap))
                    .await
                    .map_err(|e| Error::new(ErrorKind::Io, format!("snapshot scan task: {e}")))??;
                (lost, None)
            };
            if lost.0.is_empty() {
                continue;
            }
            let mut entry = SnapshotRepair {
                id: s.id.to_hex(),
                path: s.snapshot.path.clone(),
                time: s.snapshot.time.clone(),
                size: s.snapshot.size,
                lost_bytes: lost.bytes(),
                lost: lost.0,
                new_snapshot: None,
                original_deleted: false,
                not_rewritten: None,
            };
            if let (true, Some(copy)) = (opts.rewrite, earlier) {
                // Repaired by an earlier run: do not write a second copy.
                entry.not_rewritten = Some(format!("already repaired as snapshot {}", &copy[..8]));
                entry.new_snapshot = Some(copy);
                if opts.delete_originals {
                    self.delete_snapshot(&s.id).await?;
                    entry.original_deleted = true;
                }
            } else if opts.rewrite {
                if entry.lost_bytes >= s.snapshot.size {
                    entry.not_rewritten = Some("every byte of it is lost: there is nothing left to keep".into());
                } else {
                    let new = match pass.take() {
                        Some(p) => p,
                        None => self.rewrite_pass(&s, &ci, &marked, true).await?,
                    };
                    self.commit_repaired(&s, new, lease, opts, &mut entry).await?;
                }
            }
            report.damaged.push(entry);
        }
        Ok(report)
    }

    /// Read snapshot `s` through, finding what is lost; with `write`, store the zero chunks and
    /// tree nodes of its repaired copy (blocking work on a thread of its own).
    async fn rewrite_pass(
        &self,
        s: &SnapshotEntry,
        ci: &Arc<CheckedIndex>,
        marked: &IdSet,
        write: bool,
    ) -> Result<Rewritten> {
        let (rt, backend, keys, ci2, snap, marked2) = (
            tokio::runtime::Handle::current(),
            self.backend.clone(),
            self.keys.clone(),
            ci.clone(),
            s.snapshot.clone(),
            marked.clone(),
        );
        let pack_target = self.config.pack_target as usize;
        tokio::task::spawn_blocking(move || {
            let mut w = Rewriter {
                rt: &rt,
                backend: &backend,
                keys: &keys,
                ci: &ci2,
                marked: &marked2,
                pack_target,
                write,
                written: IdSet::default(),
                pack: PackBuilder::default(),
                index: IndexFile::default(),
                sealed: Vec::new(),
                stats: SnapshotStats::default(),
                zero_ids: HashMap::new(),
                zeros: vec![0u8; ZERO_PIECE as usize],
                frames: Vec::new(),
            };
            w.rewrite(&snap)
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("snapshot rewrite task: {e}")))?
        .map_err(|e| e.context(format!("reading snapshot {}", s.id.short())))
    }

    /// Write the index and the snapshot object of a repaired copy.
    async fn commit_repaired(
        &self,
        s: &SnapshotEntry,
        new: Rewritten,
        lease: Option<&Lease>,
        opts: &RepairSnapshotsOptions,
        entry: &mut SnapshotRepair,
    ) -> Result<()> {
        if !new.index.packs.is_empty() {
            self.write_index(&new.index).await.map_err(|e| e.context("writing the index of a repaired snapshot"))?;
        }
        let mut tags = s.snapshot.tags.clone();
        let mut tag = |t: String| {
            if !tags.contains(&t) {
                tags.push(t);
            }
        };
        tag("repaired".into());
        tag(format!("repaired-from:{}", s.id));
        for r in &new.lost.0 {
            tag(format!("lost:{}+{}", r.offset, r.len));
        }
        let snap = Snapshot {
            version: 1,
            path: s.snapshot.path.clone(),
            tags,
            time: just_before(&s.snapshot.time),
            hostname: s.snapshot.hostname.clone(),
            size: s.snapshot.size,
            blake3: new.hash.to_hex().to_string(),
            root: new.root.to_hex(),
            stats: new.stats,
            program: format!("kando {} (repair snapshots)", env!("CARGO_PKG_VERSION")),
        };
        if let Some(l) = lease {
            l.check_continuous().await?;
        }
        let obj = self.seal_meta(SNAPSHOT_MAGIC, &snap.to_json());
        let id = self.put_named("snapshots", obj).await.map_err(|e| e.context("writing a repaired snapshot"))?;
        tracing::info!(
            "snapshot {} repaired as {} ({} bytes replaced by zeros)",
            s.id.short(),
            id.short(),
            new.lost.bytes()
        );
        entry.lost_bytes = new.lost.bytes();
        entry.lost = new.lost.0;
        entry.new_snapshot = Some(id.to_hex());
        if opts.delete_originals {
            self.delete_snapshot(&s.id).await.map_err(|e| {
                e.context(format!(
                    "deleting the original of repaired snapshot {} (the repaired copy is written)",
                    id.short()
                ))
            })?;
            entry.original_deleted = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_ranges_merge_when_adjacent() {
        let mut l = Lost::default();
        l.push(0, 10, || "a".into());
        l.push(10, 5, || "b".into());
        l.push(20, 5, || "c".into());
        l.push(25, 0, || "empty".into());
        assert_eq!(l.0.len(), 2);
        assert_eq!((l.0[0].offset, l.0[0].len, l.0[0].pieces, l.0[0].reason.as_str()), (0, 15, 2, "a"));
        assert_eq!(l.bytes(), 20);
    }

    #[test]
    fn a_repaired_snapshot_sorts_just_before_its_original() {
        let t = "2026-11-23T02:00:00.000000000Z";
        let b = just_before(t);
        assert_eq!(b, "2026-11-23T01:59:59.999999999Z");
        assert!(crate::time::parse_rfc3339(&b).unwrap() < crate::time::parse_rfc3339(t).unwrap());
        assert_eq!(just_before("2026-11-23T02:00:00.5Z"), "2026-11-23T02:00:00.499999999Z");
    }
}
