//! verify's pack stages: every pack header against the index records (ranged reads), and with
//! data reading the selected packs whole.
//!
//! Must not: walk trees or attribute problems to snapshots (trees.rs does).

use super::objects::HeaderBlobs;
use super::{HEADER_READS, Indexed, MAX_BLOBS_DESCRIBED, ProblemKind, ReadData, Run, VerifyProgress};
use crate::backend::Backend;
use crate::crypto::Keys;
use crate::error::{Error, ErrorKind, Result};
use crate::format::index::IndexFile;
use crate::format::pack::{BlobHeader, BlobKind, read_header};
use crate::format::tree::Node;
use crate::id::{Id, IdMap};
use crate::repo::walk::{cut_piece, decode_index, is_damage, open_frame, read_pack_header};
use crate::repo::{for_each_bounded, pack_key};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// A digest of what one index object records for one pack, comparable with the pack header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PackDigest {
    hash: [u8; 32],
    blobs: u32,
    chunks: u32,
}

pub(super) fn digest<'a>(blobs: impl IntoIterator<Item = &'a BlobHeader>) -> PackDigest {
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
            let loc = crate::repo::read_index::ChunkLoc { blob: 0, inner, len: *len };
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

impl Run<'_> {
    /// A listed pack that was gone when read (a concurrent gc's sweep): a problem for every
    /// snapshot that needs it.
    fn pack_vanished(&mut self, id: Id) {
        let p = self.f.add(
            &self.progress,
            ProblemKind::PackMissing,
            pack_key(&id),
            "was deleted while verify ran (by a concurrent gc?)".into(),
        );
        self.f.whole_pack.insert(id, p);
    }

    /// Every pack's header (ranged reads) against what the index objects record for it.
    /// Returns the blobs the headers list (for the locator tables' check).
    pub(super) async fn pack_headers(&mut self, packs: &IdMap<u64>, idx: &Indexed) -> Result<HeaderBlobs> {
        let mut listed = HeaderBlobs::new();
        let (records, index_names) = (&idx.records, &idx.names);
        self.progress.set_stage("pack headers");
        let mut all_packs: Vec<(Id, u64)> = packs.iter().map(|(k, v)| (*k, *v)).collect();
        all_packs.sort();
        self.progress.packs_total.store(all_packs.len() as u64, Ordering::Relaxed);
        let (mut orphans, mut orphans_bad) = (0u64, Vec::new());
        {
            let task = |(id, size): (Id, u64)| {
                let (b, k) = (self.repo.backend.clone(), self.repo.keys.clone());
                async move {
                    let r = read_pack_header(&b, &k, &pack_key(&id), size).await;
                    Ok((id, r))
                }
            };
            for_each_bounded(all_packs.clone(), HEADER_READS, task, |r| {
                let (id, r) = r?;
                VerifyProgress::add(&self.progress.packs_done, 1);
                let key = pack_key(&id);
                let indexed = records.get(&id);
                if let Ok((blobs, _)) = &r {
                    listed.extend(blobs.iter().map(|b| ((id, b.offset), (b.sealed_len, b.raw_len, b.kind))));
                }
                match (r, indexed) {
                    (Ok((blobs, n)), Some(recs)) => {
                        VerifyProgress::add(&self.progress.bytes_read, n);
                        self.report.pack_headers_checked += 1;
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
                                self.f.add(
                                    &self.progress,
                                    ProblemKind::Index,
                                    index_names[*obj as usize].clone(),
                                    format!("disagrees with the header of pack {key}: {how}"),
                                );
                            }
                        }
                    }
                    (Ok((_, n)), None) => {
                        VerifyProgress::add(&self.progress.bytes_read, n);
                        orphans += 1;
                    }
                    (Err(e), Some(_)) if e.kind() == ErrorKind::NotFound => self.pack_vanished(id),
                    (Err(e), Some(_)) if is_damage(&e) => {
                        let p = self.f.add(
                            &self.progress,
                            ProblemKind::PackHeader,
                            key,
                            format!(
                                "has a damaged header: {e} (its data stays readable through the index, but \
                                 `repair index` cannot rebuild its entries)"
                            ),
                        );
                        self.f.header.insert(id, p);
                    }
                    (Err(e), None) if is_damage(&e) => orphans_bad.push(format!("{key}: {e}")),
                    (Err(e), _) => return Err(e.context(format!("reading the header of {key}"))),
                }
                Ok(())
            })
            .await?;
        }
        if orphans > 0 {
            self.report.notes.push(format!(
                "{orphans} pack(s) are in no index object (left by an interrupted push; the next push, or `kando \
                 repository repair index`, indexes them)"
            ));
        }
        if !orphans_bad.is_empty() {
            self.report.notes.push(format!(
                "{} pack(s) in no index object have a header that does not open (no snapshot needs them): {}",
                orphans_bad.len(),
                orphans_bad.join("; ")
            ));
        }
        Ok(listed)
    }

    /// With data reading: the selected packs read whole, every blob and chunk checked.
    pub(super) async fn pack_data(&mut self, idx: &Indexed) -> Result<()> {
        let (records, existing) = (&idx.records, &idx.existing);
        let mut candidates: Vec<Id> = records.keys().filter(|p| existing.contains(p)).copied().collect();
        candidates.sort();
        let selected = self.opts.read_data.select(&candidates);
        if self.opts.read_data != ReadData::None {
            self.progress.set_stage("pack data");
            self.progress.packs_total.store(selected.len() as u64, Ordering::Relaxed);
            let limit = if self.opts.pack_reads > 0 {
                self.opts.pack_reads
            } else {
                (std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) + 1).min(5)
            };
            let index_names = Arc::new(idx.names.clone());
            let task = |id: Id| {
                let (b, k) = (self.repo.backend.clone(), self.repo.keys.clone());
                let recs: Vec<(u32, PackDigest)> = records.get(&id).cloned().unwrap_or_default();
                let names = index_names.clone();
                async move {
                    let key = pack_key(&id);
                    let got = b.get_if_exists(&key).await.map_err(|e| e.context(format!("reading {key}")))?;
                    let Some(bytes) = got else { return Ok((id, 0, None)) };
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
                VerifyProgress::add(&self.progress.packs_done, 1);
                VerifyProgress::add(&self.progress.bytes_read, n);
                let key = pack_key(&id);
                let Some(out) = out else {
                    self.pack_vanished(id);
                    return Ok(());
                };
                self.report.packs_read += 1;
                self.report.blobs_read += out.blobs;
                self.report.chunks_read += out.chunks;
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
                    if self.f.header.contains_key(&id) {
                        return Ok(()); // Already reported as a damaged header.
                    }
                }
                let p = self.f.add(
                    &self.progress,
                    ProblemKind::PackDamaged,
                    key,
                    format!("is damaged: {}", detail.join("; ")),
                );
                for (_, ids, _) in out.bad {
                    for id in ids {
                        self.f.damaged.insert(id, p);
                    }
                }
                Ok(())
            })
            .await?;
        }
        Ok(())
    }
}
