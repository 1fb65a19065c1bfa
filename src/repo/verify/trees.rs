//! verify's last stage: every snapshot's tree walked from its root, every problem attributed
//! to the snapshots it affects.
//!
//! Must not: read pack data (packs.rs) or write anything.

use super::{DamagedSnapshot, Findings, ProblemKind, Run, VerifyProgress, snapshot_ref};
use crate::backend::Backend;
use crate::crypto::Keys;
use crate::error::{Error, ErrorKind, Result};
use crate::format::pack::BlobKind;
use crate::id::{Id, IdMap};
use crate::repo::SnapshotEntry;
use crate::repo::walk::{CheckedIndex, Event, NodeSource, Walk, blob_name, read_piece};
use std::sync::Arc;
use std::sync::atomic::Ordering;

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

impl Run<'_> {
    /// Walk every snapshot's tree (on a blocking thread); `missing_for_walk` are the problems of
    /// the indexed packs that do not exist, in the order of `ci.missing_packs`.
    pub(super) async fn trees(
        &mut self,
        ci: CheckedIndex,
        snaps: Vec<SnapshotEntry>,
        missing_for_walk: Vec<usize>,
    ) -> Result<Vec<SnapshotEntry>> {
        let mut f = std::mem::take(&mut self.f);
        self.progress.set_stage("trees");
        self.progress.snapshots_total.store(snaps.len() as u64, Ordering::Relaxed);
        let ci = Arc::new(ci);
        let (rt, backend, keys, prog) = (
            tokio::runtime::Handle::current(),
            self.repo.backend.clone(),
            self.repo.keys.clone(),
            self.progress.clone(),
        );
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
        self.report.tree_nodes = counts.tree_nodes;
        self.report.chunk_refs = counts.chunk_refs;
        self.report.damaged_snapshots = damaged;
        self.f = f;
        Ok(snaps)
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
