//! A seeded crash harness: real `kando` processes (`location push`, `repository gc --min-age
//! 0s`, `repository compact`) killed with SIGKILL at random moments, and after every kill the
//! repository verifies clean, every snapshot committed before the kill restores byte-exact,
//! and the next push, gc and compact succeed.
//!
//! The seed comes from `KANREPO_CRASH_SEED` (else the clock) and is printed and named in
//! every assertion message: `KANREPO_CRASH_SEED=N cargo test -p kando --test it -- crash`
//! replays a run (up to timing: where a kill lands depends on the machine's speed). The
//! concurrency tests (`concurrency.rs`) use the same seed variable and the helpers here.
//! `KANREPO_CRASH_KILLS` sets how many kills to land (default 50).

use kanrepo::testdata::pseudo_random as data;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub(crate) const KANDO: &str = env!("CARGO_BIN_EXE_kando");
pub(crate) const PW: &str = "crash-Pa55word-k3Z";

/// The message `gc` and `compact` fail with when another holds the gc lease.
pub(crate) const BUSY: &str = "another garbage collection or compaction is running";

/// Kills to land in one run of the harness (kills of a process that had already exited do
/// not count); `KANREPO_CRASH_KILLS` changes it (a longer soak).
fn kills_wanted() -> usize {
    std::env::var("KANREPO_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(50)
}
/// Lease TTL for every process of the harness: a killed push's or gc's lease stops counting
/// this long after its last refresh (holders refresh every TTL / 6). Long enough that a push
/// starved of CPU or disk by the rest of the test suite never looks dead (it would then
/// rightly refuse to commit), short enough that waiting for a killed gc's lease stays cheap.
const TTL_MS: u64 = 4000;

/// splitmix64: small, deterministic, good enough to pick moments and operations.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `percent` / 100.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The seed: `KANREPO_CRASH_SEED`, else from the clock; printed so that a failure can be replayed.
pub(crate) fn seed() -> u64 {
    let seed = match std::env::var("KANREPO_CRASH_SEED") {
        Ok(s) => s.trim().parse().unwrap_or_else(|_| panic!("KANREPO_CRASH_SEED={s:?} is not a number")),
        Err(_) => {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
            (t.as_nanos() as u64) ^ ((std::process::id() as u64) << 32)
        }
    };
    eprintln!("crash harness seed {seed} (re-run with KANREPO_CRASH_SEED={seed})");
    seed
}

/// Where the repository is: a directory, or a Kanister profile (JSON).
#[derive(Clone, Debug)]
pub(crate) enum Target {
    Local(PathBuf),
    Profile(String),
}

impl Target {
    fn args(&self) -> [&str; 2] {
        match self {
            Target::Local(p) => ["--repo", p.to_str().unwrap()],
            Target::Profile(j) => ["-p", j.as_str()],
        }
    }

    /// For messages (a profile holds credentials).
    pub(crate) fn name(&self) -> String {
        match self {
            Target::Local(p) => format!("local disk {}", p.display()),
            Target::Profile(j) => {
                let v: serde_json::Value = serde_json::from_str(j).unwrap();
                let l = |k: &str| v["Location"][k].as_str().unwrap_or_default().to_string();
                format!("{} {}/{}", l("Type"), l("Bucket"), l("Prefix"))
            }
        }
    }

    /// The repository's objects through the engine's backend (to watch leases).
    pub(crate) fn backend(&self) -> std::sync::Arc<dyn kanrepo::backend::Backend> {
        match self {
            Target::Local(p) => std::sync::Arc::new(kanrepo::backend::local::LocalBackend::new(p)),
            Target::Profile(j) => kanrepo::profile::Profile::parse(j).unwrap().backend().unwrap(),
        }
    }
}

/// Runs `kando` against one repository; `ttl_ms` (if any) is the lease TTL of every process.
#[derive(Clone, Debug)]
pub(crate) struct Kando {
    pub(crate) target: Target,
    pub(crate) ttl_ms: Option<u64>,
}

impl Kando {
    /// Start `kando ARGS --repo …` with `stdin` fed by a thread (dropped, so closed, when done).
    pub(crate) fn spawn(&self, args: &[&str], stdin: Option<Vec<u8>>) -> Child {
        let mut child = self.command(args, stdin.is_some()).spawn().unwrap();
        if let Some(input) = stdin {
            let mut si = child.stdin.take().unwrap();
            // A killed kando closes the pipe: the write fails, and that is expected.
            std::thread::spawn(move || {
                let _ = si.write_all(&input);
            });
        }
        child
    }

    /// `kando ARGS --repo …` with the environment of every process of these tests.
    pub(crate) fn command(&self, args: &[&str], stdin: bool) -> Command {
        let mut c = Command::new(KANDO);
        c.args(args)
            .args(self.target.args())
            .env("KANDO_REPOSITORY_PASSWORD", PW)
            .env("KANDO_PROGRESS", "none")
            .env_remove("KANDO_PROFILE")
            .env_remove("KANDO_REPOSITORY")
            .env_remove("KANDO_NO_AUTO_MAINTENANCE")
            .env_remove("KANDO_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() });
        match self.ttl_ms {
            Some(ms) => c.env("KANREPO_TESTING_LEASE_TTL_MS", ms.to_string()),
            None => c.env_remove("KANREPO_TESTING_LEASE_TTL_MS"),
        };
        c
    }

    pub(crate) fn run(&self, args: &[&str], stdin: Option<Vec<u8>>) -> Output {
        self.spawn(args, stdin).wait_with_output().unwrap()
    }

    /// Run and require success; `ctx` names the seed and the round.
    pub(crate) fn ok(&self, args: &[&str], stdin: Option<Vec<u8>>, ctx: &str) -> Output {
        let o = self.run(args, stdin);
        assert!(o.status.success(), "{ctx}: kando {args:?} failed: {}", stderr(&o));
        o
    }

    pub(crate) fn json(&self, args: &[&str], ctx: &str) -> serde_json::Value {
        let o = self.ok(args, None, ctx);
        serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{ctx}: kando {args:?}: {e}: {}", String::from_utf8_lossy(&o.stdout)))
    }

    /// `repository init` with 1 MiB packs and a fast KDF.
    pub(crate) fn init(&self, ctx: &str) {
        let a = ["repository", "init", "--pack-mib", "1", "--kdf-memory-mib", "1", "--kdf-passes", "1"];
        self.ok(&[&a[..], &["--kdf-lanes", "1"]].concat(), None, ctx);
    }

    /// Push `bytes` as a snapshot of `path`; returns its id.
    pub(crate) fn push(&self, path: &str, bytes: Vec<u8>, ctx: &str) -> String {
        let o = self.ok(&["location", "push", "--path", path, "-"], Some(bytes), ctx);
        pushed_id(&o).unwrap_or_else(|| panic!("{ctx}: no snapshot id in {}", String::from_utf8_lossy(&o.stdout)))
    }

    /// Every snapshot: id → (path, blake3 of the stream).
    pub(crate) fn snapshots(&self, ctx: &str) -> BTreeMap<String, (String, String)> {
        let v = self.json(&["repository", "snapshots", "--json"], ctx);
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let g = |k: &str| s[k].as_str().unwrap().to_string();
                (g("id"), (g("path"), g("blake3")))
            })
            .collect()
    }

    /// Pull snapshot `id` of `path` to stdout and compare it with `want`.
    pub(crate) fn pull_exact(&self, path: &str, id: &str, want: &[u8], ctx: &str) {
        let o = self.ok(&["location", "pull", "--path", path, "--snapshot", id, "-"], None, ctx);
        assert!(
            o.stdout.len() == want.len() && o.stdout == want,
            "{ctx}: snapshot {id} of {path} restored {} bytes that differ from the {} pushed",
            o.stdout.len(),
            want.len()
        );
    }

    /// `repository verify --json` (with `--read-data` if asked) reports no problem.
    pub(crate) fn verify_clean(&self, read_data: bool, ctx: &str) {
        let mut args = vec!["repository", "verify", "--json"];
        if read_data {
            args.push("--read-data");
        }
        let o = self.run(&args, None);
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!("{ctx}: verify printed no report ({e}): {}{}", String::from_utf8_lossy(&o.stdout), stderr(&o))
        });
        assert!(
            o.status.success() && report["problems"].as_array().is_some_and(|p| p.is_empty()),
            "{ctx}: verify{} found problems: {}\n{}",
            if read_data { " --read-data" } else { "" },
            serde_json::to_string_pretty(&report["problems"]).unwrap(),
            stderr(&o)
        );
        assert_eq!(report["complete"], true, "{ctx}: verify did not complete: {report}");
        assert!(
            report["damaged_snapshots"].as_array().is_some_and(|d| d.is_empty()),
            "{ctx}: damaged snapshots: {}",
            report["damaged_snapshots"]
        );
    }

    /// Run `gc`/`compact` (`args`), retrying while another holds the gc lease, for at most
    /// `limit`. Returns the report and how many times it was refused.
    pub(crate) fn maintain_retrying(&self, args: &[&str], limit: Duration, ctx: &str) -> (serde_json::Value, u32) {
        let t0 = Instant::now();
        let mut refused = 0;
        loop {
            let o = self.run(args, None);
            if o.status.success() {
                let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{ctx}: kando {args:?}: {e}"));
                return (v, refused);
            }
            assert!(is_busy(&o), "{ctx}: kando {args:?} failed (not busy): {}", stderr(&o));
            refused += 1;
            assert!(
                t0.elapsed() < limit,
                "{ctx}: kando {args:?} still refused after {:.1} s (lease TTL {TTL_MS} ms): {}",
                t0.elapsed().as_secs_f64(),
                stderr(&o)
            );
            std::thread::sleep(Duration::from_millis(150));
        }
    }
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Refused because another gc or compaction holds the gc lease.
pub(crate) fn is_busy(o: &Output) -> bool {
    !o.status.success() && stderr(o).contains(BUSY)
}

