//! Kanister profiles as `kando --profile` receives them: the JSON that `{{ toJson .Profile }}`
//! renders (Go field names such as `Location`, `Credential`, `KeyPair`, `SkipSSLVerify`),
//! matched case-insensitively as Go's `encoding/json` does.
//!
//! Turning a profile into a [`Backend`] lives here too; this module must not read secrets
//! from anywhere but the profile and must never put them in an error message.

use crate::backend::Backend;
use crate::backend::local::LocalBackend;
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
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
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

impl Profile {
    /// Parse profile JSON; field names match case-insensitively.
    pub fn parse(json: &str) -> Result<Profile> {
        let v: Value = serde_json::from_str(json).map_err(|e| {
            Error::invalid(format!("--profile is not valid JSON ({e}); pass the output of '{{{{ toJson .Profile }}}}'"))
        })?;
        if !v.is_object() {
            return Err(Error::invalid("--profile must be a JSON object with a Location"));
        }
        let p: Profile = serde_json::from_value(lower_keys(v))
            .map_err(|e| Error::invalid(format!("--profile has an unexpected shape: {e}")))?;
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
            "s3compliant" | "gcs" | "azure" => Err(Error::new(
                ErrorKind::Unsupported,
                format!("location type '{}' is not available in this build yet; use 'filestore'", l.kind),
            )),
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
    }
}
