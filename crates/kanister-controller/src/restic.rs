//! restic as upstream's volume data functions drive it (upstream `pkg/restic`), so that
//! repositories written by upstream Kanister stay readable and ours stay readable by it: the
//! same repository location (`backupArtifactPrefix` under the profile's bucket), the same
//! default password (hex of sha256("testpassword") when a blueprint gives no
//! `encryptionKey`), the same restic commands, and the same parsing of restic's output for
//! the phase outputs (`backupID`, `fileCount`, `size`, `phySize`, `spaceFreed`).
//!
//! One deliberate difference: upstream writes the credentials and the password into the
//! command line (`export AWS_SECRET_ACCESS_KEY=… restic …` under `bash -c`), where the pod's
//! exec request, API server audit logs and process lists show them. Here they are the
//! [`Env`] of the command, which `exec` hands to the container over the exec's stdin
//! (see `exec::exec_capture`); the command line only names restic and its arguments.
//!
//! Pure: this module builds commands and parses output. It must not talk to the cluster.

use kanister::params::ProfileParam;
use std::fmt;

/// Upstream's default `encryptionKey`: hex(sha256("testpassword")) (`restic.GeneratePassword`).
pub const DEFAULT_ENCRYPTION_KEY: &str = "9f735e0df9a1ddc702bf0a1a7b83033f9f7153a00c29de82cedadc9957289b05";

/// What restic prints when the password does not open the repository.
pub const WRONG_PASSWORD: &str = "wrong password";
/// Upstream's message for a wrong password (`restic.PasswordIncorrect`).
pub const PASSWORD_INCORRECT: &str = "Password is incorrect";
/// Upstream's message for a missing repository (`restic.RepoDoesNotExist`).
pub const REPO_DOES_NOT_EXIST: &str = "Repo does not exist";
/// What restic prints when there is no repository at the location.
pub const NO_REPOSITORY: &str = "Is there a repository at the following location?";

/// Environment variables a restic command needs: the repository, its password and the
/// location's credentials. `Debug` shows the names only.
#[derive(Clone, Default)]
pub struct Env {
    /// Name and value pairs, in order.
    pub vars: Vec<(String, String)>,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.vars.iter().map(|(k, _)| format!("{k}=<redacted>"))).finish()
    }
}

impl Env {
    /// Values lose trailing line ends: Secrets written from files (`kubectl create secret
    /// --from-file`, `echo … | base64`) end in one, which upstream's `export K=v` under bash
    /// drops too.
    fn push(&mut self, k: &str, v: impl Into<String>) {
        let v: String = v.into();
        self.vars.push((k.to_string(), v.trim_end_matches(['\r', '\n']).to_string()));
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Values to remove from any text shown to users (credentials and the password; names
    /// and the repository location are not secret).
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.vars.iter().filter(|(k, _)| !crate::exec::PUBLIC_ENV.contains(&k.as_str())).map(|(_, v)| v.as_str())
    }
}

/// `backupArtifactPrefix` under the profile's bucket unless it already starts with it
/// (upstream `ResolveArtifactPrefix`: `path.Join`, so `//` and a trailing `/` are cleaned).
pub fn resolve_prefix(prefix: &str, bucket: &str) -> String {
    if prefix.split('/').next() == Some(bucket) {
        return prefix.to_string();
    }
    kanister::template::path_join(&[bucket, prefix])
}

/// The environment of restic commands on `repository` (a resolved prefix) of `profile`,
/// with password `encryption_key` (upstream `resticArgs`).
pub fn env(profile: &ProfileParam, repository: &str, encryption_key: &str) -> Result<Env, String> {
    let mut e = Env::default();
    let loc = |k: &str| profile.location.get(k).map(String::as_str).unwrap_or("");
    match loc("type") {
        "s3Compliant" => {
            let endpoint = match loc("endpoint") {
                "" => "s3.amazonaws.com",
                ep => ep.trim_end_matches('/'),
            };
            let (id, secret, token) = aws_credentials(profile)?;
            e.push("AWS_ACCESS_KEY_ID", id);
            e.push("AWS_SECRET_ACCESS_KEY", secret);
            if let Some(t) = token {
                e.push("AWS_SESSION_TOKEN", t);
            }
            e.push("RESTIC_REPOSITORY", format!("s3:{endpoint}/{repository}"));
        }
        "gcs" => {
            let (project, key) = profile.key_pair.clone().ok_or(
                "Failed to get arguments: GCS locations need a keyPair credential (project id, service-account key)",
            )?;
            e.push("GOOGLE_PROJECT_ID", project);
            e.push(GCS_KEY_ENV, one_line_json(&key)?);
            e.push("RESTIC_REPOSITORY", format!("gs:{}/", repository.replacen('/', ":/", 1)));
        }
        "azure" => {
            let (account, key) = azure_credentials(profile)?;
            e.push("AZURE_ACCOUNT_NAME", account);
            e.push("AZURE_ACCOUNT_KEY", key);
            e.push("RESTIC_REPOSITORY", format!("azure:{}/", repository.replacen('/', ":/", 1)));
        }
        other => return Err(format!("Unsupported type '{other}' for the location")),
    }
    e.push("RESTIC_PASSWORD", encryption_key);
    Ok(e)
}

/// The service-account key of a GCS location, for the command to write to a file (upstream
/// writes it to `/tmp/creds.txt` in the pod before running restic; see [`script`]).
pub const GCS_KEY_ENV: &str = "KANISTER_GCS_SERVICE_ACCOUNT_KEY";

/// A JSON document on one line (values travel as single lines).
fn one_line_json(s: &str) -> Result<String, String> {
    let v: serde_json::Value = serde_json::from_str(s)
        .map_err(|e| format!("Failed to get arguments: the GCS service-account key is not JSON: {e}"))?;
    Ok(v.to_string())
}

fn secret_data(profile: &ProfileParam) -> Result<(String, std::collections::BTreeMap<String, String>), String> {
    use base64::Engine;
    let s = profile.secret.as_ref().ok_or("the profile's credential Secret was not read")?;
    let ty = s.get("type").and_then(|t| t.as_str()).unwrap_or("").to_string();
    let mut data = std::collections::BTreeMap::new();
    if let Some(d) = s.get("data").and_then(|d| d.as_object()) {
        for (k, v) in d {
            let b = base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap_or(""))
                .map_err(|_| format!("key {k} of the credential Secret is not base64"))?;
            data.insert(k.clone(), String::from_utf8_lossy(&b).into_owned());
        }
    }
    Ok((ty, data))
}

