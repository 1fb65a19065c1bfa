//! Watch caches of the objects the agent reacts to (all Pods, Services, PVCs, PVs): a
//! kube-runtime reflector per kind plus a change counter that ticks on every watch event, so
//! consumers reconcile level-triggered from the store. Read-only towards the API server.

use std::fmt::Debug;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod, Service};
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

/// A store and its change counter.
#[derive(Clone)]
pub struct Watched<K: Resource<DynamicType = ()> + Clone + 'static> {
    /// The objects.
    pub store: Store<K>,
    /// Ticks on every watch event.
    pub changed: watch::Receiver<u64>,
}

/// Every cache the agent keeps.
#[derive(Clone)]
pub struct Cache {
    /// All pods (the node's and, for the hosts file, every other).
    pub pods: Watched<Pod>,
    /// All Services.
    pub services: Watched<Service>,
    /// All PVCs.
    pub pvcs: Watched<PersistentVolumeClaim>,
    /// All PVs.
    pub pvs: Watched<PersistentVolume>,
}

fn watch_all<K>(client: &Client) -> Watched<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let (tx, changed) = watch::channel(0u64);
    let api: Api<K> = Api::all(client.clone());
    let stream = reflector::reflector(writer, watcher(api, watcher::Config::default()).default_backoff());
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(_) => tx.send_modify(|n| *n += 1),
                Err(e) => tracing::warn!(kind = K::kind(&()).as_ref(), "watch failed (retrying): {e}"),
            }
        }
    });
    Watched { store, changed }
}

impl Cache {
    /// Starts the watches and waits until each has listed once.
    pub async fn start(client: &Client) -> anyhow::Result<Self> {
        let cache = Cache {
            pods: watch_all(client),
            services: watch_all(client),
            pvcs: watch_all(client),
            pvs: watch_all(client),
        };
        cache.pods.store.wait_until_ready().await?;
        cache.services.store.wait_until_ready().await?;
        cache.pvcs.store.wait_until_ready().await?;
        cache.pvs.store.wait_until_ready().await?;
        Ok(cache)
    }
}
