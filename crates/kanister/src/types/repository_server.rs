//! RepositoryServer (0.119.0 and earlier; removed upstream after it): a kopia repository
//! server run by a separate controller.

use super::serde_util::{is_zero, nd, opt_str};
use super::{ObjectMeta, resource};
use serde::{Deserialize, Serialize};

/// A RepositoryServer (`crv1alpha1.RepositoryServer`). `spec` and `status` always print.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryServer {
    /// `kind`: `RepositoryServer`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// `apiVersion`: `cr.kanister.io/v1alpha1`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `metadata`.
    #[serde(default, deserialize_with = "nd")]
    pub metadata: ObjectMeta,
    /// `spec`.
    #[serde(default, deserialize_with = "nd")]
    pub spec: RepositoryServerSpec,
    /// `status` (a status subresource).
    #[serde(default, deserialize_with = "nd")]
    pub status: RepositoryServerStatus,
}

resource!(RepositoryServer, "RepositoryServer", "repositoryservers", "repositoryserver");

/// `spec` of a RepositoryServer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryServerSpec {
    /// `storage`: where the repository is.
    #[serde(default, deserialize_with = "nd")]
    pub storage: Storage,
    /// `repository`: how to connect to it.
    #[serde(default, deserialize_with = "nd")]
    pub repository: Repository,
    /// `server`: the secrets the server needs.
    #[serde(default, deserialize_with = "nd")]
    pub server: Server,
}

/// A Kubernetes `corev1.SecretReference`; both fields omitempty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretReference {
    /// `name`.
    #[serde(default, deserialize_with = "opt_str", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `namespace`.
    #[serde(default, deserialize_with = "opt_str", skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `spec.storage`: the location Secret and its credentials Secret.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Storage {
    /// `secretRef`: a `secrets.kanister.io/storage-location` Secret. Immutable.
    #[serde(default, deserialize_with = "nd")]
    pub secret_ref: SecretReference,
    /// `credentialSecretRef`: credentials for that location.
    #[serde(default, deserialize_with = "nd")]
    pub credential_secret_ref: SecretReference,
}

/// `spec.repository`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Repository {
    /// `rootPath`: sub-path of the location's prefix. Immutable.
    #[serde(default, deserialize_with = "nd")]
    pub root_path: String,
    /// `username` overriding the default when connecting.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// `hostname` overriding the default when connecting.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// `passwordSecretRef`: the repository password Secret.
    #[serde(default, deserialize_with = "nd")]
    pub password_secret_ref: SecretReference,
    /// `cacheSizeSettings`: always printed.
    #[serde(default, deserialize_with = "nd")]
    pub cache_size_settings: CacheSizeSettings,
    /// `configuration`: always printed.
    #[serde(default, deserialize_with = "nd")]
    pub configuration: Configuration,
}

/// `spec.repository.cacheSizeSettings`, in MB.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheSizeSettings {
    /// `metadata` cache size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<i64>,
    /// `content` cache size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<i64>,
}

/// `spec.repository.configuration`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Configuration {
    /// `cacheDirectory`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub cache_directory: String,
    /// `logDirectory`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub log_directory: String,
    /// `configFilePath`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub config_file_path: String,
}

/// `spec.server`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Server {
    /// `userAccess`.
    #[serde(default, deserialize_with = "nd")]
    pub user_access: UserAccess,
    /// `adminSecretRef`: server admin username and password. Immutable.
    #[serde(default, deserialize_with = "nd")]
    pub admin_secret_ref: SecretReference,
    /// `tlsSecretRef`: the server's TLS certificate. Immutable.
    #[serde(default, deserialize_with = "nd")]
    pub tls_secret_ref: SecretReference,
}

/// `spec.server.userAccess`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserAccess {
    /// `userAccessSecretRef`: hostname → passphrase for client users.
    #[serde(default, deserialize_with = "nd")]
    pub user_access_secret_ref: SecretReference,
    /// `username` of client users.
    #[serde(default, deserialize_with = "nd")]
    pub username: String,
}

/// `status` of a RepositoryServer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryServerStatus {
    /// `conditions` (`ServerSetup`, `RepositoryConnected`, …).
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// `serverInfo`: always printed.
    #[serde(default, deserialize_with = "nd")]
    pub server_info: ServerInfo,
    /// `progress`: `Ready`, `Failed` or `Pending`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub progress: String,
}

/// `status.serverInfo`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    /// `podName`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub pod_name: String,
    /// `serviceName`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub service_name: String,
}

/// A Kubernetes `metav1.Condition`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `type`.
    #[serde(rename = "type", default, deserialize_with = "nd")]
    pub condition_type: String,
    /// `status`: `True`, `False` or `Unknown`.
    #[serde(default, deserialize_with = "nd")]
    pub status: String,
    /// `observedGeneration`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub observed_generation: i64,
    /// `lastTransitionTime`, RFC 3339; printed as `null` when unset.
    #[serde(default, deserialize_with = "opt_str")]
    pub last_transition_time: Option<String>,
    /// `reason`.
    #[serde(default, deserialize_with = "nd")]
    pub reason: String,
    /// `message`.
    #[serde(default, deserialize_with = "nd")]
    pub message: String,
}

/// Values of [`RepositoryServerStatus::progress`].
pub mod repository_server_progress {
    /// The server is up.
    pub const READY: &str = "Ready";
    /// The server failed.
    pub const FAILED: &str = "Failed";
    /// Reconciling.
    pub const PENDING: &str = "Pending";
}
