//! Kanister profiles as `kando --profile` receives them: the JSON that `{{ toJson .Profile }}`
//! renders (Go field names such as `Location`, `Credential`, `KeyPair`, `SkipSSLVerify`),
//! matched case-insensitively as Go's `encoding/json` does.
//!
//! Turning a profile into a [`Backend`] lives here too; this module must not read secrets
//! from anywhere but the profile (or, for a profile without credentials, the provider's
//! standard environment variables) and must never put them in an error message.
//!
//! Repository root: `filestore` → the directory `Prefix` (under `Bucket` if set);
//! `s3Compliant`, `gcs`, `azure` → `<Bucket>/<Prefix>/` in the object store.

mod credentials;

use crate::backend::Backend;
use crate::backend::cloud::{CloudSpec, Provider};
use crate::backend::local::LocalBackend;
use crate::backend::object::Transfer;
use crate::error::{Error, ErrorKind, Result};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

/// `Location` of a profile.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Location {
    /// `s3Compliant`, `gcs`, `azure`, `kopia`, or `filestore` (local disk / NFS).
    #[serde(rename = "type")]
    pub kind: String,
    /// Bucket or container.
    pub bucket: String,
    /// Endpoint URL.
    pub endpoint: String,
    /// Prefix inside the bucket; for `filestore`, the repository directory.
    pub prefix: String,
    /// Region.
    pub region: String,
}

/// `Credential.KeyPair` (resolved plaintext, as the controller renders it).
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct KeyPair {
    /// Access key id / account / project.
    pub id: String,
    /// Secret.
    pub secret: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyPair {{ id: {:?}, secret: <redacted> }}", self.id)
    }
}

/// `Credential` of a profile.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Credential {
    /// `keyPair`, `secret` or `kopia`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Key pair.
    #[serde(rename = "keypair")]
    pub key_pair: Option<KeyPair>,
    /// The referenced Secret object, when `type` is `secret` (kept as JSON).
    pub secret: Option<Value>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret_type = self.secret.as_ref().and_then(|s| s.get("type")).and_then(|t| t.as_str());
        f.debug_struct("Credential")
            .field("kind", &self.kind)
            .field("key_pair", &self.key_pair)
            .field("secret", &secret_type.map(|t| format!("<Secret of type {t}, data redacted>")))
            .finish()
    }
}

/// A parsed profile.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Profile {
    /// Where.
    pub location: Location,
    /// With what credentials.
    pub credential: Credential,
    /// Skip TLS verification.
    #[serde(rename = "skipsslverify")]
    pub skip_ssl_verify: bool,
}

fn lower_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            // An exact lower-case key wins over a differently cased duplicate, as in Go.
            let mut entries: Vec<(String, Value)> = m.into_iter().collect();
            entries.sort_by_key(|(k, _)| k.chars().all(|c| !c.is_uppercase()));
            for (k, v) in entries {
                out.insert(k.to_lowercase(), lower_keys(v));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(lower_keys).collect()),
        v => v,
    }
}

