//! The API types print what upstream's Go types print, byte for byte.

use crate::yaml;
use kanister::types::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// JSON text without the whitespace outside strings.
fn compact(json: &str) -> String {
    let (mut out, mut in_string, mut escaped) = (String::new(), false, false);
    for c in json.chars() {
        if in_string {
            in_string = escaped || c != '"';
            escaped = !escaped && c == '\\';
        } else if c.is_whitespace() {
            continue;
        } else {
            in_string = c == '"';
        }
        out.push(c);
    }
    out
}

/// Parse `go_json` (as Go's encoding/json prints the object, whitespace aside) and print
/// it again: the same bytes.
fn same_bytes<T: serde::de::DeserializeOwned + serde::Serialize>(go_json: &str) -> T {
    let go = compact(go_json);
    let t: T = serde_json::from_str(&go).unwrap();
    assert_eq!(serde_json::to_string(&t).unwrap(), go);
    t
}

const OBJ: &str = r#"{"apiVersion":"","group":"","resource":"","kind":"statefulset","name":"pg","namespace":"db"}"#;

#[test]
fn actionset_as_go_prints_it() {
    let go = format!(
        r#"{{"kind":"ActionSet","apiVersion":"cr.kanister.io/v1alpha1",
        "metadata":{{"name":"backup-x","namespace":"kanister","uid":"u1","resourceVersion":"12","generation":2,
            "creationTimestamp":"2024-05-01T10:00:00Z","labels":{{"a":"b"}}}},
        "spec":{{"actions":[{{"name":"backup","object":{OBJ},"blueprint":"pg-bp",
            "profile":{{"apiVersion":"","group":"","resource":"","kind":"","name":"s3","namespace":"kanister"}},
            "preferredVersion":"","podLabels":null,"podAnnotations":null}}]}},
        "status":{{"state":"running","actions":[{{"name":"backup","object":{OBJ},"blueprint":"pg-bp",
            "phases":[
                {{"name":"dump","state":"complete","output":{{"a":"1","b":{{"x":1,"y":[1,2]}}}},
                  "progress":{{"progressPercent":"100","sizeUploadedB":2048,"estinatedTimeSeconds":7,
                  "lastTransitionTime":"2024-05-01T10:01:00Z"}}}},
                {{"name":"upload","state":"running","progress":{{}}}}],
            "artifacts":{{"cloudObject":{{"keyValue":{{"path":"{{{{ .Phases.dump.Output.a }}}}"}}}}}},
            "deferPhase":{{"name":"","state":"","progress":{{}}}}}}],
          "error":{{"message":""}},
          "progress":{{"runningPhase":"upload","percentCompleted":"50.00","lastTransitionTime":"2024-05-01T10:01:00Z"}}}}}}"#
    );
    let a: ActionSet = same_bytes(&go);
    let st = a.status.as_ref().unwrap();
    assert_eq!(st.state, State::Running);
    assert_eq!(st.actions[0].phases[0].progress.estimated_time_seconds, 7);
    assert_eq!(st.actions[0].defer_phase.state, State::Unset);
    let spec = &a.spec.as_ref().unwrap().actions[0];
    assert_eq!(spec.pod_labels, None);
    assert_eq!(spec.object.namespace.as_deref(), Some("db"));
}

#[test]
fn no_omitempty_fields_always_print() {
    let mut a = ActionSet::new();
    a.metadata.name = Some("backup-abcde".into());
    let spec = ActionSpec {
        name: "backup".into(),
        blueprint: "bp".into(),
        object: ObjectReference { kind: "statefulset".into(), name: "pg".into(), ..Default::default() },
        ..Default::default()
    };
    a.spec = Some(ActionSetSpec { actions: vec![spec] });
    assert_eq!(
        serde_json::to_value(&a).unwrap(),
        json!({"kind": "ActionSet", "apiVersion": "cr.kanister.io/v1alpha1",
            "metadata": {"name": "backup-abcde", "creationTimestamp": null},
            "spec": {"actions": [{"name": "backup",
                "object": {"apiVersion": "", "group": "", "resource": "", "kind": "statefulset", "name": "pg"},
                "blueprint": "bp", "preferredVersion": "", "podLabels": null, "podAnnotations": null}]}})
    );
    // Set but empty maps print as {} (a non-nil empty Go map), not null.
    let s = ActionSpec { pod_labels: Some(BTreeMap::new()), ..Default::default() };
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!((v["podLabels"].clone(), v["podAnnotations"].clone()), (json!({}), Value::Null));
    // A status prints its struct-valued fields even when empty.
    let st = serde_json::to_value(ActionSetStatus::default()).unwrap();
    assert_eq!(st, json!({"state": "", "error": {"message": ""}, "progress": {}}));
}

