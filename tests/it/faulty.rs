//! [`FaultyBackend`]: a [`Backend`] wrapper for tests that injects storage faults (the tests
//! of `verify` and `repair` that use it are in `storage_faults`).
//!
//! Test-only: it lives in the integration-test crate, never in the library. Concept after
//! kopia's `blobtesting` fault storage; the code is our own.
//!
//! # Using it
//!
//! ```ignore
//! let fb = FaultyBackend::new(Arc::new(MemoryBackend::new()));
//! let repo = Repository::init(fb.clone(), b"pw", &fast_init()).await?;
//! // The 2nd get of an object under packs/ fails as a transient error:
//! let fired = fb.on(Op::Get).prefix("packs/").nth(2).fail(ErrorKind::Transient);
//! // Every delete under index/ is carried out, but reported as failed (a lost response):
//! fb.on(Op::Delete).prefix("index/").always().fail_after(ErrorKind::Transient);
//! // Every read of byte 1000 of this pack returns it with its low bit flipped:
//! fb.corrupt("packs/ab/ab12…", 1000);
//! // The first list of snapshots/ waits until the test releases it:
//! let gate = fb.on(Op::List).prefix("snapshots/").pause();
//! let task = tokio::spawn(async move { repo.gc(&opts).await });
//! gate.reached().await;           // gc is now blocked inside that list
//! /* … change the repository under its feet … */
//! gate.release();
//! assert_eq!(fired.count(), 1);
//! assert_eq!(fb.count(Op::Put), 3);
//! assert!(fb.max_in_flight(Op::Get, "packs") <= 3);
//! ```
//!
//! * A rule is an operation kind ([`Op`]), an optional key prefix, which matching calls it
//!   applies to (`nth` — 1-based — and `times`, or `always`), and a [`Fault`]. Every rule
//!   counts its own matching calls, so rules are independent; a call may match several.
//! * Operation kinds: `put` (also `put_content_addressed` and the commit of a staged object),
//!   `get`, `get_range`, `list` (matches when the listed prefix and the rule's prefix overlap:
//!   `list("")` matches a rule for `packs/`), `delete` (also each key of `delete_many`), and
//!   `size`.
//! * Every call is counted and logged ([`FaultyBackend::count`], [`FaultyBackend::log`]), and
//!   the most calls in flight at once per operation and top-level directory are recorded
//!   ([`FaultyBackend::max_in_flight`]): enough to assert that a reader stays memory-bounded.
//! * [`FaultyBackend::skew_clock`] moves the store's clock (listed modification times) away
//!   from this machine's.
//! * Injected errors say `injected fault` and have the [`ErrorKind`] asked for.
//! * Puts hand the inner backend a copy of the bytes: the push pipeline recycles pack buffers
//!   when the backend drops them, and `MemoryBackend` alone never would (a push of more than
//!   three packs to it waits forever for a buffer).
#![allow(dead_code)] // A toolkit: not every helper is used by the tests in this file.

use bytes::Bytes;
use kanrepo::backend::memory::MemoryBackend;
use kanrepo::backend::{Backend, ObjectInfo, StagedObject};
use kanrepo::{Error, ErrorKind, Result};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A kind of backend operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `put`, `put_content_addressed`, and the commit of a staged object.
    Put,
    /// `get`.
    Get,
    /// `get_range`.
    GetRange,
    /// `list`.
    List,
    /// `delete`, and each key of `delete_many`.
    Delete,
    /// `size`.
    Size,
}

/// What a rule does to the calls it applies to.
#[derive(Clone)]
pub enum Fault {
    /// Fail with an error of this kind; the operation is not carried out.
    Fail(ErrorKind),
    /// Carry the operation out, then report an error of this kind (a lost response).
    FailAfter(ErrorKind),
    /// Wait this long, then carry the operation out.
    Delay(Duration),
    /// Flip the bits `mask` of the byte at `offset` (from the start of the object) in what a
    /// `get` or `get_range` returns, when the bytes returned include it.
    Flip {
        /// Offset in the object.
        offset: u64,
        /// Bits to flip.
        mask: u8,
    },
    /// `list` only: leave out the objects under the rule's prefix (a listing that lags).
    Hide,
    /// Wait at this gate until the test releases it, then carry the operation out.
    Pause(Gate),
}

/// A point where paused operations wait (see [`RuleBuilder::pause`]).
#[derive(Clone, Default)]
pub struct Gate(Arc<GateInner>);

