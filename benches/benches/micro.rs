//! Criterion micro-benchmarks of the per-byte stages: chunking, keyed hashing, compression
//! and sealing. `cargo bench -p kanrepo-benches --bench micro`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kanrepo::chunker::{ChunkerParams, Cutter};
use kanrepo::compress;
use kanrepo::crypto::MasterKey;
use std::hint::black_box;

fn sample(n: usize) -> Vec<u8> {
    // SQL-like text with numbers: compressible like a dump.
    let mut out = Vec::with_capacity(n + 100);
    let mut x: u64 = 88172645463325252;
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(
            format!(
                "INSERT INTO orders VALUES ({}, {}, 'status-{}', 'note {}');\n",
                x % 1_000_000,
                x % 977,
                x % 4,
                x % 31337
            )
            .as_bytes(),
        );
    }
    out.truncate(n);
    out
}

fn benches(c: &mut Criterion) {
    let data = sample(8 << 20);
    let keys = MasterKey::from_bytes([1; 32]).derive();
    let mut g = c.benchmark_group("per-byte");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    let cutter = Cutter::new(ChunkerParams::default(), keys.chunker_seed).unwrap();
    g.bench_function("fastcdc 8K", |b| b.iter(|| black_box(cutter.split(&data).len())));
    let chunks = cutter.split(&data);
    g.bench_function("keyed blake3 per chunk", |b| {
        b.iter(|| chunks.iter().map(|c| keys.chunk_id(c).0[0] as u64).sum::<u64>())
    });
    let settings = [
        ("zstd-1", compress::Params::level(1)),
        ("zstd-2", compress::Params::level(2)),
        ("zstd-2 dfast h18 c14 (default)", compress::Params::DATA),
        ("zstd-3", compress::Params::level(3)),
    ];
    for (name, params) in settings {
        g.bench_function(format!("{name} 1MiB frames"), |b| {
            let mut out = Vec::new();
            b.iter(|| {
                data.chunks(1 << 20).map(|f| compress::encode_into(f, params, &mut out)[0] as usize).sum::<usize>()
            })
        });
    }
    let frames: Vec<Vec<u8>> = data.chunks(1 << 20).map(|f| compress::encode_vec(f, 2)).collect();
    g.bench_function("zstd decode 1MiB frames", |b| {
        b.iter(|| frames.iter().map(|f| compress::decode(f).unwrap().len()).sum::<usize>())
    });
    g.bench_function("aes-256-gcm seal 1MiB", |b| {
        b.iter(|| data.chunks(1 << 20).map(|f| keys.seal(b"KRBLOB01", f).len()).sum::<usize>())
    });
    let sealed: Vec<Vec<u8>> = data.chunks(1 << 20).map(|f| keys.seal(b"KRBLOB01", f)).collect();
    g.bench_function("aes-256-gcm open 1MiB", |b| {
        b.iter(|| sealed.iter().map(|s| keys.open(b"KRBLOB01", s, &"b").unwrap().len()).sum::<usize>())
    });
    g.finish();
}

criterion_group!(micro, benches);
criterion_main!(micro);
