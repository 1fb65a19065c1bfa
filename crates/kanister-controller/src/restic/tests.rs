use super::*;
use kanister::params::ProfileParam;
use std::collections::BTreeMap;

// Output of restic 0.16.5 (upstream's kanister-tools version), captured from real runs.
const BACKUP_0_16: &str = "no parent snapshot found, will read all files

Files:           2 new,     0 changed,     0 unmodified
Dirs:            2 new,     0 changed,     0 unmodified
Added to the repository: 2.862 MiB (1.250 MiB stored)

processed 2 files, 2.861 MiB in 0:00
snapshot fa2b511a saved
";
// restic ≤ 0.13, the lines upstream's patterns were written for.
const BACKUP_0_13: &str = "Files:          12 new,     0 changed,     0 unmodified
Added to the repo: 5.000 KiB

processed 12 files, 10.500 KiB in 0:01
snapshot 0a1b2c3d saved
";
const PRUNE_0_16: &str = "to repack:             0 blobs / 0 B
this removes:          0 blobs / 0 B
to delete:             7 blobs / 2.862 MiB
total prune:           7 blobs / 2.862 MiB
remaining:             0 blobs / 0 B
";
const STATS_RESTORE: &str = "scanning...
Stats in restore-size mode:
     Snapshots processed:  1
        Total File Count:  4
              Total Size:  2.861 MiB
";
const STATS_RAW: &str = "scanning...
Stats in raw-data mode:
     Snapshots processed:  1
        Total Blob Count:  7
 Total Uncompressed Size:  2.863 MiB
              Total Size:  2.862 MiB
    Compression Progress:  100.00%
";

