//! The Kanister function registry: every function upstream ever registered, with its
//! required and optional arguments and its outputs, and upstream's version lookup.
//!
//! Argument lists are upstream 0.119.0's `RequiredArgs()` and `Arguments()` (in their
//! order: the first missing required argument is the one reported). Functions removed
//! before 0.119.0 are listed for reference but are not registered: looking them up fails
//! exactly like an unknown name. The kopia-server functions are registered (they exist in
//! 0.119.0, the surface we implement) and marked as removed after it.
//!
//! This module describes functions; it does not run them (that is the controller's job)
//! and does not check blueprints (that is [`crate::validate`]).

use std::fmt;

/// The only function version upstream registers: `v0.0.0`.
pub const DEFAULT_VERSION: &str = "v0.0.0";

/// `podOverride`: a strategic-merge patch for the function pod's spec.
pub const POD_OVERRIDE_ARG: &str = "podOverride";
/// `podLabels`: extra labels for the function pod (validated as label keys/values).
pub const POD_LABELS_ARG: &str = "podLabels";
/// `podAnnotations`: extra annotations for the function pod (keys validated).
pub const POD_ANNOTATIONS_ARG: &str = "podAnnotations";

/// Whether a function is registered in the surface we implement (upstream 0.119.0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Availability {
    /// Registered in 0.119.0 and at upstream HEAD.
    Current,
    /// Registered in 0.119.0, removed upstream after it (the kopia repository server path).
    /// Still registered here.
    RemovedAfter0119,
    /// Removed upstream in the given release: not registered, lookups fail as for an
    /// unknown name.
    Removed(&'static str),
}

/// What a function emits as its phase output (`.Phases.<name>.Output`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outputs {
    /// These fixed keys (possibly none).
    Keys(&'static [&'static str]),
    /// Whatever the pod or command prints as `###Phase-output###:` lines (`kando output`).
    FromPod,
}

/// A Kanister function: its name, arguments and outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FunctionSpec {
    /// `func` name in a blueprint phase, e.g. `KubeTask`.
    pub name: &'static str,
    /// Arguments that must be present, in upstream's order.
    pub required_args: &'static [&'static str],
    /// Further arguments accepted, in upstream's order. Any other argument is an error.
    pub optional_args: &'static [&'static str],
    /// The phase output.
    pub outputs: Outputs,
    /// Registered or removed.
    pub availability: Availability,
}

impl FunctionSpec {
    /// Required then optional arguments.
    pub fn arguments(&self) -> impl Iterator<Item = &'static str> + use<> {
        self.required_args.iter().chain(self.optional_args.iter()).copied()
    }

    /// Whether `arg` is accepted.
    pub fn accepts(&self, arg: &str) -> bool {
        self.arguments().any(|a| a == arg)
    }

    /// Whether the function takes `podLabels`/`podAnnotations`, and so validates them
    /// (upstream calls `ValidatePodLabelsAndAnnotations` exactly in those functions).
    pub fn takes_pod_metadata(&self) -> bool {
        self.accepts(POD_LABELS_ARG) || self.accepts(POD_ANNOTATIONS_ARG)
    }

    /// Registered in the surface we implement (not removed before 0.119.0).
    pub fn is_registered(&self) -> bool {
        !matches!(self.availability, Availability::Removed(_))
    }
}

const PO: &str = POD_OVERRIDE_ARG;
const PL: &str = POD_LABELS_ARG;
const PA: &str = POD_ANNOTATIONS_ARG;

macro_rules! f {
    ($name:literal, [$($r:expr),* $(,)?], [$($o:expr),* $(,)?], $out:expr) => {
        f!($name, [$($r),*], [$($o),*], $out, Availability::Current)
    };
    ($name:literal, [$($r:expr),* $(,)?], [$($o:expr),* $(,)?], $out:expr, $avail:expr) => {
        FunctionSpec { name: $name, required_args: &[$($r),*], optional_args: &[$($o),*], outputs: $out, availability: $avail }
    };
}

const fn keys(k: &'static [&'static str]) -> Outputs {
    Outputs::Keys(k)
}

const NONE: Outputs = Outputs::Keys(&[]);
const POD: Outputs = Outputs::FromPod;
const GONE_0115: Availability = Availability::Removed("0.115.0");
const KOPIA_SERVER: Availability = Availability::RemovedAfter0119;