fn aws_credentials(profile: &ProfileParam) -> Result<(String, String, Option<String>), String> {
    match profile.credential_type.as_str() {
        "keyPair" => {
            let (id, secret) = profile.key_pair.clone().ok_or("Failed to create args from credential: no keyPair")?;
            Ok((id, secret, None))
        }
        "secret" => {
            let (ty, d) = secret_data(profile)?;
            if ty != "secrets.kanister.io/aws" {
                return Err(format!(
                    "Failed to create args from credential: Secret type {ty} is not secrets.kanister.io/aws"
                ));
            }
            if d.contains_key("role") {
                return Err("Failed to create args from credential: assuming a role (key `role`) is not supported by this controller's restic functions".into());
            }
            let get = |k: &str| {
                d.get(k).cloned().ok_or(format!("Failed to create args from credential: the Secret has no {k}"))
            };
            Ok((get("aws_access_key_id")?, get("aws_secret_access_key")?, d.get("aws_session_token").cloned()))
        }
        other => Err(format!("Failed to create args from credential: Unsupported type '{other}' for credentials")),
    }
}

fn azure_credentials(profile: &ProfileParam) -> Result<(String, String), String> {
    match profile.credential_type.as_str() {
        "keyPair" => profile.key_pair.clone().ok_or_else(|| "no keyPair".into()),
        "secret" => {
            let (_, d) = secret_data(profile)?;
            let get = |k: &str| d.get(k).cloned().ok_or(format!("the Secret has no {k}"));
            Ok((get("azure_storage_account_id")?, get("azure_storage_key")?))
        }
        other => Err(format!("Unsupported type '{other}' for credentials")),
    }
}

/// A restic command line (the program and its arguments, no shell), with `--insecure-tls`
/// last when asked, as upstream.
pub fn command(args: &[&str], insecure_tls: bool) -> Vec<String> {
    let mut c: Vec<String> = std::iter::once("restic").chain(args.iter().copied()).map(String::from).collect();
    if insecure_tls {
        c.push("--insecure-tls".into());
    }
    c
}

/// The shell script that runs `cmd` with `env` (read by `exec`'s wrapper first). With a GCS
/// key in the environment it is written to a new private file (`mktemp`: mode 0600, removed
/// when the script ends, however it ends) that `GOOGLE_APPLICATION_CREDENTIALS` names, and
/// dropped from the environment restic sees.
pub fn script(cmd: &[String]) -> Vec<String> {
    let quoted: Vec<String> = cmd.iter().map(|a| shell_quote(a)).collect();
    let body = format!(
        "if [ -n \"${{{GCS_KEY_ENV}:-}}\" ]; then kf=$(mktemp); trap 'rm -f \"$kf\"' EXIT; printf '%s' \"${GCS_KEY_ENV}\" > \"$kf\"; export GOOGLE_APPLICATION_CREDENTIALS=\"$kf\"; fi; unset {GCS_KEY_ENV}; {}",
        quoted.join(" ")
    );
    vec!["bash".into(), "-o".into(), "errexit".into(), "-o".into(), "pipefail".into(), "-c".into(), body]
}

