//! Turning a profile's `Credential` into [`Credentials`] for one provider, exactly as
//! Kanister resolves them:
//!
//! * `keyPair`: `KeyPair.ID` / `KeyPair.Secret` are the S3 access key pair, the GCS project
//!   id and service-account JSON, or the Azure storage account and key;
//! * `secret`: `Secret` is the referenced corev1 Secret (base64 `data`), typed
//!   `secrets.kanister.io/aws` (`aws_access_key_id`, `aws_secret_access_key`, optional
//!   `role`), `secrets.kanister.io/gcp` (`gcp_project_id`, `service-account.json`) or
//!   `secrets.kanister.io/azure` (`azure_storage_account_id`, `azure_storage_key`, optional
//!   `azure_storage_environment`);
//! * `instance` (our addition): use the cloud's instance or workload credentials;
//! * none: the provider's standard environment variables (standalone use).
//!
//! No secret value is ever formatted into an error here; messages name keys only.

use crate::backend::cloud::{Credentials, Provider, Secret};
use crate::error::{Error, ErrorKind, Result};
use base64::Engine;
use serde_json::Value;
use std::collections::BTreeMap;

/// What a credential resolves to: the credentials, and an endpoint the secret implies
/// (the Azure environment).
pub(super) struct Resolved {
    pub credentials: Credentials,
    pub endpoint: Option<String>,
}

/// Resolve `cred` (already lower-cased keys) for `provider`.
pub(super) fn resolve(
    provider: Provider,
    kind: &str,
    key_pair: Option<(&str, &str)>,
    secret: Option<&Value>,
) -> Result<Resolved> {
    let plain = |credentials| Ok(Resolved { credentials, endpoint: None });
    match kind.to_ascii_lowercase().as_str() {
        "" if key_pair.is_some_and(|(i, s)| !i.is_empty() || !s.is_empty()) => from_key_pair(provider, key_pair),
        "" => plain(Credentials::Environment),
        "keypair" => from_key_pair(provider, key_pair),
        "secret" => from_secret(provider, secret),
        "instance" => plain(Credentials::Instance),
        "kopia" => Err(Error::new(
            ErrorKind::Unsupported,
            "Credential.Type 'kopia' (Kopia repository server) is not supported; use keyPair or secret",
        )),
        other => {
            Err(Error::invalid(format!("unknown Credential.Type '{other}' (expected keyPair, secret or instance)")))
        }
    }
}

fn from_key_pair(provider: Provider, kp: Option<(&str, &str)>) -> Result<Resolved> {
    let (id, secret) = kp.unwrap_or(("", ""));
    if secret.is_empty() || (id.is_empty() && provider != Provider::Gcs) {
        return Err(Error::invalid(
            "Credential.Type keyPair needs both KeyPair.ID and KeyPair.Secret (the profile's secret was not resolved?)",
        ));
    }
    let credentials = match provider {
        Provider::S3 => Credentials::S3Keys { id: id.to_string(), secret: Secret(secret.to_string()), token: None },
        // ID is the project id; the service-account JSON names the project itself.
        Provider::Gcs => Credentials::GcsServiceAccount(Secret(secret.to_string())),
        Provider::Azure => Credentials::AzureKey { account: id.to_string(), key: Secret(secret.to_string()) },
    };
    Ok(Resolved { credentials, endpoint: None })
}

/// The Secret's data, decoded: `data` values are base64 (as `toJson` renders `[]byte`),
/// `stringData` values are plain.
fn secret_data(secret: &Value) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    if let Some(Value::Object(m)) = secret.get("data") {
        for (k, v) in m {
            let s = v.as_str().ok_or_else(|| Error::invalid(format!("Credential.Secret.data.{k} is not a string")))?;
            let raw = base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .map_err(|_| Error::invalid(format!("Credential.Secret.data.{k} is not base64")))?;
            let text = String::from_utf8(raw)
                .map_err(|_| Error::invalid(format!("Credential.Secret.data.{k} is not UTF-8 text")))?;
            out.insert(k.clone(), text);
        }
    }
    if let Some(Value::Object(m)) = secret.get("stringdata") {
        for (k, v) in m {
            if let Some(s) = v.as_str() {
                out.insert(k.clone(), s.to_string());
            }
        }
    }
    Ok(out)
}

fn need<'a>(data: &'a BTreeMap<String, String>, ty: &str, key: &str) -> Result<&'a str> {
    data.get(key)
        .map(|s| s.as_str())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::invalid(format!("Secret of type {ty} has no '{key}'")))
}