/// Every function, registered or not, in upstream's documentation order.
static FUNCTIONS: &[FunctionSpec] = &[
    f!("KubeTask", ["image", "command"], ["namespace", PO, PA, PL], POD),
    f!("KubeExec", ["namespace", "pod", "command"], ["container"], POD),
    f!("KubeExecAll", ["namespace", "pods", "containers", "command"], [], POD),
    f!(
        "MultiContainerRun",
        ["backgroundImage", "backgroundCommand", "outputImage", "outputCommand"],
        [
            "namespace",
            "initImage",
            "initCommand",
            "sharedVolumeMedium",
            "sharedVolumeSizeLimit",
            "sharedVolumeDir",
            PO,
            PL,
            PA
        ],
        POD
    ),
    f!("ScaleWorkload", ["replicas"], ["namespace", "name", "kind", "waitForReady"], keys(&["originalReplicaCount"])),
    f!("PrepareData", ["namespace", "image", "command"], ["volumes", "serviceaccount", PO, PA, PL, "failOnError"], POD),
    f!(
        "BackupData",
        ["namespace", "pod", "container", "includePath", "backupArtifactPrefix"],
        ["encryptionKey", "insecureTLS"],
        keys(&["backupID", "backupTag", "fileCount", "size", "phySize", "version"])
    ),
    f!(
        "BackupDataAll",
        ["namespace", "container", "includePath", "backupArtifactPrefix"],
        ["pods", "encryptionKey", "insecureTLS"],
        keys(&["BackupAllInfo", "version"])
    ),
    f!(
        "RestoreData",
        ["namespace", "image", "backupArtifactPrefix"],
        [
            "restorePath",
            "encryptionKey",
            "pod",
            "volumes",
            "backupTag",
            "backupIdentifier",
            "backupPath",
            PO,
            "insecureTLS",
            PA,
            PL
        ],
        POD
    ),
    f!(
        "RestoreDataAll",
        ["namespace", "image", "backupArtifactPrefix", "backupInfo"],
        ["restorePath", "encryptionKey", "pods", PO, "insecureTLS", PA, PL],
        NONE
    ),
    f!(
        "CopyVolumeData",
        ["namespace", "volume", "dataArtifactPrefix"],
        ["image", "encryptionKey", "mountPath", "insecureTLS", PO, PA, PL],
        keys(&[
            "backupID",
            "backupRoot",
            "backupArtifactLocation",
            "backupTag",
            "fileCount",
            "size",
            "phySize",
            "version"
        ])
    ),
    f!(
        "DeleteData",
        ["namespace", "backupArtifactPrefix"],
        ["image", "backupID", "backupTag", "encryptionKey", "reclaimSpace", "insecureTLS", PO, PA, PL],
        keys(&["spaceFreed"])
    ),
    f!(
        "DeleteDataAll",
        ["namespace", "backupArtifactPrefix", "backupInfo"],
        ["image", "encryptionKey", "reclaimSpace", "insecureTLS", PO, PA, PL],
        keys(&["spaceFreed"])
    ),
    f!(
        "BackupDataStats",
        ["namespace", "backupArtifactPrefix", "backupID"],
        ["image", "statsMode", "encryptionKey", PO, PA, PL],
        keys(&["mode", "fileCount", "size", "version"])
    ),
    f!(
        "CheckRepository",
        ["backupArtifactPrefix"],
        ["image", "encryptionKey", "insecureTLS", PO, PA, PL],
        keys(&["passwordIncorrect", "repoUnavailable", "version"])
    ),
    f!("LocationDelete", ["artifact"], [], NONE),
    f!(
        "KubeOps",
        ["operation"],
        ["spec", "namespace", "objectReference"],
        keys(&["apiVersion", "group", "resource", "kind", "name", "namespace"])
    ),
    f!("Wait", ["timeout", "conditions"], [], NONE),
    f!("WaitV2", ["timeout", "conditions"], [], NONE),
    f!(
        "CreateCSISnapshot",
        ["pvc", "namespace", "snapshotClass"],
        ["name", "labels"],
        keys(&["name", "pvc", "namespace", "restoreSize", "snapshotContent"])
    ),
    f!(
        "CreateCSISnapshotStatic",
        ["name", "namespace", "driver", "snapshotHandle", "snapshotClass"],
        [],
        keys(&["name", "namespace", "restoreSize", "snapshotContent"])
    ),
    f!(
        "RestoreCSISnapshot",
        ["name", "pvc", "namespace", "storageClass", "restoreSize"],
        ["accessModes", "volumeMode", "labels"],
        NONE
    ),
    f!("DeleteCSISnapshot", ["name", "namespace"], [], NONE),
    f!("DeleteCSISnapshotContent", ["name"], [], NONE),
    f!(
        "CreateRDSSnapshot",
        ["instanceID"],
        ["dbEngine", "credentialsSource", "credentialsSecret", "region"],
        keys(&["snapshotID", "instanceID", "securityGroupID", "allocatedStorage", "dbSubnetGroup"])
    ),
    f!(
        "ExportRDSSnapshotToLocation",
        ["namespace", "instanceID", "snapshotID", "dbEngine"],
        [
            "username",
            "password",
            "backupArtifactPrefix",
            "databases",
            "securityGroupID",
            "dbSubnetGroup",
            PA,
            PL,
            "credentialsSource",
            "credentialsSecret",
            "region"
        ],
        keys(&["snapshotID", "instanceID", "securityGroupID", "backupID"])
    ),
    f!(
        "RestoreRDSSnapshot",
        ["instanceID"],
        [
            "snapshotID",
            "dbEngine",
            "backupArtifactPrefix",
            "backupID",
            "username",
            "password",
            "namespace",
            "securityGroupID",
            "dbSubnetGroup",
            PA,
            PL,
            "credentialsSource",
            "credentialsSecret",
            "region"
        ],
        keys(&["endpoint"])
    ),
    f!("DeleteRDSSnapshot", ["snapshotID"], ["dbEngine", "credentialsSource", "credentialsSecret", "region"], NONE),
    f!(
        "BackupDataUsingKopiaServer",
        ["container", "includePath", "namespace", "pod"],
        ["snapshotTags", "repositoryServerUserHostname"],
        keys(&["backupID", "size", "phySize"]),
        KOPIA_SERVER
    ),
    f!(
        "RestoreDataUsingKopiaServer",
        ["backupIdentifier", "namespace", "restorePath", "image"],
        ["pod", "volumes", PO, "repositoryServerUserHostname", PA, PL],
        NONE,
        KOPIA_SERVER
    ),
    f!(
        "DeleteDataUsingKopiaServer",
        ["backupID", "namespace", "image"],
        ["repositoryServerUserHostname", PA, PL],
        NONE,
        KOPIA_SERVER
    ),
    f!("CreateVolumeSnapshot", ["namespace"], ["pvcs", "skipWait"], keys(&["volumeSnapshotInfo"]), GONE_0115),
    f!("WaitForSnapshotCompletion", ["snapshots"], [], NONE, GONE_0115),
    f!("CreateVolumeFromSnapshot", ["namespace", "snapshots"], ["pvcNames"], NONE, GONE_0115),
    f!("DeleteVolumeSnapshot", ["namespace", "snapshots"], [], NONE, GONE_0115),
];

