//! Profile: where artifacts are stored and the credentials to reach them.

use super::serde_util::nd;
use super::{ObjectMeta, ObjectReference, resource};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A Profile (`crv1alpha1.Profile`). There is no `spec`: `location`, `credential` and
/// `skipSSLVerify` sit next to `metadata`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// `kind`: `Profile`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// `apiVersion`: `cr.kanister.io/v1alpha1`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `metadata`.
    #[serde(default, deserialize_with = "nd")]
    pub metadata: ObjectMeta,
    /// `location`.
    #[serde(default, deserialize_with = "nd")]
    pub location: Location,
    /// `credential`.
    #[serde(default, deserialize_with = "nd")]
    pub credential: Credential,
    /// `skipSSLVerify`: always printed.
    #[serde(rename = "skipSSLVerify", default, deserialize_with = "nd")]
    pub skip_ssl_verify: bool,
}

resource!(Profile, "Profile", "profiles", "profile");

/// Location types upstream knows (`LocationType`); the field is a free string.
pub mod location_type {
    /// Google Cloud Storage.
    pub const GCS: &str = "gcs";
    /// AWS S3 or any S3-compatible server.
    pub const S3_COMPLIANT: &str = "s3Compliant";
    /// Azure Blob Storage.
    pub const AZURE: &str = "azure";
    /// A kopia repository server (rejected by profile validation).
    pub const KOPIA: &str = "kopia";
}

/// Credential types upstream knows (`CredentialType`); the field is a free string.
pub mod credential_type {
    /// Two keys of a Secret (`keyPair`).
    pub const KEY_PAIR: &str = "keyPair";
    /// A typed Secret (`secrets.kanister.io/aws`, …).
    pub const SECRET: &str = "secret";
    /// Kopia repository server credentials.
    pub const KOPIA: &str = "kopia";
}

/// `location` of a Profile (`crv1alpha1.Location`); every field always prints.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// `type`: see [`location_type`].
    #[serde(rename = "type", default, deserialize_with = "nd")]
    pub location_type: String,
    /// `bucket`.
    #[serde(default, deserialize_with = "nd")]
    pub bucket: String,
    /// `endpoint`.
    #[serde(default, deserialize_with = "nd")]
    pub endpoint: String,
    /// `prefix`.
    #[serde(default, deserialize_with = "nd")]
    pub prefix: String,
    /// `region`.
    #[serde(default, deserialize_with = "nd")]
    pub region: String,
}

/// `credential` of a Profile (`crv1alpha1.Credential`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    /// `type`: see [`credential_type`].
    #[serde(rename = "type", default, deserialize_with = "nd")]
    pub credential_type: String,
    /// `keyPair`, for type `keyPair`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_pair: Option<KeyPair>,
    /// `secret`, for type `secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ObjectReference>,
    /// `kopiaServerSecret`, for type `kopia`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kopia_server_secret: Option<KopiaServerSecret>,
}

/// Two keys of a Secret holding an id and a secret (`crv1alpha1.KeyPair`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyPair {
    /// `idField`: key of the access key id (GCS: project id; Azure: account).
    #[serde(default, deserialize_with = "nd")]
    pub id_field: String,
    /// `secretField`: key of the secret (GCS: service-account JSON; Azure: key).
    #[serde(default, deserialize_with = "nd")]
    pub secret_field: String,
    /// `secret`: the Secret.
    #[serde(default, deserialize_with = "nd")]
    pub secret: ObjectReference,
}

/// Credentials for a kopia repository server (`crv1alpha1.KopiaServerSecret`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KopiaServerSecret {
    /// `username`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// `hostname`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// `userPassphrase`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_passphrase: Option<KopiaServerSecretRef>,
    /// `tlsCert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<KopiaServerSecretRef>,
    /// `connectOptions`, e.g. `dataStoreGeneralMetadataCacheSize`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "BTreeMap::is_empty")]
    pub connect_options: BTreeMap<String, i64>,
}

/// A key of a Secret (`crv1alpha1.KopiaServerSecretRef`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KopiaServerSecretRef {
    /// `key` within the Secret.
    #[serde(default, deserialize_with = "nd")]
    pub key: String,
    /// `secret`: always printed (`null` when `None`).
    #[serde(default)]
    pub secret: Option<ObjectReference>,
}
