//! Leases: how pushes, pulls and garbage collection announce themselves in the repository, so
//! that garbage collection never deletes what a running push or pull may still need, without
//! any lock that blocks pushes (docs/maintenance.md has the protocol and its safety argument).
//!
//! A lease is a run of small sealed objects `leases/<lease-id>/<seq>` (docs/format.md §10): the
//! holder writes `seq` 0 when it starts and a new one every [`LeaseTiming::refresh`] while it
//! runs, and deletes them all when it ends. Ages are read from the store's own modification
//! times (never this machine's clock): a lease started when its first object was written, and
//! is alive while its newest object is younger than [`LeaseTiming::ttl`], measured against the
//! newest object *any* reader can see being written ("store now", see [`store_now`]).
//!
//! A holder that was silent for longer than the TTL (a stalled or suspended process) may have
//! been taken for dead: [`Lease::check_continuous`] finds such a gap from the timestamps of its
//! own objects, and a push then refuses to commit its snapshot.
//!
//! This module writes and reads lease objects; it decides nothing about packs.

use super::Repository;
use crate::backend::{Backend, ObjectInfo};
use crate::crypto::Keys;
use crate::error::{Error, ErrorKind, Result};
use crate::format::strip_magic;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// Magic of a lease object.
pub const LEASE_MAGIC: &[u8; 8] = b"KRLEAS01";
/// Prefix of lease objects.
pub const LEASE_PREFIX: &str = "leases/";
/// Name of the object that ends a lease whose holder failed but leaves records for the next
/// push of its path (`leases/<id>/end`): the lease no longer counts as alive.
pub const END_NAME: &str = "end";

/// How long a lease lives without a refresh, and how often holders refresh it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    /// A lease whose newest object is older than this is dead.
    pub ttl: Duration,
    /// Holders write a new object this often (a sixth of the TTL by default).
    pub refresh: Duration,
    /// A push records the index objects it has written in a new lease object at most this
    /// often (a sixtieth of the refresh: 5 s by default), so that a push resuming it after a
    /// crash finds their data ([`Lease::record_index`]).
    pub record: Duration,
}

impl Default for LeaseTiming {
    fn default() -> Self {
        LeaseTiming::with_ttl(Duration::from_secs(30 * 60))
    }
}

impl LeaseTiming {
    /// A TTL with the default refresh rate (TTL / 6).
    pub fn with_ttl(ttl: Duration) -> LeaseTiming {
        LeaseTiming { ttl, refresh: ttl / 6, record: ttl / 360 }
    }

    /// The timing for this process: the default, or `KANREPO_TESTING_LEASE_TTL_MS` (for
    /// tests only: every writer of a repository must use the same TTL).
    pub fn from_env() -> LeaseTiming {
        match std::env::var("KANREPO_TESTING_LEASE_TTL_MS").ok().and_then(|v| v.parse::<u64>().ok()) {
            Some(ms) if ms > 0 => LeaseTiming::with_ttl(Duration::from_millis(ms)),
            _ => LeaseTiming::default(),
        }
    }
}

/// What a lease is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaseKind {
    /// A push (writes packs, then a snapshot).
    Push,
    /// A pull (reads packs).
    Pull,
    /// Garbage collection or compaction (at most one at a time).
    Gc,
}

/// The sealed content of a lease object (informational: the protocol uses only the names and
/// the store's timestamps).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LeaseBody {
    /// What the holder does.
    pub kind: LeaseKind,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// Program and version.
    pub program: String,
    /// The snapshot path of a push or pull.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// Index objects (`index/<id>`) a push wrote since its previous object that listed any
    /// (see [`Lease::record_index`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub index: Vec<String>,
}

/// A lease as others see it, from listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseInfo {
    /// The lease id (hex).
    pub id: String,
    /// When its first object was written (store time).
    pub start: SystemTime,
    /// When its newest object was written (store time).
    pub last: SystemTime,
    /// Objects it consists of.
    pub objects: Vec<String>,
    /// Its holder ended it ([`Lease::end`]): it protects nothing any more, and stays only for
    /// the index records it carries.
    pub ended: bool,
}

impl LeaseInfo {
    /// Alive at store time `now` with this TTL: not ended, and renewed within the TTL.
    pub fn alive(&self, now: SystemTime, ttl: Duration) -> bool {
        !self.ended && !self.expired(now, ttl)
    }

    /// Not renewed within the TTL at store time `now`: its objects may be deleted (an ended
    /// lease is kept that long for its records).
    pub fn expired(&self, now: SystemTime, ttl: Duration) -> bool {
        now.duration_since(self.last).map(|d| d >= ttl).unwrap_or(false)
    }
}