/// The snapshot id in a push's phase output, if it printed one.
pub(crate) fn pushed_id(o: &Output) -> Option<String> {
    let out = String::from_utf8_lossy(&o.stdout);
    let line = out.lines().find(|l| l.starts_with("###Phase-output###:") && l.contains("\\\"id\\\""))?;
    let outer: serde_json::Value = serde_json::from_str(line.split_once(": ")?.1).ok()?;
    let inner: serde_json::Value = serde_json::from_str(outer["value"].as_str()?).ok()?;
    Some(inner["id"].as_str()?.to_string())
}

/// `physicalSize` (bytes this push stored) from a push's phase output.
pub(crate) fn pushed_physical(o: &Output) -> Option<u64> {
    let out = String::from_utf8_lossy(&o.stdout);
    let line = out.lines().find(|l| l.starts_with("###Phase-output###:") && l.contains("physicalSize"))?;
    let outer: serde_json::Value = serde_json::from_str(line.split_once(": ")?.1).ok()?;
    let inner: serde_json::Value = serde_json::from_str(outer["value"].as_str()?).ok()?;
    inner["physicalSize"].as_u64()
}

pub(crate) fn hash(b: &[u8]) -> String {
    blake3::hash(b).to_hex().to_string()
}

const BLOCK: usize = 64 << 10;

