//! The repository password kando needs in every function pod and exec, configured once for
//! the controller (`--repository-password-secret NAME`: a Secret in the controller's namespace
//! with key `password`), so unchanged upstream blueprints write encrypted repositories.
//!
//! How it reaches kando without ever appearing in a pod spec, a log, an event or a status:
//! * pods: `KANDO_REPOSITORY_PASSWORD` from a `secretKeyRef` to a copy of the Secret in the
//!   pod's namespace (`kanister-repository-password`, labelled as managed by the controller,
//!   updated when the source changes; the source itself in the controller's namespace);
//! * exec (KubeExec, KubeExecAll): the command runs under `sh -c`, which reads the password
//!   from the exec's stdin into the environment and then `exec`s the command with stdin from
//!   /dev/null (so the command line never carries it; `crate::exec::wrap_with_env`).
//!
//! The value is held here only; `Debug` prints it redacted. Nothing here logs it.

use k8s_openapi::api::core::v1::Secret;
use kanister_kube::Cluster;
use kube::api::{Api, PostParams};
use serde_json::{Value as Json, json};
use std::collections::HashSet;
use tokio::sync::Mutex;

/// The key of the password in the Secret.
pub const KEY: &str = "password";
/// The name of the controller-managed copy in function namespaces.
pub const COPY_NAME: &str = "kanister-repository-password";
/// The environment variable kando reads.
pub const ENV: &str = "KANDO_REPOSITORY_PASSWORD";
const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "kanister-controller");

/// The configured password.
pub struct Password {
    source_namespace: String,
    source_name: String,
    value: String,
    synced: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Password")
            .field("secret", &format!("{}/{}", self.source_namespace, self.source_name))
            .field("value", &"<redacted>")
            .finish()
    }
}

fn decode(secret: &Secret) -> Option<String> {
    let raw = secret.data.as_ref()?.get(KEY)?;
    let s = String::from_utf8(raw.0.clone()).ok()?;
    let s = s.strip_suffix('\n').unwrap_or(&s).to_string();
    (!s.is_empty()).then_some(s)
}

impl Password {
    /// Read Secret `namespace/name` (key `password`). Errors name the Secret, never the value.
    pub async fn load(cluster: &Cluster, namespace: &str, name: &str) -> Result<Password, String> {
        let api: Api<Secret> = Api::namespaced(cluster.client().clone(), namespace);
        let s = api.get(name).await.map_err(|e| {
            format!("reading the repository password Secret '{namespace}/{name}' (--repository-password-secret): {e}")
        })?;
        let value = decode(&s).ok_or_else(|| {
            format!("the repository password Secret '{namespace}/{name}' has no non-empty key '{KEY}'")
        })?;
        Ok(Password {
            source_namespace: namespace.into(),
            source_name: name.into(),
            value,
            synced: Mutex::new(HashSet::new()),
        })
    }

    /// A password known in advance (unit tests).
    pub fn fixed(source_namespace: &str, source_name: &str, value: &str) -> Password {
        Password {
            source_namespace: source_namespace.into(),
            source_name: source_name.into(),
            value: value.into(),
            synced: Mutex::new(HashSet::new()),
        }
    }

    /// The Secret (in `namespace`) that pods there reference; created or updated once per
    /// namespace per controller run.
    pub async fn secret_in(&self, cluster: &Cluster, namespace: &str) -> Result<String, String> {
        if namespace == self.source_namespace {
            return Ok(self.source_name.clone());
        }
        let mut synced = self.synced.lock().await;
        if synced.contains(namespace) {
            return Ok(COPY_NAME.into());
        }
        let api: Api<Secret> = Api::namespaced(cluster.client().clone(), namespace);
        let want: Secret = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": COPY_NAME, "namespace": namespace, "labels": {MANAGED_BY.0: MANAGED_BY.1},
                         "annotations": {"kanister.kanrepo.io/source": format!("{}/{}", self.source_namespace, self.source_name)}},
            "type": "Opaque",
            "stringData": {KEY: self.value},
        }))
        .map_err(|e| e.to_string())?;
        let err = |e: kube::Error| {
            format!("copying the repository password Secret into namespace '{namespace}': {}", redact(&e.to_string()))
        };
        match api.get_opt(COPY_NAME).await.map_err(err)? {
            None => {
                api.create(&PostParams::default(), &want).await.map_err(err)?;
            }
            Some(cur) => {
                if decode(&cur).as_deref() != Some(self.value.as_str()) {
                    let mut upd = want.clone();
                    upd.metadata.resource_version = cur.metadata.resource_version.clone();
                    api.replace(COPY_NAME, &PostParams::default(), &upd).await.map_err(err)?;
                }
            }
        }
        synced.insert(namespace.to_string());
        Ok(COPY_NAME.into())
    }

    /// The env entry of a container that references `secret`.
    pub fn env_var(secret: &str) -> Json {
        json!({"name": ENV, "valueFrom": {"secretKeyRef": {"name": secret, "key": KEY}}})
    }

    /// The password as an exec environment entry (`crate::exec::wrap_with_env` hands it to
    /// the command over stdin).
    pub fn env_pair(&self) -> (String, String) {
        (ENV.to_string(), self.value.clone())
    }

    /// Remove the password from a text (an error relayed from elsewhere).
    pub fn scrub(&self, text: &str) -> String {
        if self.value.len() >= 4 { text.replace(&self.value, "<redacted>") } else { text.to_string() }
    }
}

/// API errors never carry Secret data, but be safe with `stringData` echoes.
fn redact(s: &str) -> String {
    match s.find("stringData") {
        Some(i) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_wrapper_keeps_the_password_off_the_command_line() {
        let p = Password::fixed("kanister", "pw", "hunter2-secret");
        let (cmd, stdin) =
            crate::exec::wrap_with_env(&[p.env_pair()], &["bash".into(), "-c".into(), "kando location pull -".into()])
                .unwrap();
        assert!(cmd.iter().all(|c| !c.contains("hunter2")), "{cmd:?}");
        assert_eq!(stdin, b"KANDO_REPOSITORY_PASSWORD=hunter2-secret\n\n");
        assert_eq!(&cmd[4..], ["bash", "-c", "kando location pull -"]);
        assert!(!format!("{p:?}").contains("hunter2"));
        assert_eq!(p.scrub("x hunter2-secret y"), "x <redacted> y");
    }

    #[test]
    fn exec_wrapper_runs_the_command_with_the_password() {
        let p = Password::fixed("kanister", "pw", "s3cr3t pass");
        let (cmd, stdin) = crate::exec::wrap_with_env(
            &[p.env_pair(), ("OTHER".into(), " spaces, 'quotes' and $dollars ".into())],
            &[
                "sh".into(),
                "-c".into(),
                "printf '%s|%s|%s' \"$KANDO_REPOSITORY_PASSWORD\" \"$KANDO_PROGRESS\" \"$OTHER\"; cat".into(),
            ],
        )
        .unwrap();
        let mut child = std::process::Command::new(&cmd[0])
            .args(&cmd[1..])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&[stdin.as_slice(), b"more stdin that the command must not see"].concat())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "s3cr3t pass|kanister| spaces, 'quotes' and $dollars ");
    }
}
