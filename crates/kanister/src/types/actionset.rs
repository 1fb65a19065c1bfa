//! ActionSet: a request to run blueprint actions on objects, and the controller's record
//! of how it went.

use super::serde_util::{is_zero, nd, sorted_map};
use super::{Artifact, ObjectMeta, ObjectReference, State, resource};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// An ActionSet (`crv1alpha1.ActionSet`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionSet {
    /// `kind`: `ActionSet`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// `apiVersion`: `cr.kanister.io/v1alpha1`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `metadata`.
    #[serde(default, deserialize_with = "nd")]
    pub metadata: ObjectMeta,
    /// `spec`: the actions to run. Upstream rejects an ActionSet without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<ActionSetSpec>,
    /// `status`: written by the controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ActionSetStatus>,
}

resource!(ActionSet, "ActionSet", "actionsets", "actionset");

/// `spec` of an ActionSet.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionSetSpec {
    /// `actions`: one per (action, object) pair; they run in parallel.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ActionSpec>,
}

/// One action to run (`crv1alpha1.ActionSpec`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionSpec {
    /// `name`: the action, a key of the blueprint's `actions`.
    #[serde(default, deserialize_with = "nd")]
    pub name: String,
    /// `object`: the target.
    #[serde(default, deserialize_with = "nd")]
    pub object: ObjectReference,
    /// `blueprint`: name of the Blueprint, in the ActionSet's namespace.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub blueprint: String,
    /// `artifacts`: input artifacts (`.ArtifactsIn`).
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "BTreeMap::is_empty")]
    pub artifacts: BTreeMap<String, Artifact>,
    /// `configMaps`: name → reference, fetched into `.ConfigMaps`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "BTreeMap::is_empty")]
    pub config_maps: BTreeMap<String, ObjectReference>,
    /// `secrets`: name → reference, fetched into `.Secrets`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, ObjectReference>,
    /// `profile`: the Profile (any namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<ObjectReference>,
    /// `repositoryServer`: the RepositoryServer (0.119.0 and earlier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_server: Option<ObjectReference>,
    /// `podOverride`: strategic-merge patch for the PodSpec of function pods.
    #[serde(
        default,
        deserialize_with = "nd",
        serialize_with = "sorted_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub pod_override: BTreeMap<String, Value>,
    /// `options`: `.Options`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    /// `preferredVersion`: Kanister function version; always printed, `""` means `v0.0.0`.
    #[serde(default, deserialize_with = "nd")]
    pub preferred_version: String,
    /// `podLabels`: merged into function pods' labels. Always printed (`null` when `None`).
    #[serde(default)]
    pub pod_labels: Option<BTreeMap<String, String>>,
    /// `podAnnotations`: merged into function pods' annotations. Always printed.
    #[serde(default)]
    pub pod_annotations: Option<BTreeMap<String, String>>,
}

/// `status` of an ActionSet (`crv1alpha1.ActionSetStatus`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionSetStatus {
    /// `state` of the whole ActionSet.
    #[serde(default)]
    pub state: State,
    /// `actions`: one status per spec action, same order.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ActionStatus>,
    /// `error`: always printed (`{"message": ""}` when there is none).
    #[serde(default, deserialize_with = "nd")]
    pub error: ActionSetError,
    /// `progress`: always printed.
    #[serde(default, deserialize_with = "nd")]
    pub progress: ActionProgress,
}

/// `status.error` of an ActionSet (Go `Error`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionSetError {
    /// `message`.
    #[serde(default, deserialize_with = "nd")]
    pub message: String,
}

/// The status of one action (`crv1alpha1.ActionStatus`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionStatus {
    /// `name`: the action.
    #[serde(default, deserialize_with = "nd")]
    pub name: String,
    /// `object`: the target.
    #[serde(default, deserialize_with = "nd")]
    pub object: ObjectReference,
    /// `blueprint`: always printed.
    #[serde(default, deserialize_with = "nd")]
    pub blueprint: String,
    /// `phases`, in execution order.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<Phase>,
    /// `artifacts`: the blueprint's output artifact templates until the action succeeds,
    /// then their rendered values.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "BTreeMap::is_empty")]
    pub artifacts: BTreeMap<String, Artifact>,
    /// `deferPhase`: always printed (all zero when the action has none).
    #[serde(default, deserialize_with = "nd")]
    pub defer_phase: Phase,
}

/// Progress of an ActionSet as a whole (`crv1alpha1.ActionProgress`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionProgress {
    /// `runningPhase`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub running_phase: String,
    /// `percentCompleted`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub percent_completed: String,
    /// `sizeDownloadedB`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub size_downloaded_b: i64,
    /// `sizeUploadedB`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub size_uploaded_b: i64,
    /// `estimatedDownloadSizeB`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub estimated_download_size_b: i64,
    /// `estimatedUploadSizeB`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub estimated_upload_size_b: i64,
    /// `lastTransitionTime`, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

/// The status of one phase (`crv1alpha1.Phase`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Phase {
    /// `name`: the blueprint phase name.
    #[serde(default, deserialize_with = "nd")]
    pub name: String,
    /// `state`.
    #[serde(default)]
    pub state: State,
    /// `output`: the phase's outputs (`.Phases.<name>.Output`).
    #[serde(
        default,
        deserialize_with = "nd",
        serialize_with = "sorted_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub output: BTreeMap<String, Value>,
    /// `progress`: always printed.
    #[serde(default, deserialize_with = "nd")]
    pub progress: PhaseProgress,
}

/// Progress of one phase (`crv1alpha1.PhaseProgress`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseProgress {
    /// `progressPercent`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub progress_percent: String,
    /// `sizeDownloadedB`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub size_downloaded_b: i64,
    /// `sizeUploadedB`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub size_uploaded_b: i64,
    /// `estimatedDownloadSizeB`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub estimated_download_size_b: i64,
    /// `estimatedUploadSizeB`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub estimated_upload_size_b: i64,
    /// Estimated seconds left. The JSON key is upstream's misspelt `estinatedTimeSeconds`.
    #[serde(rename = "estinatedTimeSeconds", default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub estimated_time_seconds: i64,
    /// `lastTransitionTime`, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}