fn profile(ty: &str, endpoint: &str) -> ProfileParam {
    let location: BTreeMap<String, String> =
        [("type", ty), ("bucket", "bkt"), ("endpoint", endpoint), ("prefix", ""), ("region", "us-east-1")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    ProfileParam {
        location,
        credential_type: "keyPair".into(),
        key_pair: Some(("AKID".into(), "s3cr3t-key".into())),
        secret: None,
        skip_ssl_verify: false,
    }
}

#[test]
fn the_default_key_is_the_sha256_of_testpassword_as_upstream() {
    let out = std::process::Command::new("sh").args(["-c", "printf testpassword | sha256sum"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).split_whitespace().next(), Some(DEFAULT_ENCRYPTION_KEY));
}

#[test]
fn the_prefix_goes_under_the_bucket_unless_it_starts_with_it() {
    assert_eq!(resolve_prefix("backups/app", "bkt"), "bkt/backups/app");
    assert_eq!(resolve_prefix("bkt/backups/app", "bkt"), "bkt/backups/app");
    assert_eq!(resolve_prefix("bkt", "bkt"), "bkt");
    // path.Join cleans.
    assert_eq!(resolve_prefix("/a//b/", "bkt"), "bkt/a/b");
    assert_eq!(resolve_prefix("a/../b", "bkt"), "bkt/b");
    assert_eq!(resolve_prefix("bktx/a", "bkt"), "bkt/bktx/a");
    assert_eq!(resolve_prefix("a", ""), "a");
}

#[test]
fn each_location_type_gets_upstreams_repository_and_credentials() {
    let e = env(&profile("s3Compliant", "http://127.0.0.1:9000/"), "bkt/p", "pw").unwrap();
    assert_eq!(e.get("RESTIC_REPOSITORY"), Some("s3:http://127.0.0.1:9000/bkt/p"));
    assert_eq!(e.get("AWS_ACCESS_KEY_ID"), Some("AKID"));
    assert_eq!(e.get("AWS_SECRET_ACCESS_KEY"), Some("s3cr3t-key"));
    assert_eq!(e.get("RESTIC_PASSWORD"), Some("pw"));
    let e = env(&profile("s3Compliant", ""), "bkt/p", "pw").unwrap();
    assert_eq!(e.get("RESTIC_REPOSITORY"), Some("s3:s3.amazonaws.com/bkt/p"));

    let mut az = profile("azure", "");
    az.key_pair = Some(("account".into(), "azkey".into()));
    let e = env(&az, "container/dir/sub", "pw").unwrap();
    assert_eq!(e.get("RESTIC_REPOSITORY"), Some("azure:container:/dir/sub/"));
    assert_eq!((e.get("AZURE_ACCOUNT_NAME"), e.get("AZURE_ACCOUNT_KEY")), (Some("account"), Some("azkey")));

    let mut gcs = profile("gcs", "");
    gcs.key_pair = Some(("proj".into(), "{\n  \"type\": \"service_account\"\n}\n".into()));
    let e = env(&gcs, "bkt/dir", "pw").unwrap();
    assert_eq!(e.get("RESTIC_REPOSITORY"), Some("gs:bkt:/dir/"));
    assert_eq!(e.get("GOOGLE_PROJECT_ID"), Some("proj"));
    assert_eq!(e.get(GCS_KEY_ENV), Some(r#"{"type":"service_account"}"#), "one line");

    let err = env(&profile("kopia", ""), "x", "pw").unwrap_err();
    assert_eq!(err, "Unsupported type 'kopia' for the location");
}

#[test]
fn values_lose_the_line_end_a_secret_file_leaves() {
    let mut p = profile("s3Compliant", "http://s3");
    p.key_pair = Some(("AKID\n".into(), "s3cr3t-key\r\n".into()));
    let e = env(&p, "bkt", "pw\n").unwrap();
    assert_eq!((e.get("AWS_ACCESS_KEY_ID"), e.get("AWS_SECRET_ACCESS_KEY")), (Some("AKID"), Some("s3cr3t-key")));
    assert_eq!(e.get("RESTIC_PASSWORD"), Some("pw"));
}

#[test]
fn secret_credentials_are_read_from_the_secret_and_roles_refused() {
    use base64::Engine;
    let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut p = profile("s3Compliant", "http://s3");
    p.credential_type = "secret".into();
    p.key_pair = None;
    p.secret = Some(serde_json::json!({"type": "secrets.kanister.io/aws",
        "data": {"aws_access_key_id": b("ID2"), "aws_secret_access_key": b("SK2"), "aws_session_token": b("TOK")}}));
    let e = env(&p, "bkt", "pw").unwrap();
    assert_eq!(
        (e.get("AWS_ACCESS_KEY_ID"), e.get("AWS_SECRET_ACCESS_KEY"), e.get("AWS_SESSION_TOKEN")),
        (Some("ID2"), Some("SK2"), Some("TOK"))
    );
    p.secret = Some(serde_json::json!({"type": "secrets.kanister.io/aws",
        "data": {"aws_access_key_id": b("ID2"), "aws_secret_access_key": b("SK2"), "role": b("arn:x")}}));
    assert!(env(&p, "bkt", "pw").unwrap_err().contains("assuming a role"));
}

#[test]
fn debug_and_secrets_never_show_values_but_list_what_to_redact() {
    let e = env(&profile("s3Compliant", "http://s3"), "bkt/p", "the-password").unwrap();
    let d = format!("{e:?}");
    assert!(!d.contains("s3cr3t") && !d.contains("the-password") && d.contains("AWS_SECRET_ACCESS_KEY"), "{d}");
    let s: Vec<&str> = e.secrets().collect();
    assert!(s.contains(&"s3cr3t-key") && s.contains(&"the-password") && !s.contains(&"s3:http://s3/bkt/p"), "{s:?}");
}

#[test]
fn the_command_line_carries_no_secret_and_the_script_quotes_every_word() {
    let c = command(&["backup", "--tag", "abc", "/data dir/it's"], true);
    assert_eq!(c, ["restic", "backup", "--tag", "abc", "/data dir/it's", "--insecure-tls"]);
    let s = script(&c);
    assert_eq!(&s[..6], ["bash", "-o", "errexit", "-o", "pipefail", "-c"]);
    assert!(s[6].ends_with(r#"restic backup --tag abc '/data dir/it'\''s' --insecure-tls"#), "{}", s[6]);
    // The script runs: a GCS key in the environment becomes a private file restic reads
    // (named by GOOGLE_APPLICATION_CREDENTIALS, the key itself gone from the environment),
    // removed when the command ends, even when it fails.
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("seen");
    let probe = format!(
        "f=\"$GOOGLE_APPLICATION_CREDENTIALS\"; echo \"$f\" > {0}; stat -c %a \"$f\" >> {0}; cat \"$f\" >> {0}; echo >> {0}; env | grep -c {GCS_KEY_ENV} >> {0} || true; exit 3",
        seen.display()
    );
    let body = s[6].replace("restic backup --tag abc '/data dir/it'\\''s' --insecure-tls", &probe);
    assert_ne!(body, s[6], "the command is the script's last part");
    let out = std::process::Command::new("bash").args(["-c", &body]).env(GCS_KEY_ENV, r#"{"k":"v"}"#).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let seen = std::fs::read_to_string(&seen).unwrap();
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(&lines[1..], ["600", r#"{"k":"v"}"#, "0"], "{seen}");
    assert!(!std::path::Path::new(lines[0]).exists(), "the key file is removed when the command ends");
    // Without a key: nothing written, no variable set.
    let out = std::process::Command::new("bash")
        .args([
            "-c",
            &s[6].replace(
                "restic backup --tag abc '/data dir/it'\\''s' --insecure-tls",
                "echo \"[${GOOGLE_APPLICATION_CREDENTIALS:-}]\"",
            ),
        ])
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "[]\n");
    assert_eq!(shell_quote("plain-word_1.2/x:y=z@h,+%"), "plain-word_1.2/x:y=z@h,+%");
    assert_eq!(shell_quote(""), "''");
    assert_eq!(shell_quote("$HOME"), "'$HOME'");
}

#[test]
fn backup_logs_of_both_restic_generations_parse() {
    assert_eq!(snapshot_id_from_backup_log(BACKUP_0_16).as_deref(), Some("fa2b511a"));
    assert_eq!(stats_from_backup_log(BACKUP_0_16), ("2".into(), "2.861 MiB".into(), "1.250 MiB".into()));
    assert_eq!(snapshot_id_from_backup_log(BACKUP_0_13).as_deref(), Some("0a1b2c3d"));
    assert_eq!(stats_from_backup_log(BACKUP_0_13), ("12".into(), "10.500 KiB".into(), "5.000 KiB".into()));
    assert_eq!(snapshot_id_from_backup_log("Fatal: unable to save snapshot: x\n"), None);
    assert_eq!(stats_from_backup_log(""), (String::new(), String::new(), String::new()));
}

#[test]
fn prune_stats_and_snapshot_listings_parse() {
    assert_eq!(space_freed_from_prune_log(PRUNE_0_16).as_deref(), Some("2.862 MiB"));
    assert_eq!(
        space_freed_from_prune_log("will delete 3 packs and rewrite 1 packs, this frees 1.500 GiB\n").as_deref(),
        Some("1.500 GiB")
    );
    assert_eq!(space_freed_from_prune_log("nothing\n"), None);
    assert_eq!(size_bytes("2.862 MiB"), Some((2.862 * 1048576.0) as u64));
    assert_eq!(size_bytes("0 B"), Some(0));
    assert_eq!((size_bytes("1 PiB"), size_bytes("-1 B"), size_bytes("1MiB")), (None, None, None));
    assert_eq!(stats_from_stats_log(STATS_RESTORE), ("restore-size".into(), "4".into(), "2.861 MiB".into()));
    assert_eq!(stats_from_stats_log(STATS_RAW), ("raw-data".into(), "7".into(), "2.862 MiB".into()));
    let listing =
        r#"[{"time":"2026-12-06T21:11:29Z","tags":["abcdefghij"],"id":"fa2b511a2774","short_id":"fa2b511a"}]"#;
    assert_eq!(first_snapshot_short_id(listing).unwrap(), "fa2b511a");
    assert_eq!(first_snapshot_short_id("[]\n").unwrap_err(), "Snapshot not found");
    assert!(first_snapshot_short_id("Fatal").unwrap_err().starts_with("Failed to unmarshall"));
}

#[test]
fn tags_are_ten_characters_of_upstreams_alphabet_and_differ() {
    let (a, b) = (new_tag(), new_tag());
    assert_eq!(a.len(), 10);
    assert!(a.bytes().all(|c| b"bcdfghjklmnpqrstvwxz2456789".contains(&c)), "{a}");
    assert_ne!(a, b);
}

#[test]
fn exec_env_refuses_what_a_line_cannot_carry() {
    let e = crate::exec::wrap_with_env(&[("K".into(), "a\nb".into())], &["true".into()]).unwrap_err();
    assert!(e.contains("spans lines") && !e.contains("a\nb"), "{e}");
    assert!(crate::exec::wrap_with_env(&[("A-B".into(), "x".into())], &["true".into()]).is_err());
    assert!(crate::exec::wrap_with_env(&[("1A".into(), "x".into())], &["true".into()]).is_err());
}