/// What a snapshot holds: generation `g` of a 4 MiB stream (32 blocks of 64 KiB, two
/// rewritten per generation, then 2 MiB new in each: about three new 1 MiB packs per push), or
/// an unrelated 1.5 MB stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Content {
    Gen(u64),
    Fresh(u64),
}

impl Content {
    fn path(self) -> &'static str {
        match self {
            Content::Gen(_) => "db",
            Content::Fresh(_) => "other",
        }
    }

    fn bytes(self) -> Vec<u8> {
        match self {
            Content::Gen(g) => {
                let mut v: Vec<u8> = (0..32u64)
                    .flat_map(|b| {
                        let last = (1..=g).rev().find(|k| k % 32 == b || (k * 7 + 3) % 32 == b).unwrap_or(0);
                        data(BLOCK, 1000 * b + last)
                    })
                    .collect();
                v.extend_from_slice(&data(2 << 20, 3_000_000 + g));
                v
            }
            Content::Fresh(s) => data(1_500_000, 7_000_000 + s),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Push,
    Gc,
    Compact,
}

/// Running mean of how long an uninterrupted run of each operation takes (ms).
#[derive(Default)]
struct Durations(BTreeMap<Op, (f64, u32)>);

impl Durations {
    fn add(&mut self, op: Op, d: Duration) {
        let e = self.0.entry(op).or_insert((0.0, 0));
        e.0 += d.as_secs_f64() * 1000.0;
        e.1 += 1;
    }

    fn mean_ms(&self, op: Op) -> u64 {
        self.0.get(&op).map_or(500, |(t, n)| (t / *n as f64) as u64)
    }
}

/// Every file under the repository directory (hidden temporary files included), relative.
fn files(root: &std::path::Path) -> BTreeSet<String> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut BTreeSet<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

/// What an operation changed in the repository directory so far (`before` → `after`).
struct Diff<'a> {
    before: &'a BTreeSet<String>,
    after: &'a BTreeSet<String>,
}

