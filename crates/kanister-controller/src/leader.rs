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

/// Holding or waiting for the lease.
pub struct Contender {
    /// Whether this replica holds the lease now.
    pub leader: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<Result<kube_lease_manager::LeaseManager, kube_lease_manager::LeaseManagerError>>,
}

impl Contender {
    /// Give the lease up (so a successor need not wait for it to expire).
    pub async fn release(self) {
        drop(self.leader);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.task).await;
    }
}

/// Start contending for the lease, held for `seconds` between renewals.
pub async fn contend(client: kube::Client, namespace: &str, identity: &str, seconds: u64) -> Result<Contender, String> {
    let m = LeaseManagerBuilder::new(client, LEASE)
        .with_namespace(namespace)
        .with_identity(identity)
        .with_create_mode(LeaseCreateMode::AutoCreate)
        .with_duration(seconds.max(2))
        .with_grace((seconds / 3).max(1))
        .build()
        .await
        .map_err(|e| format!("leader election (Lease {namespace}/{LEASE}): {e}"))?;
    let (leader, task) = m.watch().await;
    Ok(Contender { leader, task })
}
