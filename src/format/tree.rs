//! The chunk list of a snapshot as a tree of nodes (so a multi-terabyte stream never needs
//! one giant list in memory).
//!
//! ```text
//! node  = level u8 || count u32 || count × entry
//! entry = level 0 (leaf): chunk id 32 || chunk length u32
//!         level n > 0:    child node id 32 || bytes covered u64
//! ```
//! Node boundaries are content-defined: a node ends after an entry whose id's first two
//! bytes (little-endian u16) are ≡ 0 mod 512, once it holds at least [`MIN_FANOUT`] entries,
//! or when it reaches [`MAX_FANOUT`]. An insertion in the stream therefore changes only the
//! nodes around it. Node ids are keyed BLAKE3 like chunk ids; nodes are stored as tree blobs.

use super::Cursor;
use crate::error::{Error, Result};
use crate::id::Id;

/// Fewest entries before a content-defined boundary may end a node.
pub const MIN_FANOUT: usize = 16;
/// Most entries in one node.
pub const MAX_FANOUT: usize = 4096;
/// Deepest tree accepted when reading (2^12 fan-out⁸ is far beyond any stream).
pub const MAX_LEVEL: u8 = 8;

/// A decoded node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// 0 for leaves.
    pub level: u8,
    /// Ids and lengths (chunk bytes for leaves, subtree bytes above).
    pub entries: Vec<(Id, u64)>,
}

impl Node {
    /// Serialise.
    pub fn encode(&self) -> Vec<u8> {
        let w = if self.level == 0 { 36 } else { 40 };
        let mut v = Vec::with_capacity(5 + w * self.entries.len());
        v.push(self.level);
        v.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for (id, n) in &self.entries {
            v.extend_from_slice(&id.0);
            if self.level == 0 {
                v.extend_from_slice(&(*n as u32).to_le_bytes());
            } else {
                v.extend_from_slice(&n.to_le_bytes());
            }
        }
        v
    }

    /// Parse untrusted bytes.
    pub fn decode(b: &[u8]) -> Result<Node> {
        let mut c = Cursor::new(b, "tree node");
        let level = c.u8()?;
        if level > MAX_LEVEL {
            return Err(Error::corrupt(format!("tree node level {level} is too deep")));
        }
        let n = c.count(if level == 0 { 36 } else { 40 })?;
        if n > MAX_FANOUT {
            return Err(Error::corrupt("tree node has too many entries"));
        }
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let id = c.id()?;
            let len = if level == 0 { c.u32()? as u64 } else { c.u64()? };
            entries.push((id, len));
        }
        c.finish()?;
        Ok(Node { level, entries })
    }
}

fn is_boundary(id: &Id, count: usize) -> bool {
    count >= MAX_FANOUT || (count >= MIN_FANOUT && u16::from_le_bytes([id.0[0], id.0[1]]) % 512 == 0)
}

/// Builds the tree bottom-up as chunks arrive; finished nodes are handed to `emit`.
#[derive(Default)]
pub struct TreeBuilder {
    levels: Vec<Vec<(Id, u64)>>,
}

impl TreeBuilder {
    /// A new, empty builder.
    pub fn new() -> Self {
        TreeBuilder { levels: vec![Vec::new()] }
    }

    /// Add the next chunk of the stream. `emit(node_bytes) -> node_id` stores a node.
    pub fn add(&mut self, id: Id, len: u32, emit: &mut dyn FnMut(Vec<u8>) -> Id) {
        self.push(0, id, len as u64, emit);
    }

    fn push(&mut self, level: usize, id: Id, n: u64, emit: &mut dyn FnMut(Vec<u8>) -> Id) {
        if self.levels.len() <= level {
            self.levels.push(Vec::new());
        }
        self.levels[level].push((id, n));
        if is_boundary(&id, self.levels[level].len()) {
            let entries = std::mem::take(&mut self.levels[level]);
            let bytes: u64 = entries.iter().map(|e| e.1).sum();
            let nid = emit(Node { level: level as u8, entries }.encode());
            self.push(level + 1, nid, bytes, emit);
        }
    }

    /// Flush every level; returns the root node id.
    pub fn finish(mut self, emit: &mut dyn FnMut(Vec<u8>) -> Id) -> Id {
        let mut l = 0;
        loop {
            let higher = self.levels[l + 1..].iter().any(|v| !v.is_empty());
            let entries = std::mem::take(&mut self.levels[l]);
            if !higher {
                if l > 0 && entries.len() == 1 {
                    return entries[0].0;
                }
                return emit(Node { level: l as u8, entries }.encode());
            }
            if !entries.is_empty() {
                let bytes: u64 = entries.iter().map(|e| e.1).sum();
                let nid = emit(Node { level: l as u8, entries }.encode());
                self.levels[l + 1].push((nid, bytes));
            }
            l += 1;
        }
    }
}

/// Walks a tree depth-first, yielding chunk ids and lengths in stream order
/// ([`TreeWalker::next_chunk`]), or whole leaves ([`TreeWalker::next_leaf`]; a walker uses one
/// or the other).
pub struct TreeWalker<F> {
    fetch: F,
    stack: Vec<(u8, std::vec::IntoIter<(Id, u64)>)>,
    /// The root, while it is a leaf not yet returned by `next_leaf`.
    root_leaf: Option<Id>,
}

