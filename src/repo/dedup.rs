//! The dedup decision, owned by exactly one thread of the push pipeline.
//!
//! Two parts: every id the repository index knew when the push started (memory grows with
//! the repository), and a fixed-size, direct-mapped table of the ids this push added
//! (memory fixed by `window` no matter how long the stream is). A new chunk that repeats
//! after its table slot was reused is stored a second time: a bounded-memory trade-off that
//! costs space, never correctness. docs/architecture.md gives the numbers.

use crate::id::{Id, IdSet};

/// See the module docs.
pub(crate) struct DedupSet {
    known: IdSet,
    table: Vec<[u8; 32]>,
    mask: usize,
}

impl DedupSet {
    /// `window` is rounded up to a power of two (32 bytes per slot, allocated lazily by the OS).
    pub(crate) fn new(known: IdSet, window: usize) -> Self {
        let n = window.max(1024).next_power_of_two();
        DedupSet { known, table: vec![[0u8; 32]; n], mask: n - 1 }
    }

    /// True if `id` is new (and remember it); false if it is already stored.
    pub(crate) fn insert_if_new(&mut self, id: &Id) -> bool {
        if self.known.contains(id) {
            return false;
        }
        if id.0 == [0u8; 32] {
            // The empty-slot marker is never cached; such a chunk is just stored again.
            return true;
        }
        let slot = (u64::from_le_bytes(id.0[8..16].try_into().unwrap()) as usize) & self.mask;
        if self.table[slot] == id.0 {
            return false;
        }
        self.table[slot] = id.0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_window() {
        let k = Id::of_bytes(b"known");
        let mut known = IdSet::default();
        known.insert(k);
        let mut d = DedupSet::new(known, 4096);
        assert!(!d.insert_if_new(&k));
        let n = Id::of_bytes(b"new");
        assert!(d.insert_if_new(&n));
        assert!(!d.insert_if_new(&n));
        assert!(d.insert_if_new(&Id([0; 32])));
        assert!(d.insert_if_new(&Id([0; 32])));
        // Recent ids are remembered while the table is far from full.
        let ids: Vec<Id> = (0..500u32).map(|i| Id::of_bytes(&i.to_le_bytes())).collect();
        for i in &ids {
            d.insert_if_new(i);
        }
        let remembered = ids.iter().filter(|i| !d.insert_if_new(i)).count();
        assert!(remembered > 400, "{remembered}");
    }
}
