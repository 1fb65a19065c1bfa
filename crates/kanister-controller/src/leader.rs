//! Leader election, so two replicas are safe (upstream runs one replica without it): a
//! `coordination.k8s.io` Lease in the controller's namespace, held through
//! kube-lease-manager (server-side apply, tolerant of clock skew). Only the holder watches and
//! runs ActionSets; a replica that loses the lease exits, and its successor resumes what was
//! running.
//!
//! This module only answers "am I the leader now?".

use kube_lease_manager::{LeaseCreateMode, LeaseManagerBuilder};
use tokio::sync::watch;

/// Lease name.
pub const LEASE: &str = "kanister-controller";

/// Start contending for the lease; the receiver says whether this replica holds it.
pub async fn contend(client: kube::Client, namespace: &str, identity: &str) -> Result<watch::Receiver<bool>, String> {
    let m = LeaseManagerBuilder::new(client, LEASE)
        .with_namespace(namespace)
        .with_identity(identity)
        .with_create_mode(LeaseCreateMode::AutoCreate)
        .with_duration(15)
        .with_grace(5)
        .build()
        .await
        .map_err(|e| format!("leader election (Lease {namespace}/{LEASE}): {e}"))?;
    let (rx, _handle) = m.watch().await;
    Ok(rx)
}