impl<F: FnMut(&Id) -> Result<Vec<u8>>> TreeWalker<F> {
    /// Start at `root`; `fetch` returns a node's bytes by id.
    pub fn new(root: Id, mut fetch: F) -> Result<Self> {
        let node = Node::decode(&fetch(&root)?).map_err(|e| e.context(format!("tree node {}", root.short())))?;
        let root_leaf = (node.level == 0).then_some(root);
        Ok(TreeWalker { fetch, stack: vec![(node.level, node.entries.into_iter())], root_leaf })
    }

    /// Read child `id` of a level-`level` node whose entry says it covers `n` bytes.
    fn child(&mut self, id: &Id, n: u64, level: u8) -> Result<Node> {
        let node = Node::decode(&(self.fetch)(id)?).map_err(|e| e.context(format!("tree node {}", id.short())))?;
        if node.level + 1 != level {
            return Err(Error::corrupt(format!(
                "tree node {} has level {} under level {level}",
                id.short(),
                node.level
            )));
        }
        let sum: u64 = node.entries.iter().map(|e| e.1).sum();
        if sum != n {
            return Err(Error::corrupt(format!("tree node {} covers {sum} bytes, parent says {n}", id.short())));
        }
        Ok(node)
    }

    /// The next chunk, or `None` when the tree is exhausted.
    pub fn next_chunk(&mut self) -> Result<Option<(Id, u32)>> {
        self.root_leaf = None;
        loop {
            let Some((level, it)) = self.stack.last_mut() else {
                return Ok(None);
            };
            let level = *level;
            match it.next() {
                None => {
                    self.stack.pop();
                }
                Some((id, n)) if level == 0 => return Ok(Some((id, n as u32))),
                Some((id, n)) => {
                    let node = self.child(&id, n, level)?;
                    self.stack.push((node.level, node.entries.into_iter()));
                }
            }
        }
    }

    /// The next leaf (its id and entries), or `None` when the tree is exhausted.
    pub fn next_leaf(&mut self) -> Result<Option<(Id, Vec<(Id, u64)>)>> {
        if let Some(root) = self.root_leaf.take() {
            return Ok(self.stack.pop().map(|(_, it)| (root, it.collect())));
        }
        loop {
            let Some((level, it)) = self.stack.last_mut() else {
                return Ok(None);
            };
            let level = *level;
            match it.next() {
                None => {
                    self.stack.pop();
                }
                Some(_) if level == 0 => {
                    return Err(Error::corrupt("internal: a tree walker asked for a leaf in the middle of one"));
                }
                Some((id, n)) => {
                    let node = self.child(&id, n, level)?;
                    if node.level == 0 {
                        return Ok(Some((id, node.entries)));
                    }
                    self.stack.push((node.level, node.entries.into_iter()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn build(n: usize) -> (Id, HashMap<Id, Vec<u8>>, Vec<(Id, u32)>) {
        let mut store = HashMap::new();
        let mut emit = |b: Vec<u8>| {
            let id = Id::of_bytes(&b);
            store.insert(id, b);
            id
        };
        let mut tb = TreeBuilder::new();
        let mut want = Vec::new();
        for i in 0..n {
            let id = Id::of_bytes(&(i as u64).to_le_bytes());
            tb.add(id, (i % 1000) as u32 + 1, &mut emit);
            want.push((id, (i % 1000) as u32 + 1));
        }
        let root = tb.finish(&mut emit);
        (root, store, want)
    }

    #[test]
    fn build_and_walk() {
        for n in [0usize, 1, 15, 16, 17, 600, 5000, 300_000] {
            let (root, store, want) = build(n);
            let mut w = TreeWalker::new(root, |id: &Id| Ok(store[id].clone())).unwrap();
            let mut got = Vec::new();
            while let Some(c) = w.next_chunk().unwrap() {
                got.push(c);
            }
            assert_eq!(got, want, "n={n}");
            if n > 10_000 {
                assert!(Node::decode(&store[&root]).unwrap().level >= 1);
            }
        }
    }

    #[test]
    fn leaves_concatenate_to_the_chunks_and_carry_their_ids() {
        for n in [0usize, 1, 15, 600, 300_000] {
            let (root, store, want) = build(n);
            let mut w = TreeWalker::new(root, |id: &Id| Ok(store[id].clone())).unwrap();
            let mut got = Vec::new();
            let mut leaves = 0;
            while let Some((id, entries)) = w.next_leaf().unwrap() {
                let node = Node::decode(&store[&id]).unwrap();
                assert_eq!((node.level, &node.entries), (0, &entries), "n={n}");
                got.extend(entries.iter().map(|&(id, len)| (id, len as u32)));
                leaves += 1;
            }
            assert_eq!(got, want, "n={n}");
            assert!(leaves >= 1 && (n < 5000 || leaves > 1), "n={n}: {leaves} leaves");
        }
    }

    #[test]
    fn decode_rejects_garbage() {
        assert!(Node::decode(&[]).is_err());
        assert!(Node::decode(&[9, 0, 0, 0, 0]).is_err());
        assert!(Node::decode(&[0, 1, 0, 0, 0]).is_err());
        assert_eq!(Node::decode(&[0, 0, 0, 0, 0]).unwrap().entries.len(), 0);
    }
}
