//! What upstream's restic functions share (BackupData, CopyVolumeData, RestoreData,
//! DeleteData, their *All forms, BackupDataStats, CheckRepository): the
//! profile check, the repository's environment, running one restic command in a container
//! (its environment over the exec's stdin, see `crate::restic`), and the idle pod of an
//! image that the pod-based ones exec into (`sh -c "tail -f /dev/null"`, as upstream).
//!
//! This module must not decide which commands a function runs.

use super::{pod_metadata, pod_override, until_cancelled};
use crate::args::{self, Args};
use crate::context::PhaseCtx;
use crate::exec::{Captured, Scrubber, exec_capture, exec_raw, failure_message};
use crate::podrun::{IfGone, PodRun, with_pod_details};
use crate::pods::{PodMeta, PodOptions, finalize, single_container_spec};
use crate::restic::{self, Env};
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kanister::params::ProfileParam;
use kube::api::Api;
use std::collections::BTreeMap;

/// The arguments every restic function takes: the repository's environment (from
/// `backupArtifactPrefix`, `encryptionKey` and the Profile) and `insecureTLS`.
pub(super) struct Repo {
    pub env: Env,
    pub insecure_tls: bool,
    /// The repository path (the prefix, under the bucket).
    pub path: String,
    profile: ProfileParam,
    key: String,
}

/// Read `backupArtifactPrefix` (or `prefix_arg`), `encryptionKey` and `insecureTLS`, and
/// check the Profile (upstream's `ValidateProfile`, then `resticArgs`). The prefix goes under
/// the profile's bucket unless it starts with it (upstream's `ResolveArtifactPrefix`, which
/// upstream's DeleteDataAll and RestoreDataAll skip, so that they miss what BackupDataAll
/// wrote unless the prefix names the bucket; here every function resolves it).
pub(super) fn repo(pc: &PhaseCtx<'_>, a: &Args, prefix_arg: &str) -> Result<Repo, String> {
    let prefix = args::string(a, prefix_arg)?;
    let key = args::opt_string(a, "encryptionKey", restic::DEFAULT_ENCRYPTION_KEY)?;
    let insecure_tls = args::opt_bool(a, "insecureTLS", false)?;
    let profile = pc.tp.input.profile.as_ref().ok_or("Failed to validate Profile: Profile must be non-nil")?;
    let ty = profile.location.get("type").map(String::as_str).unwrap_or("");
    if !matches!(ty, "s3Compliant" | "gcs" | "azure" | "kopia") {
        return Err("Failed to validate Profile: Location type not supported".into());
    }
    let bucket = profile.location.get("bucket").map(String::as_str).unwrap_or("");
    let path = restic::resolve_prefix(&prefix, bucket);
    let env = restic::env(profile, &path, &key).map_err(|e| format!("Failed to get arguments: {e}"))?;
    Ok(Repo { env, insecure_tls, path, profile: profile.clone(), key })
}

/// What a backup made (upstream's `backupDataParsedOutput`).
pub(super) struct Backup {
    pub id: String,
    pub tag: String,
    pub file_count: String,
    pub size: String,
    pub phy_size: String,
}

impl Repo {
    /// The repository `<path>/<sub>` (the *All functions keep one per pod).
    pub fn sub(&self, sub: &str) -> Result<Repo, String> {
        let path = format!("{}/{sub}", self.path);
        let env = restic::env(&self.profile, &path, &self.key).map_err(|e| format!("Failed to get arguments: {e}"))?;
        Ok(Repo { env, insecure_tls: self.insecure_tls, path, profile: self.profile.clone(), key: self.key.clone() })
    }

    /// Back up `include` in `at` under a new tag, creating the repository if there is none
    /// (upstream's `backupData` and CopyVolumeData's pod function).
    pub async fn backup(&self, pc: &PhaseCtx<'_>, at: (&str, &str, &str), include: &str) -> Result<Backup, String> {
        self.get_or_create(pc, at).await?;
        let tag = restic::new_tag();
        let out = self.run(pc, at, &["backup", "--tag", &tag, include], "Failed to create and upload backup").await?;
        let id = restic::snapshot_id_from_backup_log(&out.stdout).ok_or_else(|| {
            let tail = crate::podrun::log_tail(&out.stdout, crate::podrun::LOG_TAIL_LINES);
            format!(
                "Failed to parse the backup ID from logs, backup logs {}",
                Scrubber::new(pc, &self.env.vars).scrub(&tail)
            )
        })?;
        let (file_count, size, phy_size) = restic::stats_from_backup_log(&out.stdout);
        if size.is_empty() {
            tracing::debug!("could not parse backup stats from the backup log");
        }
        Ok(Backup { id, tag, file_count, size, phy_size })
    }

    /// Forget snapshot `id` and, with `reclaim`, prune; the bytes prune frees (upstream's
    /// `deleteDataPodFunc`, one target).
    pub async fn forget(
        &self,
        pc: &PhaseCtx<'_>,
        at: (&str, &str, &str),
        id: &str,
        reclaim: bool,
    ) -> Result<u64, String> {
        self.run(pc, at, &["forget", id], "Failed to forget data").await?;
        if !reclaim {
            return Ok(0);
        }
        let out =
            self.run(pc, at, &["prune"], "Error executing prune command: Failed to prune data after forget").await?;
        Ok(restic::space_freed_from_prune_log(&out.stdout).and_then(|s| restic::size_bytes(&s)).unwrap_or(0))
    }