/// `s` as one shell word.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+%".contains(&b)) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The snapshot id in `restic backup`'s log (`snapshot ABC123 saved`).
pub fn snapshot_id_from_backup_log(out: &str) -> Option<String> {
    out.lines().find_map(|l| {
        let l = l.trim_end_matches('\r');
        let rest = l.split_once("snapshot ")?.1;
        let id = rest.strip_suffix(" saved")?;
        (!id.is_empty() && !id.contains(char::is_whitespace)).then(|| id.to_string())
    })
}

/// (file count, logical size, physical size added) from `restic backup`'s log: `processed N
/// files, X MiB in m:ss`, and `Added to the repo: Y KiB` (restic ≤ 0.13, the line upstream
/// parses) or `Added to the repository: Y KiB (Z KiB stored)` (0.14 on, where upstream's
/// pattern finds nothing and `phySize` stays empty; here it is Z, the bytes stored). Sizes
/// stay restic's strings, as upstream.
pub fn stats_from_backup_log(out: &str) -> (String, String, String) {
    let (mut files, mut size, mut phy) = (String::new(), String::new(), String::new());
    for l in out.lines().map(|l| l.trim_end_matches('\r')) {
        if let Some(rest) = l.split_once("processed ").map(|x| x.1)
            && let Some((n, rest)) = rest.split_once(" files, ")
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && let Some((s, _)) = rest.split_once(" in ")
            && is_size(s)
        {
            files = n.to_string();
            size = s.to_string();
        } else if let Some(s) = l.strip_prefix("Added to the repo: ")
            && is_size(s)
        {
            phy = s.to_string();
        } else if let Some(rest) = l.strip_prefix("Added to the repository: ") {
            let stored = rest.split_once(" (").and_then(|(_, r)| r.strip_suffix(" stored)"));
            match stored {
                Some(z) if is_size(z) => phy = z.to_string(),
                _ if is_size(rest) => phy = rest.to_string(),
                _ => {}
            }
        }
    }
    (files, size, phy)
}

/// A restic size string: a decimal number, a space, `B`, `KiB`, `MiB`, `GiB` or `TiB`.
fn is_size(s: &str) -> bool {
    size_bytes(s).is_some()
}

/// Bytes of a restic size string (upstream `ParseResticSizeStringBytes`; 0 when not one).
pub fn size_bytes(s: &str) -> Option<u64> {
    let (num, unit) = s.split_once(' ')?;
    let n: f64 =
        num.parse().ok().filter(|n: &f64| *n >= 0.0 && num.bytes().all(|b| b.is_ascii_digit() || b == b'.'))?;
    let mult = match unit {
        "B" => 1u64,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => return None,
    };
    Some((n * mult as f64) as u64)
}

/// The space `restic prune` frees, as restic's size string: `will delete N packs and rewrite
/// M packs, this frees X` (restic ≤ 0.11, what upstream parses) or `total prune: N blobs / X`
/// (0.12 on, where upstream's pattern finds nothing and reports 0 B).
pub fn space_freed_from_prune_log(out: &str) -> Option<String> {
    out.lines()
        .rev()
        .map(|l| l.trim())
        .filter_map(|l| {
            l.split_once(", this frees ")
                .map(|x| x.1)
                .or_else(|| l.strip_prefix("total prune:").and_then(|r| r.split_once(" / ")).map(|x| x.1.trim()))
        })
        .find(|s| is_size(s))
        .map(String::from)
}

/// The short id of the first snapshot in `restic snapshots --json` output.
pub fn first_snapshot_short_id(out: &str) -> Result<String, String> {
    let v: Vec<serde_json::Value> = serde_json::from_str(out.trim())
        .map_err(|e| format!("Failed to unmarshall output from snapshotCommand: {e}"))?;
    v.first()
        .and_then(|s| s.get("short_id"))
        .and_then(|s| s.as_str())
        .map(String::from)
        .ok_or_else(|| "Snapshot not found".into())
}

/// (mode, file count, size) from `restic stats` output (`Stats in restore-size mode:`,
/// `Total File Count: N` — `Total Blob Count` in raw-data mode — and `Total Size: X`).
pub fn stats_from_stats_log(out: &str) -> (String, String, String) {
    let mode = out
        .lines()
        .find_map(|l| {
            l.split_once("Stats in ").and_then(|(_, r)| r.split_once(" mode:")).map(|(m, _)| m.trim().to_string())
        })
        .unwrap_or_default();
    let count_key = if mode == "raw-data" { "Total Blob Count:" } else { "Total File Count:" };
    let (mut count, mut size) = (String::new(), String::new());
    for l in out.lines().map(|l| l.trim_end_matches('\r')) {
        if let Some((_, v)) = l.split_once(count_key) {
            count = v.trim().to_string();
        }
        if let Some((_, v)) = l.split_once("Total Size:") {
            size = v.trim().to_string();
        }
    }
    (mode, count, size)
}

/// A backup tag as upstream makes them (`rand.String(10)`: 10 characters of
/// `bcdfghjklmnpqrstvwxz2456789`).
pub fn new_tag() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes).expect("the system's random source failed");
    bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

#[cfg(test)]
mod tests;