impl Diff<'_> {
    /// Objects under `prefix` that appeared (temporary files not counted).
    fn added(&self, prefix: &str) -> usize {
        self.after.difference(self.before).filter(|f| f.starts_with(prefix) && !f.contains("/.")).count()
    }

    fn removed(&self, prefix: &str) -> usize {
        self.before.difference(self.after).filter(|f| f.starts_with(prefix)).count()
    }

    /// A new temporary file (an object being written) under `prefix`.
    fn temp(&self, prefix: &str) -> bool {
        self.after.difference(self.before).any(|f| f.starts_with(prefix) && f.contains("/."))
    }

    fn lease(&self, op: Op) -> bool {
        self.added(if op == Op::Push { "leases/" } else { "gc/leases/" }) > 0
    }

    /// Whether `event` (one of [`events`]) has happened.
    fn reached(&self, op: Op, event: &str) -> bool {
        match event {
            "lease" => self.lease(op),
            "temporary pack" => self.temp("packs/"),
            "pack stored" => self.added("packs/") > 0,
            "2 packs stored" => self.added("packs/") > 1,
            "index written" => self.added("index/") > 0,
            "mark written" => self.added("gc/marks/") > 0,
            "pack deleted" => self.removed("packs/") > 0,
            "index deleted" => self.removed("index/") > 0,
            _ => unreachable!("{event}"),
        }
    }

    /// How far a killed operation got.
    fn phase(&self, op: Op) -> String {
        let (packs_in, packs_out) = (self.added("packs/"), self.removed("packs/"));
        let s = match op {
            Op::Push if self.added("snapshots/") > 0 => "snapshot committed",
            Op::Push if self.added("index/") > 0 && packs_in > 0 => "packs indexed, no snapshot",
            Op::Push if packs_in > 0 => return format!("uploading ({packs_in} pack(s) stored)"),
            Op::Gc if packs_out > 0 && self.removed("gc/marks/") > 0 => "packs and marks deleted",
            Op::Gc if packs_out > 0 => return format!("deleting packs ({packs_out} gone)"),
            Op::Gc if self.removed("index/") > 0 => "index rewritten, no pack deleted yet",
            Op::Gc if self.added("gc/marks/") > 0 => "mark written",
            Op::Gc if self.added("index/") > 0 => "unindexed packs indexed",
            Op::Compact if self.removed("index/") > 0 => "old packs marked, index merged",
            Op::Compact if self.added("gc/marks/") > 0 => "old packs marked",
            Op::Compact if self.added("index/") > 0 => "new packs indexed",
            Op::Compact if packs_in > 0 => return format!("repacking ({packs_in} new pack(s))"),
            _ if self.temp("packs/") => "lease taken, a pack being written",
            _ if self.lease(op) => "lease taken, nothing written",
            _ => "starting (no lease yet)",
        };
        s.to_string()
    }
}

/// Moments worth killing at, per operation: right after its repository shows this.
fn events(op: Op) -> &'static [&'static str] {
    match op {
        Op::Push => &["lease", "temporary pack", "pack stored", "2 packs stored", "index written"],
        Op::Gc => &["lease", "index written", "mark written", "index deleted", "pack deleted"],
        Op::Compact => &["lease", "temporary pack", "pack stored", "index written", "mark written", "index deleted"],
    }
}

struct Harness {
    k: Kando,
    seed: u64,
    /// Snapshots that must survive: id → content.
    expected: BTreeMap<String, Content>,
    durations: Durations,
    next_gen: u64,
    next_fresh: u64,
}

impl Harness {
    fn ctx(&self, round: usize, what: &str) -> String {
        format!("seed {} (KANREPO_CRASH_SEED={}), round {round}, {what}", self.seed, self.seed)
    }

