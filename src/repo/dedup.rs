//! The dedup decision, owned by exactly one thread of the push pipeline.
//!
//! Two parts, neither of which grows with the repository: the push's dedup sources (cursors
//! over other snapshots' tree leaves, repo::cursor), and a fixed-size, direct-mapped table of
//! the ids this push added (memory fixed by `window` no matter how long the stream is). A
//! chunk that neither knows is stored, also when the repository holds it elsewhere: a
//! bounded-memory trade-off that costs space, never correctness. docs/architecture.md gives
//! the numbers.

use super::cursor::{Sources, StoredAt};
use crate::error::Result;
use crate::id::Id;

/// See the module docs.
pub(crate) struct DedupSet {
    sources: Option<Sources>,
    table: Vec<[u8; 32]>,
    mask: usize,
}

impl DedupSet {
    /// `window` is rounded up to a power of two (32 bytes per slot, allocated lazily by the OS).
    pub(crate) fn new(sources: Option<Sources>, window: usize) -> Self {
        let n = window.max(1024).next_power_of_two();
        DedupSet { sources, table: vec![[0u8; 32]; n], mask: n - 1 }
    }

    /// Before a batch of chunks: let the sources load what the batch may need.
    pub(crate) fn prepare(&mut self, batch: &[Id]) -> Result<()> {
        match &mut self.sources {
            Some(s) => s.prepare(batch),
            None => Ok(()),
        }
    }

    /// The sources, for their counters.
    pub(crate) fn sources(&self) -> Option<&Sources> {
        self.sources.as_ref()
    }

    /// True if `id` is new (and remember it); false if it is already stored.
    pub(crate) fn insert_if_new(&mut self, id: &Id) -> Result<bool> {
        Ok(self.decide(id)?.is_none())
    }

    /// `None` if `id` is new (and remember it); else it is already stored, and where, when a
    /// source's locator record says (never for a copy this push stored: the window keeps ids
    /// only). Fails only if the sources had to read the index and could not.
    pub(crate) fn decide(&mut self, id: &Id) -> Result<Option<StoredAt>> {
        if let Some(s) = self.sources.as_mut()
            && let Some(at) = s.known(id)?
        {
            return Ok(Some(at));
        }
        if id.0 == [0u8; 32] {
            // The empty-slot marker is never cached; such a chunk is just stored again.
            return Ok(None);
        }
        let slot = (u64::from_le_bytes(id.0[8..16].try_into().unwrap()) as usize) & self.mask;
        if self.table[slot] == id.0 {
            return Ok(Some(None));
        }
        self.table[slot] = id.0;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_remembers_recent_ids() {
        let mut d = DedupSet::new(None, 4096);
        let n = Id::of_bytes(b"new");
        assert!(d.insert_if_new(&n).unwrap());
        assert!(!d.insert_if_new(&n).unwrap());
        assert!(d.insert_if_new(&Id([0; 32])).unwrap());
        assert!(d.insert_if_new(&Id([0; 32])).unwrap());
        // Recent ids are remembered while the table is far from full.
        let ids: Vec<Id> = (0..500u32).map(|i| Id::of_bytes(&i.to_le_bytes())).collect();
        for i in &ids {
            d.insert_if_new(i).unwrap();
        }
        let remembered = ids.iter().filter(|i| !d.insert_if_new(i).unwrap()).count();
        assert!(remembered > 400, "{remembered}");
    }
}
