//! The `cr.kanister.io/v1alpha1` API types, wire-compatible with upstream Kanister.
//!
//! Every struct mirrors the Go type of the same name in upstream's
//! `pkg/apis/cr/v1alpha1` (0.119.0): the same JSON keys (including the misspelt
//! `estinatedTimeSeconds`), the same field order, and the same `omitempty` behaviour, so
//! that an object decoded here and encoded again prints what the Go controller prints.
//! The conventions, applied everywhere:
//!
//! * a Go field **with** `omitempty` is a plain Rust value skipped when zero (`""`, `0`,
//!   empty map or list) — except `ObjectReference::namespace` and the [`ObjectMeta`] fields,
//!   which are `Option`s (the Kubernetes convention) where `""` decodes to `None`;
//! * a Go map **without** `omitempty` (`preferredVersion`'s neighbours `podLabels`,
//!   `podAnnotations`) is an `Option`: `None` prints `null`, as Go prints a nil map;
//!   `BlueprintPhase::args` prints `null` when empty;
//! * a Go struct-valued field always prints (Go's `omitempty` does not apply to structs),
//!   e.g. `status.error`, `status.progress`, `deferPhase` of an action status;
//! * `null` decodes to the zero value, like Go; unknown fields are ignored;
//! * `map[string]interface{}` values (`args`, `output`, `podOverride`) print sorted keys.
//!
//! Blueprint and Profile have no `spec` wrapper: their fields sit next to `metadata`.
//! Timestamps are kept as the RFC 3339 strings the API server sends.
//!
//! This module only describes data; checking it is [`crate::validate`]'s job.

mod actionset;
mod blueprint;
mod profile;
mod repository_server;
pub(crate) mod serde_util;

pub use actionset::*;
pub use blueprint::*;
pub use profile::*;
pub use repository_server::*;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_util::{nd, opt_map_empty, opt_str, opt_vec_empty, opt_zero};
use std::collections::BTreeMap;

/// The API group, `cr.kanister.io`.
pub const GROUP: &str = "cr.kanister.io";
/// The API version within the group, `v1alpha1`.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of every Kanister object, `cr.kanister.io/v1alpha1`.
pub const API_VERSION: &str = "cr.kanister.io/v1alpha1";

/// A Kanister custom resource kind and its names in the API.
pub trait Resource {
    /// `kind`, e.g. `ActionSet`.
    const KIND: &'static str;
    /// `kind` of the list, e.g. `ActionSetList`.
    const LIST_KIND: &'static str;
    /// Plural resource name, e.g. `actionsets`.
    const PLURAL: &'static str;
    /// Singular resource name, e.g. `actionset`.
    const SINGULAR: &'static str;
}

macro_rules! resource {
    ($t:ty, $kind:literal, $plural:literal, $singular:literal) => {
        impl $crate::types::Resource for $t {
            const KIND: &'static str = $kind;
            const LIST_KIND: &'static str = concat!($kind, "List");
            const PLURAL: &'static str = $plural;
            const SINGULAR: &'static str = $singular;
        }

        impl $t {
            /// An empty object with `kind` and `apiVersion` set.
            pub fn new() -> Self {
                Self {
                    kind: <$t as $crate::types::Resource>::KIND.to_string(),
                    api_version: $crate::types::API_VERSION.to_string(),
                    ..Self::default()
                }
            }
        }
    };
}
pub(crate) use resource;