    fn args(op: Op, content: Option<Content>) -> Vec<&'static str> {
        match op {
            Op::Push => vec!["location", "push", "--path", content.unwrap().path(), "-"],
            Op::Gc => vec!["repository", "gc", "--min-age", "0s", "--json"],
            Op::Compact => vec!["repository", "compact", "--json"],
        }
    }

    /// A push, gc and compact run to completion (the measure for where kills land).
    fn run_timed(&mut self, op: Op, content: Option<Content>, ctx: &str) {
        let t0 = Instant::now();
        match op {
            Op::Push => {
                let c = content.unwrap();
                let id = self.k.push(c.path(), c.bytes(), ctx);
                self.expected.insert(id, c);
            }
            Op::Gc | Op::Compact => {
                let limit = Duration::from_millis(TTL_MS) + Duration::from_secs(15);
                let (_, refused) = self.k.maintain_retrying(&Self::args(op, None), limit, ctx);
                if refused > 0 {
                    return; // the retries' time is not the operation's
                }
            }
        }
        self.durations.add(op, t0.elapsed());
    }

    fn next_content(&mut self, rng: &mut Rng) -> Content {
        if rng.chance(20) {
            self.next_fresh += 1;
            Content::Fresh(self.next_fresh)
        } else {
            self.next_gen += 1;
            Content::Gen(self.next_gen)
        }
    }

    /// Forget some snapshots (so that gc and compact have work), keeping at most five.
    fn forget_some(&mut self, rng: &mut Rng, round: usize) {
        let mut victims: Vec<String> = Vec::new();
        let ids: Vec<String> = self.expected.keys().cloned().collect();
        if !ids.is_empty() && rng.chance(50) {
            victims.push(ids[rng.below(ids.len() as u64) as usize].clone());
        }
        // Oldest first (generations grow with time, fresh streams too).
        let mut by_age: Vec<(u64, String)> = self
            .expected
            .iter()
            .map(|(id, c)| match c {
                Content::Gen(g) => (*g * 2, id.clone()),
                Content::Fresh(s) => (*s * 2 + 1, id.clone()),
            })
            .collect();
        by_age.sort();
        let excess = self.expected.len().saturating_sub(5);
        victims.extend(by_age.into_iter().take(excess).map(|(_, id)| id));
        victims.sort();
        victims.dedup();
        if victims.is_empty() {
            return;
        }
        let ctx = self.ctx(round, "forget");
        let mut args = vec!["repository", "forget", "--allow-last"];
        args.extend(victims.iter().map(String::as_str));
        self.k.ok(&args, None, &ctx);
        for v in &victims {
            self.expected.remove(v);
        }
    }

    /// The invariants after a crash: every snapshot committed before it is listed with its
    /// stream's hash and restores byte-exact; a snapshot the killed push may have committed
    /// is its stream; verify finds nothing wrong.
    fn check(&mut self, round: usize, killed_push: Option<Content>, read_data: bool) {
        let ctx = self.ctx(round, "after the kill");
        let listed = self.k.snapshots(&ctx);
        for (id, c) in &self.expected {
            let (path, b3) =
                listed.get(id).unwrap_or_else(|| panic!("{ctx}: snapshot {id} ({c:?}) committed before is gone"));
            assert_eq!((path.as_str(), b3.as_str()), (c.path(), hash(&c.bytes()).as_str()), "{ctx}: {id}");
        }
        let extra: Vec<_> = listed.iter().filter(|(id, _)| !self.expected.contains_key(*id)).collect();
        match (extra.as_slice(), killed_push) {
            ([], _) => {}
            ([(id, (path, b3))], Some(c)) => {
                assert_eq!((path.as_str(), b3.as_str()), (c.path(), hash(&c.bytes()).as_str()), "{ctx}: {id}");
                self.expected.insert((*id).clone(), c);
            }
            _ => panic!("{ctx}: unexpected snapshots {extra:?} (killed push: {killed_push:?})"),
        }
        self.k.verify_clean(read_data, &ctx);
        for (id, c) in &self.expected {
            self.k.pull_exact(c.path(), id, &c.bytes(), &ctx);
        }
    }
}

