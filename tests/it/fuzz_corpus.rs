//! Replays the committed fuzz corpus through the same entry points the fuzz targets use, and
//! checks the corpus holds a real, decodable sample for every target.

use std::path::Path;

fn corpus_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus")
}

#[test]
fn corpus_replays_without_panics() {
    for (name, f) in kanrepo::fuzzing::TARGETS {
        let dir = corpus_dir().join(name);
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap_or_else(|_| panic!("missing corpus {}", dir.display())) {
            let data = std::fs::read(e.unwrap().path()).unwrap();
            f(&data);
            // Truncations and bit flips of every sample must be rejected or handled, never panic.
            for cut in [0, 1, data.len() / 2, data.len().saturating_sub(1)] {
                f(&data[..cut.min(data.len())]);
            }
            for i in (0..data.len()).step_by(7) {
                let mut d = data.clone();
                d[i] ^= 0x5a;
                f(&d);
            }
            n += 1;
        }
        assert!(n >= 2, "corpus for {name} has {n} samples");
    }
}

/// Regenerates the seed samples: `KANREPO_WRITE_FUZZ_CORPUS=1 cargo test --test it fuzz_corpus`.
#[test]
fn seed_samples_are_valid() {
    use kanrepo::compress::Params;
    use kanrepo::crypto::MasterKey;
    use kanrepo::crypto::keyfile::{KdfParams, KeyFile};
    use kanrepo::format::{config::Config, index::IndexFile, pack, snapshot::*, table, tree::Node};
    let id = kanrepo::Id::of_bytes(b"x");
    let header = vec![pack::BlobHeader {
        kind: pack::BlobKind::Data,
        offset: 0,
        sealed_len: 90,
        raw_len: 10,
        chunks: vec![(id, 4), (id, 6)],
    }];
    let mut idx = IndexFile::default();
    idx.add_pack(id, header.clone());
    let snap = Snapshot {
        version: 1,
        path: "pg/backup.sql".into(),
        tags: vec!["nightly".into()],
        time: "2026-11-23T21:00:00.000000000Z".into(),
        hostname: "h".into(),
        size: 10,
        blake3: id.to_hex(),
        root: id.to_hex(),
        stats: SnapshotStats::default(),
        program: "kando".into(),
    };
    let samples: Vec<(&str, &str, Vec<u8>)> = vec![
        ("config", "default", Config::new(Default::default(), Params::DATA, 1 << 20, 16 << 20).to_json()),
        ("config", "plain_level", Config::new(Default::default(), Params::level(3), 1 << 20, 16 << 20).to_json()),
        ("config", "garbage", b"{\"version\":2}".to_vec()),
        (
            "keyfile",
            "fast",
            KeyFile::wrap(&MasterKey::from_bytes([7; 32]), b"pw", KdfParams::insecure_fast()).unwrap().to_bytes(),
        ),
        ("keyfile", "garbage", b"{\"version\":1,\"kdf\":\"scrypt\"}".to_vec()),
        ("pack_header", "one_blob", pack::encode_header(&header)),
        ("pack_header", "empty", pack::encode_header(&[])),
        ("index", "one_pack", idx.encode()),
        ("index", "empty", IndexFile::default().encode()),
        ("snapshot", "one", snap.to_json()),
        ("snapshot", "garbage", b"{\"version\":1}".to_vec()),
        ("tree_node", "leaf", Node { level: 0, entries: vec![(id, 4), (id, 9)] }.encode()),
        ("tree_node", "inner", Node { level: 1, entries: vec![(id, 4000)] }.encode()),
        (
            "table",
            "footer",
            table::encode_footer(&table::Footer {
                table_id: [0; 16],
                key_len: 2,
                entries: 5,
                blocks: vec![
                    table::BlockRef { first: vec![0, 1], offset: 8, sealed_len: 70, entries: 3 },
                    table::BlockRef { first: vec![4, 0], offset: 78, sealed_len: 60, entries: 2 },
                ],
                last: vec![9, 9],
            }),
        ),
        // Block 0 of the fixed footer in kanrepo::fuzzing::table: keys 0001, 0005, 0909.
        ("table", "block", vec![0, 1, 1, 0, 0, 0, b'a', 0, 5, 0, 0, 0, 0, 9, 9, 2, 0, 0, 0, b'b', b'c']),
        ("frame", "zstd", kanrepo::compress::encode_vec(&b"abcabcabc".repeat(50), 3)),
        ("frame", "stored", kanrepo::compress::encode_vec(b"xyz", 0)),
    ];
    let write = std::env::var_os("KANREPO_WRITE_FUZZ_CORPUS").is_some();
    for (target, name, bytes) in samples {
        let f = kanrepo::fuzzing::TARGETS.iter().find(|t| t.0 == target).unwrap().1;
        f(&bytes);
        if write {
            let dir = corpus_dir().join(target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(name), &bytes).unwrap();
        }
    }
}