#[test]
fn estinated_is_the_wire_key() {
    let p = PhaseProgress { estimated_time_seconds: 42, ..Default::default() };
    assert_eq!(serde_json::to_value(&p).unwrap(), json!({"estinatedTimeSeconds": 42}));
    let back: PhaseProgress = serde_json::from_value(json!({"estinatedTimeSeconds": 9})).unwrap();
    assert_eq!(back.estimated_time_seconds, 9);
    // The correctly spelt key is not upstream's and is ignored, as Go ignores it.
    let other: PhaseProgress = serde_json::from_value(json!({"estimatedTimeSeconds": 9})).unwrap();
    assert_eq!(other.estimated_time_seconds, 0);
}

#[test]
fn map_interface_values_print_sorted_like_go() {
    let s: ActionSpec =
        serde_json::from_str(r#"{"podOverride":{"z":1,"a":{"d":[{"y":1,"b":2}],"c":2}},"preferredVersion":"v0.0.1"}"#)
            .unwrap();
    let out = serde_json::to_string(&s).unwrap();
    assert!(out.contains(r#""podOverride":{"a":{"c":2,"d":[{"b":2,"y":1}]},"z":1}"#), "{out}");
    assert!(out.contains(r#""preferredVersion":"v0.0.1""#));
}

#[test]
fn profile_as_go_prints_it() {
    let p: Profile = same_bytes(
        r#"{"kind":"Profile","apiVersion":"cr.kanister.io/v1alpha1",
        "metadata":{"generateName":"s3-profile-","namespace":"kanister","creationTimestamp":null},
        "location":{"type":"s3Compliant","bucket":"b","endpoint":"http://minio:9000","prefix":"pre","region":"us-east-1"},
        "credential":{"type":"keyPair","keyPair":{"idField":"aws_access_key_id","secretField":"aws_secret_access_key",
            "secret":{"apiVersion":"v1","group":"","resource":"","kind":"secret","name":"s3-secret","namespace":"kanister"}}},
        "skipSSLVerify":false}"#,
    );
    assert_eq!(p.location.location_type, location_type::S3_COMPLIANT);
    assert_eq!(p.credential.key_pair.unwrap().secret.name, "s3-secret");
    let k: Profile = same_bytes(
        r#"{"metadata":{"creationTimestamp":null},"location":{"type":"kopia","bucket":"","endpoint":"","prefix":"","region":""},
        "credential":{"type":"kopia","kopiaServerSecret":{"username":"u","hostname":"h",
            "userPassphrase":{"key":"k","secret":null},
            "tlsCert":{"key":"tls.crt","secret":{"apiVersion":"","group":"","resource":"","kind":"","name":"tls"}},
            "connectOptions":{"dataStoreGeneralMetadataCacheSize":500}}},"skipSSLVerify":true}"#,
    );
    assert!(k.skip_ssl_verify);
    // A Profile without spec wrapper: `spec` is not a field.
    let v = serde_json::to_value(Profile::new()).unwrap();
    assert!(v.get("spec").is_none() && v.get("location").is_some() && v.get("skipSSLVerify").is_some());
}

#[test]
fn repository_server_as_go_prints_it() {
    let r: RepositoryServer = same_bytes(
        r#"{"kind":"RepositoryServer","apiVersion":"cr.kanister.io/v1alpha1","metadata":{"name":"rs","creationTimestamp":null},
        "spec":{"storage":{"secretRef":{"name":"loc","namespace":"k"},"credentialSecretRef":{"name":"cred"}},
            "repository":{"rootPath":"/repo","passwordSecretRef":{"name":"pw"},"cacheSizeSettings":{"metadata":500},
                "configuration":{}},
            "server":{"userAccess":{"userAccessSecretRef":{"name":"ua"},"username":"kanister"},
                "adminSecretRef":{"name":"admin"},"tlsSecretRef":{"name":"tls"}}},
        "status":{"conditions":[{"type":"ServerSetup","status":"True","lastTransitionTime":"2024-01-01T00:00:00Z",
            "reason":"Ok","message":""}],"serverInfo":{"podName":"repo-server-pod"},"progress":"Ready"}}"#,
    );
    assert_eq!(r.spec.repository.cache_size_settings.metadata, Some(500));
    // Empty: spec and status still print, as Go structs do.
    assert_eq!(
        serde_json::to_value(RepositoryServer::default()).unwrap(),
        json!({"metadata": {"creationTimestamp": null},
            "spec": {"storage": {"secretRef": {}, "credentialSecretRef": {}},
                "repository": {"rootPath": "", "passwordSecretRef": {}, "cacheSizeSettings": {}, "configuration": {}},
                "server": {"userAccess": {"userAccessSecretRef": {}, "username": ""}, "adminSecretRef": {},
                    "tlsSecretRef": {}}},
            "status": {"serverInfo": {}}})
    );
}

#[test]
fn blueprint_from_yaml() {
    let bp: Blueprint = serde_json::from_value(yaml(
        r#"
apiVersion: cr.kanister.io/v1alpha1
kind: Blueprint
metadata:
  name: bp
actions:
  backup:
    outputArtifacts:
      cloudObject:
        keyValue:
          path: '{{ .Phases.dump.Output.path }}'
    phases:
    - func: KubeTask
      name: dump
      objects:
        pgSecret:
          kind: Secret
          name: '{{ index .Object.metadata.labels "app" }}'
          namespace: '{{ .StatefulSet.Namespace }}'
      args:
        image: x
        command: [bash, -c, "echo"]
        podOverride: {containers: [{name: container, imagePullPolicy: Always}]}
    deferPhase:
      func: ScaleWorkload
      name: up
      args:
        replicas: 1
  restore:
    phases:
    - func: KubeTask
      name: noargs
      args:
"#,
    ))
    .unwrap();
    let backup = &bp.actions["backup"];
    assert_eq!(backup.phases[0].args["command"], json!(["bash", "-c", "echo"]));
    assert_eq!(backup.phases[0].objects["pgSecret"].namespace.as_deref(), Some("{{ .StatefulSet.Namespace }}"));
    assert_eq!(backup.defer_phase.as_ref().unwrap().args["replicas"], json!(1));
    let names: Vec<_> = bp.all_phases().map(|(a, p)| format!("{a}/{}", p.name)).collect();
    assert_eq!(names, ["backup/dump", "backup/up", "restore/noargs"]);
    // `args:` with no value is Go's nil map: it prints as null, never as a missing key.
    let v = serde_json::to_value(&bp).unwrap();
    assert_eq!(v["actions"]["restore"]["phases"][0]["args"], Value::Null);
    assert_eq!(v["actions"]["restore"]["name"], json!(""));
    assert!(v["actions"]["restore"]["phases"][0].get("objects").is_none());
}

#[test]
fn null_decodes_to_zero_values() {
    let a: ActionSet = serde_json::from_value(json!({"metadata": null, "spec": {"actions": [{"name": null,
        "object": null, "artifacts": null, "options": null, "podLabels": null, "preferredVersion": null}]},
        "status": {"state": null, "actions": null, "error": null, "progress": null}}))
    .unwrap();
    assert_eq!(a.spec.unwrap().actions[0], ActionSpec::default());
    assert_eq!(a.status.unwrap(), ActionSetStatus::default());
    let o: ObjectReference = serde_json::from_value(json!({"name": "x", "namespace": ""})).unwrap();
    assert_eq!(o.namespace, None);
    assert_eq!(serde_json::to_value(&o).unwrap().get("namespace"), None);
}

#[test]
fn states_round_trip_including_unknown_ones() {
    for (s, st) in [
        ("", State::Unset),
        ("pending", State::Pending),
        ("running", State::Running),
        ("failed", State::Failed),
        ("complete", State::Complete),
        ("Complete", State::Unknown("Complete".into())),
    ] {
        let parsed: State = serde_json::from_value(json!(s)).unwrap();
        assert_eq!(parsed, st);
        assert_eq!(serde_json::to_value(&parsed).unwrap(), json!(s));
        assert_eq!(parsed.is_known(), !matches!(st, State::Unset | State::Unknown(_)));
    }
}

#[test]
fn resource_names() {
    assert_eq!(
        (ActionSet::KIND, ActionSet::LIST_KIND, ActionSet::PLURAL),
        ("ActionSet", "ActionSetList", "actionsets")
    );
    assert_eq!((Blueprint::SINGULAR, Profile::SINGULAR), ("blueprint", "profile"));
    assert_eq!(RepositoryServer::PLURAL, "repositoryservers");
    assert_eq!(Blueprint::new().api_version, API_VERSION);
}

#[test]
fn yaml_output_reads_back() {
    let p: Profile = serde_json::from_value(json!({"kind": "Profile", "apiVersion": API_VERSION,
        "metadata": {"name": "p"}, "location": {"type": "gcs", "bucket": "b"},
        "credential": {"type": "keyPair", "keyPair": {"idField": "gcp_project_id", "secretField": "gcp_service_key",
            "secret": {"name": "s", "namespace": "ns"}}}}))
    .unwrap();
    let text = serde_saphyr::to_string(&p).unwrap();
    let back: Profile = serde_json::from_value(yaml(&text)).unwrap();
    assert_eq!(back, p);
}
