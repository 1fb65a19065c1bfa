//! Reading the sorted tables of one kind (hook tables, locator tables: format::table) by ranged
//! requests: each table's footer once, then only the blocks a lookup needs, through a small
//! cache of decoded blocks.
//!
//! Memory: each table's footer (~32 B per 64 KiB block, plus the key length) and at most
//! [`BLOCK_CACHE`] decoded blocks (≤ 64 KiB each; fewer if the caller says so).
//!
//! Must not: decide what a damaged or missing table means (its callers do: both kinds are
//! hints), or write anything.

use super::for_each_bounded;
use crate::backend::Backend;
use crate::crypto::Keys;
use crate::error::{Error, ErrorKind, Result};
use crate::format::table::{self, Block, Footer};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Decoded blocks a reader keeps.
const BLOCK_CACHE: usize = 64;
/// Bytes read from a table's end in the first request (trailer and, usually, the footer).
const TAIL_GUESS: u64 = 64 << 10;

/// A table that cannot be used (gone, or does not open): callers skip it.
pub(crate) fn skippable(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::NotFound | ErrorKind::Corrupt)
}

/// The tables under one prefix, by footer; blocks read on demand.
pub(crate) struct TableSet {
    backend: Arc<dyn Backend>,
    keys: Arc<Keys>,
    magic: &'static [u8; 8],
    /// Object name and footer, sorted by name.
    pub(crate) tables: Vec<(String, Footer)>,
    cache: Mutex<(HashMap<(usize, usize), Arc<Block>>, VecDeque<(usize, usize)>)>,
    /// Decoded blocks kept.
    cap: usize,
}

impl TableSet {
    /// List the tables under `prefix` and read their footers; one that is gone or does not open
    /// is skipped with a warning that ends with `cost` (what skipping it costs).
    pub(crate) async fn open(
        backend: Arc<dyn Backend>,
        keys: Arc<Keys>,
        prefix: &str,
        magic: &'static [u8; 8],
        cost: &str,
    ) -> Result<TableSet> {
        let objs = backend.list(prefix).await?;
        let mut tables = Vec::with_capacity(objs.len());
        for_each_bounded(
            objs,
            8,
            |o| {
                let (backend, keys) = (backend.clone(), keys.clone());
                async move {
                    let r = read_footer(backend, keys, magic, o.key.clone(), o.size).await;
                    Ok((o.key, r))
                }
            },
            |r| {
                let (name, f) = r?;
                match f {
                    Ok(f) => tables.push((name, f)),
                    Err(e) if skippable(&e) => tracing::warn!("{name}: {e} (skipped; {cost})"),
                    Err(e) => return Err(e),
                }
                Ok(())
            },
        )
        .await?;
        tables.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(TableSet { backend, keys, magic, tables, cache: Mutex::default(), cap: BLOCK_CACHE })
    }

    /// Keep at most `n` decoded blocks (default [`BLOCK_CACHE`]).
    pub(crate) fn cache_blocks(mut self, n: usize) -> TableSet {
        self.cap = n.max(1);
        self
    }

    /// The store the tables are read from.
    pub(crate) fn backend(&self) -> Arc<dyn Backend> {
        self.backend.clone()
    }

    /// The repository's keys.
    pub(crate) fn keys(&self) -> Arc<Keys> {
        self.keys.clone()
    }

    /// Replace the tables (listed again) and forget the cached blocks.
    pub(crate) fn replace(&mut self, other: TableSet) {
        self.tables = other.tables;
        *self.cache.lock().unwrap() = Default::default();
    }

    /// Block `b` of table `t`, from the cache or read now. Blocking: call from a thread
    /// outside the runtime.
    pub(crate) fn block(&self, rt: &tokio::runtime::Handle, t: usize, b: usize) -> Result<Arc<Block>> {
        if let Some(hit) = self.cache.lock().unwrap().0.get(&(t, b)) {
            return Ok(hit.clone());
        }
        let (name, f) = &self.tables[t];
        let r = f.block_range(b);
        let sealed = rt.block_on(self.backend.get_range(name, r.start, r.end - r.start))?;
        let block = Arc::new(table::open_block(&self.keys, self.magic, f, b, &sealed).map_err(|e| e.context(name))?);
        let mut c = self.cache.lock().unwrap();
        if c.1.len() >= self.cap
            && let Some(old) = c.1.pop_front()
        {
            c.0.remove(&old);
        }
        c.0.insert((t, b), block.clone());
        c.1.push_back((t, b));
        Ok(block)
    }
}

/// Read the footer of the table object `name` of `size` bytes.
async fn read_footer(
    backend: Arc<dyn Backend>,
    keys: Arc<Keys>,
    magic: &[u8; 8],
    name: String,
    size: u64,
) -> Result<Footer> {
    let guess = TAIL_GUESS.min(size);
    let tail = backend.get_range(&name, size - guess, guess).await?;
    let (tid, at) = table::parse_trailer(&tail, size, magic).map_err(|e| e.context(&name))?;
    let sealed = if at.start >= size - guess {
        tail.slice((at.start - (size - guess)) as usize..(at.end - (size - guess)) as usize)
    } else {
        backend.get_range(&name, at.start, at.end - at.start).await?
    };
    table::open_footer(&keys, magic, tid, &sealed, at).map_err(|e| e.context(&name))
}
