//! The pod supervisor: from the pod cache, every pod bound to this node (by uid) gets one
//! worker task, which then receives each new version of the pod, or `None` once the pod is
//! gone from the API. A finished worker's uid is never started again. It must not run
//! processes itself.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::ctx::Ctx;

struct Handle {
    tx: watch::Sender<Option<Arc<Pod>>>,
    task: JoinHandle<()>,
}

/// Runs until cancelled, then waits for the workers to stop their processes (bounded).
pub async fn run(ctx: Arc<Ctx>, stop: CancellationToken) {
    let mut workers: HashMap<String, Handle> = HashMap::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut changed = ctx.cache.pods.changed.clone();
    loop {
        let mut present = HashSet::new();
        for pod in ctx.cache.pods.store.state() {
            if pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) != Some(ctx.node_name.as_str()) {
                continue;
            }
            let Some(uid) = pod.metadata.uid.clone() else { continue };
            present.insert(uid.clone());
            if finished.contains(&uid) {
                continue;
            }
            match workers.get(&uid) {
                Some(h) => {
                    h.tx.send_if_modified(|cur| {
                        let same =
                            cur.as_ref().map(|c| &c.metadata.resource_version) == Some(&pod.metadata.resource_version);
                        if !same {
                            *cur = Some(pod.clone());
                        }
                        !same
                    });
                }
                None => {
                    let (tx, rx) = watch::channel(Some(pod.clone()));
                    let task = tokio::spawn(crate::worker::run(ctx.clone(), pod.clone(), rx, stop.child_token()));
                    workers.insert(uid, Handle { tx, task });
                }
            }
        }
        for (uid, h) in &workers {
            if !present.contains(uid) {
                h.tx.send_if_modified(|cur| cur.take().is_some());
            }
        }
        workers.retain(|uid, h| {
            let done = h.task.is_finished();
            if done {
                finished.insert(uid.clone());
            }
            !done
        });
        finished.retain(|uid| present.contains(uid));
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = changed.changed() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
    let all = futures::future::join_all(workers.into_values().map(|h| h.task));
    if tokio::time::timeout(Duration::from_secs(10), all).await.is_err() {
        tracing::warn!("some pod workers did not stop within 10 s");
    }
}
