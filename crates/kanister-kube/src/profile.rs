//! A Profile's credentials resolved from its Secret, as the controller does before it renders
//! `.Profile` (and as kanctl does before it checks the bucket).

use crate::{Cluster, ClusterError};
use kanister::params::ProfileParam;
use kanister::types::{Profile, credential_type};

/// A Profile's credentials as the controller resolves them for `.Profile`: a `keyPair`'s two
/// keys read from its Secret, or the whole Secret for type `secret`. Errors are upstream's.
pub async fn resolve_profile(cluster: &Cluster, p: &Profile) -> Result<ProfileParam, String> {
    let mut param = ProfileParam::placeholder(p);
    let fetch_err = |e: ClusterError| format!("Could not fetch the secret specified in credential: {e}");
    match p.credential.credential_type.as_str() {
        credential_type::SECRET => {
            let r = p.credential.secret.clone().unwrap_or_default();
            let s = cluster.secret(r.namespace.as_deref().unwrap_or(""), &r.name).await.map_err(fetch_err)?;
            param.secret = Some(s);
            param.key_pair = None;
        }
        credential_type::KEY_PAIR => {
            let kp = p.credential.key_pair.clone().ok_or("Invalid credentials kp cannot be nil: Validation Failed")?;
            let ns = kp.secret.namespace.clone().unwrap_or_default();
            let s = cluster.secret(&ns, &kp.secret.name).await.map_err(fetch_err)?;
            let name = s.pointer("/metadata/name").and_then(|v| v.as_str()).unwrap_or("").to_string();
            let field = |k: &str| -> Option<String> {
                let b64 = s.get("data")?.get(k)?.as_str()?;
                let raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).ok()?;
                Some(String::from_utf8_lossy(&raw).into_owned())
            };
            let id = field(&kp.id_field)
                .ok_or_else(|| format!("Key '{}' not found in secret '{ns}:{name}': Validation Failed", kp.id_field))?;
            let secret = field(&kp.secret_field).ok_or_else(|| {
                format!("Value '{}' not found in secret '{ns}:{name}': Validation Failed", kp.secret_field)
            })?;
            param.key_pair = Some((id, secret));
            param.secret = None;
        }
        // No credentials to resolve (kando then uses the environment's).
        _ => {
            param.key_pair = None;
            param.secret = None;
        }
    }
    Ok(param)
}
