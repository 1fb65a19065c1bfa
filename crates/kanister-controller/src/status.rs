//! Writing an ActionSet's status as upstream does (`reconcile.ActionSet`): read the current
//! object, apply a mutation, check it with `validate.ActionSet`, and `Update` the whole object
//! (the CRD has no status subresource); on a 409 conflict read again and retry with
//! exponential backoff (100 ms doubling to 10 s, no jitter) until the deadline.
//!
//! Writes of one ActionSet from this process are serialised (its actions run concurrently and
//! would otherwise conflict with each other); writes from elsewhere are caught by the
//! resourceVersion precondition. This module decides nothing: callers pass the mutation.

use kanister::types::{ActionSet, ActionSetStatus};
use kanister::validate::validate_actionset;
use kanister_kube::{Cluster, ClusterError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// First retry delay after a conflict.
pub const CONFLICT_BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest retry delay.
pub const CONFLICT_BACKOFF_MAX: Duration = Duration::from_secs(10);
/// How long to keep retrying one write.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(120);

/// Why a status write failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The ActionSet is gone (deleted while running).
    #[error("ActionSet '{0}' no longer exists")]
    Gone(String),
    /// The mutation would break upstream's status invariants.
    #[error("{0}")]
    Invalid(String),
    /// The API server refused or could not be reached.
    #[error("{0}")]
    Api(#[from] ClusterError),
    /// Still conflicting at the deadline.
    #[error("ActionSet '{0}' kept changing under the status update (409 conflicts for {1:?})")]
    Conflicts(String, Duration),
}

/// The status writer of one ActionSet.
#[derive(Clone)]
pub struct StatusWriter {
    cluster: Cluster,
    namespace: String,
    name: String,
    lock: Arc<Mutex<()>>,
}

impl StatusWriter {
    /// The writer of ActionSet `namespace/name`.
    pub fn new(cluster: Cluster, namespace: &str, name: &str) -> StatusWriter {
        StatusWriter { cluster, namespace: namespace.into(), name: name.into(), lock: Arc::new(Mutex::new(())) }
    }

    /// The ActionSet's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Read the ActionSet as it is now.
    pub async fn get(&self) -> Result<ActionSet, WriteError> {
        self.cluster.actionset(&self.namespace, &self.name).await.map_err(|e| self.gone(e))
    }

    fn gone(&self, e: ClusterError) -> WriteError {
        if e.is_not_found() { WriteError::Gone(self.name.clone()) } else { WriteError::Api(e) }
    }

    /// Apply `f` to the current object (status created if absent) and write it. `f` returns
    /// `false` to skip the write (nothing changed). Returns the object as stored.
    pub async fn update(&self, f: impl FnMut(&mut ActionSet) -> bool) -> Result<Option<ActionSet>, WriteError> {
        self.write(f, true).await
    }

    /// [`Self::update`] without upstream's status check: only for the `failed` status of an
    /// ActionSet whose actions could not even be initialised (upstream writes it with no
    /// actions, which the check would refuse).
    pub async fn update_unchecked(
        &self,
        f: impl FnMut(&mut ActionSet) -> bool,
    ) -> Result<Option<ActionSet>, WriteError> {
        self.write(f, false).await
    }

    async fn write(
        &self,
        mut f: impl FnMut(&mut ActionSet) -> bool,
        check: bool,
    ) -> Result<Option<ActionSet>, WriteError> {
        let _g = self.lock.lock().await;
        let mut delay = CONFLICT_BACKOFF_MIN;
        let start = tokio::time::Instant::now();
        loop {
            let mut a = self.get().await?;
            if !f(&mut a) {
                return Ok(None);
            }
            if check {
                validate_actionset(&a).map_err(|e| WriteError::Invalid(e.to_string()))?;
            }
            match self.cluster.replace(&self.namespace, &self.name, &a).await {
                Ok(stored) => return Ok(Some(stored)),
                Err(ClusterError::Api { code: 409, .. }) => {
                    if start.elapsed() + delay > WRITE_DEADLINE {
                        return Err(WriteError::Conflicts(self.name.clone(), start.elapsed()));
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(CONFLICT_BACKOFF_MAX);
                }
                Err(e) => return Err(self.gone(e)),
            }
        }
    }

    /// Mutate the status (created empty if absent).
    pub async fn status(&self, mut f: impl FnMut(&mut ActionSetStatus)) -> Result<Option<ActionSet>, WriteError> {
        self.update(|a| {
            f(a.status.get_or_insert_with(ActionSetStatus::default));
            true
        })
        .await
    }
}
