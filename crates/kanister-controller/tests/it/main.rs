//! The controller on the test control plane (etcd, kube-apiserver, controller-manager,
//! scheduler, the test node agent running pods as host processes, MinIO): the ActionSet
//! lifecycle, each Kanister function, and the database demos with upstream's blueprints.
//! Every test runs its own controller process in its own namespace.

mod bench;
mod data_functions;
mod databases;
mod demos;
mod deploy;
mod functions;
mod lifecycle;
mod support;

/// The database demos share host ports (pods share the host network): one at a time.
pub static DB_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
