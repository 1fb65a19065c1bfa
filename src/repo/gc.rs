//! Garbage collection without a lock that blocks pushes (docs/maintenance.md has the protocol
//! and the argument for why it is safe). One run:
//!
//! 1. takes the gc lease (`gc/leases/…`); if an older gc lease is alive, another gc or compaction
//!    is running: refuse;
//! 2. lists the writers' leases, then decides which earlier marks may be swept: a mark is
//!    sweepable once it is at least `min_age` old by the store's clock **and** no push or pull
//!    that started before it (or in the same second) is still alive;
//! 3. lists the snapshots (after step 2, so it sees what those finished pushes committed) and
//!    computes the live set;
//! 4. sweeps: rewrites the index without the sweepable marks' unneeded packs (new index objects
//!    first, then the old ones are deleted), deletes those packs, then the marks;
//! 5. marks: writes a new mark listing the indexed packs that hold nothing live (and are not
//!    marked already). With `min_age` 0 and no older writer alive, that mark is swept at once.
//!
//! Safety parameters (named, in [`GcOptions`]): `min_age` (default [`DEFAULT_MIN_AGE`]) and
//! the lease TTL (`LeaseTiming`, shared by every writer). Every step is create-only or an
//! idempotent delete, so a gc killed at any point leaves a repository that the next gc (or push)
//! completes: duplicates in the index, unindexed packs (re-indexed), or marks naming packs
//! already gone.
//!
//! This module must not run while another gc holds the lease, and never deletes a pack that a
//! live snapshot needs.

use super::lease::{self, Lease, LeaseInfo, LeaseKind};
use super::live::{PackUse, deletable, pack_uses};
use super::locators::LOC_PREFIX;
use super::marks::Mark;
use super::progress::StageProgress;
use super::read_index::ReadIndex;
use super::{Repository, pack_key};
use crate::error::{Error, ErrorKind, Result};
use crate::format::index::IndexFile;
use crate::format::pack::BlobKind;
use crate::id::{Id, IdMap, IdSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Default minimum age of a mark before its packs are deleted: covers clock granularity,
/// listings that lag, and pulls of compacted data (docs/maintenance.md).
pub const DEFAULT_MIN_AGE: Duration = Duration::from_secs(60 * 60);
/// Entries per rewritten index object.
pub const INDEX_OBJECT_CHUNKS: usize = 1 << 18;
/// Store timestamps may have one-second granularity: a writer that started within this of a
/// mark counts as having started before it.
const CLOCK_GRANULARITY: Duration = Duration::from_secs(1);

/// Options of a gc run.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// A mark is swept only once it is this old (store time). `0s` is safe only when no
    /// other process uses the repository (single writer, tests).
    pub min_age: Duration,
    /// Report what would happen; write and delete nothing.
    pub dry_run: bool,
    /// Updated as the run goes.
    pub progress: Arc<StageProgress>,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions { min_age: DEFAULT_MIN_AGE, dry_run: false, progress: Arc::default() }
    }
}

/// What a gc run did (or, dry, would do).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GcReport {
    /// Snapshots the live set came from.
    pub snapshots: usize,
    /// Packs indexed.
    pub packs: usize,
    /// Packs this run marked.
    pub marked_packs: usize,
    /// Bytes of those packs.
    pub marked_bytes: u64,
    /// Packs deleted.
    pub deleted_packs: usize,
    /// Bytes freed.
    pub deleted_bytes: u64,
    /// Marked packs kept because a snapshot needs them again.
    pub unmarked_packs: usize,
    /// Marks not swept yet: younger than min-age, or an older push/pull is still running.
    pub pending_marks: usize,
    /// Why marks wait (one line each).
    pub waiting: Vec<String>,
    /// Index objects before and after.
    pub index_objects_before: usize,
    /// After.
    pub index_objects_after: usize,
    /// Unindexed packs found and indexed (left by interrupted pushes).
    pub recovered_packs: usize,
    /// Hook tables (dedup hints, one per push) before and after merging.
    pub hook_tables_before: usize,
    /// After.
    pub hook_tables_after: usize,
    /// Locator tables (chunk locations per tree node, for pulls) before and after.
    pub locator_tables_before: usize,
    /// After.
    pub locator_tables_after: usize,
    /// Tree nodes read again to locate their chunks (those without a record that still holds:
    /// new snapshots' nodes, or all after a compaction).
    pub locator_nodes_read: usize,
}

/// The gc lease prefix (separate from writers' leases).
pub const GC_LEASE_PREFIX: &str = "gc/leases/";

/// Leases alive at `now`, and those that started no later than `t` (+ granularity).
fn blockers(leases: &[LeaseInfo], t: SystemTime, now: SystemTime, ttl: Duration) -> Vec<&LeaseInfo> {
    leases.iter().filter(|l| l.alive(now, ttl) && l.start <= t + CLOCK_GRANULARITY).collect()
}

