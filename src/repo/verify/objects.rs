//! verify's first stages: config, listing, snapshot objects, deletion marks, index objects,
//! hook tables.
//!
//! Must not: read pack data or walk trees (packs.rs, trees.rs).

use super::packs::{PackDigest, digest};
use super::{Indexed, Listed, ProblemKind, Run, SNAPSHOT_READS, VerifyProgress};
use crate::backend::ObjectInfo;
use crate::error::{Error, ErrorKind, Result};
use crate::format::config::{CONFIG_MAGIC, Config};
use crate::format::locator::{LocBlob, Locator};
use crate::format::pack::{BlobHeader, BlobKind};
use crate::format::snapshot::{SNAPSHOT_MAGIC, Snapshot};
use crate::format::table;
use crate::id::{Id, IdMap, IdSet};
use crate::repo::hooks::{HOOK_MAGIC, HOOK_PREFIX};
use crate::repo::locators::{LOC_MAGIC, LOC_PREFIX};
use crate::repo::walk::{is_damage, pack_id_of_key};
use crate::repo::{SnapshotEntry, for_each_bounded, open_meta, pack_key};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The blobs of every pack whose header verify read: (pack, offset) → (sealed length, decoded
/// length, kind).
pub(super) type HeaderBlobs = HashMap<(Id, u32), (u32, u32, BlobKind)>;

/// A check of every value of a sorted table (given the table's name).
type ValueCheck = Arc<dyn Fn(&str, &[u8]) -> Result<()> + Send + Sync>;

impl Run<'_> {
    /// The config opens with the master key and parses.
    pub(super) async fn config(&mut self) -> Result<()> {
        self.progress.set_stage("config");
        match self.repo.backend.get("config").await {
            Ok(b) => {
                VerifyProgress::add(&self.progress.bytes_read, b.len() as u64);
                if let Err(e) =
                    open_meta(&self.repo.keys, CONFIG_MAGIC, &b, &"config").and_then(|j| Config::from_json(&j))
                {
                    self.f.add(&self.progress, ProblemKind::Config, "config".into(), format!("is damaged: {e}"));
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.f.add(&self.progress, ProblemKind::Config, "config".into(), "is missing".into());
            }
            Err(e) => return Err(e.context("reading the config")),
        }
        Ok(())
    }

    /// The objects to check, and notes on those verify does not check.
    pub(super) async fn listing(&mut self) -> Result<Listed> {
        self.progress.set_stage("listing");
        // Objects verify does not check, for the notes.
        let (mut other, mut maintenance) = (Vec::new(), 0u64);
        for o in self.repo.backend.list("").await.map_err(|e| e.context("listing the repository"))? {
            match o.key.split('/').next().unwrap_or("") {
                "config" | "keys" => {}
                "snapshots" if Id::from_hex(o.key.trim_start_matches("snapshots/")).is_ok() => {}
                "index" if Id::from_hex(o.key.trim_start_matches("index/")).is_ok() => {}
                "packs" if pack_id_of_key(&o.key).is_some() => {}
                "hooks" if Id::from_hex(o.key.trim_start_matches(HOOK_PREFIX)).is_ok() => {}
                "locs" if Id::from_hex(o.key.trim_start_matches(LOC_PREFIX)).is_ok() => {}
                "leases" | "gc" | "maintenance" => maintenance += 1,
                _ => other.push(o.key),
            }
        }
        // The objects to check, listed in the reverse of the order writers store them
        // (packs, index, snapshot): whatever a listed snapshot needs is in the later listings,
        // even if a push commits meanwhile.
        let backend = &self.repo.backend;
        let list = |prefix: &'static str| async move {
            backend.list(prefix).await.map_err(|e| e.context(format!("listing {prefix}")))
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
        // Hook tables are written after their snapshot and merged by gc: listed last, so a
        // table that gc merged away meanwhile is simply gone when read.
        let hook_objs: Vec<ObjectInfo> = list(HOOK_PREFIX)
            .await?
            .into_iter()
            .filter(|o| Id::from_hex(o.key.trim_start_matches(HOOK_PREFIX)).is_ok())
            .collect();
        // Locator tables are replaced by gc and compaction: listed last too.
        let loc_objs: Vec<ObjectInfo> = list(LOC_PREFIX)
            .await?
            .into_iter()
            .filter(|o| Id::from_hex(o.key.trim_start_matches(LOC_PREFIX)).is_ok())
            .collect();
        self.report.packs = packs.len() as u64;
        if maintenance > 0 {
            self.report.notes.push(format!(
                "{maintenance} lease, gc and maintenance-schedule object(s) were not checked (they belong to running \
                 or finished maintenance)"
            ));
        }
        if !other.is_empty() {
            self.report.notes.push(format!(
                "{} object(s) outside the repository layout were not checked (e.g. backups written by upstream \
                 kando): {}{}",
                other.len(),
                other.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
                if other.len() > 5 { ", …" } else { "" }
            ));
        }
        Ok(Listed { snap_objs, index_objs, hook_objs, loc_objs, packs })
    }

    /// Snapshot objects: named by their BLAKE3, authenticate, decode. Returns the good ones,
    /// oldest first.
    pub(super) async fn snapshot_objects(&mut self, snap_objs: Vec<ObjectInfo>) -> Result<Vec<SnapshotEntry>> {
        // Snapshot objects.
        self.progress.set_stage("snapshot objects");
        let mut snaps: Vec<SnapshotEntry> = Vec::with_capacity(snap_objs.len());
        {
            let task = |o: ObjectInfo| {
                let (b, k) = (self.repo.backend.clone(), self.repo.keys.clone());
                async move {
                    let got = b.get_if_exists(&o.key).await.map_err(|e| e.context(format!("reading {}", o.key)))?;
                    let Some(bytes) = got else { return Ok((o.key, 0, None)) };
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
                VerifyProgress::add(&self.progress.bytes_read, n);
                VerifyProgress::add(&self.progress.objects, 1);
                match r {
                    None => self.report.notes.push(format!("{key} was deleted while verify ran")),
                    Some(Ok(snapshot)) => {
                        let id = Id::from_hex(key.trim_start_matches("snapshots/")).expect("filtered above");
                        snaps.push(SnapshotEntry { id, snapshot });
                    }
                    Some(Err(e)) => {
                        self.f.add(&self.progress, ProblemKind::Snapshot, key, format!("is damaged: {e}"));
                    }
                }
                Ok(())
            })
            .await?;
        }
        snaps.sort_by(|a, b| a.snapshot.time_key().cmp(&b.snapshot.time_key()).then(a.id.cmp(&b.id)));
        self.report.snapshots =
            snaps.len() as u64 + self.f.problems.iter().filter(|p| p.0.kind == ProblemKind::Snapshot).count() as u64;
        Ok(snaps)
    }

    /// Deletion marks (a damaged one is a problem, and then none count).
    pub(super) async fn marks(&mut self) -> Result<IdSet> {
        // Deletion marks: pulls prefer copies outside marked packs, and so does the check.
        match self.repo.marked_packs().await {
            Ok(m) => Ok(m),
            Err(e) if is_damage(&e) => {
                self.f.add(
                    &self.progress,
                    ProblemKind::Maintenance,
                    "gc/marks/".into(),
                    format!("a deletion mark is damaged: {e}"),
                );
                Ok(IdSet::default())
            }
            Err(e) => Err(e.context("reading deletion marks")),
        }
    }

    /// Hook tables: named by their BLAKE3, every block and the footer authenticate and decode.
    /// One gone meanwhile (merged by a gc) is skipped.
    pub(super) async fn hook_tables(&mut self, objs: Vec<ObjectInfo>) -> Result<()> {
        self.progress.set_stage("hook tables");
        let cost = "it only guides deduplication, so no data is lost; the next gc rewrites the hook tables without it";
        self.report.hook_tables =
            self.tables(objs, HOOK_PREFIX, HOOK_MAGIC, ProblemKind::HookTable, cost, None).await?;
        Ok(())
    }

    /// Locator tables: as hook tables, and every record decodes and names only packs that
    /// exist (gc replaces the tables before it deletes a pack). A pack missing from the listing
    /// is looked up again before it is reported: a compaction running meanwhile may have
    /// written it, and then a table naming it. In a pack whose header verify read, every blob a
    /// record names must be one the header lists there (same lengths, a tree blob for the node,
    /// data blobs for the entries) and every entry must start inside its blob: a record that
    /// fails this points at the wrong bytes (packs whose header did not open, or written after
    /// the listing, are not judged).
    pub(super) async fn locator_tables(
        &mut self,
        objs: Vec<ObjectInfo>,
        packs: &IdMap<u64>,
        headers: HeaderBlobs,
    ) -> Result<()> {
        self.progress.set_stage("locator tables");
        let cost = "pulls check every chunk they read and fall back to the index, but a push counts the chunks a record locates as stored (it checks only that the packs exist): run gc, which rewrites every locator table, before the next push";
        let listed: Arc<IdSet> = Arc::new(packs.keys().copied().collect());
        let read: Arc<IdSet> = Arc::new(headers.keys().map(|k| k.0).collect());
        let blobs = Arc::new(headers);
        let unlisted: Arc<Mutex<Vec<(String, Id)>>> = Arc::default();
        let check: ValueCheck = {
            let unlisted = unlisted.clone();
            Arc::new(move |table: &str, v: &[u8]| {
                let l = Locator::decode(v)?;
                let fits = |b: &LocBlob, kind: BlobKind| {
                    let pack = l.packs[b.pack as usize];
                    !read.contains(&pack) || blobs.get(&(pack, b.offset)) == Some(&(b.sealed_len, b.raw_len, kind))
                };
                let entries_fit = l.entries.iter().all(|(b, inner)| *inner < l.blobs[*b as usize].raw_len);
                if !fits(&l.node, BlobKind::Tree) || !l.blobs.iter().all(|b| fits(b, BlobKind::Data)) || !entries_fit {
                    return Err(Error::corrupt("a record names a place in a pack whose header lists no such blob"));
                }
                let mut u = unlisted.lock().unwrap();
                u.extend(l.packs.iter().filter(|p| !listed.contains(*p)).map(|p| (table.to_string(), *p)));
                Ok(())
            })
        };
        self.report.locator_tables =
            self.tables(objs, LOC_PREFIX, LOC_MAGIC, ProblemKind::LocatorTable, cost, Some(check)).await?;
        let mut unlisted = std::mem::take(&mut *unlisted.lock().unwrap());
        unlisted.sort();
        unlisted.dedup();
        let mut reported = std::collections::HashSet::new();
        for (table, p) in unlisted {
            if reported.contains(&table) {
                continue;
            }
            let key = pack_key(&p);
            let exists = self.repo.backend.size(&key).await.map_err(|e| e.context(format!("looking up {key}")))?;
            if exists.is_none() && self.repo.backend.size(&table).await?.is_some() {
                reported.insert(table.clone());
                self.f.add(
                    &self.progress,
                    ProblemKind::LocatorTable,
                    table,
                    format!("names pack {key}, which does not exist ({cost})"),
                );
            }
        }
        Ok(())
    }

    /// Sorted tables under `prefix`: named by their BLAKE3, every block and the footer
    /// authenticate and decode, and every value passes `check`; a damaged one is a `problem`
    /// whose detail ends with `cost`. One gone meanwhile (replaced by a gc) is skipped.
    /// Returns the number checked.
    async fn tables(
        &mut self,
        objs: Vec<ObjectInfo>,
        prefix: &'static str,
        magic: &'static [u8; 8],
        problem: ProblemKind,
        cost: &str,
        check: Option<ValueCheck>,
    ) -> Result<u64> {
        let task = |o: ObjectInfo| {
            let (b, k, check) = (self.repo.backend.clone(), self.repo.keys.clone(), check.clone());
            async move {
                let got = b.get_if_exists(&o.key).await.map_err(|e| e.context(format!("reading {}", o.key)))?;
                let Some(bytes) = got else { return Ok((o.key, None)) };
                let key = o.key.clone();
                let checked = tokio::task::spawn_blocking(move || -> Result<()> {
                    if Id::of_bytes(&bytes).to_hex() != key.trim_start_matches(prefix) {
                        return Err(Error::corrupt("content does not match its name"));
                    }
                    let (_, blocks) = table::open_table(&k, magic, &bytes)?;
                    if let Some(check) = check {
                        for (_, v) in blocks.iter().flat_map(|b| b.iter()) {
                            check(&key, v)?;
                        }
                    }
                    Ok(())
                })
                .await
                .map_err(|e| Error::new(ErrorKind::Io, format!("table check task: {e}")))?;
                Ok((o.key, Some(checked)))
            }
        };
        let mut n = 0;
        for_each_bounded(objs, SNAPSHOT_READS, task, |r| {
            let (key, checked) = r?;
            let Some(checked) = checked else { return Ok(()) };
            n += 1;
            if let Err(e) = checked {
                self.f.add(&self.progress, problem, key, format!("is damaged: {e} ({cost})"));
            }
            Ok(())
        })
        .await?;
        Ok(n)
    }

    /// Index objects: named by their BLAKE3, authenticate, decode; what each records per pack.
    pub(super) async fn index_objects(
        &mut self,
        index_objs: Vec<ObjectInfo>,
        packs: &IdMap<u64>,
        marked: &IdSet,
    ) -> Result<Indexed> {
        // Index objects.
        self.progress.set_stage("index objects");
        let existing: IdSet = packs.keys().copied().collect();
        let mut index_names: Vec<String> = Vec::new();
        let mut records: IdMap<Vec<(u32, PackDigest)>> = IdMap::default();
        let ci = self
            .repo
            .load_index_checked(index_objs, &existing, marked, |key, file| {
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
                VerifyProgress::add(&self.progress.objects, 1);
            })
            .await
            .map_err(|e| e.context("reading the index"))?;
        VerifyProgress::add(&self.progress.bytes_read, ci.bytes);
        self.report.index_objects = ci.objects + ci.damaged.len() as u64;
        for (key, e) in &ci.damaged {
            self.f.add(
                &self.progress,
                ProblemKind::Index,
                key.clone(),
                format!("is damaged: {e} (every pull fails until `kando repository repair index` replaces it)"),
            );
        }
        let mut missing_problem = Vec::with_capacity(ci.missing_packs.len());
        for pack in &ci.missing_packs {
            let p = self.f.add(
                &self.progress,
                ProblemKind::PackMissing,
                pack_key(pack),
                "is missing (the index lists it; `kando repository repair index` drops it from the index, \
                 `repair snapshots` rewrites the snapshots that need it)"
                    .into(),
            );
            self.f.whole_pack.insert(*pack, p);
            missing_problem.push(p);
        }
        self.report.packs_indexed = records.keys().filter(|p| existing.contains(p)).count() as u64;
        Ok(Indexed { existing, names: index_names, records, ci, missing_problem })
    }
}
