//! Command-line arguments, as close to upstream kanctl's flags as clap allows.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// kanctl: a command-line tool for Kanister ActionSets, Profiles and Blueprints
/// (cr.kanister.io/v1alpha1), compatible with upstream kanctl.
#[derive(Parser, Debug)]
#[command(name = "kanctl", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// Flags of every command.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Namespace of the objects kanctl creates or reads (default: the kubeconfig context's, else "default").
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// Verbose output.
    #[arg(long, global = true)]
    pub verbose: bool,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Create a custom kanister resource.
    Create(Create),
    /// Validate a custom kanister resource (offline with -f FILE).
    Validate(Validate),
    /// Print every phase of a blueprint action with its args rendered (offline), for
    /// blueprint authors: as the controller would render them for --object.
    Render(Render),
}

#[derive(Args, Debug)]
pub struct Create {
    /// Print the objects as YAML instead of creating them.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Skip checking that referenced objects exist.
    #[arg(long, global = true)]
    pub skip_validation: bool,
    #[command(subcommand)]
    pub what: CreateWhat,
}

#[derive(Subcommand, Debug)]
pub enum CreateWhat {
    /// Create a new ActionSet or override a <parent> ActionSet.
    Actionset(Box<ActionSetArgs>),
    /// Create a new profile (and the Secret holding its credentials).
    Profile(ProfileArgs),
}

/// `kanctl create actionset` flags (upstream names and short forms).
#[derive(Args, Debug, Default)]
pub struct ActionSetArgs {
    /// Name of the parent ActionSet whose artifacts feed this one (needs a cluster).
    #[arg(short = 'f', long = "from")]
    pub from: Option<String>,
    /// Offline stand-in for --from: a completed parent ActionSet as a YAML or JSON file.
    #[arg(long = "from-file", conflicts_with = "from")]
    pub from_file: Option<String>,
    /// Action for the action set (required if creating a new action set).
    #[arg(short = 'a', long)]
    pub action: Option<String>,
    /// Name of the new ActionSet (default: generated from the action name).
    #[arg(short = 'A', long = "name")]
    pub name: Option<String>,
    /// Blueprint for the action set (required if creating a new action set).
    #[arg(short = 'b', long)]
    pub blueprint: Option<String>,
    /// Config maps, comma separated ref=namespace/name pairs.
    #[arg(short = 'c', long = "config-maps", value_delimiter = ',')]
    pub config_maps: Vec<String>,
    /// Deployments, comma separated namespace/name pairs.
    #[arg(short = 'd', long, value_delimiter = ',')]
    pub deployment: Vec<String>,
    /// Options, comma separated key=value pairs.
    #[arg(short = 'o', long, value_delimiter = ',')]
    pub options: Vec<String>,
    /// Profile for the action set: name or namespace/name.
    #[arg(short = 'p', long)]
    pub profile: Option<String>,
    /// PVCs, comma separated namespace/name pairs.
    #[arg(short = 'v', long, value_delimiter = ',')]
    pub pvc: Vec<String>,
    /// Secrets, comma separated ref=namespace/name pairs.
    #[arg(short = 's', long, value_delimiter = ',')]
    pub secrets: Vec<String>,
    /// StatefulSets, comma separated namespace/name pairs.
    #[arg(short = 't', long, value_delimiter = ',')]
    pub statefulset: Vec<String>,
    /// DeploymentConfigs (OpenShift), comma separated namespace/name pairs.
    #[arg(short = 'D', long, value_delimiter = ',')]
    pub deploymentconfig: Vec<String>,
    /// Kubernetes label selector for objects (needs a cluster).
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Resource kind the selector applies to.
    #[arg(short = 'k', long, default_value = "all")]
    pub kind: String,
    /// Namespace the selector applies to.
    #[arg(long = "selector-namespace")]
    pub selector_namespace: Option<String>,
    /// Namespaces as targets, comma separated.
    #[arg(short = 'T', long = "namespacetargets", value_delimiter = ',')]
    pub namespace_targets: Vec<String>,
    /// Objects, comma separated group/version/resource/namespace/name references.
    #[arg(short = 'O', long, value_delimiter = ',')]
    pub objects: Vec<String>,
    /// Labels of the ActionSet, comma separated key=value pairs.
    #[arg(long)]
    pub labels: Option<String>,
    /// Annotations of the pods Kanister functions create, key=value pairs.
    #[arg(long = "podannotations", value_delimiter = ',')]
    pub pod_annotations: Vec<String>,
    /// Labels of the pods Kanister functions create, key=value pairs.
    #[arg(long = "podlabels", value_delimiter = ',')]
    pub pod_labels: Vec<String>,
    /// RepositoryServer (≤ 0.119) as namespace/name.
    #[arg(short = 'r', long = "repository-server")]
    pub repository_server: Option<String>,
    /// Wait for the RepositoryServer to be ready.
    #[arg(short = 'w', long = "wait-for-repository-server")]
    pub wait_for_repository_server: bool,
}

