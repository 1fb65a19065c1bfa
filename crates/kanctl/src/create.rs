//! `kanctl create actionset|profile`, with upstream's flags, checks, messages and output.
//! `--dry-run` prints the objects instead of creating them, offline unless `--from` or
//! `--selector` need to read the cluster.

use crate::access::{AccessCheck, check_profile_access};
use crate::args::{ActionSetArgs, Create, CreateWhat, Global, ProfileArgs, ProfileKind};
use crate::{connect, offline_namespace, read_input};
use anyhow::{Context, Result, anyhow, bail};
use kanister::types::{ActionSet, ActionSetSpec, ActionSpec, ObjectReference, State};
use kanister_kube::{Cluster, ClusterError};
use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, BTreeSet};

pub async fn run(g: &Global, c: Create) -> Result<()> {
    match c.what {
        CreateWhat::Actionset(a) => actionset(g, *a, c.dry_run, c.skip_validation).await,
        CreateWhat::Profile(p) => profile(g, p, c.dry_run, c.skip_validation).await,
    }
}

/// Upstream's `rand.String(n)` alphabet (k8s.io/apimachinery: no vowels, no confusables).
fn rand_suffix(n: usize) -> String {
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
            ^ (std::process::id() as u128) << 64;
    (0..n)
        .map(|_| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ALPHA[((seed >> 64) as usize) % ALPHA.len()] as char
        })
        .collect()
}

fn token_ok(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// `ref=namespace/name` pairs (duplicates and empty entries skipped, as upstream).
fn references(list: &[String]) -> Result<BTreeMap<String, ObjectReference>> {
    let mut m = BTreeMap::new();
    for r in list.iter().filter(|r| !r.is_empty()) {
        let bad = || anyhow!("Expected ref=namespace/name. Got {r}");
        let (k, rest) = r.split_once('=').ok_or_else(bad)?;
        let (ns, name) = rest.split_once('/').ok_or_else(bad)?;
        if ![k, ns, name].iter().all(|t| token_ok(t)) {
            return Err(bad());
        }
        m.insert(
            k.to_string(),
            ObjectReference { name: name.into(), namespace: Some(ns.into()), ..ObjectReference::default() },
        );
    }
    Ok(m)
}

fn key_values(list: &[String], what: &str) -> Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    for kv in list.iter().filter(|s| !s.is_empty()) {
        let parts: Vec<&str> = kv.split('=').collect();
        if parts.len() != 2 {
            bail!("Expected {what} as key=value pairs. Got {kv}");
        }
        m.insert(parts[0].to_string(), parts[1].to_string());
    }
    Ok(m)
}

fn labels(s: &str) -> Result<Option<BTreeMap<String, String>>> {
    if s.is_empty() {
        return Ok(None);
    }
    let mut m = BTreeMap::new();
    for l in s.split(',') {
        let (k, v) = l.split_once('=').ok_or_else(|| anyhow!("Invalid labels, expected key=value,foo=bar"))?;
        m.insert(k.trim().to_string(), v.split('=').next().unwrap_or("").trim().to_string());
    }
    Ok(Some(m))
}

fn objects(a: &ActionSetArgs) -> Result<Vec<ObjectReference>> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let groups: [(&str, &Vec<String>); 5] = [
        ("deployment", &a.deployment),
        ("statefulset", &a.statefulset),
        ("deploymentconfig", &a.deploymentconfig),
        ("pvc", &a.pvc),
        ("namespace", &a.namespace_targets),
    ];
    for (kind, list) in groups {
        for r in list.iter().filter(|r| !r.is_empty()) {
            if !seen.insert(format!("{kind}={r}")) {
                continue;
            }
            let (ns, name) = if kind == "namespace" {
                (r.as_str(), r.as_str())
            } else {
                r.split_once('/')
                    .filter(|(n, m)| token_ok(n) && token_ok(m))
                    .ok_or_else(|| anyhow!("Expected namespace/name. Got {r}"))?
            };
            out.push(ObjectReference {
                kind: kind.into(),
                namespace: Some(ns.into()),
                name: name.into(),
                ..ObjectReference::default()
            });
        }
    }
    for o in a.objects.iter().filter(|o| !o.is_empty()) {
        out.push(generic_object(o)?);
    }
    Ok(out)
}

