//! Recycled byte buffers for the pipelines' large, short-lived allocations (read blocks,
//! frames, sealed blobs, packs).
//!
//! Allocating and freeing megabyte buffers at stream rate either costs a page fault per 4 KiB
//! (when the allocator maps them fresh) or fragments the heap so that peak memory creeps up with
//! stream length (when it keeps them). A pool keeps a fixed number of buffers per size class
//! alive and hands them out again, so steady-state pipelines do not allocate large buffers at
//! all. [`BufPool::bytes`] wraps a buffer in [`Bytes`] that returns it to the pool when the
//! last slice of it is dropped.

use bytes::Bytes;
use std::sync::{Arc, Condvar, Mutex};

/// A pool of `Vec<u8>` with at least `size` bytes of capacity each.
#[derive(Debug)]
pub struct BufPool {
    state: Mutex<State>,
    freed: Condvar,
    size: usize,
    keep: usize,
    limit: Option<usize>,
}

#[derive(Debug, Default)]
struct State {
    free: Vec<Vec<u8>>,
    out: usize,
}

impl BufPool {
    /// A pool of buffers of `size` bytes, keeping at most `keep` idle ones.
    pub fn new(size: usize, keep: usize) -> Arc<BufPool> {
        Arc::new(BufPool { state: Mutex::default(), freed: Condvar::new(), size, keep, limit: None })
    }

    /// A pool that never has more than `limit` buffers out at once: [`BufPool::take`] waits
    /// for one to come back. Every taken buffer must be given back (directly or through
    /// [`BufPool::bytes`]).
    pub fn bounded(size: usize, limit: usize) -> Arc<BufPool> {
        let limit = limit.max(1);
        Arc::new(BufPool { state: Mutex::default(), freed: Condvar::new(), size, keep: limit, limit: Some(limit) })
    }

    /// An empty buffer with at least the pool's capacity (waits if the pool is bounded and
    /// all its buffers are out).
    pub fn take(&self) -> Vec<u8> {
        let mut st = self.state.lock().unwrap();
        if let Some(limit) = self.limit {
            while st.out >= limit {
                st = self.freed.wait(st).unwrap();
            }
        }
        st.out += 1;
        st.free.pop().unwrap_or_else(|| Vec::with_capacity(self.size))
    }

    /// Give a buffer back (its memory is dropped if the pool is full or the buffer unusual).
    pub fn give(&self, mut v: Vec<u8>) {
        let mut st = self.state.lock().unwrap();
        st.out = st.out.saturating_sub(1);
        if v.capacity() >= self.size && v.capacity() <= 2 * self.size + (1 << 20) && st.free.len() < self.keep {
            v.clear();
            st.free.push(v);
        }
        drop(st);
        self.freed.notify_one();
    }

    /// Freeze `v` into `Bytes`; the buffer comes back to this pool when the last clone or
    /// slice is dropped.
    pub fn bytes(self: &Arc<Self>, v: Vec<u8>) -> Bytes {
        Bytes::from_owner(Pooled { buf: v, pool: self.clone() })
    }
}

struct Pooled {
    buf: Vec<u8>,
    pool: Arc<BufPool>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back() {
        let p = BufPool::new(1000, 2);
        let mut v = p.take();
        v.extend_from_slice(b"hello");
        let ptr = v.as_ptr();
        let b = p.bytes(v);
        let s = b.slice(1..3);
        drop(b);
        assert_eq!(&s[..], b"el");
        drop(s);
        let again = p.take();
        assert_eq!(again.as_ptr(), ptr, "the same allocation is reused");
        assert!(again.is_empty() && again.capacity() >= 1000);
        p.give(again);
        p.give(Vec::with_capacity(10)); // too small: dropped
        assert_eq!(p.state.lock().unwrap().free.len(), 1);
    }

    #[test]
    fn bounded_pool_waits_for_a_buffer() {
        let p = BufPool::bounded(100, 2);
        let a = p.take();
        let b = p.bytes(p.take());
        let p2 = p.clone();
        let t = std::thread::spawn(move || p2.take().capacity());
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!t.is_finished(), "a third buffer must wait");
        drop(b);
        assert!(t.join().unwrap() >= 100);
        p.give(a);
    }
}