struct GateInner {
    arrived: AtomicU64,
    arrival: tokio::sync::Notify,
    open: tokio::sync::Semaphore,
}

impl Default for GateInner {
    fn default() -> Self {
        GateInner {
            arrived: AtomicU64::new(0),
            arrival: tokio::sync::Notify::new(),
            open: tokio::sync::Semaphore::new(0),
        }
    }
}

impl Gate {
    /// Wait until at least one operation has arrived at the gate.
    pub async fn reached(&self) {
        loop {
            let n = self.0.arrival.notified();
            if self.arrivals() > 0 {
                return;
            }
            n.await;
        }
    }

    /// How many operations have arrived so far.
    pub fn arrivals(&self) -> u64 {
        self.0.arrived.load(Ordering::SeqCst)
    }

    /// Let every waiting operation, and every later one, go on.
    pub fn release(&self) {
        self.0.open.close();
    }

    async fn wait(&self) {
        self.0.arrived.fetch_add(1, Ordering::SeqCst);
        self.0.arrival.notify_waiters();
        // Closing the semaphore is the release: acquire then fails at once.
        let _ = self.0.open.acquire().await;
    }
}

/// How often a rule has fired.
#[derive(Clone, Default)]
pub struct Fired(Arc<AtomicU64>);

impl Fired {
    /// Calls the rule applied to so far.
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

struct Rule {
    op: Op,
    prefix: String,
    first: u64,
    times: u64,
    fault: Fault,
    seen: u64,
    fired: Fired,
}

impl Rule {
    fn matches(&self, op: Op, key: &str) -> bool {
        self.op == op
            && if op == Op::List {
                key.starts_with(&self.prefix) || self.prefix.starts_with(key)
            } else {
                key.starts_with(&self.prefix)
            }
    }
}

/// One logged call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The operation.
    pub op: Op,
    /// The key (for `list`, the prefix).
    pub key: String,
    /// For `get_range`: offset and length.
    pub range: Option<(u64, u64)>,
}

#[derive(Default)]
struct State {
    rules: Mutex<Vec<Rule>>,
    log: Mutex<Vec<Call>>,
    in_flight: Mutex<HashMap<(Op, String), (u64, u64)>>,
    /// Seconds added to every modification time a `list` reports (the store's clock, skewed).
    skew_secs: std::sync::atomic::AtomicI64,
}

/// What the rules decided for one call.
#[derive(Default)]
struct Plan {
    fail: Option<ErrorKind>,
    fail_after: Option<ErrorKind>,
    delay: Duration,
    flips: Vec<(u64, u8)>,
    hide: Vec<String>,
    gates: Vec<Gate>,
}

fn injected(kind: ErrorKind, op: Op, key: &str) -> Error {
    Error::new(kind, format!("injected fault: {op:?} {key}"))
}

fn top(key: &str) -> String {
    key.split('/').next().unwrap_or("").to_string()
}

impl State {
    fn plan(&self, op: Op, key: &str, range: Option<(u64, u64)>) -> Plan {
        self.log.lock().unwrap().push(Call { op, key: key.to_string(), range });
        let mut plan = Plan::default();
        for r in self.rules.lock().unwrap().iter_mut() {
            if !r.matches(op, key) {
                continue;
            }
            r.seen += 1;
            if r.seen < r.first || r.seen - r.first >= r.times {
                continue;
            }
            r.fired.0.fetch_add(1, Ordering::SeqCst);
            match &r.fault {
                Fault::Fail(k) => plan.fail = plan.fail.or(Some(*k)),
                Fault::FailAfter(k) => plan.fail_after = plan.fail_after.or(Some(*k)),
                Fault::Delay(d) => plan.delay += *d,
                Fault::Flip { offset, mask } => plan.flips.push((*offset, *mask)),
                Fault::Hide => plan.hide.push(r.prefix.clone()),
                Fault::Pause(g) => plan.gates.push(g.clone()),
            }
        }
        plan
    }

    fn enter(&self, op: Op, key: &str) {
        let mut m = self.in_flight.lock().unwrap();
        let e = m.entry((op, top(key))).or_default();
        e.0 += 1;
        e.1 = e.1.max(e.0);
    }

    fn leave(&self, op: Op, key: &str) {
        if let Some(e) = self.in_flight.lock().unwrap().get_mut(&(op, top(key))) {
            e.0 -= 1;
        }
    }

