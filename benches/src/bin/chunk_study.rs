//! Chunk-size study: how many bytes a second generation of a dump adds, per chunker setting.
//!
//! Usage: chunk_study GEN0 GEN1
//! Prints, per (min, avg, max, level): chunk count, raw bytes of new chunks in GEN1,
//! zstd-1 bytes of those chunks compressed one by one and in 1 MiB frames, and the
//! chunk-list metadata a snapshot costs (36 B per chunk), and the seconds FastCDC takes to cut
//! GEN0 on one core.
use kanrepo::chunker::{ChunkerParams, Cutter};
use std::collections::HashSet;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let g0 = std::fs::read(&args[1]).unwrap();
    let g1 = std::fs::read(&args[2]).unwrap();
    let configs = [
        (1024, 4096, 32768, 2),
        (2048, 8192, 65536, 1),
        (2048, 8192, 65536, 2),
        (3072, 8192, 65536, 1),
        (4096, 8192, 65536, 1),
        (4096, 16384, 131072, 2),
        (8192, 32768, 262144, 2),
        (16384, 65536, 524288, 2),
        (262144, 1048576, 4194304, 1),
    ];
    println!(
        "min/avg/max/lvl   chunks0  new_raw_MB  new_pct  z1_single_MB  z1_frames_MB  meta_MB  full_frames_MB  cut_s"
    );
    for (min, avg, max, lvl) in configs {
        let p = ChunkerParams { min_size: min, avg_size: avg, max_size: max, normalization: lvl };
        let c = Cutter::new(p, 0x1234).unwrap();
        let t0 = std::time::Instant::now();
        let c0 = c.split(&g0);
        let split_s = t0.elapsed().as_secs_f64();
        let set: HashSet<[u8; 32]> = c0.iter().map(|x| *blake3::hash(x).as_bytes()).collect();
        let mut new_raw = 0usize;
        let mut single = 0usize;
        let mut frame: Vec<u8> = Vec::new();
        let mut frames = 0usize;
        let mut seen = HashSet::new();
        let c1 = c.split(&g1);
        for x in &c1 {
            let h = *blake3::hash(x).as_bytes();
            if set.contains(&h) || !seen.insert(h) {
                continue;
            }
            new_raw += x.len();
            single += zstd::bulk::compress(x, 1).unwrap().len().min(x.len());
            frame.extend_from_slice(x);
            if frame.len() >= 1 << 20 {
                frames += zstd::bulk::compress(&frame, 1).unwrap().len();
                frame.clear();
            }
        }
        if !frame.is_empty() {
            frames += zstd::bulk::compress(&frame, 1).unwrap().len();
        }
        // Full backup of gen0 in 1 MiB frames.
        let mut full = 0usize;
        for f in g0.chunks(1 << 20) {
            full += zstd::bulk::compress(f, 1).unwrap().len();
        }
        let mb = |b: usize| b as f64 / 1e6;
        println!(
            "{min}/{avg}/{max}/{lvl}  {:8}  {:10.1}  {:6.1}%  {:12.1}  {:12.1}  {:7.2}  {:8.1}  {:5.3}",
            c0.len(),
            mb(new_raw),
            100.0 * new_raw as f64 / g1.len() as f64,
            mb(single),
            mb(frames),
            mb(c1.len() * 36),
            mb(full),
            split_s
        );
    }
}
