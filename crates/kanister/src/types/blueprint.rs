//! Blueprint: named actions made of phases, each calling a Kanister function.

use super::serde_util::{nd, sorted_map_or_null};
use super::{Artifact, ObjectMeta, ObjectReference, resource};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A Blueprint (`crv1alpha1.Blueprint`). There is no `spec`: `actions` sits next to
/// `metadata`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blueprint {
    /// `kind`: `Blueprint`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// `apiVersion`: `cr.kanister.io/v1alpha1`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `metadata`.
    #[serde(default, deserialize_with = "nd")]
    pub metadata: ObjectMeta,
    /// `actions`: action name → action.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "BTreeMap::is_empty")]
    pub actions: BTreeMap<String, BlueprintAction>,
}

resource!(Blueprint, "Blueprint", "blueprints", "blueprint");

impl Blueprint {
    /// Every phase of every action, with its action name: the phases in order, then the
    /// deferPhase.
    pub fn all_phases(&self) -> impl Iterator<Item = (&str, &BlueprintPhase)> {
        self.actions.iter().flat_map(|(name, a)| a.all_phases().map(move |p| (name.as_str(), p)))
    }
}

/// One action of a Blueprint (`crv1alpha1.BlueprintAction`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlueprintAction {
    /// `name`: informational.
    #[serde(default, deserialize_with = "nd")]
    pub name: String,
    /// `kind`: the kind of object the action is for; informational, not enforced.
    #[serde(default, deserialize_with = "nd")]
    pub kind: String,
    /// `configMapNames`: documentation only.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "Vec::is_empty")]
    pub config_map_names: Vec<String>,
    /// `secretNames`: documentation only.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "Vec::is_empty")]
    pub secret_names: Vec<String>,
    /// `inputArtifactNames`: documentation only.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "Vec::is_empty")]
    pub input_artifact_names: Vec<String>,
    /// `outputArtifacts`: templates rendered after all phases succeed.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "BTreeMap::is_empty")]
    pub output_artifacts: BTreeMap<String, Artifact>,
    /// `phases`, run in order.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<BlueprintPhase>,
    /// `deferPhase`: runs after the phases, whether they succeeded or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defer_phase: Option<BlueprintPhase>,
}

impl BlueprintAction {
    /// The phases in order, then the deferPhase if any.
    pub fn all_phases(&self) -> impl Iterator<Item = &BlueprintPhase> {
        self.phases.iter().chain(self.defer_phase.as_ref())
    }
}

/// One phase: a function call (`crv1alpha1.BlueprintPhase`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlueprintPhase {
    /// `func`: the registered Kanister function name.
    #[serde(default, deserialize_with = "nd")]
    pub func: String,
    /// `name`: unique across the whole blueprint.
    #[serde(default, deserialize_with = "nd")]
    pub name: String,
    /// `objects`: references (templates) fetched before the phase; Secrets and ConfigMaps
    /// land in `.Phases.<name>.Secrets/.ConfigMaps`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "BTreeMap::is_empty")]
    pub objects: BTreeMap<String, ObjectReference>,
    /// `args`: the function's arguments (strings anywhere inside are templates). Always
    /// printed; `null` when empty, as Go prints a nil map.
    #[serde(default, deserialize_with = "nd", serialize_with = "sorted_map_or_null")]
    pub args: BTreeMap<String, Value>,
}