fn age(now: SystemTime, t: SystemTime) -> Duration {
    now.duration_since(t).unwrap_or_default()
}

impl Repository {
    /// Take the gc lease (holding garbage collection and compaction off while it is held),
    /// refusing if any other one is alive. Returns the lease and the store's time at which it
    /// was taken.
    ///
    /// Any other, not only an older one: of two gcs starting together, the one whose lease
    /// became visible second always sees the first, but the first may have listed before the
    /// second's lease was visible and gone ahead; and store times need not follow visibility
    /// (a local put's time is when its data was written, before the fsync and link; an S3
    /// object's may be the request's start, or whole seconds). Two that see each other both
    /// refuse, which is safe (run again).
    pub async fn acquire_gc_lease(&self, what: &str) -> Result<(Lease, SystemTime)> {
        let lease = self.acquire_lease_at(GC_LEASE_PREFIX, LeaseKind::Gc, what).await?;
        // On an error the lease goes too: left behind, it would hold every gc off for a TTL.
        let listed = self.backend.list(GC_LEASE_PREFIX).await.and_then(|o| lease::group_at(GC_LEASE_PREFIX, &o));
        let all = match listed {
            Ok(all) => all,
            Err(e) => {
                let _ = lease.release().await;
                return Err(e);
            }
        };
        let mine = all.iter().find(|l| l.id == lease.id()).cloned();
        let Some(mine) = mine else {
            let _ = lease.release().await;
            return Err(Error::new(ErrorKind::Io, "the gc lease vanished right after it was written"));
        };
        let now = mine.last;
        let ttl = self.lease_timing.ttl;
        let other = all.iter().filter(|l| l.id != mine.id && l.alive(now, ttl)).max_by_key(|l| l.last);
        if let Some(o) = other {
            let _ = lease.release().await;
            return Err(Error::new(
                ErrorKind::Busy,
                format!(
                    "another garbage collection or compaction is running on {} (lease {}, renewed {:.0} s ago); run again when it is done (a crashed one stops counting after {:.0} s)",
                    self.location(),
                    &o.id[..12.min(o.id.len())],
                    age(now, o.last).as_secs_f64(),
                    ttl.as_secs_f64()
                ),
            ));
        }
        Ok((lease, now))
    }

    /// Delete the objects of writers' leases expired at `now` (crashed pushes and pulls, and
    /// failed pushes' ended leases once their records are a TTL old) and of dead gc leases.
    /// Safe: an expired lease already counts for nothing, and a holder that was only stalled
    /// finds its objects gone and refuses to commit ([`Lease::check_continuous`]).
    async fn remove_dead_leases(&self, writers: &[LeaseInfo], now: SystemTime, ttl: Duration) -> Result<()> {
        let gc_leases = lease::group_at(GC_LEASE_PREFIX, &self.backend.list(GC_LEASE_PREFIX).await?)?;
        let dead: Vec<String> = writers
            .iter()
            .chain(&gc_leases)
            .filter(|l| l.expired(now, ttl))
            .flat_map(|l| l.objects.iter().cloned())
            .collect();
        if !dead.is_empty() {
            tracing::info!("removing {} object(s) of leases dead for more than {:.0} s", dead.len(), ttl.as_secs_f64());
            self.backend.delete_many(&dead).await.map_err(|e| e.context("removing dead leases"))?;
        }
        Ok(())
    }

    /// Rewrite the index: one set of new objects with every indexed pack except `drop` (each
    /// pack once), written before the `old` objects are deleted. Returns the objects written.
    pub(crate) async fn rewrite_index(&self, files: Vec<IndexFile>, old: &[String], drop: &IdSet) -> Result<usize> {
        let mut seen = IdSet::default();
        let mut out = IndexFile::default();
        let mut written: Vec<String> = Vec::new();
        for f in files {
            let mut blobs_by_pack: IdMap<Vec<crate::format::pack::BlobHeader>> = IdMap::default();
            for (p, b) in f.blobs {
                blobs_by_pack.entry(f.packs[p as usize]).or_default().push(b);
            }
            for p in f.packs {
                if drop.contains(&p) || !seen.insert(p) {
                    continue;
                }
                let blobs = blobs_by_pack.remove(&p).unwrap_or_default();
                out.add_pack(p, blobs);
                if out.chunk_count() >= INDEX_OBJECT_CHUNKS {
                    written.push(format!("index/{}", self.write_index(&out).await?));
                    out = IndexFile::default();
                }
            }
        }
        if !out.packs.is_empty() {
            written.push(format!("index/{}", self.write_index(&out).await?));
        }
        // Only now the old objects go (a crash before leaves duplicates, never a gap). A new
        // object may have the same name as an old one (same content): keep it.
        let stale: Vec<String> = old.iter().filter(|k| !written.contains(k)).cloned().collect();
        self.backend.delete_many(&stale).await?;
        Ok(written.len())
    }

