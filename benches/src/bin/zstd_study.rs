//! zstd study: ratio and single-core speed of whole-dump compression per setting and frame size.
//! Usage: zstd_study DUMP
use kanrepo::compress::{self, Params};

fn main() {
    let path = std::env::args().nth(1).expect("usage: zstd_study DUMP");
    let d = std::fs::read(path).unwrap();
    let dfast = |hash_log, chain_log| Params {
        level: 2,
        strategy: Some(2),
        hash_log: Some(hash_log),
        chain_log: Some(chain_log),
    };
    let settings = [
        ("level -1", Params::level(-1)),
        ("level 1", Params::level(1)),
        ("level 2", Params::level(2)),
        ("2 dfast h16 c14", dfast(16, 14)),
        ("2 dfast h17 c12", dfast(17, 12)),
        ("2 dfast h18 c14 (default)", Params::DATA),
        ("2 dfast h17 c16", dfast(17, 16)),
        ("level 3", Params::level(3)),
    ];
    println!("{:26} {:>9} {:>7} {:>6} {:>12}", "setting", "frame_KiB", "MB_out", "ratio", "MB/s(1 core)");
    for (name, params) in settings {
        for frame in [256usize << 10, 1 << 20, 4 << 20] {
            let mut out = Vec::new();
            let t = std::time::Instant::now();
            let n: usize = d
                .chunks(frame)
                .map(|f| {
                    let h = compress::encode_into(f, params, &mut out);
                    if h[0] == compress::CODEC_ZSTD { out.len() } else { f.len() }
                })
                .sum();
            let s = t.elapsed().as_secs_f64();
            println!(
                "{name:26} {:9} {:7.1} {:6.3} {:12.0}",
                frame >> 10,
                n as f64 / 1e6,
                d.len() as f64 / n as f64,
                d.len() as f64 / 1e6 / s
            );
        }
    }
}
