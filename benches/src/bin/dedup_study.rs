//! Dedup study for issue 12: how much dedup a push keeps when it no longer holds every stored
//! id, but only *cursors*: windows over other snapshots' tree leaves, in stream order, each kept
//! `ahead` leaves past its furthest hit. The parent snapshot of the same path opens the first
//! cursor; a sparse "hook" index (one sampled id per ~`rate` chunks → the newest snapshot
//! positions whose leaf holds it) opens more when a segment (one tree leaf of the new stream)
//! has hooks that no open cursor covers. Plus the ids the push added itself. Simulated on real
//! dump generations with the repository's chunker and tree-leaf rule; the exact global set is
//! the baseline. docs/architecture.md ("Dedup and lookup without a global index") records the
//! output.
//!
//! Usage: dedup_study DUMP0 DUMP1 … DUMPn
//! Scenarios (per parameter set):
//!   chain:  DUMP0 … DUMPn pushed in order under one path, each with its predecessor as parent;
//!   cross:  DUMPn pushed again under a second path (no parent: hooks only);
//!   hooks:  DUMPn pushed under the first path with no parent window (hooks only), after the chain.
//! Prints, per scenario, the raw bytes the exact set would store, the bytes the sparse scheme
//! stores, the bytes it stores again (dedup lost), and the most ids the scheme held in memory.
use kanrepo::chunker::{ChunkerParams, Cutter};
use std::collections::{HashMap, HashSet};

type Cid = [u8; 32];

/// The repository's tree-leaf rule (src/format/tree.rs).
fn leaf_end(id: &Cid, count: usize) -> bool {
    count >= 4096 || (count >= 16 && u16::from_le_bytes([id[0], id[1]]).is_multiple_of(512))
}

#[derive(Clone, Copy)]
struct Params {
    /// One hook per `rate` chunks (id property, so the same chunk is a hook everywhere).
    rate: u32,
    /// Cursors opened per segment through hooks (the best-scoring positions).
    champions: usize,
    /// Leaves of the parent held ahead of the last parent hit.
    ahead: usize,
    /// Cursors open at once (the parent's counts).
    cache: usize,
}

fn is_hook(id: &Cid, rate: u32) -> bool {
    u32::from_le_bytes([id[4], id[5], id[6], id[7]]).is_multiple_of(rate)
}

#[derive(Default)]
struct Repo {
    stored: HashSet<Cid>,
    leaves: Vec<Vec<(Cid, u32)>>,
    leaf_ids: HashMap<Cid, usize>,
    /// Snapshots: their leaves in stream order.
    snaps: Vec<Vec<usize>>,
    /// hook → the newest few (snapshot, leaf position) holding it.
    hooks: HashMap<Cid, Vec<(usize, usize)>>,
    paths: HashMap<String, usize>,
}

struct Outcome {
    exact: u64,
    sparse: u64,
    again: u64,
    peak_ids: usize,
    hook_lookups: usize,
    leaves_loaded: usize,
}

