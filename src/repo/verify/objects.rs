//! verify's first stages: config, listing, snapshot objects, deletion marks, index objects,
//! hook tables.
//!
//! Must not: read pack data or walk trees (packs.rs, trees.rs).

use super::packs::{PackDigest, digest};
use super::{Indexed, Listed, ProblemKind, Run, SNAPSHOT_READS, VerifyProgress};
use crate::backend::ObjectInfo;
use crate::error::{Error, ErrorKind, Result};
use crate::format::config::{CONFIG_MAGIC, Config};
use crate::format::pack::BlobHeader;
use crate::format::snapshot::{SNAPSHOT_MAGIC, Snapshot};
use crate::format::table;
use crate::id::{Id, IdMap, IdSet};
use crate::repo::hooks::{HOOK_MAGIC, HOOK_PREFIX};
use crate::repo::walk::{is_damage, pack_id_of_key};
use crate::repo::{SnapshotEntry, for_each_bounded, open_meta, pack_key};

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
        Ok(Listed { snap_objs, index_objs, hook_objs, packs })
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
        let task = |o: ObjectInfo| {
            let (b, k) = (self.repo.backend.clone(), self.repo.keys.clone());
            async move {
                let got = b.get_if_exists(&o.key).await.map_err(|e| e.context(format!("reading {}", o.key)))?;
                let Some(bytes) = got else { return Ok((o.key, None)) };
                let key = o.key.clone();
                let checked = tokio::task::spawn_blocking(move || -> Result<()> {
                    if Id::of_bytes(&bytes).to_hex() != key.trim_start_matches(HOOK_PREFIX) {
                        return Err(Error::corrupt("content does not match its name"));
                    }
                    table::open_table(&k, HOOK_MAGIC, &bytes).map(|_| ())
                })
                .await
                .map_err(|e| Error::new(ErrorKind::Io, format!("hook table check task: {e}")))?;
                Ok((o.key, Some(checked)))
            }
        };
        for_each_bounded(objs, SNAPSHOT_READS, task, |r| {
            let (key, checked) = r?;
            let Some(checked) = checked else { return Ok(()) };
            self.report.hook_tables += 1;
            if let Err(e) = checked {
                self.f.add(
                    &self.progress,
                    ProblemKind::HookTable,
                    key,
                    format!(
                        "is damaged: {e} (it only guides deduplication, so no data is lost; the next gc \
                         rewrites the hook tables without it)"
                    ),
                );
            }
            Ok(())
        })
        .await
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