#[test]
fn crash_harness_kills_push_gc_and_compact_at_random_moments() {
    let seed = seed();
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let k = Kando { target: Target::Local(dir.path().join("repo")), ttl_ms: Some(TTL_MS) };
    let mut h =
        Harness { k, seed, expected: BTreeMap::new(), durations: Durations::default(), next_gen: 0, next_fresh: 0 };
    let t0 = Instant::now();
    h.k.init(&h.ctx(0, "init"));
    // Calibration: how long each operation takes uninterrupted on this machine.
    for c in [Content::Gen(0), Content::Fresh(0), Content::Gen(1)] {
        h.run_timed(Op::Push, Some(c), &h.ctx(0, "first pushes"));
    }
    h.forget_some(&mut Rng::new(1), 0);
    for op in [Op::Gc, Op::Compact, Op::Gc] {
        h.run_timed(op, None, &h.ctx(0, "first maintenance"));
    }

    let mut kills: BTreeMap<Op, usize> = BTreeMap::new();
    let mut finished: BTreeMap<Op, usize> = BTreeMap::new();
    let mut phases: BTreeMap<String, usize> = BTreeMap::new();
    let mut round = 0;
    let wanted = kills_wanted();
    while kills.values().sum::<usize>() < wanted {
        round += 1;
        assert!(round <= 4 * wanted, "seed {seed}: only {kills:?} kills landed in {round} rounds");
        let op = match rng.below(10) {
            0..=3 => Op::Push,
            4..=6 => Op::Gc,
            _ => Op::Compact,
        };
        if (op != Op::Push && rng.chance(80)) || h.expected.len() > 5 {
            h.forget_some(&mut rng, round);
        }
        let content = (op == Op::Push).then(|| h.next_content(&mut rng));
        // Half the kills at a random moment from the process start to a little past its usual
        // end; half right after (0–3 ms) the repository shows a chosen step of the operation.
        let span = h.durations.mean_ms(op) * 6 / 5;
        let event = rng.chance(50).then(|| events(op)[rng.below(events(op).len() as u64) as usize]);
        let delay = Duration::from_millis(if event.is_some() { rng.below(4) } else { rng.below(span.max(20)) });
        let root = match &h.k.target {
            Target::Local(p) => p.clone(),
            Target::Profile(_) => unreachable!("the crash harness runs on local disk"),
        };
        let before = files(&root);
        let started = Instant::now();
        let mut child = h.k.spawn(&Harness::args(op, content), content.map(|c| c.bytes()));
        if let Some(e) = event {
            // Watch until the step shows (or the process ends, or it takes far too long).
            while child.try_wait().unwrap().is_none()
                && !(Diff { before: &before, after: &files(&root) }).reached(op, e)
                && started.elapsed() < Duration::from_secs(20)
            {
                std::thread::sleep(Duration::from_micros(300));
            }
            std::thread::sleep(delay);
        } else {
            std::thread::sleep(delay.saturating_sub(started.elapsed()));
        }
        let at = started.elapsed();
        let killed = match child.try_wait().unwrap() {
            Some(_) => false,
            None => {
                child.kill().unwrap();
                true
            }
        };
        let o = child.wait_with_output().unwrap();
        let when = match event {
            Some(e) => format!("{} ms after \"{e}\" ({} ms)", delay.as_millis(), at.as_millis()),
            None => format!("at {} ms", at.as_millis()),
        };
        let ctx = h.ctx(round, &format!("{op:?} {} {when}", if killed { "killed" } else { "done" }));
        if killed {
            *kills.entry(op).or_default() += 1;
            let phase = (Diff { before: &before, after: &files(&root) }).phase(op);
            let how = if event.is_some() { "on a step" } else { "at random" };
            *phases.entry(format!("{op:?}: {phase} ({how})")).or_default() += 1;
            eprintln!("{ctx}: {phase}");
        } else {
            *finished.entry(op).or_default() += 1;
            assert!(o.status.success() || is_busy(&o), "{ctx}: {}", stderr(&o));
            if let (Some(c), Some(id)) = (content, pushed_id(&o)) {
                h.expected.insert(id, c);
            }
        }
        let killed_push = content.filter(|_| killed);
        h.check(round, killed_push, round % 10 == 0);

        // The next push (of the killed push's stream again when it did not commit, so that it
        // reuses the packs that push left), gc and compact succeed.
        let ctx = h.ctx(round, "recovery");
        let again = killed_push.filter(|c| !h.expected.values().any(|e| e == c));
        let c = again.unwrap_or_else(|| h.next_content(&mut rng));
        h.run_timed(Op::Push, Some(c), &ctx);
        h.run_timed(Op::Gc, None, &ctx);
        h.run_timed(Op::Compact, None, &ctx);
    }
    let ctx = h.ctx(round, "final");
    h.check(round, None, true);
    h.run_timed(Op::Gc, None, &ctx);
    h.k.verify_clean(true, &ctx);
    eprintln!("crash harness seed {seed}: where the kills landed (what the killed process had done):");
    for (p, n) in &phases {
        eprintln!("  {n:3} × {p}");
    }
    eprintln!(
        "crash harness seed {seed}: {round} rounds in {:.1} s; kills {kills:?}; finished before the kill {finished:?}; \
         mean uninterrupted ms: push {}, gc {}, compact {}",
        t0.elapsed().as_secs_f64(),
        h.durations.mean_ms(Op::Push),
        h.durations.mean_ms(Op::Gc),
        h.durations.mean_ms(Op::Compact)
    );
}