fn split_leaves(chunks: &[(Cid, u32)]) -> Vec<Vec<(Cid, u32)>> {
    let mut out = vec![];
    let mut cur = vec![];
    for &(id, len) in chunks {
        cur.push((id, len));
        if leaf_end(&id, cur.len()) {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A window over one snapshot's leaves: positions [start, next) are loaded; it keeps
/// `ahead` leaves loaded past the furthest hit.
struct Cursor {
    snap: usize,
    start: usize,
    next: usize,
    furthest: usize,
    last_use: usize,
}

fn push(repo: &mut Repo, path: &str, chunks: &[(Cid, u32)], parent: Option<&str>, p: Params) -> Outcome {
    let segments = split_leaves(chunks);
    // ids held: id → (cursor number, count of loaded leaves holding it)
    let mut held: HashMap<Cid, usize> = HashMap::new();
    let mut cursors: Vec<Option<Cursor>> = vec![];
    let load = |repo: &Repo, held: &mut HashMap<Cid, usize>, c: &Cursor, pos: usize| {
        for (id, _) in &repo.leaves[repo.snaps[c.snap][pos]] {
            *held.entry(*id).or_default() += 1;
        }
    };
    let unload = |repo: &Repo, held: &mut HashMap<Cid, usize>, c: &Cursor, pos: usize| {
        for (id, _) in &repo.leaves[repo.snaps[c.snap][pos]] {
            if let Some(n) = held.get_mut(id) {
                *n -= 1;
                if *n == 0 {
                    held.remove(id);
                }
            }
        }
    };
    // Which cursor a hit belongs to: id → (cursor, position), for the loaded leaves.
    let mut where_: HashMap<Cid, Vec<(usize, usize)>> = HashMap::new();
    if let Some(&s) = parent.and_then(|pp| repo.paths.get(pp)) {
        cursors.push(Some(Cursor { snap: s, start: 0, next: 0, furthest: 0, last_use: 0 }));
    }
    let mut own: HashSet<Cid> = HashSet::new();
    let (mut exact, mut sparse, mut again, mut peak, mut lookups, mut loaded) = (0u64, 0u64, 0u64, 0usize, 0, 0);
    let mut exact_seen: HashSet<Cid> = HashSet::new();
    for (si, seg) in segments.iter().enumerate() {
        // Hooks of this segment that nothing loaded covers: open cursors at their positions.
        let mut score: HashMap<(usize, usize), usize> = HashMap::new();
        for (id, _) in seg {
            if is_hook(id, p.rate) && !held.contains_key(id) && !own.contains(id) {
                lookups += 1;
                if let Some(ls) = repo.hooks.get(id) {
                    for &l in ls {
                        *score.entry(l).or_default() += 1;
                    }
                }
            }
        }
        let mut cands: Vec<(usize, (usize, usize))> = score.into_iter().map(|(l, s)| (s, l)).collect();
        cands.sort_unstable_by(|a, b| b.cmp(a));
        for &(_, (snap, pos)) in cands.iter().take(p.champions) {
            // Already inside a cursor's window on that snapshot?
            if cursors.iter().flatten().any(|c| c.snap == snap && pos >= c.start && pos < c.next + p.ahead) {
                continue;
            }
            let live = cursors.iter().filter(|c| c.is_some()).count();
            if live >= p.cache {
                // Evict the least recently used cursor (never the parent, cursor 0, when there is one).
                let victim = cursors
                    .iter()
                    .enumerate()
                    .filter(|(i, c)| c.is_some() && !(parent.is_some() && *i == 0))
                    .min_by_key(|(_, c)| c.as_ref().unwrap().last_use)
                    .map(|(i, _)| i);
                if let Some(v) = victim {
                    let c = cursors[v].take().unwrap();
                    for q in c.start..c.next {
                        unload(repo, &mut held, &c, q);
                    }
                }
            }
            let start = pos.saturating_sub(1);
            cursors.push(Some(Cursor { snap, start, next: start, furthest: pos, last_use: si }));
        }
        // Advance every cursor's window to `ahead` past its furthest hit; drop what is behind.
        for (ci, c) in cursors.iter_mut().enumerate() {
            let Some(c) = c else { continue };
            let n = repo.snaps[c.snap].len();
            while c.next < n && c.next <= c.furthest + p.ahead {
                load(repo, &mut held, c, c.next);
                for (id, _) in &repo.leaves[repo.snaps[c.snap][c.next]] {
                    where_.entry(*id).or_default().push((ci, c.next));
                }
                c.next += 1;
                loaded += 1;
            }
            while c.start + 1 < c.furthest {
                unload(repo, &mut held, c, c.start);
                c.start += 1;
            }
        }
        for (id, len) in seg {
            let in_repo = repo.stored.contains(id);
            if !in_repo && exact_seen.insert(*id) {
                exact += *len as u64;
            }
            if held.contains_key(id) {
                // A hit advances every cursor whose window holds the id.
                for &(ci, pos) in where_.get(id).map(|v| v.as_slice()).unwrap_or(&[]) {
                    if let Some(Some(c)) = cursors.get_mut(ci)
                        && pos >= c.start
                        && pos < c.next
                    {
                        c.furthest = c.furthest.max(pos);
                        c.last_use = si;
                    }
                }
                continue;
            }
            if own.contains(id) {
                continue;
            }
            sparse += *len as u64;
            if in_repo {
                again += *len as u64;
            }
            own.insert(*id);
        }
        peak = peak.max(held.len());
    }
    // Commit: store ids, register leaves and hooks of new leaves.
    let snap_no = repo.snaps.len();
    let mut snap = vec![];
    for (pos, seg) in segments.into_iter().enumerate() {
        for (id, _) in &seg {
            repo.stored.insert(*id);
        }
        let lid = *blake3::hash(&seg.iter().flat_map(|(i, _)| i.to_vec()).collect::<Vec<u8>>()).as_bytes();
        let li = match repo.leaf_ids.get(&lid) {
            Some(&li) => li,
            None => {
                let li = repo.leaves.len();
                repo.leaves.push(seg);
                repo.leaf_ids.insert(lid, li);
                li
            }
        };
        // Hooks of every leaf point to the newest snapshot position holding it (what a gc
        // that rebuilds the hook table from the live trees would give).
        for (id, _) in &repo.leaves[li] {
            if is_hook(id, p.rate) {
                let v = repo.hooks.entry(*id).or_default();
                v.push((snap_no, pos));
                if v.len() > 2 {
                    v.remove(0);
                }
            }
        }
        snap.push(li);
    }
    repo.snaps.push(snap);
    repo.paths.insert(path.to_string(), snap_no);
    Outcome { exact, sparse, again, peak_ids: peak, hook_lookups: lookups, leaves_loaded: loaded }
}

fn main() {
    let files: Vec<String> = std::env::args().skip(1).collect();
    assert!(files.len() >= 2, "usage: dedup_study DUMP0 DUMP1 … DUMPn");
    let cutter =
        Cutter::new(ChunkerParams { min_size: 4096, avg_size: 8192, max_size: 65536, normalization: 1 }, 0x5eed)
            .unwrap();
    let gens: Vec<Vec<(Cid, u32)>> = files
        .iter()
        .map(|f| {
            let d = std::fs::read(f).unwrap();
            cutter.split(&d).iter().map(|c| (*blake3::hash(c).as_bytes(), c.len() as u32)).collect()
        })
        .collect();
    let mb = |b: u64| b as f64 / 1e6;
    println!("{} generations, {} … {} chunks", gens.len(), gens[0].len(), gens[gens.len() - 1].len());
    println!(
        "rate champ ahead cache | chain: exact_MB sparse_MB again_MB peak_ids | cross: exact sparse again peak lookups leaves | hooks-only: exact sparse again"
    );
    for (rate, champions, ahead, cache) in
        [(64, 1, 2, 4), (64, 1, 4, 4), (64, 2, 4, 8), (32, 1, 4, 4), (128, 1, 4, 4), (256, 1, 4, 4), (64, 1, 8, 4)]
    {
        let p = Params { rate, champions, ahead, cache };
        let mut repo = Repo::default();
        let (mut ce, mut cs, mut ca, mut cp) = (0u64, 0u64, 0u64, 0usize);
        for (g, chunks) in gens.iter().enumerate() {
            let o = push(&mut repo, "a", chunks, (g > 0).then_some("a"), p);
            if g > 0 {
                ce += o.exact;
                cs += o.sparse;
                ca += o.again;
                cp = cp.max(o.peak_ids);
            }
        }
        let last = gens.last().unwrap();
        let x = push(&mut repo, "b", last, None, p);
        let h = push(&mut repo, "c", last, None, p);
        let _ = h;
        // Hooks only, on the chain path's content shifted by one generation: gen n-1 repushed
        // under a fresh path after the chain (the case of a reordered or renamed database).
        let mut repo2 = Repo::default();
        for (g, chunks) in gens.iter().enumerate().take(gens.len() - 1) {
            push(&mut repo2, "a", chunks, (g > 0).then_some("a"), p);
        }
        let ho = push(&mut repo2, "z", last, None, p);
        println!(
            "{rate:4} {champions:5} {ahead:5} {cache:5} | chain: {:7.1} {:7.1} {:6.1} {:8} | cross: {:6.1} {:7.1} {:6.1} {:6} {:6} {:5} | hooks-only: {:6.1} {:7.1} {:6.1}",
            mb(ce),
            mb(cs),
            mb(ca),
            cp,
            mb(x.exact),
            mb(x.sparse),
            mb(x.again),
            x.peak_ids,
            x.hook_lookups,
            x.leaves_loaded,
            mb(ho.exact),
            mb(ho.sparse),
            mb(ho.again),
        );
    }
}
