//! Pushes, pulls, `gc --min-age 0s`, `compact` and `forget` as concurrent `kando` processes over
//! many seeded rounds, on local disk and on S3 (MinIO): pushes never fail, a gc or compaction
//! is only ever refused because another holds the gc lease, and after every round every
//! snapshot still listed restores byte-exact and `verify` is clean. The interleavings that make
//! concurrent gc dangerous are also played on purpose: a push deduplicating against packs that
//! a gc marks while it runs, a push of data equal to a forgotten snapshot's after a gc marked
//! that snapshot's packs, and a push that finds marked packs outside the index (where a gc
//! that is deleting them, or was killed doing so, leaves them) while a gc deletes them.
//!
//! Seeded like the crash harness (`KANREPO_CRASH_SEED`); `KANREPO_CONCURRENCY_ROUNDS` sets the
//! number of random rounds.

use crate::crash::{Kando, Rng, Target, hash, is_busy, pushed_id, pushed_physical, seed, stderr};
use kanrepo::testdata::pseudo_random as data;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Child, Output};
use std::time::{Duration, Instant};

const PATHS: [&str; 3] = ["a", "b", "c"];
const BLOCK: usize = 64 << 10;
const BLOCKS: u64 = 40;

/// A stream: generation `generation` of path `path` (4 MB: 8 blocks of 64 KiB every path shares,
/// 32 of its own of which two are rewritten per generation, then 1.5 MB new in each generation,
/// so that forgetting one leaves whole packs dead), or unrelated data on path `x`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Content {
    Stream { path: usize, generation: u64 },
    Unique(u64),
}

