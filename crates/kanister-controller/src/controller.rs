//! The reconcile loop: watch ActionSets and Blueprints in the controller's namespace
//! (kube-runtime's watcher, with backoff on errors) and hand each ActionSet event to the pure
//! decision [`crate::decide::next_step`]: run a new or pending ActionSet, resume one that was
//! running before this process saw it, ignore the rest. Deleting an ActionSet cancels its
//! runner, which deletes its function pods. ActionSets deleted while the watch was down are
//! noticed at the next re-list.
//!
//! Before watching: create or update the CRDs (`CREATEORUPDATE_CRDS`, as upstream) and check
//! that the controller may list ActionSets, Blueprints and Profiles.
//!
//! This module decides nothing itself and never writes status.

use crate::context::{Cancel, Ctx};
use crate::decide::{Seen, Step, next_step};
use crate::events::blueprint_ref;
use crate::runner::{self, Mode};
use futures::{StreamExt, TryStreamExt};
use kanister::types::{ActionSet, Blueprint};
use kanister_kube::api_resource;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Create or update the Kanister CRDs (server-side apply).
pub async fn apply_crds(client: &kube::Client) -> Result<(), String> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition as Crd;
    let api: Api<Crd> = Api::all(client.clone());
    for c in kanister::crd::all() {
        let pp = PatchParams::apply("kanister-controller").force();
        api.patch(&c.name(), &pp, &Patch::Apply(c.to_json())).await.map_err(|e| {
            format!(
                "creating or updating CRD {}: {} (set CREATEORUPDATE_CRDS=false if they are managed elsewhere)",
                c.name(),
                crate::params::kerr(e)
            )
        })?;
    }
    // Wait until they are served.
    for c in kanister::crd::all() {
        let cond = |o: Option<&Crd>| {
            o.and_then(|c| c.status.as_ref())
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"))
        };
        let name = c.name();
        let w = kube::runtime::wait::await_condition(api.clone(), &name, cond);
        tokio::time::timeout(std::time::Duration::from_secs(30), w)
            .await
            .map_err(|_| format!("CRD {} not established within 30 s", c.name()))?
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Upstream checks at start that it can list its objects in its namespace.
pub async fn check_access(ctx: &Ctx) -> Result<(), String> {
    let ns = &ctx.settings.namespace;
    for ar in [api_resource::<ActionSet>(), api_resource::<Blueprint>(), api_resource::<kanister::types::Profile>()] {
        let api: Api<DynamicObject> = Api::namespaced_with(ctx.client(), ns, &ar);
        api.list(&ListParams::default().limit(1)).await.map_err(|e| {
            format!("cannot list {}.{} in namespace '{ns}': {}", ar.plural, ar.group, crate::params::kerr(e))
        })?;
    }
    Ok(())
}

struct Tracked {
    seen: Seen,
    cancel: Cancel,
}

fn decode<T: serde::de::DeserializeOwned>(o: &DynamicObject) -> Option<T> {
    serde_json::to_value(o).ok().and_then(|v| serde_json::from_value(v).ok())
}

/// Watch and run ActionSets until `stop` resolves.
pub async fn run(ctx: Arc<Ctx>, stop: impl std::future::Future<Output = ()>) -> Result<(), String> {
    let ns = ctx.settings.namespace.clone();
    let aapi: Api<DynamicObject> = Api::namespaced_with(ctx.client(), &ns, &api_resource::<ActionSet>());
    let bapi: Api<DynamicObject> = Api::namespaced_with(ctx.client(), &ns, &api_resource::<Blueprint>());
    let mut asets = watcher(aapi, watcher::Config::default()).default_backoff().boxed();
    let mut bps = watcher(bapi, watcher::Config::default()).default_backoff().boxed();
    let mut tracked: HashMap<String, Tracked> = HashMap::new();
    let mut relist: Option<HashSet<String>> = None;
    let mut bp_synced = false;
    let mut tasks = tokio::task::JoinSet::new();
    let mut stop = std::pin::pin!(stop);
    tracing::info!(namespace = %ns, "watching ActionSets and Blueprints");
    loop {
        tokio::select! {
            _ = &mut stop => {
                tracing::info!("stopping: running ActionSets are left to the next controller, which resumes them");
                tasks.abort_all();
                return Ok(());
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            ev = asets.try_next() => {
                let ev = match ev {
                    Ok(Some(ev)) => ev,
                    Ok(None) => return Err("the ActionSet watch ended".into()),
                    Err(e) => {
                        tracing::warn!(error = %e, "ActionSet watch error (retrying)");
                        continue;
                    }
                };
                match ev {
                    watcher::Event::Init => relist = Some(HashSet::new()),
                    watcher::Event::InitApply(o) | watcher::Event::Apply(o) => {
                        let Some(a) = decode::<ActionSet>(&o) else { continue };
                        let uid = a.metadata.uid.clone().unwrap_or_default();
                        if let Some(r) = relist.as_mut() {
                            r.insert(uid.clone());
                        }
                        let step = next_step(&a, tracked.get(&uid).map(|t| t.seen));
                        let name = a.metadata.name.clone().unwrap_or_default();
                        match step {
                            Step::Run | Step::Resume => {
                                let cancel = Cancel::new();
                                tracked.insert(uid, Tracked { seen: Seen::Running, cancel: cancel.clone() });
                                let mode = if step == Step::Run { Mode::Run } else { Mode::Resume };
                                tasks.spawn(runner::run(ctx.clone(), ns.clone(), name, mode, cancel));
                            }
                            Step::Done => {
                                tracked.insert(uid, Tracked { seen: Seen::Done, cancel: Cancel::new() });
                            }
                            Step::Ignore => {}
                        }
                    }
                    watcher::Event::InitDone => {
                        if let Some(present) = relist.take() {
                            tracked.retain(|uid, t| {
                                let keep = present.contains(uid);
                                if !keep {
                                    t.cancel.cancel("ActionSet was deleted");
                                }
                                keep
                            });
                        }
                    }
                    watcher::Event::Delete(o) => {
                        let uid = o.metadata.uid.clone().unwrap_or_default();
                        if let Some(t) = tracked.remove(&uid) {
                            tracing::info!(ActionSet = o.metadata.name.as_deref().unwrap_or(""), "ActionSet deleted: cancelling it");
                            t.cancel.cancel("ActionSet was deleted");
                        }
                    }
                }
            }
            ev = bps.try_next() => {
                match ev {
                    Ok(Some(watcher::Event::InitDone)) => bp_synced = true,
                    Ok(Some(watcher::Event::Apply(o))) => {
                        if let Some(b) = decode::<Blueprint>(&o) {
                            let n = b.metadata.name.clone().unwrap_or_default();
                            tracing::info!(Blueprint = %n, "blueprint added or updated");
                            if bp_synced && o.metadata.generation == Some(1) {
                                ctx.events.normal(&blueprint_ref(&b), "Added", &format!("Added blueprint {n}")).await;
                            }
                        }
                    }
                    Ok(Some(watcher::Event::Delete(o))) => tracing::info!(Blueprint = o.metadata.name.as_deref().unwrap_or(""), "blueprint deleted"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "Blueprint watch error (retrying)"),
                }
            }
        }
    }
}
