//! The controller on the test control plane (etcd, kube-apiserver, controller-manager,
//! scheduler, the test node agent running pods as host processes, MinIO): the ActionSet
//! lifecycle, each Kanister function, and the database demos with upstream's blueprints.
//! Every test runs its own controller process in its own namespace.

mod functions;
mod lifecycle;
mod support;