/// `group/version/resource/namespace/name`, or `version/resource/namespace/name` for the core
/// group. Like upstream, the group keeps its trailing '/'.
fn generic_object(s: &str) -> Result<ObjectReference> {
    let parts: Vec<&str> = s.split('/').collect();
    let err = || {
        anyhow!(
            "Expected group/version/resource/namespace/name or in the case of core group's resources version/resource/namespace/name . Got {s}"
        )
    };
    if parts.len() < 4 || !parts.iter().all(|p| token_ok(p) || p.is_empty()) {
        return Err(err());
    }
    let n = parts.len();
    let group = if n > 4 { format!("{}/", parts[..n - 4].join("/")) } else { String::new() };
    let [version, resource, ns, name] = [parts[n - 4], parts[n - 3], parts[n - 2], parts[n - 1]];
    if [version, resource, ns, name].iter().any(|p| p.is_empty()) {
        return Err(err());
    }
    Ok(ObjectReference {
        group,
        api_version: version.into(),
        resource: resource.into(),
        namespace: Some(ns.into()),
        name: name.into(),
        ..ObjectReference::default()
    })
}

/// A `namespace/name` reference (`--profile` also takes a bare name in `ns`).
fn profile_ref(p: &str, ns: &str) -> Result<ObjectReference> {
    let (pns, name) = match p.split_once('/') {
        Some((pns, name)) if !name.contains('/') => (pns.to_string(), name.to_string()),
        Some(_) => {
            bail!("Invalid profile name {p}, should be of the form ( --profile namespace/name OR --profile name)")
        }
        None => (ns.to_string(), p.to_string()),
    };
    Ok(ObjectReference { name, namespace: Some(pns), ..ObjectReference::default() })
}

fn repository_server_ref(r: &str) -> Result<ObjectReference> {
    match r.split_once('/') {
        Some((ns, name)) if !name.contains('/') => {
            Ok(ObjectReference { name: name.into(), namespace: Some(ns.into()), ..ObjectReference::default() })
        }
        _ => {
            bail!("Invalid repository server name {r}, it should be of the form ( --repository-server namespace/name )")
        }
    }
}

/// The selector kinds upstream's `--kind` takes, in the order `all` lists them.
const SELECTOR_KINDS: [&str; 4] = ["deployment", "deploymentconfig", "statefulset", "pvc"];

/// `-l/--selector`: the objects of `kind` (`all` = deployments, deploymentconfigs,
/// statefulsets and PVCs; or `namespace`) matching the selector, skipping ones named already.
async fn selected_objects(
    cl: &Cluster,
    selector: &str,
    kind: &str,
    sns: &str,
    seen: &mut BTreeSet<String>,
) -> Result<Vec<ObjectReference>> {
    let kinds: Vec<&str> = match kind {
        "all" => SELECTOR_KINDS.to_vec(),
        k if SELECTOR_KINDS.contains(&k) || k == "namespace" => vec![k],
        other => bail!("unsupported or unknown object kind '{other}'. Supported deployment, statefulset and pvc"),
    };
    let mut out = Vec::new();
    for k in kinds {
        let found = cl.select(k, sns, selector).await.with_context(|| {
            let plural = if k == "pvc" { "pvcs".to_string() } else { format!("{k}s") };
            format!("failed to get {plural} using selector '{selector}' in namespace '{sns}'")
        })?;
        for (ns, name) in found {
            if seen.insert(format!("{k}={ns}/{name}")) {
                out.push(ObjectReference {
                    kind: k.into(),
                    namespace: Some(ns).filter(|n| !n.is_empty()),
                    name,
                    ..ObjectReference::default()
                });
            }
        }
    }
    Ok(out)
}