/// Group writers' lease objects (`leases/…`) by lease id.
pub fn group(objects: &[ObjectInfo]) -> Result<Vec<LeaseInfo>> {
    group_at(LEASE_PREFIX, objects)
}

/// Group lease objects under `prefix` by lease id.
pub fn group_at(prefix: &str, objects: &[ObjectInfo]) -> Result<Vec<LeaseInfo>> {
    let mut by: BTreeMap<String, LeaseInfo> = BTreeMap::new();
    for o in objects {
        let Some(rest) = o.key.strip_prefix(prefix) else { continue };
        let Some((id, seq)) = rest.split_once('/') else { continue };
        let t = o.modified.ok_or_else(|| {
            Error::invalid(format!("the store gives no modification time for {}: leases need one", o.key))
        })?;
        let e = by.entry(id.to_string()).or_insert_with(|| LeaseInfo {
            id: id.to_string(),
            start: t,
            last: t,
            objects: Vec::new(),
            ended: false,
        });
        e.ended |= seq == END_NAME;
        e.start = e.start.min(t);
        e.last = e.last.max(t);
        e.objects.push(o.key.clone());
    }
    Ok(by.into_values().collect())
}

/// Every lease in the repository.
pub async fn list(backend: &dyn Backend) -> Result<Vec<LeaseInfo>> {
    group(&backend.list(LEASE_PREFIX).await?)
}

fn seq_key(prefix: &str, id: &str, seq: u64) -> String {
    format!("{prefix}{id}/{seq:016x}")
}

/// The store's clock now: the modification time of an object written now (then deleted).
pub async fn store_now(backend: &dyn Backend) -> Result<SystemTime> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| Error::new(ErrorKind::Io, format!("random: {e}")))?;
    let key = format!("{LEASE_PREFIX}clock-{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>());
    backend.put(&key, bytes::Bytes::from_static(b"clock")).await?;
    let t = backend.list(&key).await?.into_iter().find(|o| o.key == key).and_then(|o| o.modified);
    backend.delete(&key).await?;
    t.ok_or_else(|| Error::invalid("the store gives no modification times: garbage collection cannot measure ages"))
}

/// A lease this process holds. Refreshed by a background task until released; dropping it
/// without [`Lease::release`] leaves its objects to expire.
pub struct Lease {
    backend: Arc<dyn Backend>,
    prefix: &'static str,
    id: String,
    timing: LeaseTiming,
    seq: Arc<Seq>,
    sealed: Arc<Vec<u8>>,
    refresher: tokio::task::JoinHandle<()>,
    refresh_error: Arc<std::sync::Mutex<Option<String>>>,
    keys: Arc<Keys>,
    body: LeaseBody,
    records: tokio::sync::Mutex<Records>,
}

/// Index objects not yet recorded, and when the last record was written.
#[derive(Default)]
struct Records {
    pending: Vec<String>,
    last: Option<std::time::Instant>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Lease({})", self.id)
    }
}

fn seal_body(keys: &Keys, body: &LeaseBody) -> Vec<u8> {
    let json = serde_json::to_vec(body).unwrap_or_default();
    let mut v = LEASE_MAGIC.to_vec();
    v.extend_from_slice(&keys.seal(LEASE_MAGIC, &json));
    v
}

/// Decode a lease object (for reports).
pub fn open_body(keys: &Keys, bytes: &[u8], key: &str) -> Result<LeaseBody> {
    let body = strip_magic(bytes, LEASE_MAGIC, key)?;
    let json = keys.open(LEASE_MAGIC, body, &key)?;
    serde_json::from_slice(&json).map_err(|e| Error::corrupt(format!("{key}: {e}")))
}

impl Lease {
    /// The lease id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The timing it keeps.
    pub fn timing(&self) -> LeaseTiming {
        self.timing
    }

    /// Write a new object now.
    pub async fn refresh(&self) -> Result<()> {
        write_next(self.backend.as_ref(), self.prefix, &self.id, &self.seq, &self.sealed).await
    }