    /// Apply the waiting part of a plan and its up-front failure.
    async fn before(&self, op: Op, key: &str, range: Option<(u64, u64)>) -> Result<Plan> {
        let plan = self.plan(op, key, range);
        if !plan.delay.is_zero() {
            tokio::time::sleep(plan.delay).await;
        }
        for g in &plan.gates {
            g.wait().await;
        }
        match plan.fail {
            Some(k) => Err(injected(k, op, key)),
            None => Ok(plan),
        }
    }

    /// [`State::before`] for blocking callers (staged commits run on pipeline threads).
    fn before_blocking(&self, op: Op, key: &str) -> Result<Plan> {
        let plan = self.plan(op, key, None);
        if !plan.delay.is_zero() {
            std::thread::sleep(plan.delay);
        }
        if !plan.gates.is_empty() {
            // A blocking caller (a pipeline thread) waits on a runtime of its own.
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a small runtime");
            for g in &plan.gates {
                rt.block_on(g.wait());
            }
        }
        match plan.fail {
            Some(k) => Err(injected(k, op, key)),
            None => Ok(plan),
        }
    }
}

fn after<T>(plan: &Plan, op: Op, key: &str, r: Result<T>) -> Result<T> {
    match (r, plan.fail_after) {
        (Ok(_), Some(k)) => Err(injected(k, op, key)),
        (r, _) => r,
    }
}

fn flip(plan: &Plan, data: Bytes, at: u64) -> Bytes {
    let hits: Vec<(usize, u8)> = plan
        .flips
        .iter()
        .filter(|(o, _)| *o >= at && *o < at + data.len() as u64)
        .map(|(o, m)| ((*o - at) as usize, *m))
        .collect();
    if hits.is_empty() {
        return data;
    }
    let mut v = data.to_vec();
    for (i, m) in hits {
        v[i] ^= m;
    }
    Bytes::from(v)
}

/// The wrapper (see the module docs).
pub struct FaultyBackend {
    inner: Arc<dyn Backend>,
    state: Arc<State>,
}

/// Adds a rule to a [`FaultyBackend`]; the terminal methods ([`RuleBuilder::fail`], …) install
/// it.
pub struct RuleBuilder<'a> {
    fb: &'a FaultyBackend,
    op: Op,
    prefix: String,
    first: u64,
    times: u64,
}

impl RuleBuilder<'_> {
    /// Only calls whose key starts with `p` (for `list`: whose prefix overlaps `p`).
    pub fn prefix(mut self, p: &str) -> Self {
        self.prefix = p.to_string();
        self
    }
    /// Start at the `n`-th matching call (1-based; default 1).
    pub fn nth(mut self, n: u64) -> Self {
        self.first = n.max(1);
        self
    }
    /// Apply to `k` consecutive matching calls (default 1).
    pub fn times(mut self, k: u64) -> Self {
        self.times = k;
        self
    }
    /// Apply to every matching call from the `nth`.
    pub fn always(mut self) -> Self {
        self.times = u64::MAX;
        self
    }
    /// Install with `fault`.
    pub fn with(self, fault: Fault) -> Fired {
        let fired = Fired::default();
        self.fb.state.rules.lock().unwrap().push(Rule {
            op: self.op,
            prefix: self.prefix,
            first: self.first,
            times: self.times,
            fault,
            seen: 0,
            fired: fired.clone(),
        });
        fired
    }
    /// Fail with `kind` without carrying the call out.
    pub fn fail(self, kind: ErrorKind) -> Fired {
        self.with(Fault::Fail(kind))
    }
    /// Carry the call out, then report `kind`.
    pub fn fail_after(self, kind: ErrorKind) -> Fired {
        self.with(Fault::FailAfter(kind))
    }
    /// Delay the call.
    pub fn delay(self, d: Duration) -> Fired {
        self.with(Fault::Delay(d))
    }
    /// Flip the low bit of the object's byte at `offset` in what reads return.
    pub fn flip_byte(self, offset: u64) -> Fired {
        self.with(Fault::Flip { offset, mask: 1 })
    }
    /// `list` only: hide the objects under the prefix.
    pub fn hide(self) -> Fired {
        self.with(Fault::Hide)
    }
    /// Hold the call at a gate until [`Gate::release`].
    pub fn pause(self) -> Gate {
        let g = Gate::default();
        self.with(Fault::Pause(g.clone()));
        g
    }
}

impl FaultyBackend {
    /// Wrap `inner`; no rules yet.
    pub fn new(inner: Arc<dyn Backend>) -> Arc<FaultyBackend> {
        Arc::new(FaultyBackend { inner, state: Arc::default() })
    }