/// Upstream's `ChildActionSet`: one action per parent action (times `objects`, if given),
/// the parent's status (blueprint, object, artifacts) and spec (secrets, config maps,
/// profile, repository server, options merged under ours), our flags overriding.
fn child_actions(parent: &ActionSet, base: &ActionSpec, objs: &[ObjectReference]) -> Result<Vec<ActionSpec>> {
    let name = parent.metadata.name.as_deref().unwrap_or("");
    let st = parent.status.as_ref().filter(|s| s.state == State::Complete);
    let st = st.ok_or_else(|| anyhow!("Request parent ActionSet {name} has not been executed"))?;
    let spec = parent.spec.as_ref().with_context(|| format!("the parent ActionSet {name} has no spec"))?;
    let mut out = Vec::new();
    for (i, pa) in st.actions.iter().enumerate() {
        let ps =
            spec.actions.get(i).with_context(|| format!("the parent ActionSet {name}'s status and spec disagree"))?;
        let mut options = ps.options.clone();
        options.extend(base.options.clone());
        let or_map = |ours: &BTreeMap<String, ObjectReference>, theirs: &BTreeMap<String, ObjectReference>| {
            if ours.is_empty() { theirs.clone() } else { ours.clone() }
        };
        let action = ActionSpec {
            name: Some(base.name.clone()).filter(|s| !s.is_empty()).unwrap_or_else(|| ps.name.clone()),
            blueprint: Some(base.blueprint.clone()).filter(|s| !s.is_empty()).unwrap_or_else(|| pa.blueprint.clone()),
            object: pa.object.clone(),
            artifacts: pa.artifacts.clone(),
            secrets: or_map(&base.secrets, &ps.secrets),
            config_maps: or_map(&base.config_maps, &ps.config_maps),
            profile: base.profile.clone().or_else(|| ps.profile.clone()),
            repository_server: base.repository_server.clone().or_else(|| ps.repository_server.clone()),
            options,
            pod_labels: base.pod_labels.clone(),
            pod_annotations: base.pod_annotations.clone(),
            ..ActionSpec::default()
        };
        if objs.is_empty() {
            out.push(action);
        } else {
            out.extend(objs.iter().map(|o| ActionSpec { object: o.clone(), ..action.clone() }));
        }
    }
    Ok(out)
}

