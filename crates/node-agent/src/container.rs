//! Starting one run of one container: fetch the ConfigMaps and Secrets its env reads, resolve
//! env, argv and bind mounts, write the process spec, rotate the log (the previous run's log
//! stays readable with `previous=true`) and spawn the namespaced process. It must not wait for
//! the process or decide on restarts (the pod worker does).

use std::collections::HashMap;
use std::path::Path;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret};
use kube::api::Api;
use tokio::process::Child;

use crate::ctx::Ctx;
use crate::env::{self, Base, Sources};
use crate::procspec::ProcSpec;
use crate::registry::ContainerEntry;
use crate::volumes::{self, VolPath};

/// Why a run did not start.
#[derive(Debug)]
pub enum StartError {
    /// The pod's configuration is not usable yet (`CreateContainerConfigError`).
    Config(String),
    /// The process could not be started (`RunContainerError`).
    Run(String),
}

async fn sources(ctx: &Ctx, ns: &str, c: &Container) -> Result<Sources, StartError> {
    let (cms, secrets) = env::referenced(c);
    let mut src = Sources::default();
    let cm_api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
    for name in cms {
        let cm =
            cm_api.get_opt(&name).await.map_err(|e| StartError::Config(format!("reading configmap {name}: {e}")))?;
        src.config_maps.insert(name, cm.map(|c| c.data.unwrap_or_default()));
    }
    let s_api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    for name in secrets {
        let s = s_api.get_opt(&name).await.map_err(|e| StartError::Config(format!("reading secret {name}: {e}")))?;
        src.secrets.insert(name, s.map(|s| s.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect()));
    }
    Ok(src)
}

/// The pod's hostname: spec.hostname, else its name (at most 63 characters).
pub fn hostname(pod: &Pod) -> String {
    let h =
        pod.spec.as_ref().and_then(|s| s.hostname.clone()).or_else(|| pod.metadata.name.clone()).unwrap_or_default();
    h.chars().take(63).collect::<String>().trim_end_matches(['-', '.']).to_string()
}

/// Starts a run; `rotate` moves the current log to the previous one first.
pub async fn start(
    ctx: &Ctx,
    pod: &Pod,
    c: &Container,
    vols: &HashMap<String, VolPath>,
    entry: &ContainerEntry,
    pod_dir: &Path,
    rotate: bool,
) -> Result<Child, StartError> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let src = sources(ctx, ns, c).await?;
    let (uid, gid) = volumes::run_as(pod, c);
    let home = match uid {
        Some(u) if u != 0 => crate::init::passwd_entry(u).map_or_else(|| "/".to_string(), |(_, h)| h),
        _ => "/root".to_string(),
    };
    let base = Base { path: ctx.path_env.clone(), hostname: hostname(pod), api_host: ctx.api_host.clone(), home };
    let env = env::resolve(pod, c, &src, &base).map_err(StartError::Config)?;
    let lookup = |n: &str| env.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let argv = crate::command::select(
        c.command.as_deref().unwrap_or_default(),
        c.args.as_deref().unwrap_or_default(),
        c.image.as_deref().unwrap_or_default(),
        &ctx.image_commands,
        &lookup,
    );
    let mounts = volumes::mounts(c, vols, &lookup).map_err(StartError::Config)?;
    let spec = ProcSpec {
        argv,
        working_dir: c.working_dir.clone().filter(|w| !w.is_empty()),
        uid,
        gid,
        groups: volumes::supplementary_groups(pod),
        mounts,
        hosts_file: Some(ctx.hosts_file()),
        hostname: Some(base.hostname.clone()),
        tools: ctx.tool_dirs.clone(),
        env,
    };
    spec.write(&entry.spec).map_err(|e| StartError::Run(format!("writing {}: {e}", entry.spec.display())))?;
    if rotate && entry.log.exists() {
        std::fs::rename(&entry.log, &entry.prev_log).map_err(|e| StartError::Run(format!("rotating the log: {e}")))?;
    }
    let child = crate::process::spawn_container(&ctx.tools, &entry.spec, &entry.log)
        .map_err(|e| StartError::Run(format!("starting unshare: {e}")))?;
    if let Some(pid) = child.id() {
        crate::process::write_pid_file(&pod_dir.join(format!("{}.pid", c.name)), pid);
    }
    Ok(child)
}
