//! The function registry.

use kanister::functions::{self, Availability, LookupError, Outputs};

/// Every function in the spec's table, registered or removed.
#[test]
fn every_function_of_the_spec() {
    let registered = [
        "KubeTask",
        "KubeExec",
        "KubeExecAll",
        "MultiContainerRun",
        "ScaleWorkload",
        "PrepareData",
        "BackupData",
        "BackupDataAll",
        "RestoreData",
        "RestoreDataAll",
        "CopyVolumeData",
        "DeleteData",
        "DeleteDataAll",
        "BackupDataStats",
        "CheckRepository",
        "LocationDelete",
        "KubeOps",
        "Wait",
        "WaitV2",
        "CreateCSISnapshot",
        "CreateCSISnapshotStatic",
        "RestoreCSISnapshot",
        "DeleteCSISnapshot",
        "DeleteCSISnapshotContent",
        "CreateRDSSnapshot",
        "ExportRDSSnapshotToLocation",
        "RestoreRDSSnapshot",
        "DeleteRDSSnapshot",
        "BackupDataUsingKopiaServer",
        "RestoreDataUsingKopiaServer",
        "DeleteDataUsingKopiaServer",
    ];
    let removed =
        ["CreateVolumeSnapshot", "WaitForSnapshotCompletion", "CreateVolumeFromSnapshot", "DeleteVolumeSnapshot"];
    let mut names: Vec<_> = functions::registered().map(|f| f.name).collect();
    names.sort();
    let mut want = registered.to_vec();
    want.sort();
    assert_eq!(names, want);
    assert_eq!(functions::all().len(), registered.len() + removed.len());
    for r in removed {
        assert_eq!(functions::find(r).unwrap().availability, Availability::Removed("0.115.0"));
        assert!(functions::lookup(r, "v0.0.0").is_none());
    }
    for k in ["BackupDataUsingKopiaServer", "RestoreDataUsingKopiaServer", "DeleteDataUsingKopiaServer"] {
        assert_eq!(functions::find(k).unwrap().availability, Availability::RemovedAfter0119);
    }
    for never in ["KubeTaskParallel", "PrepareDataV2", "CopyVolumeDataUsingKopiaServer", "kubetask"] {
        assert!(functions::find(never).is_none(), "{never}");
    }
}

#[test]
fn arguments_as_upstream() {
    let kt = functions::lookup("KubeTask", "").unwrap();
    assert_eq!(kt.required_args, ["image", "command"]);
    assert_eq!(kt.optional_args, ["namespace", "podOverride", "podAnnotations", "podLabels"]);
    assert_eq!(kt.outputs, Outputs::FromPod);
    assert!(kt.takes_pod_metadata());
    let bds = functions::lookup("BackupDataStats", "").unwrap();
    assert!(bds.accepts("statsMode") && !bds.accepts("mode"));
    assert!(functions::lookup("KubeExec", "").unwrap().accepts("container"));
    assert!(!functions::lookup("KubeExec", "").unwrap().takes_pod_metadata());
    let sw = functions::lookup("ScaleWorkload", "").unwrap();
    assert_eq!(sw.outputs, Outputs::Keys(&["originalReplicaCount"]));
    let exp = functions::lookup("ExportRDSSnapshotToLocation", "").unwrap();
    assert!(exp.accepts("podLabels") && !exp.accepts("podOverride"));
    let rd = functions::lookup("RestoreData", "").unwrap();
    assert!(rd.accepts("backupTag") && rd.accepts("backupIdentifier") && !rd.required_args.contains(&"backupTag"));
}

/// Upstream's version fallback: only `v0.0.0` is registered; other versions fall back to it,
/// except 0.0.0 spelt differently, and unparsable versions fail.
#[test]
fn version_fallback() {
    for v in ["", "v0.0.0", "v0.0.1", "1.2.3", "v2", "v1.0.0-rc1", "v0.0.0-alpha"] {
        assert_eq!(functions::lookup("KubeTask", v).map(|f| f.name), Some("KubeTask"), "{v:?}");
    }
    for v in ["0.0.0", "v0.0", "v0", "v0.0.0+build"] {
        assert_eq!(
            functions::resolve("KubeTask", v).unwrap_err().to_string(),
            format!("Requested function {{KubeTask}} has not been registered with version {{{v}}}")
        );
    }
    assert_eq!(
        functions::resolve("KubeTask", "latest").unwrap_err(),
        LookupError::BadVersion { version: "latest".into(), reason: "Invalid Semantic Version".into() }
    );
    // The version is parsed before the name is looked up, as upstream.
    assert!(matches!(functions::resolve("Nope", "bad").unwrap_err(), LookupError::BadVersion { .. }));
    assert_eq!(
        functions::resolve("Nope", "v0.0.1").unwrap_err().to_string(),
        "Requested function {Nope} has not been registered"
    );
}
