//! The Node object: registered (created or updated) with only an InternalIP of 127.0.0.1, the
//! agent's HTTPS port as the kubelet endpoint, capacity for 110 pods and a Ready condition; then
//! the Lease in `kube-node-lease` is renewed every 10 s, the Ready heartbeat refreshed, and any
//! `node.kubernetes.io/not-ready` / `unreachable` taint removed, so the node lifecycle
//! controller never evicts the pods. It must not touch pods.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// What the Node reports.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// Node name.
    pub name: String,
    /// Kubelet port (the agent's HTTPS server).
    pub port: u16,
    /// Version reported as kubeletVersion (the API server's).
    pub version: String,
}

fn taint_keys() -> [&'static str; 2] {
    ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]
}

fn now() -> Value {
    serde_json::to_value(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::now())).unwrap_or_default()
}

fn status(info: &NodeInfo, since: &Value) -> Value {
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|n| n.parse::<u64>().ok()))
        .unwrap_or(8 * 1024 * 1024);
    let resources = json!({"cpu": cpus.to_string(), "memory": format!("{mem_kib}Ki"), "pods": "110",
        "ephemeral-storage": "100Gi"});
    let hb = now();
    let cond = |t: &str, s: &str, reason: &str, msg: &str| {
        json!({"type": t, "status": s, "reason": reason, "message": msg,
            "lastHeartbeatTime": hb, "lastTransitionTime": since})
    };
    let read = |p: &str| std::fs::read_to_string(p).map(|s| s.trim().to_string()).unwrap_or_default();
    json!({
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": info.port}},
        "capacity": resources,
        "allocatable": resources,
        "conditions": [
            cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kanrepo-node-agent: no memory accounting"),
            cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kanrepo-node-agent: no disk accounting"),
            cond("PIDPressure", "False", "KubeletHasSufficientPID", "kanrepo-node-agent: no pid accounting"),
            cond("Ready", "True", "KubeletReady", "kanrepo-node-agent is posting ready status"),
        ],
        "nodeInfo": {
            "machineID": read("/etc/machine-id"),
            "systemUUID": read("/etc/machine-id"),
            "bootID": read("/proc/sys/kernel/random/boot_id"),
            "kernelVersion": read("/proc/sys/kernel/osrelease"),
            "osImage": "host processes (kanrepo-node-agent, test only)",
            "containerRuntimeVersion": "kanrepo://0.1.0",
            "kubeletVersion": info.version,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
        }
    })
}

/// Creates or updates the Node and its status.
pub async fn register(client: &Client, info: &NodeInfo) -> anyhow::Result<Value> {
    let api: Api<Node> = Api::all(client.clone());
    let labels = json!({"kubernetes.io/hostname": info.name, "kubernetes.io/os": "linux",
        "kubernetes.io/arch": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
        "node.kubernetes.io/instance-type": "kanrepo-test"});
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": info.name, "labels": labels},
        "spec": {},
    }))?;
    match api.create(&PostParams::default(), &node).await {
        Ok(_) => tracing::info!(node = info.name, "registered the node"),
        Err(kube::Error::Api(e)) if e.code == 409 => {
            api.patch(&info.name, &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": labels}})))
                .await?;
            tracing::info!(node = info.name, "updated the existing node");
        }
        Err(e) => return Err(e.into()),
    }
    let since = now();
    api.patch_status(&info.name, &PatchParams::default(), &Patch::Merge(json!({"status": status(info, &since)})))
        .await?;
    remove_taints(&api, &info.name).await?;
    Ok(since)
}

async fn remove_taints(api: &Api<Node>, name: &str) -> anyhow::Result<()> {
    let node = api.get(name).await?;
    let taints = node.spec.and_then(|s| s.taints).unwrap_or_default();
    if taints.iter().any(|t| taint_keys().contains(&t.key.as_str())) {
        let keep: Vec<_> = taints.into_iter().filter(|t| !taint_keys().contains(&t.key.as_str())).collect();
        api.patch(name, &PatchParams::default(), &Patch::Merge(json!({"spec": {"taints": keep}}))).await?;
        tracing::info!(node = name, "removed the not-ready taint");
    }
    Ok(())
}

async fn renew_lease(client: &Client, info: &NodeInfo, node_uid: Option<String>) -> anyhow::Result<()> {
    let api: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let spec = json!({"holderIdentity": info.name, "leaseDurationSeconds": 40,
        "renewTime": MicroTime(Timestamp::now())});
    match api.patch(&info.name, &PatchParams::default(), &Patch::Merge(json!({"spec": spec}))).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => {
            let mut meta = json!({"name": info.name, "namespace": "kube-node-lease"});
            if let Some(uid) = node_uid {
                meta["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "Node", "name": info.name, "uid": uid}]);
            }
            let lease: Lease = serde_json::from_value(json!({"metadata": meta, "spec": spec}))?;
            api.create(&PostParams::default(), &lease).await?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Keeps the node alive until cancelled: Lease every 10 s, taints checked every 2 s, the Ready
/// heartbeat every 20 s.
pub async fn heartbeat(client: Client, info: NodeInfo, since: Value, stop: CancellationToken) {
    let api: Api<Node> = Api::all(client.clone());
    let mut tick = 0u64;
    loop {
        if tick.is_multiple_of(5) {
            let uid = api.get(&info.name).await.ok().and_then(|n| n.metadata.uid);
            if let Err(e) = renew_lease(&client, &info, uid).await {
                tracing::warn!(node = info.name, "renewing the node lease: {e}");
            }
        }
        if tick % 10 == 9 {
            let patch = Patch::Merge(json!({"status": status(&info, &since)}));
            if let Err(e) = api.patch_status(&info.name, &PatchParams::default(), &patch).await {
                tracing::warn!(node = info.name, "node heartbeat: {e}");
            }
        }
        if let Err(e) = remove_taints(&api, &info.name).await {
            tracing::warn!(node = info.name, "checking node taints: {e}");
        }
        tick += 1;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}