fn from_secret(provider: Provider, secret: Option<&Value>) -> Result<Resolved> {
    let secret = secret
        .filter(|s| s.is_object())
        .ok_or_else(|| Error::invalid("Credential.Type secret needs Credential.Secret (the Secret object)"))?;
    let ty = secret.get("type").and_then(|t| t.as_str()).unwrap_or("");
    let data = secret_data(secret)?;
    let wrong = || {
        Error::invalid(format!(
            "a Secret of type '{ty}' cannot authenticate to {}",
            match provider {
                Provider::S3 => "s3Compliant",
                Provider::Gcs => "gcs",
                Provider::Azure => "azure",
            }
        ))
    };
    match (provider, ty) {
        (Provider::S3, "secrets.kanister.io/aws") => {
            for k in data.keys() {
                if !matches!(k.as_str(), "aws_access_key_id" | "aws_secret_access_key" | "role") {
                    return Err(Error::invalid(format!("Secret of type {ty} has an unknown key '{k}'")));
                }
            }
            if data.get("role").is_some_and(|r| !r.is_empty()) {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    "assuming an IAM role from static keys (the Secret's 'role') is not supported; \
                     use IRSA (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE) with Credential.Type instance, \
                     or keys of the role's session",
                ));
            }
            let id = need(&data, ty, "aws_access_key_id")?;
            let key = need(&data, ty, "aws_secret_access_key")?;
            Ok(Resolved {
                credentials: Credentials::S3Keys { id: id.into(), secret: Secret(key.into()), token: None },
                endpoint: None,
            })
        }
        (Provider::Gcs, "secrets.kanister.io/gcp") => {
            let json = need(&data, ty, "service-account.json")?;
            Ok(Resolved { credentials: Credentials::GcsServiceAccount(Secret(json.into())), endpoint: None })
        }
        (Provider::Azure, "secrets.kanister.io/azure") => {
            if data.get("azure_federated_identity").is_some_and(|v| !v.is_empty()) {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    "azure_federated_identity is not supported; use Credential.Type instance with \
                     AZURE_FEDERATED_TOKEN_FILE, or a storage key",
                ));
            }
            let account = need(&data, ty, "azure_storage_account_id")?;
            let key = need(&data, ty, "azure_storage_key")?;
            let endpoint = match data.get("azure_storage_environment").map(|s| s.to_ascii_lowercase()) {
                None => None,
                Some(e) => Some(format!("https://{account}.{}", azure_suffix(&e)?)),
            };
            Ok(Resolved {
                credentials: Credentials::AzureKey { account: account.into(), key: Secret(key.into()) },
                endpoint,
            })
        }
        _ => Err(wrong()),
    }
}

/// Blob endpoint suffix of an Azure cloud (Kanister's `azure_storage_environment` names).
fn azure_suffix(env: &str) -> Result<&'static str> {
    Ok(match env {
        "" | "azurepubliccloud" | "azurecloud" => "blob.core.windows.net",
        "azureusgovernmentcloud" | "azureusgovernment" => "blob.core.usgovcloudapi.net",
        "azurechinacloud" => "blob.core.chinacloudapi.cn",
        "azuregermancloud" => "blob.core.cloudapi.de",
        other => return Err(Error::invalid(format!("unknown azure_storage_environment '{other}'"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn key_pairs() {
        let r = resolve(Provider::S3, "keyPair", Some(("AK", "SK")), None).unwrap();
        assert_eq!(r.credentials, Credentials::S3Keys { id: "AK".into(), secret: Secret("SK".into()), token: None });
        let r = resolve(Provider::Azure, "KEYPAIR", Some(("acct", "k==")), None).unwrap();
        assert!(matches!(r.credentials, Credentials::AzureKey { ref account, .. } if account == "acct"));
        let r = resolve(Provider::Gcs, "keyPair", Some(("proj", "{}")), None).unwrap();
        assert!(matches!(r.credentials, Credentials::GcsServiceAccount(_)));
        let e = resolve(Provider::S3, "keyPair", Some(("AK", "")), None).err().unwrap();
        assert!(e.to_string().contains("KeyPair.Secret"));
        assert_eq!(resolve(Provider::S3, "", None, None).unwrap().credentials, Credentials::Environment);
        assert_eq!(resolve(Provider::S3, "instance", None, None).unwrap().credentials, Credentials::Instance);
        assert!(resolve(Provider::S3, "kopia", None, None).is_err());
        assert!(resolve(Provider::S3, "bogus", None, None).is_err());
    }

    #[test]
    fn typed_secrets() {
        let aws = json!({"type": "secrets.kanister.io/aws",
            "data": {"aws_access_key_id": b64("AK"), "aws_secret_access_key": b64("TOPSECRET")}});
        let r = resolve(Provider::S3, "secret", None, Some(&aws)).unwrap();
        assert_eq!(
            r.credentials,
            Credentials::S3Keys { id: "AK".into(), secret: Secret("TOPSECRET".into()), token: None }
        );
        // Wrong provider, unknown key, role, bad base64: errors that never show the secret.
        let e = resolve(Provider::Gcs, "secret", None, Some(&aws)).err().unwrap();
        assert!(e.to_string().contains("cannot authenticate to gcs"), "{e}");
        let mut extra = aws.clone();
        extra["data"]["surprise"] = json!(b64("x"));
        assert!(resolve(Provider::S3, "secret", None, Some(&extra)).err().unwrap().to_string().contains("surprise"));
        let mut role = aws.clone();
        role["data"]["role"] = json!(b64("arn:aws:iam::1:role/r"));
        let e = resolve(Provider::S3, "secret", None, Some(&role)).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        let mut bad = aws.clone();
        bad["data"]["aws_secret_access_key"] = json!("TOPSECRET!!");
        let e = resolve(Provider::S3, "secret", None, Some(&bad)).err().unwrap();
        assert!(!e.to_string().contains("TOPSECRET"), "{e}");

        let az = json!({"type": "secrets.kanister.io/azure", "data": {"azure_storage_account_id": b64("acct"),
            "azure_storage_key": b64("a2V5"), "azure_storage_environment": b64("AzureUSGovernmentCloud")}});
        let r = resolve(Provider::Azure, "secret", None, Some(&az)).unwrap();
        assert_eq!(r.endpoint.as_deref(), Some("https://acct.blob.core.usgovcloudapi.net"));

        let gcp = json!({"type": "secrets.kanister.io/gcp",
            "stringdata": {"gcp_project_id": "p", "service-account.json": "{\"type\":\"service_account\"}"}});
        let r = resolve(Provider::Gcs, "secret", None, Some(&gcp)).unwrap();
        assert!(matches!(r.credentials, Credentials::GcsServiceAccount(_)));
        assert!(resolve(Provider::Gcs, "secret", None, None).is_err());
    }
}
