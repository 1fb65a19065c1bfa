//! The conformance suite every backend must pass (see the guarantees in the module above).
//!
//! Public so that integration tests can run it against real servers. It panics on failure.

use super::Backend;
use crate::error::ErrorKind;
use bytes::Bytes;

/// Run every check against `b`, which must be empty at the start.
pub async fn run(b: &dyn Backend) {
    let loc = b.location();
    assert!(b.list("").await.unwrap().is_empty(), "{loc}: backend must start empty");

    // Create-only put and read-after-write.
    b.put("snapshots/aa", Bytes::from_static(b"hello")).await.unwrap();
    assert_eq!(&b.get("snapshots/aa").await.unwrap()[..], b"hello");
    let e = b.put("snapshots/aa", Bytes::from_static(b"other")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{loc}: second put must fail: {e}");
    assert_eq!(&b.get("snapshots/aa").await.unwrap()[..], b"hello", "{loc}: failed put must not overwrite");

    // Missing objects.
    assert_eq!(b.get("snapshots/missing").await.unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(b.delete("snapshots/missing").await.unwrap_err().kind(), ErrorKind::NotFound);

    // Ranged reads, including the empty object and a read past the end.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    b.put("packs/01/0123", Bytes::from(big.clone())).await.unwrap();
    assert_eq!(&b.get_range("packs/01/0123", 0, 10).await.unwrap()[..], &big[..10]);
    assert_eq!(&b.get_range("packs/01/0123", 2_999_990, 10).await.unwrap()[..], &big[2_999_990..]);
    assert_eq!(&b.get_range("packs/01/0123", 1_000_000, 1_000_000).await.unwrap()[..], &big[1_000_000..2_000_000]);
    assert!(b.get_range("packs/01/0123", 2_999_995, 10).await.is_err(), "{loc}: read past end must fail");
    assert_eq!(b.get("packs/01/0123").await.unwrap().len(), big.len());
    b.put("index/empty", Bytes::new()).await.unwrap();
    assert_eq!(b.get("index/empty").await.unwrap().len(), 0);

    // Listing by prefix, with sizes.
    b.put("packs/02/0234", Bytes::from_static(b"xy")).await.unwrap();
    let l = b.list("packs/").await.unwrap();
    let mut keys: Vec<_> = l.iter().map(|o| (o.key.as_str(), o.size)).collect();
    keys.sort();
    assert_eq!(keys, vec![("packs/01/0123", 3_000_000), ("packs/02/0234", 2)]);
    assert_eq!(b.list("snapshots/").await.unwrap().len(), 1);
    assert_eq!(b.list("nothing/").await.unwrap().len(), 0);
    assert_eq!(b.list("").await.unwrap().len(), 4);

    // Concurrent create-only puts of one key: exactly one wins.
    let puts = (0..8).map(|i| b.put("snapshots/race", Bytes::from(vec![i as u8; 1000])));
    let results = futures_join_all(puts).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{loc}: exactly one racing put wins");
    let winner = b.get("snapshots/race").await.unwrap();
    assert!(winner.iter().all(|x| *x == winner[0]) && winner.len() == 1000, "{loc}: no torn object");

    // Delete.
    for k in ["snapshots/aa", "packs/01/0123", "packs/02/0234", "index/empty", "snapshots/race"] {
        b.delete(k).await.unwrap();
    }
    assert!(b.list("").await.unwrap().is_empty(), "{loc}: all deleted");
}

async fn futures_join_all<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output> {
    // Poll all futures concurrently without an extra dependency.
    let mut set = Vec::new();
    for f in fs {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    out.into_iter().map(|o| o.unwrap()).collect()
}