    /// Every index object with its key.
    pub(crate) async fn index_files(&self) -> Result<(Vec<IndexFile>, Vec<String>)> {
        let keys: Vec<String> = self.backend.list("index/").await?.into_iter().map(|o| o.key).collect();
        let mut files = Vec::new();
        self.for_each_index(|f| files.push(f)).await?;
        Ok((files, keys))
    }

    /// Collect garbage (see the module docs).
    pub async fn gc(&self, opts: &GcOptions) -> Result<GcReport> {
        let (gc_lease, now) = self.acquire_gc_lease("gc").await?;
        let res = self.gc_locked(opts, now).await;
        if let Err(e) = gc_lease.release().await {
            tracing::warn!("releasing the gc lease: {e}");
        }
        res
    }

    async fn gc_locked(&self, opts: &GcOptions, now: SystemTime) -> Result<GcReport> {
        let ttl = self.lease_timing.ttl;
        let mut rep = GcReport::default();
        // 1. Writers' leases first, then everything else: a push that finished after this
        //    listing has its snapshot in the listing below.
        opts.progress.enter("leases", 0);
        let writers = lease::list(self.backend.as_ref()).await?;
        if !opts.dry_run {
            self.remove_dead_leases(&writers, now, ttl).await?;
        }
        let marks = self.marks().await?;
        let mut sweepable: Vec<Mark> = Vec::new();
        for m in &marks {
            let old_enough = age(now, m.time) >= opts.min_age;
            let blocking = blockers(&writers, m.time, now, ttl);
            if old_enough && blocking.is_empty() {
                sweepable.push(m.clone());
            } else {
                rep.pending_marks += 1;
                rep.waiting.push(if !old_enough {
                    format!(
                        "{}: {:.0} s old, deleted once {:.0} s old",
                        m.key,
                        age(now, m.time).as_secs_f64(),
                        opts.min_age.as_secs_f64()
                    )
                } else {
                    format!("{}: waits for {} push/pull(s) started before it", m.key, blocking.len())
                });
            }
        }
        // 2. Snapshots and the live set. Snapshots before the index: a push writes its index
        //    object before its snapshot, so the index read next covers every snapshot listed
        //    (one that commits in between would otherwise name tree nodes in no index object).
        let snaps = self.snapshots().await?;
        rep.snapshots = snaps.len();
        let (mut files, mut old_index) = self.index_files().await?;
        rep.index_objects_before = old_index.len();
        // Packs of crashed pushes: indexed now, so that they are marked and reclaimed like any
        // other unneeded pack (a running push's packs are protected by its lease).
        if !opts.dry_run {
            let indexed: IdSet = files.iter().flat_map(|f| f.packs.iter().copied()).collect();
            let (found, key) = self.index_orphan_packs_keyed(&indexed).await?;
            rep.recovered_packs = found.packs.len();
            if let Some(k) = key {
                files.push(found);
                old_index.push(k);
            }
        }
        let (live, uses, nodes) = self.liveness(&files, &snaps, &opts.progress).await?;
        rep.packs = uses.len();
        let stored: IdMap<u64> = self
            .backend
            .list("packs/")
            .await?
            .into_iter()
            .filter_map(|o| {
                let id = Id::from_hex(o.key.rsplit('/').next()?).ok()?;
                (o.key == pack_key(&id)).then_some((id, o.size))
            })
            .collect();
        // 3. Sweep: a marked pack goes unless a snapshot needs something only it holds.
        let candidates: IdSet = sweepable.iter().flat_map(|m| m.packs.iter().copied()).collect();
        let (mut delete, kept) = deletable(&files, &live, &candidates);
        rep.unmarked_packs = kept.len();
        // 4. Mark what holds nothing live now.
        let already: IdSet = marks.iter().flat_map(|m| m.packs.iter().copied()).collect();
        let mut new_marks: Vec<Id> = uses
            .iter()
            .filter(|(p, u)| u.live_blobs == 0 && !already.contains(*p) && stored.contains_key(*p))
            .map(|(p, _)| *p)
            .collect();
        new_marks.sort();
        rep.marked_packs = new_marks.len();
        rep.marked_bytes = new_marks.iter().map(|p| stored.get(p).copied().unwrap_or(0)).sum();
        if opts.dry_run {
            rep.deleted_packs = delete.len();
            rep.deleted_bytes = delete.iter().map(|p| stored.get(p).copied().unwrap_or(0)).sum();
            rep.index_objects_after = rep.index_objects_before;
            return Ok(rep);
        }
        let mut swept_marks: Vec<String> = sweepable.iter().map(|m| m.key.clone()).collect();
        if !new_marks.is_empty() {
            let m = self.write_mark(&new_marks).await?;
            tracing::info!(
                "marked {} pack(s) no snapshot needs ({} bytes): {}",
                new_marks.len(),
                rep.marked_bytes,
                m.key
            );
            // With no minimum age, the new mark is swept now unless a writer that started
            // before it is alive (its snapshot may still need these packs).
            let writers = lease::list(self.backend.as_ref()).await?;
            if opts.min_age.is_zero() && blockers(&writers, m.time, m.time, ttl).is_empty() {
                // Snapshots committed since the live set was computed were written by writers
                // whose leases ended before this listing: recompute liveness for safety.
                let snaps2 = self.snapshots().await?;
                let live2 = if snaps2.len() != snaps.len() || snaps2.iter().zip(&snaps).any(|(a, b)| a.id != b.id) {
                    // Their tree nodes are in index objects written after `files` was read.
                    let mut ri = ReadIndex::default();
                    self.for_each_index(|f| {
                        let blobs = f.blobs.into_iter().filter(|(_, b)| b.kind == BlobKind::Tree).collect();
                        ri.add(IndexFile { packs: f.packs, blobs });
                    })
                    .await?;
                    Some(self.live_set(&ri, &snaps2, &opts.progress).await?)
                } else {
                    None
                };
                let still_dead = |p: &Id| match &live2 {
                    None => true,
                    Some(l) => {
                        let mut u = IdMap::default();
                        let mut s = IdSet::default();
                        for f in files.iter().filter(|f| f.packs.contains(p)) {
                            pack_uses(f, l, &mut s, &mut u);
                        }
                        u.get(p).is_none_or(|u: &PackUse| u.live_blobs == 0)
                    }
                };
                for p in &new_marks {
                    if still_dead(p) {
                        delete.insert(*p);
                    }
                }
                swept_marks.push(m.key.clone());
            } else {
                rep.pending_marks += 1;
                rep.waiting.push(if opts.min_age.is_zero() {
                    format!("{}: written now, waits for push/pull(s) started before it", m.key)
                } else {
                    format!("{}: written now, deleted once {:.0} s old", m.key, opts.min_age.as_secs_f64())
                });
            }
        }
        // Locator tables for pulls, naming no pack this run deletes; every older table goes
        // first (none may outlive a pack it names). Hints: failing to write them fails nothing,
        // but failing to remove the old ones stops the sweep.
        opts.progress.enter("locators", 0);
        let marked_now: IdSet =
            already.iter().chain(&new_marks).filter(|p| !kept.contains(*p) && !delete.contains(*p)).copied().collect();
        match self.write_locators(&files, &live, nodes, &delete, &marked_now).await {
            Ok(n) => (rep.locator_tables_before, rep.locator_tables_after, rep.locator_nodes_read) = n,
            Err(e) => {
                tracing::warn!("writing locator tables (pulls scan the index instead): {e}");
                let old: Vec<String> = self.backend.list(LOC_PREFIX).await?.into_iter().map(|o| o.key).collect();
                rep.locator_tables_before = old.len();
                self.backend
                    .delete_many(&old)
                    .await
                    .map_err(|e| e.context("removing locator tables before a sweep"))?;
            }
        }
        if !delete.is_empty() {
            opts.progress.enter("sweeping", delete.len() as u64);
            rep.index_objects_after = self.rewrite_index(files, &old_index, &delete).await?;
            let keys: Vec<String> = delete.iter().map(pack_key).collect();
            rep.deleted_packs = delete.len();
            rep.deleted_bytes = delete.iter().map(|p| stored.get(p).copied().unwrap_or(0)).sum();
            self.backend.delete_many(&keys).await.map_err(|e| e.context("deleting unneeded packs"))?;
            tracing::info!("deleted {} pack(s), {} bytes", rep.deleted_packs, rep.deleted_bytes);
        } else if old_index.len()
            > files.iter().map(|f| f.chunk_count()).sum::<usize>().div_ceil(INDEX_OBJECT_CHUNKS).max(1)
        {
            // Nothing to drop, but more index objects than needed (one per push): merge them.
            opts.progress.enter("index", 0);
            rep.index_objects_after = self.rewrite_index(files, &old_index, &IdSet::default()).await?;
        } else {
            rep.index_objects_after = rep.index_objects_before;
        }
        self.backend.delete_many(&swept_marks).await?;
        opts.progress.enter("hooks", 0);
        (rep.hook_tables_before, rep.hook_tables_after) =
            self.merge_hooks().await.map_err(|e| e.context("merging the hook tables"))?;
        Ok(rep)
    }
}
