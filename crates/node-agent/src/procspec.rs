//! The process spec the agent writes for one container (`STATE/pods/<uid>/<container>.spec.json`):
//! argv, environment, working directory, user, bind mounts. `__container-init` reads the file;
//! `__container-exec` gets the same JSON in its environment. Plain data with serde; it must not
//! do any I/O beyond reading and writing the file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One bind mount made inside the container's mount namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    /// Host path (a directory or a file).
    pub source: PathBuf,
    /// Path inside the container (created on the host if missing).
    pub target: PathBuf,
    /// Remount read-only after binding.
    pub read_only: bool,
}

/// Everything a container process needs besides its stdio.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcSpec {
    /// The command line: program then arguments (already `$(VAR)`-expanded).
    pub argv: Vec<String>,
    /// The complete environment, in order.
    pub env: Vec<(String, String)>,
    /// Working directory (created if missing); `/` when `None`.
    pub working_dir: Option<String>,
    /// `runAsUser`; `None` keeps root.
    pub uid: Option<u32>,
    /// `runAsGroup`; defaults to the user's primary group when only `uid` is set.
    pub gid: Option<u32>,
    /// Supplementary groups (`fsGroup`, `supplementalGroups`).
    pub groups: Vec<u32>,
    /// Bind mounts, parents before children.
    pub mounts: Vec<MountSpec>,
    /// Bound over `/etc/hosts`.
    pub hosts_file: Option<PathBuf>,
    /// The pod's hostname, set in the container's UTS namespace.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Host directories bound read-only at `POD_TOOLS_ROOT/<n>` after the volumes (the
    /// directories on the pods' PATH).
    #[serde(default)]
    pub tools: Vec<PathBuf>,
}

impl ProcSpec {
    /// Reads a spec written by [`ProcSpec::write`].
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path)?;
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// Writes the spec atomically (temp file + rename).
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let spec = ProcSpec {
            argv: vec!["sleep".into(), "infinity".into()],
            env: vec![("A".into(), "b".into())],
            uid: Some(101),
            mounts: vec![MountSpec { source: "/a".into(), target: "/b".into(), read_only: true }],
            ..Default::default()
        };
        let p = dir.path().join("c.spec.json");
        spec.write(&p).unwrap();
        assert_eq!(ProcSpec::read(&p).unwrap(), spec);
    }
}