#[derive(Args, Debug)]
pub struct ProfileArgs {
    /// Object store bucket.
    #[arg(short = 'b', long, global = true)]
    pub bucket: Option<String>,
    /// Object store endpoint (S3-compatible servers).
    #[arg(short = 'e', long, global = true)]
    pub endpoint: Option<String>,
    /// Prefix inside the bucket.
    #[arg(short = 'p', long, global = true)]
    pub prefix: Option<String>,
    /// Region.
    #[arg(short = 'r', long, global = true)]
    pub region: Option<String>,
    /// Skip TLS certificate verification.
    #[arg(long = "skip-SSL-verification", global = true)]
    pub skip_ssl_verification: bool,
    #[command(subcommand)]
    pub kind: ProfileKind,
}

#[derive(Subcommand, Debug)]
pub enum ProfileKind {
    /// S3 or S3-compatible object storage.
    S3compliant {
        /// Access key id.
        #[arg(short = 'a', long = "access-key")]
        access_key: String,
        /// Secret access key.
        #[arg(short = 's', long = "secret-key")]
        secret_key: String,
        /// IAM role to assume (makes the credential type `secret`).
        #[arg(short = 'R', long)]
        role: Option<String>,
    },
    /// Google Cloud Storage.
    Gcp {
        /// Project id.
        #[arg(short = 'a', long = "project-id")]
        project_id: String,
        /// Path to the service-account key JSON.
        #[arg(short = 's', long = "service-key")]
        service_key: String,
    },
    /// Azure Blob Storage.
    Azure {
        /// Storage account.
        #[arg(short = 'a', long = "storage-account")]
        storage_account: String,
        /// Storage account key.
        #[arg(short = 's', long = "storage-key")]
        storage_key: String,
        /// Azure cloud (AzurePublicCloud, AzureUSGovernmentCloud, AzureChinaCloud, …).
        #[arg(long = "storage-env")]
        storage_env: Option<String>,
    },
    /// A directory on local disk or NFS (kando's filestore location; the directory is --prefix).
    Filestore,
}

#[derive(Args, Debug)]
pub struct Validate {
    /// What to validate.
    #[arg(value_enum)]
    pub what: ValidateWhat,
    /// Name of the resource in the cluster (needs a cluster).
    #[arg(long)]
    pub name: Option<String>,
    /// YAML or JSON file of the resource ('-' for stdin).
    #[arg(short = 'f', long)]
    pub filename: Option<String>,
    /// Namespace of the resource in the cluster.
    #[arg(long = "resource-namespace", default_value = "default")]
    pub resource_namespace: String,
    /// Only validate the schema (no access checks).
    #[arg(long = "schema-validation-only")]
    pub schema_validation_only: bool,
    /// Kanister function version to validate against.
    #[arg(short = 'v', long = "functionVersion", default_value = "v0.0.0")]
    pub function_version: String,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidateWhat {
    /// A Profile.
    Profile,
    /// A Blueprint.
    Blueprint,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// YAML.
    #[default]
    Yaml,
    /// JSON.
    Json,
}

/// `kanctl render` flags.
#[derive(Args, Debug, Default)]
pub struct Render {
    /// Blueprint file (YAML or JSON; '-' for stdin).
    #[arg(short = 'f', long)]
    pub filename: String,
    /// The action to render (e.g. backup).
    #[arg(short = 'a', long)]
    pub action: String,
    /// Target object: kind/namespace/name (statefulset, deployment, deploymentconfig, pvc,
    /// namespace), or group/version/resource/namespace/name.
    #[arg(long)]
    pub object: String,
    /// Profile: a Profile YAML/JSON file (credentials shown as placeholders), or 'none'.
    /// Default: a sample s3Compliant profile.
    #[arg(long)]
    pub profile: Option<String>,
    /// Input artifacts, artifact.key=value (repeatable, comma separated).
    #[arg(long, value_delimiter = ',')]
    pub artifacts: Vec<String>,
    /// Options, key=value (repeatable, comma separated).
    #[arg(long, value_delimiter = ',')]
    pub options: Vec<String>,
    /// Action start time (.Time), RFC 3339 (default: now, UTC, with nanoseconds).
    #[arg(long)]
    pub time: Option<String>,
    /// Output of an earlier phase, phase.key=value (repeatable).
    #[arg(long = "phase-output")]
    pub phase_outputs: Vec<String>,
    /// Secret data, namespace/name.key=value (repeatable); Secrets named by phases' objects
    /// or --secrets but not given here are empty.
    #[arg(long = "secret-data")]
    pub secret_data: Vec<String>,
    /// ConfigMap data, namespace/name.key=value (repeatable).
    #[arg(long = "configmap-data")]
    pub configmap_data: Vec<String>,
    /// ActionSet secrets (.Secrets), ref=namespace/name, comma separated.
    #[arg(short = 's', long, value_delimiter = ',')]
    pub secrets: Vec<String>,
    /// ActionSet config maps (.ConfigMaps), ref=namespace/name, comma separated.
    #[arg(short = 'c', long = "config-maps", value_delimiter = ',')]
    pub config_maps: Vec<String>,
    /// The target object's content (.Object), YAML or JSON file.
    #[arg(long = "object-file")]
    pub object_file: Option<String>,
    /// Pods of the workload (default: <name>-0 for a StatefulSet, <name>-pod otherwise).
    #[arg(long, value_delimiter = ',')]
    pub pods: Vec<String>,
    /// Containers of each pod (default: container).
    #[arg(long, value_delimiter = ',')]
    pub containers: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "yaml")]
    pub format: Format,
}