/// Upstream's `verifyParams`: the blueprint, profile, repository server, target objects,
/// config maps and secrets all exist (checked at once). Prints one line per problem.
async fn verify(cl: &Cluster, ns: &str, base: &ActionSpec, objs: &[ObjectReference], wait_rs: bool) -> Result<()> {
    let missing = |kind: &str, name: &str, ns: &str, e: ClusterError| {
        format!("Please make sure '{kind}' with name '{name}' exists in namespace '{ns}': {e}")
    };
    let blueprint = async {
        if base.blueprint.is_empty() {
            return vec![];
        }
        match cl.blueprint(ns, &base.blueprint).await {
            Ok(_) => vec![],
            Err(e) => vec![missing("blueprint", &base.blueprint, ns, e)],
        }
    };
    let profile = async {
        let Some(p) = &base.profile else { return vec![] };
        let pns = p.namespace.as_deref().unwrap_or("");
        match cl.profile(pns, &p.name).await {
            Ok(_) => vec![],
            Err(e) => vec![missing("profile", &p.name, pns, e)],
        }
    };
    let repository_server = async {
        let Some(r) = &base.repository_server else { return vec![] };
        let rns = r.namespace.as_deref().unwrap_or("");
        match verify_repository_server(cl, rns, &r.name, wait_rs).await {
            Ok(()) => vec![],
            Err(e) => vec![e],
        }
    };
    let objects = async {
        // Upstream stops at the first missing object.
        for o in objs {
            if let Err(e) = cl.object_exists(o).await {
                let kind = if o.kind.is_empty() { &o.resource } else { &o.kind };
                return vec![missing(kind, &o.name, o.namespace.as_deref().unwrap_or(""), e)];
            }
        }
        vec![]
    };
    let config_maps = async {
        let mut errs = vec![];
        for r in base.config_maps.values() {
            let rns = r.namespace.as_deref().unwrap_or("");
            if let Err(e) = cl.config_map_exists(rns, &r.name).await {
                errs.push(missing("config map", &r.name, rns, e));
            }
        }
        errs
    };
    let secrets = async {
        let mut errs = vec![];
        for r in base.secrets.values() {
            let rns = r.namespace.as_deref().unwrap_or("");
            if let Err(e) = cl.secret_exists(rns, &r.name).await {
                errs.push(missing("secret", &r.name, rns, e));
            }
        }
        errs
    };
    let (a, b, c, d, e, f) = tokio::join!(blueprint, profile, repository_server, objects, config_maps, secrets);
    let errors: Vec<String> = [a, b, c, d, e, f].into_iter().flatten().collect();
    for e in &errors {
        eprintln!("{e}");
    }
    if !errors.is_empty() {
        bail!("resource verification failed");
    }
    Ok(())
}