    /// A rule for calls of `op`.
    pub fn on(&self, op: Op) -> RuleBuilder<'_> {
        RuleBuilder { fb: self, op, prefix: String::new(), first: 1, times: 1 }
    }

    /// Every `get` and `get_range` of `key` returns byte `offset` with its low bit flipped (as
    /// if the stored object were damaged there).
    pub fn corrupt(&self, key: &str, offset: u64) {
        self.on(Op::Get).prefix(key).always().flip_byte(offset);
        self.on(Op::GetRange).prefix(key).always().flip_byte(offset);
    }

    /// From now on, the store's clock (the modification times `list` reports) is `secs` ahead of
    /// this machine's (behind, if negative).
    pub fn skew_clock(&self, secs: i64) {
        self.state.skew_secs.store(secs, Ordering::SeqCst);
    }

    /// Remove every rule (counters and log stay).
    pub fn clear(&self) {
        self.state.rules.lock().unwrap().clear();
    }

    /// Calls of `op` so far.
    pub fn count(&self, op: Op) -> u64 {
        self.state.log.lock().unwrap().iter().filter(|c| c.op == op).count() as u64
    }

    /// Calls of `op` on keys under `prefix` so far.
    pub fn count_prefix(&self, op: Op, prefix: &str) -> u64 {
        self.state.log.lock().unwrap().iter().filter(|c| c.op == op && c.key.starts_with(prefix)).count() as u64
    }

    /// Every call so far, in order.
    pub fn log(&self) -> Vec<Call> {
        self.state.log.lock().unwrap().clone()
    }

    /// Forget the log, the counts and the in-flight maxima.
    pub fn reset_log(&self) {
        self.state.log.lock().unwrap().clear();
        self.state.in_flight.lock().unwrap().clear();
    }

    /// The most calls of `op` on keys under the top-level directory `dir` (e.g. `packs`) that
    /// were in flight at once.
    pub fn max_in_flight(&self, op: Op, dir: &str) -> u64 {
        self.state.in_flight.lock().unwrap().get(&(op, dir.to_string())).map_or(0, |e| e.1)
    }

    async fn run<T>(
        &self,
        op: Op,
        key: &str,
        range: Option<(u64, u64)>,
        f: impl std::future::Future<Output = Result<T>>,
    ) -> Result<(Plan, T)> {
        let plan = self.state.before(op, key, range).await?;
        self.state.enter(op, key);
        let r = f.await;
        self.state.leave(op, key);
        let r = after(&plan, op, key, r)?;
        Ok((plan, r))
    }
}

#[async_trait::async_trait]
impl Backend for FaultyBackend {
    fn location(&self) -> String {
        format!("faulty:{}", self.inner.location())
    }

    async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        // The inner backend gets a copy, so the caller's buffer (pooled by the push pipeline)
        // comes back at once, as with a real store: `MemoryBackend` would keep it forever.
        let data = Bytes::copy_from_slice(&data);
        self.run(Op::Put, key, None, self.inner.put(key, data)).await.map(|_| ())
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        let (plan, data) = self.run(Op::Get, key, None, self.inner.get(key)).await?;
        Ok(flip(&plan, data, 0))
    }

    async fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes> {
        let (plan, data) =
            self.run(Op::GetRange, key, Some((offset, len)), self.inner.get_range(key, offset, len)).await?;
        Ok(flip(&plan, data, offset))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let (plan, mut v) = self.run(Op::List, prefix, None, self.inner.list(prefix)).await?;
        v.retain(|o| !plan.hide.iter().any(|h| o.key.starts_with(h.as_str())));
        let skew = self.state.skew_secs.load(Ordering::SeqCst);
        if skew != 0 {
            for o in &mut v {
                o.modified = o.modified.map(|t| {
                    let d = Duration::from_secs(skew.unsigned_abs());
                    if skew > 0 { t + d } else { t - d }
                });
            }
        }
        Ok(v)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.run(Op::Delete, key, None, self.inner.delete(key)).await.map(|_| ())
    }

    async fn put_content_addressed(&self, key: &str, data: Bytes) -> Result<()> {
        let data = Bytes::copy_from_slice(&data);
        self.run(Op::Put, key, None, self.inner.put_content_addressed(key, data)).await.map(|_| ())
    }

    fn stage(&self, prefix: &str) -> Result<Option<Box<dyn StagedObject>>> {
        Ok(self
            .inner
            .stage(prefix)?
            .map(|inner| Box::new(FaultyStaged { inner, state: self.state.clone() }) as Box<dyn StagedObject>))
    }

    async fn size(&self, key: &str) -> Result<Option<u64>> {
        Ok(self.run(Op::Size, key, None, self.inner.size(key)).await?.1)
    }

    async fn delete_many(&self, keys: &[String]) -> Result<()> {
        for k in keys {
            self.delete(k).await?;
        }
        Ok(())
    }
}

