//! Entry points for the fuzz targets in `fuzz/` and for the test that replays their corpus.
//!
//! Each function feeds untrusted bytes to one decoder of repository objects. None may panic
//! or allocate without bound, whatever the input; where a decoder accepts the input, encoding
//! the result must give back something that decodes to the same value.
#![doc(hidden)]

use crate::format::{config::Config, index::IndexFile, pack, snapshot::Snapshot, tree::Node};

/// Config JSON.
pub fn config(data: &[u8]) {
    if let Ok(c) = Config::from_json(data) {
        assert_eq!(Config::from_json(&c.to_json()).unwrap(), c);
    }
}

/// Key object JSON.
pub fn keyfile(data: &[u8]) {
    if let Ok(k) = crate::crypto::keyfile::KeyFile::parse(data) {
        let again = crate::crypto::keyfile::KeyFile::parse(&k.to_bytes()).unwrap();
        assert_eq!(again.salt, k.salt);
    }
}

/// Pack header plaintext and pack trailer.
pub fn pack_header(data: &[u8]) {
    if let Ok(h) = pack::decode_header(data) {
        assert_eq!(pack::decode_header(&pack::encode_header(&h)).unwrap(), h);
    }
    if data.len() >= pack::TRAILER_LEN {
        let _ = pack::decode_trailer(&data[data.len() - pack::TRAILER_LEN..]);
    }
}

/// Index object plaintext.
pub fn index(data: &[u8]) {
    if let Ok(f) = IndexFile::decode(data) {
        assert_eq!(IndexFile::decode(&f.encode()).unwrap(), f);
    }
}

/// Snapshot JSON.
pub fn snapshot(data: &[u8]) {
    if let Ok(s) = Snapshot::from_json(data) {
        assert_eq!(Snapshot::from_json(&s.to_json()).unwrap(), s);
    }
}

/// Tree node.
pub fn tree_node(data: &[u8]) {
    if let Ok(n) = Node::decode(data) {
        assert_eq!(Node::decode(&n.encode()).unwrap(), n);
    }
}

/// Sorted-table footer plaintext, and the same bytes as block 0 of a small fixed footer.
pub fn table(data: &[u8]) {
    use crate::format::table;
    if let Ok(f) = table::decode_footer(data, [0; 16]) {
        assert!(f.blocks.iter().all(|b| b.first.len() == f.key_len));
        assert_eq!(table::encode_footer(&f), data);
    }
    let f = table::Footer {
        table_id: [0; 16],
        key_len: 2,
        entries: 3,
        blocks: vec![table::BlockRef { first: vec![0, 1], offset: 8, sealed_len: 100, entries: 3 }],
        last: vec![9, 9],
    };
    if let Ok(b) = table::decode_block(data.to_vec(), &f, 0) {
        assert_eq!(b.len(), 3);
        assert!(b.iter().all(|(k, _)| (&[0u8, 1][..]..=&[9u8, 9][..]).contains(&k)));
    }
}

/// Compression frame.
pub fn frame(data: &[u8]) {
    if let Ok(raw) = crate::compress::decode(data) {
        assert_eq!(crate::compress::decode(&crate::compress::encode_vec(&raw, 1)).unwrap(), raw);
    }
}

/// Every target by name, for the corpus replay test.
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("config", config),
    ("keyfile", keyfile),
    ("pack_header", pack_header),
    ("index", index),
    ("snapshot", snapshot),
    ("tree_node", tree_node),
    ("table", table),
    ("frame", frame),
];
