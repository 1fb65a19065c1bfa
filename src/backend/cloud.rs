//! Building S3, GCS and Azure stores from a [`CloudSpec`]: endpoint, region, TLS and
//! credential handling in one place.
//!
//! Credentials come from the spec (a Kanister profile resolves them) or, when the spec says
//! [`Credentials::Environment`], from the provider's standard environment variables. A cloud
//! metadata endpoint (instance credentials) is contacted only under
//! [`Credentials::Instance`]; otherwise a spec without usable credentials is an error before
//! any request is made. Secrets live in [`Secret`], whose `Debug` prints nothing, and are
//! never formatted into a message.

use super::object::{ObjectBackend, Transfer};
use crate::error::{Error, ErrorKind, Result};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::{ClientOptions, ObjectStore};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

/// Where credential chains look for a metadata service unless instance credentials were asked
/// for: a closed local port, so a fall-through fails at once instead of asking the cloud.
const NO_METADATA: &str = "http://127.0.0.1:1";

/// A secret string: `Debug` shows only that it is there.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Which object store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Amazon S3 or an S3-compatible server (MinIO, Ceph, …).
    S3,
    /// Google Cloud Storage.
    Gcs,
    /// Azure Blob Storage.
    Azure,
}

impl Provider {
    fn scheme(self) -> &'static str {
        match self {
            Provider::S3 => "s3",
            Provider::Gcs => "gs",
            Provider::Azure => "az",
        }
    }
}

/// How to authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// S3 access key pair (and an optional session token).
    S3Keys {
        /// Access key id.
        id: String,
        /// Secret access key.
        secret: Secret,
        /// Session token of temporary credentials.
        token: Option<Secret>,
    },
    /// A GCS service-account key (the JSON document).
    GcsServiceAccount(Secret),
    /// Azure storage account and shared key.
    AzureKey {
        /// Storage account name.
        account: String,
        /// Account key (base64).
        key: Secret,
    },
    /// The provider's standard environment variables (`AWS_*`, `GOOGLE_*`, `AZURE_*`).
    Environment,
    /// Instance / workload credentials from the cloud's metadata endpoint (explicit opt-in).
    Instance,
}

/// Where a repository lives in an object store.
#[derive(Debug, Clone)]
pub struct CloudSpec {
    /// Which store.
    pub provider: Provider,
    /// Bucket (S3, GCS) or container (Azure).
    pub bucket: String,
    /// Prefix inside the bucket: the repository root.
    pub prefix: String,
    /// Endpoint URL (S3-compatible servers, emulators, sovereign clouds).
    pub endpoint: Option<String>,
    /// Region (S3).
    pub region: Option<String>,
    /// Accept any TLS certificate (the profile's `SkipSSLVerify`).
    pub skip_tls_verify: bool,
    /// Extra trusted CA certificate(s), PEM.
    pub ca_file: Option<PathBuf>,
    /// Authentication.
    pub credentials: Credentials,
    /// Retries, timeouts, multipart.
    pub transfer: Transfer,
}

impl CloudSpec {
    /// A spec with defaults: environment credentials, `Transfer::default()`.
    pub fn new(provider: Provider, bucket: &str, prefix: &str) -> CloudSpec {
        CloudSpec {
            provider,
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            endpoint: None,
            region: None,
            skip_tls_verify: false,
            ca_file: std::env::var_os("KANDO_CA_FILE").map(PathBuf::from),
            credentials: Credentials::Environment,
            transfer: Transfer::default(),
        }
    }