    /// The lease's objects, and the first and newest store times.
    pub async fn info(&self) -> Result<LeaseInfo> {
        let objs = self.backend.list(&format!("{}{}/", self.prefix, self.id)).await?;
        group_at(self.prefix, &objs)?
            .into_iter()
            .next()
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("lease {} has no objects left", self.id)))
    }

    /// Refresh now and check that, by the store's clock, no two consecutive objects of this
    /// lease are further apart than the TTL: if they are, the lease looked dead for a while and
    /// garbage collection may have deleted data this holder relies on.
    pub async fn check_continuous(&self) -> Result<()> {
        if let Some(e) = self.refresh_error.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Err(Error::new(ErrorKind::Io, format!("keeping the lease alive failed: {e}")));
        }
        self.refresh().await?;
        // Objects whose write returned before the listing starts must be listed.
        let written = self.seq.stored.load(Ordering::SeqCst);
        let objs = self.backend.list(&format!("{}{}/", self.prefix, self.id)).await?;
        if (objs.len() as u64) < written {
            // Garbage collection removes the objects of leases it found dead.
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "this process's lease was taken for dead and removed ({} of its {written} objects are gone); garbage collection may have removed data it deduplicated against, so nothing is committed: run it again",
                    written - objs.len() as u64
                ),
            ));
        }
        let mut times: Vec<SystemTime> = objs.iter().filter_map(|o| o.modified).collect();
        times.sort();
        for w in times.windows(2) {
            let gap = w[1].duration_since(w[0]).unwrap_or_default();
            if gap >= self.timing.ttl {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "this process went {:.0} s without renewing its lease (the limit is {:.0} s); garbage collection may have removed data it deduplicated against, so nothing is committed: run it again",
                        gap.as_secs_f64(),
                        self.timing.ttl.as_secs_f64()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Note that this push wrote index object `key` (`index/<id>`). Written into a new lease
    /// object with the others pending, at most every [`LeaseTiming::record`]: a push of the
    /// same path that starts after this one died reads them (`Repository::interrupted_index`)
    /// and does not store their data again. Records are hints: failing to write one costs
    /// dedup only, and is logged.
    pub async fn record_index(&self, key: String) {
        let mut r = self.records.lock().await;
        r.pending.push(key);
        if r.last.is_some_and(|t| t.elapsed() < self.timing.record) {
            return;
        }
        let body = LeaseBody { index: std::mem::take(&mut r.pending), ..self.body.clone() };
        r.last = Some(std::time::Instant::now());
        let sealed = seal_body(&self.keys, &body);
        if let Err(e) = write_next(self.backend.as_ref(), self.prefix, &self.id, &self.seq, &sealed).await {
            tracing::warn!("recording this push's index objects in its lease (a resumed push stores them again): {e}");
        }
    }

    /// Note index object `key` without writing a lease object now: [`Lease::end`] writes it if
    /// the push fails after all (a push's last index object, written just before its snapshot).
    pub async fn pend_index(&self, key: String) {
        self.records.lock().await.pending.push(key);
    }

    /// End the lease of a push that failed after storing packs (indexed or not: the next push
    /// of its path looks for unindexed ones while the lease exists): stop refreshing and write
    /// `<id>/end` with the records still pending. An ended lease protects nothing (garbage
    /// collection does not wait for it; the holder must never commit after this) but stays
    /// until it expires, so that the next push of its path resumes from its records
    /// (`Repository::interrupted_index`). If the end object cannot be written the lease
    /// simply expires after the TTL.
    pub async fn end(self) -> Result<()> {
        self.refresher.abort();
        let pending = std::mem::take(&mut self.records.lock().await.pending);
        let body = LeaseBody { index: pending, ..self.body.clone() };
        let key = format!("{}{}/{END_NAME}", self.prefix, self.id);
        self.backend.put(&key, bytes::Bytes::from(seal_body(&self.keys, &body))).await
    }

    /// Stop refreshing and delete the lease's objects.
    pub async fn release(self) -> Result<()> {
        self.refresher.abort();
        let objs = self.backend.list(&format!("{}{}/", self.prefix, self.id)).await?;
        let keys: Vec<String> = objs.into_iter().map(|o| o.key).collect();
        self.backend.delete_many(&keys).await
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}

/// A lease's object numbers: the next to use, and how many writes have returned successfully.
#[derive(Default)]
struct Seq {
    next: AtomicU64,
    stored: AtomicU64,
}

async fn write_next(backend: &dyn Backend, prefix: &str, id: &str, seq: &Seq, sealed: &[u8]) -> Result<()> {
    let n = seq.next.fetch_add(1, Ordering::SeqCst);
    backend.put(&seq_key(prefix, id, n), bytes::Bytes::copy_from_slice(sealed)).await?;
    seq.stored.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

impl Repository {
    /// Take a writer's lease of `kind` (writes its first object; a background task refreshes
    /// it).
    pub async fn acquire_lease(&self, kind: LeaseKind, path: &str) -> Result<Lease> {
        self.acquire_lease_at(LEASE_PREFIX, kind, path).await
    }

    /// Take a lease under `prefix` (`leases/` for writers and readers, `gc/leases/` for gc).
    pub(crate) async fn acquire_lease_at(&self, prefix: &'static str, kind: LeaseKind, path: &str) -> Result<Lease> {
        let mut b = [0u8; 16];
        getrandom::fill(&mut b).map_err(|e| Error::new(ErrorKind::Io, format!("random: {e}")))?;
        let id: String = b.iter().map(|x| format!("{x:02x}")).collect();
        let body = LeaseBody {
            kind,
            host: hostname(),
            pid: std::process::id(),
            program: format!("kando {}", env!("CARGO_PKG_VERSION")),
            path: path.to_string(),
            index: Vec::new(),
        };
        let sealed = Arc::new(seal_body(&self.keys, &body));
        let seq = Arc::new(Seq::default());
        let timing = self.lease_timing;
        write_next(self.backend.as_ref(), prefix, &id, &seq, &sealed)
            .await
            .map_err(|e| e.context("writing the lease that announces this process to garbage collection"))?;
        let refresh_error = Arc::new(std::sync::Mutex::new(None));
        let refresher = {
            let (backend, id, seq, sealed, err) =
                (self.backend.clone(), id.clone(), seq.clone(), sealed.clone(), refresh_error.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(timing.refresh).await;
                    // Retries are the backend's; a failure is remembered for the commit check.
                    if let Err(e) = write_next(backend.as_ref(), prefix, &id, &seq, &sealed).await {
                        tracing::warn!("renewing lease {id}: {e}");
                        *err.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
                    }
                }
            })
        };
        Ok(Lease {
            backend: self.backend.clone(),
            prefix,
            id,
            timing,
            seq,
            sealed,
            refresher,
            refresh_error,
            keys: self.keys.clone(),
            body,
            records: Default::default(),
        })
    }

    /// The index objects recorded by other push leases of `path` (normally the leases of
    /// pushes that died or failed: a finished push removes its lease, a failed one ends it), per
    /// lease in the order written (an `end` object last),
    /// the lease that started last first. A push resumes such a push by following their chunks
    /// as a dedup source (repo::cursor). Unreadable lease objects are skipped: records are
    /// hints. [`Interrupted::seen`] says whether any other push lease of `path` exists, with
    /// records or not (it may have stored packs it never indexed).
    pub(crate) async fn interrupted_index(&self, path: &str, own: &str) -> Result<Interrupted> {
        let objs = self.backend.list(LEASE_PREFIX).await?;
        let mut leases = group(&objs)?;
        leases.sort_by_key(|l| std::cmp::Reverse(l.start));
        let mut all = Interrupted::default();
        for l in leases.into_iter().filter(|l| l.id != own) {
            let mut out = Vec::new();
            let seq = |k: &String| k.rsplit('/').next().and_then(|s| s.parse::<u64>().ok()).unwrap_or(u64::MAX);
            let mut keys = l.objects.clone();
            keys.sort_by_key(seq);
            let mut first = true;
            for k in keys {
                let body = match self.backend.get(&k).await.and_then(|b| open_body(&self.keys, &b, &k)) {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::debug!("lease object {k}: {e}");
                        continue;
                    }
                };
                if first && (body.kind != LeaseKind::Push || body.path != path) {
                    break;
                }
                first = false;
                all.seen = true;
                out.extend(body.index);
            }
            if !out.is_empty() {
                all.index.push(out);
            }
        }
        Ok(all)
    }
}

/// What [`Repository::interrupted_index`] found.
#[derive(Debug, Default)]
pub(crate) struct Interrupted {
    /// Per lease, the index objects it recorded.
    pub index: Vec<Vec<String>>,
    /// Another push lease of the path exists.
    pub seen: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(key: &str, secs: u64) -> ObjectInfo {
        ObjectInfo { key: key.into(), size: 1, modified: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)) }
    }

    #[test]
    fn leases_group_by_id_with_first_and_newest_times() {
        let objs = [
            info("leases/aa/0000000000000000", 10),
            info("leases/aa/0000000000000001", 70),
            info("leases/bb/0000000000000000", 40),
        ];
        let g = group(&objs).unwrap();
        assert_eq!(g.len(), 2);
        let t = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!((g[0].id.as_str(), g[0].start, g[0].last), ("aa", t(10), t(70)));
        assert!(g[0].alive(t(100), Duration::from_secs(31)));
        assert!(!g[0].alive(t(101), Duration::from_secs(31)));
        // A clock object is not a lease.
        assert!(group(&[info("leases/clock-01", 5)]).unwrap().is_empty());
        let no_time = ObjectInfo::new("leases/cc/0000000000000000", 1);
        assert!(group(&[no_time]).is_err());
    }
}