/// A staged object whose commit goes through the `put` rules.
struct FaultyStaged {
    inner: Box<dyn StagedObject>,
    state: Arc<State>,
}

impl StagedObject for FaultyStaged {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.inner.write(data)
    }

    fn commit(self: Box<Self>, key: &str) -> Result<()> {
        let plan = self.state.before_blocking(Op::Put, key)?;
        self.state.enter(Op::Put, key);
        let r = self.inner.commit(key);
        self.state.leave(Op::Put, key);
        after(&plan, Op::Put, key, r)
    }
}

// ---------------------------------------------------------------------------------------------
// Tests of the wrapper itself.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_rules_it_is_a_conforming_backend() {
    let fb = FaultyBackend::new(Arc::new(MemoryBackend::new()));
    kanrepo::backend::testsuite::run(fb.as_ref()).await;
    assert!(fb.count(Op::Put) > 0 && fb.count(Op::Get) > 0 && fb.count(Op::GetRange) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_fire_on_the_calls_they_name() {
    let fb = FaultyBackend::new(Arc::new(MemoryBackend::new()));
    for k in ["a/1", "a/2", "a/3", "b/1"] {
        fb.put(k, Bytes::from_static(b"0123456789")).await.unwrap();
    }
    // The 2nd get under a/ fails, once.
    let fired = fb.on(Op::Get).prefix("a/").nth(2).fail(ErrorKind::Transient);
    fb.get("a/1").await.unwrap();
    fb.get("b/1").await.unwrap();
    let e = fb.get("a/2").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transient);
    assert!(e.to_string().contains("injected fault"), "{e}");
    fb.get("a/3").await.unwrap();
    assert_eq!(fired.count(), 1);
    // A put that lands but reports failure.
    fb.on(Op::Put).prefix("c/").fail_after(ErrorKind::Transient);
    assert_eq!(fb.put("c/1", Bytes::from_static(b"x")).await.unwrap_err().kind(), ErrorKind::Transient);
    assert_eq!(&fb.get("c/1").await.unwrap()[..], b"x", "the put was carried out");
    // A put that fails up front does not land.
    fb.on(Op::Put).prefix("d/").fail(ErrorKind::PermissionDenied);
    assert_eq!(fb.put("d/1", Bytes::from_static(b"x")).await.unwrap_err().kind(), ErrorKind::PermissionDenied);
    assert_eq!(fb.get("d/1").await.unwrap_err().kind(), ErrorKind::NotFound);
    // Flipped bytes, in whole and ranged reads, only where the range covers them.
    fb.corrupt("b/1", 4);
    assert_eq!(&fb.get("b/1").await.unwrap()[..], b"0123556789");
    assert_eq!(&fb.get_range("b/1", 3, 3).await.unwrap()[..], b"355");
    assert_eq!(&fb.get_range("b/1", 5, 3).await.unwrap()[..], b"567");
    // A lagging listing.
    fb.on(Op::List).prefix("a/2").always().hide();
    let keys: Vec<String> = fb.list("a/").await.unwrap().into_iter().map(|o| o.key).collect();
    assert_eq!(keys, ["a/1", "a/3"]);
    assert_eq!(fb.list("").await.unwrap().len(), 4, "a/2 hidden from the whole listing too");
    // Counting and the log.
    assert_eq!(fb.count_prefix(Op::Get, "a/"), 3);
    assert_eq!(fb.log().iter().filter(|c| c.op == Op::GetRange).count(), 2);
    // A paused delete waits for the test.
    fb.clear();
    let gate = fb.on(Op::Delete).prefix("a/").pause();
    let fb2 = fb.clone();
    let del = tokio::spawn(async move { fb2.delete("a/1").await });
    gate.reached().await;
    assert!(!del.is_finished());
    assert!(fb.get("a/1").await.is_ok(), "not deleted before the release");
    gate.release();
    del.await.unwrap().unwrap();
    assert_eq!(fb.get("a/1").await.unwrap_err().kind(), ErrorKind::NotFound);
}