/// Every function upstream ever registered, including removed ones.
pub fn all() -> &'static [FunctionSpec] {
    FUNCTIONS
}

/// The registered functions (at version `v0.0.0`).
pub fn registered() -> impl Iterator<Item = &'static FunctionSpec> {
    FUNCTIONS.iter().filter(|f| f.is_registered())
}

/// The function named `name` (case-sensitive, as upstream), registered or removed.
pub fn find(name: &str) -> Option<&'static FunctionSpec> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// The registered function `name` for `version` (an ActionSet's `preferredVersion`, or
/// `kanctl validate -v`), with upstream's fallback: a version nobody registered falls back
/// to `v0.0.0`. `None` for an unknown or removed function or an unusable version; see
/// [`resolve`] for why.
pub fn lookup(name: &str, version: &str) -> Option<&'static FunctionSpec> {
    resolve(name, version).ok()
}

/// Like [`lookup`], with upstream's error (`regFuncVersion` in `pkg/phase.go`).
///
/// Upstream keys its registry by the parsed semver *including the original text*, so
/// only the exact string `v0.0.0` (or `""`) selects the registered version directly. Any
/// other valid version falls back to `v0.0.0` — except one equal to 0.0.0 but spelt
/// differently (`0.0.0`, `v0.0`, `v0.0.0+meta`), which upstream rejects as "not registered
/// with version".
pub fn resolve(name: &str, version: &str) -> Result<&'static FunctionSpec, LookupError> {
    let default = version.is_empty() || version == DEFAULT_VERSION;
    let parsed = if default { None } else { Some(parse_semver(version)?) };
    let f = find(name).filter(|f| f.is_registered()).ok_or_else(|| LookupError::NotRegistered(name.to_string()))?;
    match parsed {
        Some(v) if v.is_zero() => {
            Err(LookupError::NotRegisteredWithVersion { func: name.to_string(), version: version.to_string() })
        }
        _ => Ok(f),
    }
}

