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
    b.delete("snapshots/missing").await.expect("deleting a missing key is not an error");

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
    assert_eq!(b.get_range("index/empty", 0, 0).await.unwrap().len(), 0);
    assert_eq!(b.size("index/empty").await.unwrap(), Some(0));
    assert_eq!(b.size("packs/01/0123").await.unwrap(), Some(3_000_000));
    assert_eq!(b.size("packs/01").await.unwrap(), None, "{loc}: a directory-like prefix is not an object");
    assert_eq!(b.size("snapshots/missing").await.unwrap(), None);

    // Listing by prefix, with sizes.
    b.put("packs/02/0234", Bytes::from_static(b"xy")).await.unwrap();
    let l = b.list("packs/").await.unwrap();
    let mut keys: Vec<_> = l.iter().map(|o| (o.key.as_str(), o.size)).collect();
    keys.sort();
    assert_eq!(keys, vec![("packs/01/0123", 3_000_000), ("packs/02/0234", 2)]);
    assert_eq!(b.list("snapshots/").await.unwrap().len(), 1);
    assert_eq!(b.list("nothing/").await.unwrap().len(), 0);
    assert_eq!(b.list("").await.unwrap().len(), 4);

    // Modification times, by the store's clock: present, and a later write is not older
    // (stores may have one-second granularity, hence the pause).
    let first = b.list("packs/02/").await.unwrap()[0].modified;
    assert!(first.is_some(), "{loc}: list must report modification times");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    b.put("packs/03/0345", Bytes::from_static(b"z")).await.unwrap();
    let later = b.list("packs/03/").await.unwrap()[0].modified;
    assert!(later > first, "{loc}: a later put must have a later modification time ({first:?} then {later:?})");
    b.delete("packs/03/0345").await.unwrap();

    // Concurrent create-only puts of one key: exactly one wins.
    let puts = (0..8).map(|i| b.put("snapshots/race", Bytes::from(vec![i as u8; 1000])));
    let results = futures_join_all(puts).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{loc}: exactly one racing put wins");
    let winner = b.get("snapshots/race").await.unwrap();
    assert!(winner.iter().all(|x| *x == winner[0]) && winner.len() == 1000, "{loc}: no torn object");

    // A content-addressed object large enough for a multipart upload on object stores.
    let large: Vec<u8> = (0..(21u32 << 20)).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    b.put_content_addressed("packs/ff/ffee", Bytes::from(large.clone())).await.unwrap();
    assert!(b.get("packs/ff/ffee").await.unwrap() == large, "{loc}: large object round trip");
    assert_eq!(&b.get_range("packs/ff/ffee", 9 << 20, 7).await.unwrap()[..], &large[9 << 20..(9 << 20) + 7]);
    let e = b.put_content_addressed("packs/ff/ffee", Bytes::from(large)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{loc}: second content-addressed put must fail: {e}");

    // Staged objects, where the backend offers them: invisible until committed, create-only.
    if let Some(mut st) = b.stage("packs/").unwrap() {
        let pieces: Vec<Vec<u8>> = (0..12u32).map(|i| vec![i as u8; (i as usize + 1) * 700_000]).collect();
        for p in &pieces {
            st.write(p).unwrap();
        }
        assert_eq!(b.list("").await.unwrap().len(), 6, "{loc}: a staged object is invisible before its commit");
        st.commit("packs/ee/ee01").unwrap();
        assert!(b.get("packs/ee/ee01").await.unwrap() == pieces.concat(), "{loc}: staged round trip");
        let mut again = b.stage("packs/").unwrap().unwrap();
        again.write(b"other bytes").unwrap();
        let e = again.commit("packs/ee/ee01").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{loc}: a staged commit is create-only: {e}");
        assert_eq!(b.size("packs/ee/ee01").await.unwrap(), Some(pieces.concat().len() as u64));
        let mut dropped = b.stage("packs/").unwrap().unwrap();
        dropped.write(b"never committed").unwrap();
        drop(dropped);
        assert_eq!(b.list("packs/").await.unwrap().len(), 4, "{loc}: a dropped staged object leaves nothing");
        b.delete("packs/ee/ee01").await.unwrap();
    }

    // Keys as upstream kando writes them (a legacy object: an RFC 3339 time in the path).
    let legacy = "pg_backups/ns/sts/2026-11-23T10:00:00Z/backup.sql.gz";
    b.put(legacy, Bytes::from_static(b"legacy")).await.unwrap();
    assert_eq!(&b.get(legacy).await.unwrap()[..], b"legacy");
    assert_eq!(b.list("pg_backups/ns/sts/2026-11-23T10").await.unwrap().len(), 1, "{loc}: string-prefix listing");

    // Listing past one page (S3 and GCS return at most 1000 keys per request).
    let many: Vec<String> = (0..1100).map(|i| format!("index/{i:05}")).collect();
    let puts = many.iter().map(|k| b.put(k, Bytes::from_static(b"i")));
    for r in bounded_join(puts, 32).await {
        r.unwrap();
    }
    assert_eq!(b.list("index/").await.unwrap().len(), 1101, "{loc}: listing must follow pagination");
    b.delete_many(&many).await.unwrap();
    assert_eq!(b.list("index/").await.unwrap().len(), 1, "{loc}: bulk delete");

    // Delete (idempotent).
    for k in
        ["snapshots/aa", "packs/01/0123", "packs/02/0234", "index/empty", "snapshots/race", "packs/ff/ffee", legacy]
    {
        b.delete(k).await.unwrap();
    }
    b.delete("snapshots/aa").await.unwrap();
    assert!(b.list("").await.unwrap().is_empty(), "{loc}: all deleted");
}

/// Run futures with at most `n` in flight, keeping their order.
async fn bounded_join<F: std::future::Future>(fs: impl Iterator<Item = F>, n: usize) -> Vec<F::Output> {
    let fs: Vec<F> = fs.collect();
    let mut out = Vec::with_capacity(fs.len());
    let mut it = fs.into_iter().peekable();
    while it.peek().is_some() {
        let batch: Vec<F> = it.by_ref().take(n).collect();
        out.extend(futures_join_all(batch.into_iter()).await);
    }
    out
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