/// serde's messages quote the offending value (`invalid type: string "…"`), which may be a
/// secret: keep the message, drop every quoted value.
fn redact_quoted(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut inside = false;
    for c in msg.chars() {
        if c == '"' {
            if !inside {
                out.push_str("\"…\"");
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

impl Profile {
    /// Parse profile JSON; field names match case-insensitively.
    pub fn parse(json: &str) -> Result<Profile> {
        let v: Value = serde_json::from_str(json).map_err(|e| {
            Error::invalid(format!("--profile is not valid JSON ({e}); pass the output of '{{{{ toJson .Profile }}}}'"))
        })?;
        if !v.is_object() {
            return Err(Error::invalid("--profile must be a JSON object with a Location"));
        }
        let p: Profile = serde_json::from_value(lower_keys(v)).map_err(|e| {
            Error::invalid(format!("--profile has an unexpected shape: {}", redact_quoted(&e.to_string())))
        })?;
        if p.location.kind.is_empty() {
            return Err(Error::invalid(
                "--profile has no Location.Type (expected filestore, s3Compliant, gcs or azure)",
            ));
        }
        Ok(p)
    }

    /// A profile for a local directory.
    pub fn filestore(dir: &str) -> Profile {
        Profile {
            location: Location { kind: "filestore".into(), prefix: dir.into(), ..Location::default() },
            ..Profile::default()
        }
    }

    /// The backend this profile names.
    pub fn backend(&self) -> Result<Arc<dyn Backend>> {
        let l = &self.location;
        match l.kind.to_ascii_lowercase().as_str() {
            "filestore" => {
                if l.prefix.is_empty() {
                    return Err(Error::invalid("filestore profile needs Location.Prefix: the repository directory"));
                }
                let dir = if l.bucket.is_empty() {
                    std::path::PathBuf::from(&l.prefix)
                } else {
                    std::path::Path::new(&l.bucket).join(&l.prefix)
                };
                Ok(Arc::new(LocalBackend::new(dir)))
            }
            "s3compliant" | "s3" | "gcs" | "azure" => Ok(Arc::new(self.cloud_spec()?.open()?)),
            "kopia" => Err(Error::new(
                ErrorKind::Unsupported,
                "location type 'kopia' (Kopia repository server) is not supported",
            )),
            other => Err(Error::invalid(format!(
                "unknown location type '{other}' (expected filestore, s3Compliant, gcs or azure)"
            ))),
        }
    }
}

impl Profile {
    /// The object-store location of an `s3Compliant`, `gcs` or `azure` profile, with its
    /// credentials resolved; transfer settings from [`Transfer::from_env`].
    pub fn cloud_spec(&self) -> Result<CloudSpec> {
        let l = &self.location;
        let provider = match l.kind.to_ascii_lowercase().as_str() {
            "s3compliant" | "s3" => Provider::S3,
            "gcs" => Provider::Gcs,
            "azure" => Provider::Azure,
            other => return Err(Error::invalid(format!("location type '{other}' is not an object store"))),
        };
        if l.bucket.is_empty() {
            return Err(Error::invalid(format!("{} profile needs Location.Bucket", l.kind)));
        }
        let c = &self.credential;
        let kp = c.key_pair.as_ref().map(|k| (k.id.as_str(), k.secret.as_str()));
        let r = credentials::resolve(provider, &c.kind, kp, c.secret.as_ref())?;
        let mut spec = CloudSpec::new(provider, &l.bucket, &l.prefix);
        spec.endpoint = Some(l.endpoint.clone()).filter(|e| !e.is_empty()).or(r.endpoint);
        spec.region = Some(l.region.clone()).filter(|r| !r.is_empty());
        spec.skip_tls_verify = self.skip_ssl_verify;
        spec.credentials = r.credentials;
        spec.transfer = Transfer::from_env()?;
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_field_names_case_insensitive() {
        let j = r#"{"Location":{"Type":"filestore","Bucket":"","Endpoint":"","Prefix":"/backups/repo","Region":""},
                   "Credential":{"Type":"keyPair","KeyPair":{"ID":"AK","Secret":"SK"},"Secret":null,"KopiaServerSecret":null},
                   "SkipSSLVerify":true}"#;
        let p = Profile::parse(j).unwrap();
        assert_eq!(p.location.kind, "filestore");
        assert_eq!(p.location.prefix, "/backups/repo");
        assert_eq!(p.credential.key_pair.as_ref().unwrap().id, "AK");
        assert!(p.skip_ssl_verify);
        assert!(!format!("{p:?}").contains("SK"), "secrets are redacted in Debug");
        let p2 = Profile::parse(r#"{"location":{"type":"filestore","prefix":"/x"}}"#).unwrap();
        assert_eq!(p2.location.prefix, "/x");
        let p3 = Profile::parse(r#"{"LOCATION":{"TYPE":"FileStore","PREFIX":"/y"}}"#).unwrap();
        assert_eq!(p3.location.prefix, "/y");
        p3.backend().unwrap();
    }

    #[test]
    fn malformed_profiles() {
        for bad in ["", "{", "[]", "{}", r#"{"Location":"x"}"#, r#"{"Location":{"Type":5}}"#] {
            let e = Profile::parse(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}: {e}");
        }
        let e = Profile::parse(r#"{"Location":{"Type":"filestore"}}"#).unwrap().backend().err().unwrap();
        assert!(e.to_string().contains("Prefix"));
        let e = Profile::parse(
            r#"{"Location":{"Type":"s3Compliant","Bucket":"b"},"Credential":{"KeyPair":{"Secret":"TOPSECRET"}}}"#,
        )
        .unwrap()
        .backend()
        .err()
        .unwrap();
        assert!(!e.to_string().contains("TOPSECRET"));
        assert!(e.to_string().contains("KeyPair.ID"), "{e}");
        let e =
            Profile::parse(r#"{"Location":{"Type":"s3Compliant"},"Credential":{"KeyPair":"TOPSECRET"}}"#).unwrap_err();
        assert!(!e.to_string().contains("TOPSECRET"), "{e}");
        let e = Profile::parse(r#"{"Location":{"Type":"gcs"}}"#).unwrap().backend().err().unwrap();
        assert!(e.to_string().contains("Bucket"), "{e}");
    }

    #[test]
    fn object_store_profiles() {
        let p = Profile::parse(
            r#"{"Location":{"Type":"s3Compliant","Bucket":"bkt","Endpoint":"http://127.0.0.1:9000","Prefix":"a/b","Region":"eu-west-1"},
                "Credential":{"Type":"keyPair","KeyPair":{"ID":"AK","Secret":"TOPSECRET"}},"SkipSSLVerify":false}"#,
        )
        .unwrap();
        let s = p.cloud_spec().unwrap();
        assert_eq!(s.location(), "s3://bkt/a/b at http://127.0.0.1:9000");
        assert_eq!(s.region.as_deref(), Some("eu-west-1"));
        let b = p.backend().unwrap();
        assert_eq!(b.location(), "s3://bkt/a/b at http://127.0.0.1:9000");
        // The Secret object of Credential.Type secret is redacted in Debug output.
        let p = Profile::parse(
            r#"{"Location":{"Type":"s3Compliant","Bucket":"bkt"},"Credential":{"Type":"secret",
                "Secret":{"type":"secrets.kanister.io/aws","data":{"aws_access_key_id":"QUs=","aws_secret_access_key":"VE9QU0VDUkVU"}}}}"#,
        )
        .unwrap();
        assert!(!format!("{p:?}").contains("VE9QU0VDUkVU"));
        assert!(p.cloud_spec().is_ok());
    }
}