/// Why a function lookup failed. `Display` is upstream's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// Unknown (or removed) function.
    #[error("Requested function {{{0}}} has not been registered")]
    NotRegistered(String),
    /// A version equal to v0.0.0 but not written `v0.0.0`.
    #[error("Requested function {{{func}}} has not been registered with version {{{version}}}")]
    NotRegisteredWithVersion {
        /// The function.
        func: String,
        /// The version as written.
        version: String,
    },
    /// Not a semantic version (Masterminds/semver v1 rules).
    #[error("Failed to get function version: Failed to parse function version {{{version}}}: {reason}")]
    BadVersion {
        /// The version as written.
        version: String,
        /// The parser's message, e.g. `Invalid Semantic Version`.
        reason: String,
    },
}

/// A version as Masterminds/semver v1.5 parses it (only what the lookup needs).
#[derive(Debug)]
struct SemVer {
    major: u64,
    minor: u64,
    patch: u64,
    pre: bool,
}

impl SemVer {
    fn is_zero(&self) -> bool {
        self.major == 0 && self.minor == 0 && self.patch == 0 && !self.pre
    }
}

/// `^v?N(\.N)?(\.N)?(-ID(\.ID)*)?(\+ID(\.ID)*)?$` with ID = `[0-9A-Za-z-]+`.
fn parse_semver(v: &str) -> Result<SemVer, LookupError> {
    let bad = |reason: String| LookupError::BadVersion { version: v.to_string(), reason };
    let invalid = || bad("Invalid Semantic Version".to_string());
    let s = v.strip_prefix('v').unwrap_or(v);
    let (s, meta) = match s.split_once('+') {
        Some((a, m)) => (a, Some(m)),
        None => (s, None),
    };
    let (core, pre) = match s.split_once('-') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let ids_ok =
        |x: &str| x.split('.').all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if pre.is_some_and(|p| !ids_ok(p)) || meta.is_some_and(|m| !ids_ok(m)) {
        return Err(invalid());
    }
    let nums: Vec<&str> = core.split('.').collect();
    if nums.len() > 3 || nums.iter().any(|n| n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit())) {
        return Err(invalid());
    }
    let mut out = [0u64; 3];
    for (i, n) in nums.iter().enumerate() {
        // Go parses each segment as int64.
        out[i] = n.parse::<i64>().map_err(|_| {
            bad(format!("Error parsing version segment: strconv.ParseInt: parsing {n:?}: value out of range"))
        })? as u64;
    }
    Ok(SemVer { major: out[0], minor: out[1], patch: out[2], pre: pre.is_some() })
}

impl fmt::Display for FunctionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_args_disjoint() {
        for (i, f) in FUNCTIONS.iter().enumerate() {
            assert!(FUNCTIONS[..i].iter().all(|g| g.name != f.name), "{} twice", f.name);
            let args: Vec<_> = f.arguments().collect();
            for (j, a) in args.iter().enumerate() {
                assert!(!args[..j].contains(a), "{}: {a} twice", f.name);
            }
        }
    }

    #[test]
    fn semver_like_masterminds_v1() {
        for ok in ["1", "v1.2", "1.2.3", "v0.0.1-alpha.1+build.5", "10.20.30"] {
            assert!(parse_semver(ok).is_ok(), "{ok}");
        }
        for bad in ["", "v", "x1", "1.2.3.4", "1..2", "1.2-", "1.2+", "1.2-a..b", "v 1", "1.2.3-a_b"] {
            assert_eq!(
                parse_semver(bad).unwrap_err().to_string(),
                format!(
                    "Failed to get function version: Failed to parse function version {{{bad}}}: Invalid Semantic Version"
                )
            );
        }
        assert!(parse_semver("0.0").unwrap().is_zero());
        assert!(!parse_semver("0.0.0-rc1").unwrap().is_zero());
    }
}