    /// Run `restic <args>` in `namespace/pod` (container `container`). A failure's message
    /// starts with `what`.
    pub async fn run(
        &self,
        pc: &PhaseCtx<'_>,
        (namespace, pod, container): (&str, &str, &str),
        args: &[&str],
        what: &str,
    ) -> Result<Captured, String> {
        let cmd = restic::script(&restic::command(args, self.insecure_tls));
        exec_capture(pc, namespace, pod, container, &cmd, &self.env.vars).await.map_err(|e| format!("{what}: {e}"))
    }

    /// Whether the repository opens: `restic snapshots --last --json` (upstream's
    /// `CheckIfRepoIsReachable`), classified on restic's own words before anything is
    /// scrubbed from them. Any other failure is an error.
    pub async fn probe(&self, pc: &PhaseCtx<'_>, at: (&str, &str, &str)) -> Result<Probe, String> {
        let cmd = restic::script(&restic::command(&["snapshots", "--last", "--json"], self.insecure_tls));
        let (c, failure) = exec_raw(pc, at.0, at.1, at.2, &cmd, &self.env.vars).await?;
        let Some(code) = failure else { return Ok(Probe::Opens) };
        let msg =
            format!("Failed to list snapshots: {}", failure_message(&Scrubber::new(pc, &self.env.vars), &code, &c));
        if c.stderr.contains(restic::WRONG_PASSWORD) {
            Ok(Probe::WrongPassword(msg))
        } else if c.stderr.contains(restic::NO_REPOSITORY) {
            Ok(Probe::NoRepository)
        } else {
            Err(msg)
        }
    }

    /// Make sure a repository is there (upstream's `GetOrCreateRepository`): where restic
    /// says there is none, `restic init`. Unlike upstream, which initialises after any
    /// failure, a wrong password or an unreachable store is said as such.
    pub async fn get_or_create(&self, pc: &PhaseCtx<'_>, at: (&str, &str, &str)) -> Result<(), String> {
        match self.probe(pc, at).await? {
            Probe::Opens => Ok(()),
            Probe::WrongPassword(m) => {
                Err(format!("{} (encryptionKey does not open the repository): {m}", restic::PASSWORD_INCORRECT))
            }
            Probe::NoRepository => {
                self.run(pc, at, &["init"], "Failed to create object store backup location").await.map(|_| ())
            }
        }
    }
}

/// What [`Repo::probe`] found.
pub(super) enum Probe {
    /// The repository opens with the key.
    Opens,
    /// restic says the password is wrong (the message, scrubbed).
    WrongPassword(String),
    /// restic says there is no repository there.
    NoRepository,
}

/// Check that the PVCs exist in `namespace` before a pod mounts them (a pod with a missing
/// PVC would stay Pending until the pod-ready timeout).
async fn check_pvcs(pc: &PhaseCtx<'_>, namespace: &str, vols: &BTreeMap<String, String>) -> Result<(), String> {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(pc.ctx.client(), namespace);
    for pvc in vols.keys() {
        api.get(pvc).await.map_err(|e| {
            format!("Failed to retrieve PVC.: {e}: {}", serde_json::json!({"namespace": namespace, "name": pvc}))
        })?;
    }
    Ok(())
}

/// A pod of `image` in `namespace` that idles (`tail -f /dev/null`) with `volumes` mounted
/// (PVC → path), with the blueprint's and ActionSet's labels, annotations and override;
/// started and waited for until it runs.
pub(super) async fn idle_pod(
    pc: &PhaseCtx<'_>,
    a: &Args,
    namespace: &str,
    image: String,
    generate_name: &str,
    volumes: BTreeMap<String, String>,
) -> Result<PodRun, String> {
    let (labels, annotations) = pod_metadata(pc, a)?;
    let over = pod_override(pc, a)?;
    check_pvcs(pc, namespace, &volumes).await?;
    let command = vec!["sh".into(), "-c".into(), "tail -f /dev/null".into()];
    let opts = PodOptions { image, command, volumes, ..PodOptions::default() };
    let meta = PodMeta {
        namespace,
        generate_name,
        service_account: "",
        labels: &labels,
        annotations: &annotations,
        pod_override: over.as_ref(),
    };
    let pod = finalize(single_container_spec(&opts), &meta, &pc.ctx.settings, &pc.id, None);
    if pc.rerun {
        // A read-only function running again after a restart: its earlier pod idles still.
        crate::podrun::delete_phase_pods(pc.ctx, &[namespace.to_string()], &pc.id.selector()).await;
    }
    let run = PodRun::start(pc, pod, IfGone::Fail).await?;
    if let Err(e) = until_cancelled(pc, run.wait_started(pc.ctx.settings.pod_ready_timeout)).await {
        run.delete().await;
        return Err(if e.starts_with('{') { e } else { with_pod_details(&run.name, &e) });
    }
    Ok(run)
}