    /// A location from a URL: `s3://bucket/prefix`, `gs://bucket/prefix` or
    /// `az://container/prefix`, with credentials (and an endpoint: `AWS_ENDPOINT`,
    /// `GOOGLE_BASE_URL`, `AZURE_STORAGE_ENDPOINT`) from the standard environment variables.
    pub fn from_url(url: &str) -> Result<CloudSpec> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| Error::invalid(format!("'{url}' is not a URL")))?;
        let provider = match scheme.to_ascii_lowercase().as_str() {
            "s3" => Provider::S3,
            "gs" | "gcs" => Provider::Gcs,
            "az" | "azure" => Provider::Azure,
            _ => {
                return Err(Error::invalid(format!(
                    "unsupported repository URL scheme '{scheme}://' (expected s3://, gs:// or az://, or a directory)"
                )));
            }
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::invalid(format!("'{url}' names no bucket")));
        }
        let mut spec = CloudSpec::new(provider, bucket, prefix);
        let endpoint_vars: &[&str] = match provider {
            Provider::S3 => &["AWS_ENDPOINT", "AWS_ENDPOINT_URL"],
            Provider::Gcs => &["GOOGLE_BASE_URL"],
            Provider::Azure => &["AZURE_STORAGE_ENDPOINT", "AZURE_ENDPOINT"],
        };
        spec.endpoint = endpoint_vars.iter().find_map(|v| std::env::var(v).ok()).filter(|e| !e.is_empty());
        spec.region = std::env::var("AWS_REGION").or_else(|_| std::env::var("AWS_DEFAULT_REGION")).ok();
        spec.transfer = Transfer::from_env()?;
        Ok(spec)
    }

    /// `s3://bucket/prefix` (`gs://`, `az://` likewise), plus the endpoint if any: no secrets.
    pub fn location(&self) -> String {
        let p = self.prefix.trim_matches('/');
        let mut s = format!("{}://{}", self.provider.scheme(), self.bucket);
        if !p.is_empty() {
            s.push('/');
            s.push_str(p);
        }
        if let Some(e) = &self.endpoint {
            s.push_str(&format!(" at {e}"));
        }
        s
    }

    /// Open the store (no request is made until the first operation).
    pub fn open(&self) -> Result<ObjectBackend> {
        if self.bucket.is_empty() {
            return Err(Error::invalid(format!("{} location needs a bucket", self.provider.scheme())));
        }
        let store: Arc<dyn ObjectStore> = match self.provider {
            Provider::S3 => Arc::new(self.s3()?.build().map_err(|e| self.build_err(e))?),
            Provider::Gcs => Arc::new(self.gcs()?.build().map_err(|e| self.build_err(e))?),
            Provider::Azure => Arc::new(self.azure()?.build().map_err(|e| self.build_err(e))?),
        };
        Ok(ObjectBackend::new(store, &self.prefix, self.location(), self.transfer))
    }

    fn build_err(&self, e: object_store::Error) -> Error {
        Error::invalid(format!("cannot configure {}: {e}", self.location()))
    }

    fn endpoint_url(&self) -> Option<String> {
        let e = self.endpoint.as_deref()?.trim().trim_end_matches('/');
        if e.is_empty() {
            None
        } else if e.contains("://") {
            Some(e.to_string())
        } else {
            Some(format!("https://{e}"))
        }
    }

    fn client_options(&self) -> Result<ClientOptions> {
        let t = &self.transfer;
        let mut o = ClientOptions::new()
            .with_timeout(t.request_timeout)
            .with_connect_timeout(t.connect_timeout)
            .with_allow_invalid_certificates(self.skip_tls_verify);
        let env_http = self.credentials == Credentials::Environment
            && ["AWS_ALLOW_HTTP", "AZURE_ALLOW_HTTP", "GOOGLE_ALLOW_HTTP"]
                .iter()
                .any(|v| std::env::var(v).is_ok_and(|x| x == "true"));
        if env_http || self.endpoint_url().is_some_and(|e| e.starts_with("http://")) {
            o = o.with_allow_http(true);
        }
        if let Some(f) = &self.ca_file {
            let pem = std::fs::read(f).map_err(|e| Error::io(format!("reading CA certificate {}", f.display()), e))?;
            let cert = object_store::Certificate::from_pem(&pem)
                .map_err(|e| Error::invalid(format!("{} is not a PEM certificate: {e}", f.display())))?;
            o = o.with_root_certificate(cert);
        }
        Ok(o)
    }

    /// One of `sets` (variables that must all be set together) is complete in the environment.
    fn require_env(&self, sets: &[&[&str]]) -> Result<()> {
        let set = |n: &&str| std::env::var_os(n).is_some_and(|v| !v.is_empty() && v != "false");
        if sets.iter().any(|group| group.iter().all(set)) {
            return Ok(());
        }
        let names: Vec<String> = sets.iter().map(|g| g.join(" + ")).collect();
        Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "no credentials for {}: the profile has none and none of {} is set \
                 (instance credentials from the metadata endpoint are used only when asked for: \
                 Credential.Type \"instance\" in the profile, or KANDO_INSTANCE_CREDENTIALS=1)",
                self.location(),
                names.join(", ")
            ),
        ))
    }

    fn env_creds(&self) -> bool {
        matches!(self.credentials, Credentials::Environment | Credentials::Instance)
    }

    /// Environment credentials: one of `names` must be set, unless instance credentials
    /// (metadata endpoint) were asked for.
    fn check_env_credentials(&self, sets: &[&[&str]]) -> Result<()> {
        if self.instance_allowed() { Ok(()) } else { self.require_env(sets) }
    }

    fn instance_allowed(&self) -> bool {
        self.credentials == Credentials::Instance || std::env::var("KANDO_INSTANCE_CREDENTIALS").is_ok_and(|v| v == "1")
    }

    fn mismatch(&self) -> Error {
        Error::invalid(format!("credentials of the wrong kind for {}", self.location()))
    }

    fn s3(&self) -> Result<AmazonS3Builder> {
        let mut b = if self.env_creds() {
            self.check_env_credentials(&[
                &["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
                &["AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"],
            ])?;
            AmazonS3Builder::from_env()
        } else {
            // Explicit credentials: take only encryption settings from the environment, so a
            // stray AWS_SESSION_TOKEN or endpoint cannot mix with the profile's.
            let mut b = AmazonS3Builder::new();
            for (k, v) in std::env::vars() {
                if matches!(
                    k.as_str(),
                    "AWS_SERVER_SIDE_ENCRYPTION"
                        | "AWS_SSE_KMS_KEY_ID"
                        | "AWS_SSE_BUCKET_KEY_ENABLED"
                        | "AWS_SSE_CUSTOMER_KEY_BASE64"
                ) && let Ok(key) = AmazonS3ConfigKey::from_str(&k.to_ascii_lowercase())
                {
                    b = b.with_config(key, v);
                }
            }
            b
        };
        match &self.credentials {
            Credentials::S3Keys { id, secret, token } => {
                b = b.with_access_key_id(id).with_secret_access_key(&secret.0);
                if let Some(t) = token {
                    b = b.with_token(&t.0);
                }
            }
            Credentials::Environment | Credentials::Instance => {}
            _ => return Err(self.mismatch()),
        }
        b = b
            .with_bucket_name(&self.bucket)
            .with_retry(self.transfer.retry_config())
            .with_client_options(self.client_options()?);
        if !self.instance_allowed() {
            // Backstop: should a credential chain still fall through, it finds no metadata service.
            b = b.with_metadata_endpoint(NO_METADATA);
        }
        if let Some(e) = self.endpoint_url() {
            b = b.with_endpoint(e);
        }
        match self.region.as_deref().filter(|r| !r.is_empty()) {
            Some(r) => b = b.with_region(r),
            None if self.endpoint.is_some() && b.get_config_value(&AmazonS3ConfigKey::Region).is_none() => {
                b = b.with_region("us-east-1")
            }
            None => {}
        }
        Ok(b)
    }

    fn gcs(&self) -> Result<GoogleCloudStorageBuilder> {
        let mut b = match &self.credentials {
            Credentials::GcsServiceAccount(json) => GoogleCloudStorageBuilder::new().with_service_account_key(&json.0),
            Credentials::Environment | Credentials::Instance => {
                self.check_env_credentials(&[
                    &["GOOGLE_SERVICE_ACCOUNT"],
                    &["GOOGLE_SERVICE_ACCOUNT_PATH"],
                    &["GOOGLE_SERVICE_ACCOUNT_KEY"],
                    &["GOOGLE_APPLICATION_CREDENTIALS"],
                ])?;
                GoogleCloudStorageBuilder::from_env()
            }
            _ => return Err(self.mismatch()),
        };
        b = b
            .with_bucket_name(&self.bucket)
            .with_retry(self.transfer.retry_config())
            .with_client_options(self.client_options()?);
        if let Some(e) = self.endpoint_url() {
            b = b.with_config(GoogleConfigKey::BaseUrl, e);
        }
        Ok(b)
    }

    fn azure(&self) -> Result<MicrosoftAzureBuilder> {
        let mut b = match &self.credentials {
            Credentials::AzureKey { account, key } => {
                MicrosoftAzureBuilder::new().with_account(account).with_access_key(&key.0)
            }
            Credentials::Environment | Credentials::Instance => {
                self.check_env_credentials(&[
                    &["AZURE_STORAGE_ACCOUNT_KEY"],
                    &["AZURE_STORAGE_ACCESS_KEY"],
                    &["AZURE_STORAGE_SAS_KEY"],
                    &["AZURE_STORAGE_TOKEN"],
                    &["AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET"],
                    &["AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE"],
                    &["AZURE_STORAGE_USE_EMULATOR"],
                ])?;
                MicrosoftAzureBuilder::from_env()
            }
            _ => return Err(self.mismatch()),
        };
        b = b
            .with_container_name(&self.bucket)
            .with_retry(self.transfer.retry_config())
            .with_client_options(self.client_options()?);
        if !self.instance_allowed() {
            b = b.with_msi_endpoint(NO_METADATA);
        }
        if let Some(e) = self.endpoint_url() {
            b = b.with_endpoint(e);
        }
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_names_bucket_prefix_endpoint_never_secrets() {
        let mut s = CloudSpec::new(Provider::S3, "bkt", "/team/repo/");
        s.endpoint = Some("http://127.0.0.1:9000".into());
        s.credentials = Credentials::S3Keys { id: "AK".into(), secret: Secret("TOPSECRET".into()), token: None };
        assert_eq!(s.location(), "s3://bkt/team/repo at http://127.0.0.1:9000");
        assert!(!format!("{s:?}").contains("TOPSECRET"));
        s.open().unwrap();
    }

    #[test]
    fn missing_credentials_is_an_error_not_a_metadata_lookup() {
        // The test process has no GOOGLE_* variables; a spec without credentials must fail
        // before any request rather than ask a metadata endpoint.
        if std::env::vars().any(|(k, _)| k.starts_with("GOOGLE_") || k == "KANDO_INSTANCE_CREDENTIALS") {
            return;
        }
        let e = CloudSpec::new(Provider::Gcs, "b", "").open().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("no credentials"), "{e}");
        let e = CloudSpec::new(Provider::S3, "", "").open().unwrap_err();
        assert!(e.to_string().contains("needs a bucket"), "{e}");
    }
}