impl Content {
    fn path(self) -> &'static str {
        match self {
            Content::Stream { path, .. } => PATHS[path],
            Content::Unique(_) => "x",
        }
    }

    fn bytes(self) -> Vec<u8> {
        match self {
            Content::Stream { path, generation } => {
                let mut v: Vec<u8> = (0..BLOCKS)
                    .flat_map(|b| {
                        if b < 8 {
                            return data(BLOCK, 90_000 + b);
                        }
                        let own = BLOCKS - 8;
                        let last = (1..=generation)
                            .rev()
                            .find(|k| k % own == b - 8 || (k * 11 + 5) % own == b - 8)
                            .unwrap_or(0);
                        data(BLOCK, 1_000_000 * (path as u64 + 1) + 1000 * b + last)
                    })
                    .collect();
                v.extend_from_slice(&data(1_500_000, 8_000_000 + 1000 * path as u64 + generation));
                v
            }
            Content::Unique(s) => data(2_000_000, 5_000_000 + s),
        }
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

struct State {
    k: Kando,
    seed: u64,
    /// Snapshots that must be listed and restore: id → (commit order, content).
    expected: BTreeMap<String, (u64, Content)>,
    seq: u64,
    gens: [u64; 3],
    /// Contents whose snapshots were forgotten (pushed again now and then).
    forgotten: Vec<Content>,
    counts: BTreeMap<&'static str, u64>,
}

impl State {
    fn new(k: Kando, seed: u64) -> State {
        State {
            k,
            seed,
            expected: BTreeMap::new(),
            seq: 0,
            gens: [0; 3],
            forgotten: Vec::new(),
            counts: BTreeMap::new(),
        }
    }

    fn ctx(&self, what: &str) -> String {
        format!("seed {} (KANREPO_CRASH_SEED={}), {}, {what}", self.seed, self.seed, self.k.target.name())
    }

    fn count(&mut self, what: &'static str, n: u64) {
        *self.counts.entry(what).or_default() += n;
    }

    fn commit(&mut self, id: String, c: Content) {
        self.seq += 1;
        self.expected.insert(id, (self.seq, c));
    }

    fn push(&mut self, c: Content, ctx: &str) -> String {
        let id = self.k.push(c.path(), c.bytes(), ctx);
        self.commit(id.clone(), c);
        id
    }

    fn forget(&mut self, id: &str, ctx: &str) {
        self.k.ok(&["repository", "forget", "--allow-last", id], None, ctx);
        let (_, c) = self.expected.remove(id).unwrap();
        self.forgotten.push(c);
    }

    fn gc(&self, min_age: &str, ctx: &str) -> serde_json::Value {
        self.k.json(&["repository", "gc", "--min-age", min_age, "--json"], ctx)
    }

    /// Listed = expected (same ids, paths and stream hashes), each restores byte-exact, and
    /// verify is clean.
    fn check(&self, read_data: bool, ctx: &str) {
        let listed = self.k.snapshots(ctx);
        let want: BTreeMap<String, (String, String)> =
            self.expected.iter().map(|(id, (_, c))| (id.clone(), (c.path().to_string(), hash(&c.bytes())))).collect();
        assert_eq!(listed, want, "{ctx}: the snapshots listed are not those committed and not forgotten");
        for (id, (_, c)) in &self.expected {
            self.k.pull_exact(c.path(), id, &c.bytes(), ctx);
        }
        self.k.verify_clean(read_data, ctx);
    }
}

/// A push started and held after it loaded what it deduplicates against.
struct GatedPush {
    child: Child,
    gate: std::sync::mpsc::Sender<()>,
    writer: std::thread::JoinHandle<()>,
}

/// Start a push of `c` and hold it once it has written its lease, read the marks, loaded the
/// index and indexed unindexed packs: it reads its stream only after all that, so once it has
/// taken the first 256 KiB (more than a pipe holds) it has; it then waits for the rest.
fn gated_push(s: &State, c: Content, ctx: &str) -> GatedPush {
    const FIRST: usize = 256 << 10;
    let mut child = s.k.command(&["location", "push", "--path", c.path(), "-"], true).spawn().unwrap();
    let mut si = child.stdin.take().unwrap();
    let written = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (gate, open) = std::sync::mpsc::channel::<()>();
    let w = written.clone();
    let bytes = c.bytes();
    let writer = std::thread::spawn(move || {
        for piece in bytes[..FIRST].chunks(16 << 10) {
            if si.write_all(piece).is_err() {
                return;
            }
            w.fetch_add(piece.len(), std::sync::atomic::Ordering::SeqCst);
        }
        if open.recv().is_ok() {
            let _ = si.write_all(&bytes[FIRST..]);
        }
    });
    let t0 = Instant::now();
    while written.load(std::sync::atomic::Ordering::SeqCst) < FIRST {
        if child.try_wait().unwrap().is_some() || t0.elapsed() > Duration::from_secs(120) {
            drop(gate);
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!("{ctx}: the held push ended or never read its stream: {}", stderr(&o));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    GatedPush { child, gate, writer }
}

/// Let a held push read the rest of its stream; it must succeed.
fn finish_push(g: GatedPush, ctx: &str) -> Output {
    g.gate.send(()).unwrap();
    g.writer.join().unwrap();
    let o = g.child.wait_with_output().unwrap();
    assert!(o.status.success(), "{ctx}: {}", stderr(&o));
    o
}

/// On an empty repository: a push that finds marked packs in no index object (what a gc
/// leaves between rewriting the index and deleting the packs, or when it is killed there) must
/// not reuse their data: a gc deletes them while the push runs.
fn marked_packs_outside_the_index(s: &mut State) {
    let ctx = s.ctx("a push that finds marked packs outside the index");
    let w = Content::Unique(3);
    let old = s.push(w, &ctx);
    s.forget(&old, &ctx);
    let g = s.k.json(&["repository", "gc", "--json"], &ctx);
    assert!(g["marked_packs"].as_u64().unwrap() > 0 && g["deleted_packs"] == 0, "{ctx}: {g}");
    // The index as a gc that dropped the marked packs from it (and stopped there) leaves it:
    // the repository held nothing else.
    let b = s.k.target.backend();
    rt().block_on(async {
        let keys: Vec<String> = b.list("index/").await.unwrap().into_iter().map(|o| o.key).collect();
        assert!(!keys.is_empty(), "{ctx}");
        b.delete_many(&keys).await.unwrap();
    });
    // Started well after the mark (the store's clock may count whole seconds), the push does
    // not hold the mark's sweep back: the gc below deletes the packs while it runs.
    std::thread::sleep(Duration::from_millis(1500));
    let held = gated_push(s, w, &ctx);
    let g = s.gc("0s", &ctx);
    assert!(g["deleted_packs"].as_u64().unwrap() > 0, "{ctx}: the marked packs go: {g}");
    let o = finish_push(held, &ctx);
    let physical = pushed_physical(&o).unwrap();
    assert!(physical > 1_000_000, "{ctx}: the push stored the data again: {physical} B");
    s.commit(pushed_id(&o).unwrap(), w);
    s.check(true, &ctx);
}

/// The worst interleavings, played on purpose.
fn worst_interleavings(s: &mut State) {
    // 1. A push running (index loaded, data X known) when X's only snapshot is forgotten and
    //    a gc marks X's packs: the gc must not delete them, the push deduplicates against
    //    them and commits, and the next gc keeps them.
    let ctx = s.ctx("a push deduplicating against packs a gc marks while it runs");
    let y = Content::Unique(1);
    let old = s.push(y, &ctx);
    let held = gated_push(s, y, &ctx);
    s.forget(&old, &ctx);
    let g = s.gc("0s", &ctx);
    assert!(g["marked_packs"].as_u64().unwrap() > 0, "{ctx}: {g}");
    assert!(
        g["waiting"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("push/pull")),
        "{ctx}: the new mark must wait for the running push: {g}"
    );
    let o = finish_push(held, &ctx);
    let physical = pushed_physical(&o).unwrap();
    assert!(physical < 100_000, "{ctx}: the push deduplicated against the marked packs, storing {physical} B");
    let id = pushed_id(&o).unwrap();
    s.commit(id.clone(), y);
    let g = s.gc("0s", &ctx);
    assert!(g["unmarked_packs"].as_u64().unwrap() > 0, "{ctx}: the marked packs are needed again: {g}");
    s.k.pull_exact(y.path(), &id, &y.bytes(), &ctx);
    s.check(false, &ctx);

    // 2. Forget, a gc that only marks (default min-age), a push of the same data (it must not
    //    rely on the marked packs), a gc that deletes them, and the new snapshot restores.
    let ctx = s.ctx("a push of a forgotten snapshot's data after a gc marked its packs");
    let z = Content::Unique(2);
    let old = s.push(z, &ctx);
    s.forget(&old, &ctx);
    let g = s.k.json(&["repository", "gc", "--json"], &ctx);
    assert!(g["marked_packs"].as_u64().unwrap() > 0 && g["deleted_packs"] == 0, "{ctx}: {g}");
    let o = s.k.ok(&["location", "push", "--path", z.path(), "-"], Some(z.bytes()), &ctx);
    let physical = pushed_physical(&o).unwrap();
    assert!(physical > 1_000_000, "{ctx}: stored anew, not deduplicated against marked packs: {physical} B");
    let id = pushed_id(&o).unwrap();
    s.commit(id.clone(), z);
    let g = s.gc("0s", &ctx);
    assert!(g["deleted_packs"].as_u64().unwrap() > 0, "{ctx}: the marked packs go: {g}");
    s.k.pull_exact(z.path(), &id, &z.bytes(), &ctx);
    s.check(true, &ctx);
}

#[derive(Debug, Clone)]
enum Job {
    Push(Content),
    Gc(&'static str),
    Compact,
    Forget(Vec<String>),
    Pull(String, Content),
}

impl Job {
    fn args(&self) -> Vec<String> {
        let v: Vec<&str> = match self {
            Job::Push(c) => vec!["location", "push", "--path", c.path(), "-"],
            Job::Gc(min_age) => vec!["repository", "gc", "--min-age", min_age, "--json"],
            Job::Compact => vec!["repository", "compact", "--min-live-fraction", "0.8", "--json"],
            Job::Forget(ids) => {
                let mut v = vec!["repository", "forget", "--allow-last"];
                v.extend(ids.iter().map(String::as_str));
                return v.into_iter().map(String::from).collect();
            }
            Job::Pull(id, c) => vec!["location", "pull", "--path", c.path(), "--snapshot", id, "-"],
        };
        v.into_iter().map(String::from).collect()
    }
}

fn round(s: &mut State, rng: &mut Rng, r: usize, read_data: bool) {
    let ctx = s.ctx(&format!("round {r}"));
    // Forget the oldest of a path that has more than two, and now and then any other one.
    let mut victims: Vec<String> = Vec::new();
    for path in PATHS {
        let mut of: Vec<(u64, &String)> =
            s.expected.iter().filter(|(_, (_, c))| c.path() == path).map(|(id, (seq, _))| (*seq, id)).collect();
        of.sort();
        if of.len() > 2 {
            victims.push(of[0].1.clone());
        }
    }
    let ids: Vec<String> = s.expected.keys().cloned().collect();
    if rng.chance(40) && !ids.is_empty() {
        let v = ids[rng.below(ids.len() as u64) as usize].clone();
        if !victims.contains(&v) {
            victims.push(v);
        }
    }
    let mut jobs: Vec<(u64, Job)> = Vec::new();
    for p in 0..PATHS.len() {
        s.gens[p] += 1;
        jobs.push((rng.below(300), Job::Push(Content::Stream { path: p, generation: s.gens[p] })));
    }
    // The data of a snapshot being forgotten right now, or of one forgotten earlier, again.
    if rng.chance(50) {
        let c = if !victims.is_empty() && rng.chance(60) {
            Some(s.expected[&victims[rng.below(victims.len() as u64) as usize]].1)
        } else if !s.forgotten.is_empty() {
            Some(s.forgotten[rng.below(s.forgotten.len() as u64) as usize])
        } else {
            None
        };
        if let Some(c) = c {
            jobs.push((rng.below(300), Job::Push(c)));
        }
    }
    if !victims.is_empty() {
        jobs.push((rng.below(400), Job::Forget(victims.clone())));
    }
    let readable: Vec<(&String, &(u64, Content))> = s.expected.iter().filter(|(id, _)| !victims.contains(id)).collect();
    if !readable.is_empty() && rng.chance(70) {
        let (id, (_, c)) = readable[rng.below(readable.len() as u64) as usize];
        jobs.push((rng.below(400), Job::Pull(id.clone(), *c)));
    }
    // Two maintenance loops run gc and compaction back to back (after random pauses) from the
    // start of the round until every push, pull and forget above has ended: each step of
    // every push meets a gc or compaction somewhere.
    let loops: Vec<Vec<(u64, Job)>> = (0..2)
        .map(|_| {
            (0..64)
                .map(|_| {
                    let job = match rng.below(10) {
                        0..=5 => Job::Gc("0s"),
                        6..=8 => Job::Compact,
                        _ => Job::Gc("1h"),
                    };
                    (rng.below(120), job)
                })
                .collect()
        })
        .collect();

    let k = &s.k;
    let t0 = Instant::now();
    let run = |job: &Job| {
        let args = job.args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let stdin = match job {
            Job::Push(c) => Some(c.bytes()),
            _ => None,
        };
        let started = Instant::now();
        let o = k.run(&args, stdin);
        (job.clone(), o, started - t0, started.elapsed())
    };
    let done = std::sync::atomic::AtomicBool::new(false);
    let results: Vec<(Job, Output, Duration, Duration)> = std::thread::scope(|sc| {
        let maintenance: Vec<_> = loops
            .iter()
            .map(|steps| {
                let (run, done) = (&run, &done);
                sc.spawn(move || {
                    let mut out = Vec::new();
                    for (pause, job) in steps {
                        if !out.is_empty() && done.load(std::sync::atomic::Ordering::SeqCst) {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(*pause));
                        out.push(run(job));
                    }
                    out
                })
            })
            .collect();
        let hs: Vec<_> = jobs
            .iter()
            .map(|(delay, job)| {
                let run = &run;
                sc.spawn(move || {
                    std::thread::sleep(Duration::from_millis(*delay));
                    run(job)
                })
            })
            .collect();
        let mut all: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        for h in maintenance {
            all.extend(h.join().unwrap());
        }
        all
    });
    let took = t0.elapsed();

    for v in &victims {
        let (_, c) = s.expected.remove(v).unwrap();
        s.forgotten.push(c);
    }
    // The round's timeline (start and end of every process), for the messages.
    let mut results = results;
    results.sort_by_key(|r| r.2);
    let timeline: Vec<String> = results
        .iter()
        .map(|(job, o, at, d)| {
            let outcome = if o.status.success() {
                "ok"
            } else if is_busy(o) {
                "busy"
            } else {
                "FAILED"
            };
            format!("  {:>5}–{:>5} ms {job:?}: {outcome}", at.as_millis(), (*at + *d).as_millis())
        })
        .collect();
    let ctx = format!("{ctx}\nthe round's processes:\n{}\n", timeline.join("\n"));
    let mut kinds: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    for (job, o, _, _) in &results {
        let kind = match job {
            Job::Push(_) => "push",
            Job::Gc(_) => "gc",
            Job::Compact => "compact",
            Job::Forget(_) => "forget",
            Job::Pull(..) => "pull",
        };
        let e = kinds.entry(kind.to_string()).or_default();
        e.0 += 1;
        e.1 += is_busy(o) as u32;
        match job {
            Job::Push(c) => {
                assert!(o.status.success(), "{ctx}: {job:?} failed: {}", stderr(o));
                s.commit(pushed_id(o).unwrap(), *c);
                s.count("pushes", 1);
            }
            Job::Gc(_) | Job::Compact => {
                if is_busy(o) {
                    s.count("refused (busy)", 1);
                    continue;
                }
                assert!(o.status.success(), "{ctx}: {job:?} failed: {}", stderr(o));
                let rep: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
                for key in ["marked_packs", "deleted_packs", "unmarked_packs", "repacked_packs"] {
                    if let Some(n) = rep[key].as_u64() {
                        s.count(key, n);
                    }
                }
                s.count(if matches!(job, Job::Compact) { "compactions" } else { "gc runs" }, 1);
            }
            Job::Forget(_) => {
                assert!(o.status.success(), "{ctx}: {job:?} failed: {}", stderr(o));
                s.count("forgotten", victims.len() as u64);
            }
            Job::Pull(_, c) => {
                assert!(o.status.success(), "{ctx}: {job:?} failed: {}", stderr(o));
                assert!(o.stdout == c.bytes(), "{ctx}: {job:?} restored other bytes");
                s.count("concurrent pulls", 1);
            }
        }
    }
    let summary: Vec<String> = kinds.iter().map(|(k, (n, busy))| format!("{k} {n} ({busy} refused)")).collect();
    eprintln!("{}: {:.1} s: {}", s.ctx(&format!("round {r}")), took.as_secs_f64(), summary.join(", "));
    s.check(read_data, &ctx);
}

fn rounds(default: usize) -> usize {
    std::env::var("KANREPO_CONCURRENCY_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn concurrency(target: Target, n: usize) {
    let seed = seed();
    let mut rng = Rng::new(seed);
    let t0 = Instant::now();
    let mut s = State::new(Kando { target, ttl_ms: None }, seed);
    s.k.init(&s.ctx("init"));
    marked_packs_outside_the_index(&mut s);
    for p in 0..PATHS.len() {
        s.push(Content::Stream { path: p, generation: 0 }, &s.ctx("first pushes"));
    }
    worst_interleavings(&mut s);
    for r in 1..=n {
        round(&mut s, &mut rng, r, r % 4 == 0 || r == n);
    }
    eprintln!(
        "concurrency seed {seed} on {}: {n} rounds in {:.1} s; {:?}",
        s.k.target.name(),
        t0.elapsed().as_secs_f64(),
        s.counts
    );
}

#[test]
fn concurrent_pushes_gc_compact_and_forget_on_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    concurrency(Target::Local(dir.path().join("repo")), rounds(20));
}

fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| {
        panic!("{k} is not set: run scripts/test.sh, or scripts/servers.sh start DIR and source DIR/env")
    })
}

/// The profile JSON `{{ toJson .Profile }}` renders for the MinIO server, with a prefix no
/// other test (or earlier run) uses.
fn s3_profile() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let prefix = format!("it-concurrency-{}-{t}", std::process::id());
    serde_json::json!({
        "Location": {"Type": "s3Compliant", "Bucket": env("KANREPO_TEST_S3_BUCKET"),
            "Endpoint": env("KANREPO_TEST_S3_ENDPOINT"), "Prefix": prefix, "Region": env("KANREPO_TEST_S3_REGION")},
        "Credential": {"Type": "keyPair", "KeyPair": {"ID": env("KANREPO_TEST_S3_ACCESS_KEY"),
            "Secret": env("KANREPO_TEST_S3_SECRET_KEY")}, "Secret": null, "KopiaServerSecret": {}},
        "SkipSSLVerify": false
    })
    .to_string()
}

#[test]
#[ignore = "needs the test servers: scripts/test.sh starts them"]
fn concurrent_pushes_gc_compact_and_forget_on_s3_minio() {
    concurrency(Target::Profile(s3_profile()), rounds(10));
}