/// The RepositoryServer exists and is `Ready` (or becomes so within 10 minutes with `-w`).
async fn verify_repository_server(cl: &Cluster, ns: &str, name: &str, wait: bool) -> Result<(), String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    loop {
        let rs = cl.repository_server(ns, name).await.map_err(|e| {
            if e.is_not_found() {
                format!("Please make sure 'repository-server' with name '{name}' exists in namespace '{ns}': {e}")
            } else {
                format!("error while fetching repo server: {e}")
            }
        })?;
        if rs.status.progress == "Ready" {
            return Ok(());
        }
        if !wait {
            return Err(format!(
                "Please make sure that Repository Server CR '{name}' is in Ready State: Repository Server Not Ready"
            ));
        }
        if std::time::Instant::now() > deadline {
            return Err(format!(
                "Failed while waiting for Repository Server {ns}/{name} to be Ready: still '{}' after 10 minutes",
                rs.status.progress
            ));
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

async fn actionset(g: &Global, a: ActionSetArgs, dry_run: bool, skip_validation: bool) -> Result<()> {
    // The cluster is needed to create, to validate, to read --from and to list --selector;
    // a dry run without those two stays offline.
    let needs_cluster = !dry_run || a.from.is_some() || a.selector.is_some();
    let cl = if needs_cluster { Some(connect(g).await?) } else { None };
    let ns = match &cl {
        Some(c) => c.namespace().to_string(),
        None => offline_namespace(g).await,
    };
    let secrets = references(&a.secrets).context("failed to parse secrets")?;
    let config_maps = references(&a.config_maps).context("failed to parse config maps")?;
    let profile = a.profile.as_deref().filter(|p| !p.is_empty()).map(|p| profile_ref(p, &ns)).transpose()?;
    let repository_server =
        a.repository_server.as_deref().filter(|r| !r.is_empty()).map(repository_server_ref).transpose()?;
    let options = key_values(&a.options, "options")?;
    let pod_labels = key_values(&a.pod_labels, "podlabels")?;
    let pod_annotations = key_values(&a.pod_annotations, "podannotations")?;
    kanister::validate::validate_annotations(&pod_annotations).map_err(|e| anyhow!("{e}"))?;
    kanister::validate::validate_labels(&pod_labels).map_err(|e| anyhow!("{e}"))?;
    let set_labels = labels(a.labels.as_deref().unwrap_or(""))?;
    let mut objs = objects(&a)?;
    if let (Some(sel), Some(cl)) = (a.selector.as_deref().filter(|s| !s.is_empty()), &cl) {
        let mut seen: BTreeSet<String> =
            objs.iter().map(|o| format!("{}={}/{}", o.kind, o.namespace.as_deref().unwrap_or(""), o.name)).collect();
        let sns = a.selector_namespace.as_deref().unwrap_or("");
        objs.extend(selected_objects(cl, sel, &a.kind, sns, &mut seen).await?);
    }
    // What the flags say, shared by every action.
    let base = ActionSpec {
        name: a.action.clone().unwrap_or_default(),
        blueprint: a.blueprint.clone().unwrap_or_default(),
        secrets,
        config_maps,
        profile,
        repository_server,
        options,
        pod_labels: Some(pod_labels).filter(|m| !m.is_empty()),
        pod_annotations: Some(pod_annotations).filter(|m| !m.is_empty()),
        ..ActionSpec::default()
    };
    if let (Some(cl), false) = (&cl, skip_validation || dry_run) {
        verify(cl, &ns, &base, &objs, a.wait_for_repository_server).await?;
    }
    if base.profile.is_none() && base.repository_server.is_none() {
        eprintln!(
            "Warning: Neither --profile nor --repository-server flag is provided.\nAction might fail if blueprint is using these resources."
        );
    }
    let parent = match (&a.from, &a.from_file, &cl) {
        (Some(p), _, Some(cl)) => Some(cl.actionset(&ns, p).await?),
        (_, Some(f), _) => Some(serde_json::from_value::<ActionSet>(kanister::load::any(&read_input(f)?)?)?),
        _ => None,
    };
    let parent_name = parent.as_ref().and_then(|p| p.metadata.name.clone());
    let actions = match &parent {
        Some(p) => child_actions(p, &base, &objs)?,
        None => {
            if objs.is_empty() {
                bail!("no objects found to perform action set. Please pass a valid parent action set and/or selector");
            }
            if base.name.is_empty() {
                bail!("action required to create new action set");
            }
            if base.blueprint.is_empty() {
                bail!("blueprint required to create new action set");
            }
            objs.iter().map(|o| ActionSpec { object: o.clone(), ..base.clone() }).collect()
        }
    };
    let name = match (&a.name, &a.action, &parent_name) {
        (Some(n), _, _) => n.clone(),
        (None, Some(act), Some(p)) => format!("{act}-{p}-{}", rand_suffix(5)),
        (None, Some(act), None) => format!("{act}-{}", rand_suffix(5)),
        (None, None, Some(p)) => format!("{p}-{}", rand_suffix(5)),
        (None, None, None) => bail!("missing action name. use the --action flag to specify the action name"),
    };
    let mut set = ActionSet::new();
    set.metadata.name = Some(name);
    set.metadata.labels = set_labels;
    set.spec = Some(ActionSetSpec { actions });
    match (&cl, dry_run) {
        (Some(cl), false) => {
            let created = cl.create(&ns, &set).await?;
            println!("actionset {} created", created.metadata.name.as_deref().unwrap_or(""));
        }
        _ => print!("{}", serde_saphyr::to_string(&set)?),
    }
    Ok(())
}

/// Upstream's stage lines (`utils.PrintStage`).
pub(crate) fn stage(description: &str, outcome: &str) {
    match outcome {
        "pass" => println!("Passed the '{description}' check.. ✅"),
        "skip" => println!("Skipping the '{description}' check.. 🚫"),
        "fail" => println!("Failed the '{description}' check.. ❌"),
        _ => println!("{description}"),
    }
}

/// The schema stage's description.
pub(crate) const SCHEMA_VALIDATION: &str = "Validate Profile schema";

/// Upstream's `validateProfile`: the schema, then (for a profile with a bucket) the region,
/// read and write checks, unless `schema_only`. `quiet` prints failed stages only (as
/// `create profile` does).
pub(crate) async fn validate_profile_stages(
    cl: Option<&Cluster>,
    p: &kanister::types::Profile,
    schema_only: bool,
    quiet: bool,
) -> Result<()> {
    if p.location.location_type == "filestore" {
        // Our local-disk / NFS location: the directory is checked where kando runs.
        if p.location.prefix.is_empty() {
            stage(SCHEMA_VALIDATION, "fail");
            bail!("filestore profile needs location.prefix: the repository directory");
        }
    } else if let Err(e) = kanister::validate::validate_profile(p) {
        stage(SCHEMA_VALIDATION, "fail");
        bail!("{e}");
    }
    if !quiet {
        stage(SCHEMA_VALIDATION, "pass");
    }
    if !p.location.bucket.is_empty() && p.location.location_type != "filestore" {
        let mut resolved = None;
        for check in AccessCheck::ALL {
            let d = check.description();
            if schema_only {
                if !quiet {
                    stage(d, "skip");
                }
                continue;
            }
            let cl = cl.context("the bucket checks read the profile's Secret: a cluster is needed")?;
            if resolved.is_none() {
                match kanister_kube::resolve_profile(cl, p).await {
                    Ok(r) => resolved = Some(r),
                    Err(e) => {
                        stage(d, "fail");
                        bail!("{e}");
                    }
                }
            }
            let r = resolved.as_ref().expect("resolved above");
            if let Err(e) = check_profile_access(r, check).await {
                stage(d, "fail");
                bail!("{e}");
            }
            if !quiet {
                stage(d, "pass");
            }
        }
    }
    if !quiet {
        stage("All checks passed.. ✅\n", "");
    }
    Ok(())
}

async fn profile(g: &Global, p: ProfileArgs, dry_run: bool, skip_validation: bool) -> Result<()> {
    let cl = if dry_run { None } else { Some(connect(g).await?) };
    let ns = match &cl {
        Some(c) => c.namespace().to_string(),
        None => offline_namespace(g).await,
    };
    let (short, loc_type, mut data): (&str, &str, Vec<(&str, String)>) = match &p.kind {
        ProfileKind::S3compliant { access_key, secret_key, role } => (
            "s3",
            "s3Compliant",
            vec![
                ("aws_access_key_id", access_key.clone()),
                ("aws_secret_access_key", secret_key.clone()),
                ("role", role.clone().unwrap_or_default()),
            ],
        ),
        ProfileKind::Gcp { project_id, service_key } => {
            ("gcp", "gcs", vec![("gcp_project_id", project_id.clone()), ("gcp_service_key", read_input(service_key)?)])
        }
        ProfileKind::Azure { storage_account, storage_key, storage_env } => (
            "azure",
            "azure",
            vec![
                ("azure_storage_account_id", storage_account.clone()),
                ("azure_storage_key", storage_key.clone()),
                ("azure_storage_environment", storage_env.clone().unwrap_or_default()),
            ],
        ),
        ProfileKind::Filestore => ("filestore", "filestore", vec![]),
    };
    let secret_name = format!("{short}-secret-{}", rand_suffix(6));
    let has = |k: &str| data.iter().any(|(dk, v)| *dk == k && !v.is_empty());
    let as_secret =
        (loc_type == "s3Compliant" && has("role")) || (loc_type == "azure" && has("azure_storage_environment"));
    let (id_field, secret_field) = match loc_type {
        "gcs" => ("gcp_project_id", "gcp_service_key"),
        "azure" => ("azure_storage_account_id", "azure_storage_key"),
        _ => ("aws_access_key_id", "aws_secret_access_key"),
    };
    let secret_ref = json!({"name": secret_name, "namespace": ns});
    let credential = if loc_type == "filestore" {
        json!({"type": ""})
    } else if as_secret {
        json!({"type": "secret", "secret": secret_ref})
    } else {
        json!({"type": "keyPair", "keyPair": {"idField": id_field, "secretField": secret_field, "secret": secret_ref}})
    };
    let location = json!({"type": loc_type, "bucket": p.bucket.clone().unwrap_or_default(),
        "endpoint": p.endpoint.clone().unwrap_or_default(), "prefix": p.prefix.clone().unwrap_or_default(),
        "region": p.region.clone().unwrap_or_default()});
    let profile: kanister::types::Profile = serde_json::from_value(json!({
        "apiVersion": "cr.kanister.io/v1alpha1", "kind": "Profile",
        "metadata": {"generateName": format!("{short}-profile-"), "namespace": ns},
        "location": location, "credential": credential, "skipSSLVerify": p.skip_ssl_verification,
    }))?;
    if !as_secret {
        data.retain(|(k, _)| *k != "role" && *k != "azure_storage_environment");
    }
    let secret = (loc_type != "filestore").then(|| {
        let string_data: serde_json::Map<String, Json> =
            data.into_iter().map(|(k, v)| (k.to_string(), Json::String(v))).collect();
        let mut secret = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": secret_name, "namespace": ns}, "stringData": string_data});
        if as_secret && loc_type == "s3Compliant" {
            secret["type"] = json!("secrets.kanister.io/aws");
        }
        secret
    });
    let Some(cl) = cl else {
        // Dry run: the schema, then the objects.
        if loc_type != "filestore" {
            kanister::validate::validate_profile(&profile).map_err(|e| anyhow!("{e}"))?;
        }
        if let Some(s) = &secret {
            print!("{}", serde_saphyr::to_string(s)?);
            println!("---");
        }
        print!("{}", serde_saphyr::to_string(&profile)?);
        return Ok(());
    };
    // The schema first: nothing is created for a profile that cannot pass.
    if loc_type != "filestore"
        && let Err(e) = kanister::validate::validate_profile(&profile)
    {
        stage(SCHEMA_VALIDATION, "fail");
        bail!("profile validation failed: {e}");
    }
    if let Some(s) = &secret {
        cl.create_secret(s).await.context("failed to create secret")?;
        println!("secret '{secret_name}' created");
    }
    // On failure the Secret goes too (upstream keeps it when creating the Profile fails).
    let (what, res) = match validate_profile_stages(Some(&cl), &profile, skip_validation, true).await {
        Ok(()) => ("creating the profile", cl.create(&ns, &profile).await.context("failed to create profile")),
        Err(e) => ("validation", Err(e.context("profile validation failed"))),
    };
    match res {
        Ok(c) => {
            println!("profile '{}' created", c.metadata.name.as_deref().unwrap_or(""));
            Ok(())
        }
        Err(e) => {
            if secret.is_some() {
                println!("{what} failed, deleting secret '{secret_name}'");
                cl.delete_secret(&ns, &secret_name)
                    .await
                    .with_context(|| format!("failed to delete secret after {what} failed ({e:#})"))?;
                println!("secret '{secret_name}' deleted");
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references_objects_and_labels_as_upstream() {
        let r = references(&["a=ns1/n1".into(), "".into(), "a=ns1/n1".into()]).unwrap();
        assert_eq!(r["a"].name, "n1");
        assert_eq!(references(&["bad".into()]).unwrap_err().to_string(), "Expected ref=namespace/name. Got bad");
        let o = generic_object("apps/v1/deployments/ns/web").unwrap();
        assert_eq!((o.group.as_str(), o.api_version.as_str(), o.resource.as_str()), ("apps/", "v1", "deployments"));
        let o = generic_object("v1/pods/ns/p").unwrap();
        assert_eq!(o.group, "");
        assert!(generic_object("pods/ns/p").is_err());
        assert_eq!(labels(" a = b ,c=d").unwrap().unwrap()["a"], "b");
        assert!(key_values(&["x=y=z".into()], "options").is_err());
        assert_eq!(rand_suffix(5).len(), 5);
    }
}
