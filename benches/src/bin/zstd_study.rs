//! zstd study: ratio and single-core speed of whole-dump compression per level and frame size.
//! Usage: zstd_study DUMP
fn main() {
    let path = std::env::args().nth(1).expect("usage: zstd_study DUMP");
    let d = std::fs::read(path).unwrap();
    println!("level frame_KiB  MB_out  ratio  MB/s(1 core)");
    for level in [-1, 1, 2, 3] {
        for frame in [256usize << 10, 1 << 20, 4 << 20] {
            let mut c = zstd::bulk::Compressor::new(level).unwrap();
            let t = std::time::Instant::now();
            let out: usize = d.chunks(frame).map(|f| c.compress(f).unwrap().len()).sum();
            let s = t.elapsed().as_secs_f64();
            println!(
                "{level:5} {:9} {:7.1} {:6.3} {:8.0}",
                frame >> 10,
                out as f64 / 1e6,
                d.len() as f64 / out as f64,
                d.len() as f64 / 1e6 / s
            );
        }
    }
}