/// Kubernetes `metav1.ObjectMeta`, the fields a client reads or sets.
///
/// Strings are `None` when empty. `creationTimestamp` always prints (as `null` when
/// unset), exactly like Go's `metav1.Time`. `ownerReferences` and `managedFields` are kept
/// as raw JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// `name`.
    #[serde(default, deserialize_with = "opt_str", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `generateName`: prefix for a server-generated name.
    #[serde(default, deserialize_with = "opt_str", skip_serializing_if = "Option::is_none")]
    pub generate_name: Option<String>,
    /// `namespace`.
    #[serde(default, deserialize_with = "opt_str", skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `selfLink` (deprecated, read-only).
    #[serde(default, deserialize_with = "opt_str", skip_serializing_if = "Option::is_none")]
    pub self_link: Option<String>,
    /// `uid` (read-only).
    #[serde(default, deserialize_with = "opt_str", skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// `resourceVersion`, for optimistic concurrency.
    #[serde(default, deserialize_with = "opt_str", skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// `generation` (read-only).
    #[serde(default, skip_serializing_if = "opt_zero")]
    pub generation: Option<i64>,
    /// `creationTimestamp`, RFC 3339; printed as `null` when unset, as Go does.
    #[serde(default, deserialize_with = "opt_str")]
    pub creation_timestamp: Option<String>,
    /// `deletionTimestamp`, RFC 3339.
    #[serde(default, deserialize_with = "opt_str", skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
    /// `deletionGracePeriodSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_grace_period_seconds: Option<i64>,
    /// `labels`.
    #[serde(default, skip_serializing_if = "opt_map_empty")]
    pub labels: Option<BTreeMap<String, String>>,
    /// `annotations`.
    #[serde(default, skip_serializing_if = "opt_map_empty")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// `ownerReferences`, raw.
    #[serde(default, skip_serializing_if = "opt_vec_empty")]
    pub owner_references: Option<Vec<Value>>,
    /// `finalizers`.
    #[serde(default, skip_serializing_if = "opt_vec_empty")]
    pub finalizers: Option<Vec<String>>,
    /// `managedFields`, raw.
    #[serde(default, skip_serializing_if = "opt_vec_empty")]
    pub managed_fields: Option<Vec<Value>>,
}

/// A reference to a Kubernetes object (`crv1alpha1.ObjectReference`).
///
/// Every field prints, even empty, except `namespace` (the only `omitempty` one).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    /// `apiVersion` of the referent (`v1`, `apps/v1`, or just the version with `group`).
    #[serde(default, deserialize_with = "nd")]
    pub api_version: String,
    /// `group` of the referent.
    #[serde(default, deserialize_with = "nd")]
    pub group: String,
    /// `resource`, the plural resource name of the referent.
    #[serde(default, deserialize_with = "nd")]
    pub resource: String,
    /// `kind` of the referent.
    #[serde(default, deserialize_with = "nd")]
    pub kind: String,
    /// `name` of the referent.
    #[serde(default, deserialize_with = "nd")]
    pub name: String,
    /// `namespace` of the referent; `""` decodes to `None`.
    #[serde(default, deserialize_with = "opt_str", skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// The state of an ActionSet, an action's phase or a deferPhase (Go `State`, a string).
///
/// [`State::Unset`] is Go's zero value `""` (e.g. the `deferPhase` of an action that has
/// none); any other unknown string is kept in [`State::Unknown`] so that it round-trips and
/// validation can reject it with upstream's message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum State {
    /// `""`.
    #[default]
    Unset,
    /// `pending`: not started yet.
    Pending,
    /// `running`.
    Running,
    /// `failed`.
    Failed,
    /// `complete`: finished successfully.
    Complete,
    /// Any other string.
    Unknown(String),
}

impl State {
    /// The string on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            State::Unset => "",
            State::Pending => "pending",
            State::Running => "running",
            State::Failed => "failed",
            State::Complete => "complete",
            State::Unknown(s) => s,
        }
    }

    /// One of the four states upstream accepts.
    pub fn is_known(&self) -> bool {
        matches!(self, State::Pending | State::Running | State::Failed | State::Complete)
    }
}

impl From<&str> for State {
    fn from(s: &str) -> State {
        match s {
            "" => State::Unset,
            "pending" => State::Pending,
            "running" => State::Running,
            "failed" => State::Failed,
            "complete" => State::Complete,
            other => State::Unknown(other.to_string()),
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for State {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for State {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<State, D::Error> {
        Ok(Option::<String>::deserialize(d)?.as_deref().unwrap_or("").into())
    }
}

/// An artifact: key/value pairs and/or a kopia snapshot (`crv1alpha1.Artifact`).
///
/// In a Blueprint's `outputArtifacts` the values are templates.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// `keyValue`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "BTreeMap::is_empty")]
    pub key_value: BTreeMap<String, String>,
    /// `kopiaSnapshot`: the JSON of a kopia SnapshotInfo, as a string.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub kopia_snapshot: String,
}
