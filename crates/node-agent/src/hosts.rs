//! The hosts file every pod sees as /etc/hosts (there is no cluster DNS): every Service name
//! (`svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local`), every pod hostname and every
//! `hostname.subdomain.ns.svc.cluster.local` resolve to 127.0.0.1, the one address all pods
//! share. The file is rewritten in place (same inode), so the bind mounts of running pods see
//! every update. Rendering is pure; [`write_in_place`] is the only I/O, and [`keep_updated`]
//! rewrites the file from the caches whenever Services or pods change.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

/// A pod's DNS identity: hostname (spec.hostname or its name), subdomain, namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PodName {
    /// spec.hostname, else the pod name.
    pub hostname: String,
    /// spec.subdomain (a StatefulSet's headless service).
    pub subdomain: Option<String>,
    /// Namespace.
    pub namespace: String,
}

/// The hosts file for these Services (name, namespace) and pods.
pub fn render(services: &[(String, String)], pods: &[PodName]) -> String {
    let mut names = BTreeSet::new();
    for (svc, ns) in services {
        names.insert(svc.clone());
        names.insert(format!("{svc}.{ns}"));
        names.insert(format!("{svc}.{ns}.svc"));
        names.insert(format!("{svc}.{ns}.svc.cluster.local"));
    }
    for p in pods {
        names.insert(p.hostname.clone());
        if let Some(sub) = &p.subdomain {
            let fqdn = format!("{}.{sub}.{}", p.hostname, p.namespace);
            names.insert(format!("{}.{sub}", p.hostname));
            names.insert(format!("{fqdn}.svc"));
            names.insert(format!("{fqdn}.svc.cluster.local"));
            names.insert(fqdn);
        }
    }
    names.remove("localhost");
    let mut out = String::from(
        "# Written by kanrepo-node-agent: all pods share the host network, so every name is 127.0.0.1.\n\
         127.0.0.1\tlocalhost\n",
    );
    for n in names.iter().filter(|n| valid_name(n)) {
        out.push_str("127.0.0.1\t");
        out.push_str(n);
        out.push('\n');
    }
    out
}

fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

/// Rewrites `path` in place: new content from offset 0, then truncated to its length (never
/// replaced by a rename, which bind mounts would not follow).
pub fn write_in_place(path: &Path, content: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(false).open(path)?;
    f.write_all(content.as_bytes())?;
    f.set_len(content.len() as u64)?;
    f.flush()
}

/// The hosts file for the cached Services and pods.
pub fn from_cache(cache: &crate::cache::Cache) -> String {
    let services: Vec<(String, String)> = cache
        .services
        .store
        .state()
        .iter()
        .filter_map(|s| Some((s.metadata.name.clone()?, s.metadata.namespace.clone()?)))
        .collect();
    let mut pods: Vec<PodName> = cache
        .pods
        .store
        .state()
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| {
            Some(PodName {
                hostname: crate::container::hostname(p),
                subdomain: p.spec.as_ref().and_then(|s| s.subdomain.clone()).filter(|s| !s.is_empty()),
                namespace: p.metadata.namespace.clone()?,
            })
        })
        .collect();
    pods.sort();
    render(&services, &pods)
}

/// Writes the hosts file now and after every Service or pod change, until cancelled.
pub async fn keep_updated(
    cache: crate::cache::Cache,
    path: std::path::PathBuf,
    stop: tokio_util::sync::CancellationToken,
) {
    let (mut svc_rx, mut pod_rx) = (cache.services.changed.clone(), cache.pods.changed.clone());
    let mut last = String::new();
    loop {
        let text = from_cache(&cache);
        if text != last {
            match write_in_place(&path, &text) {
                Ok(()) => last = text,
                Err(e) => tracing::warn!("writing {}: {e}", path.display()),
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = svc_rx.changed() => {}
            _ = pod_rx.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn services_and_statefulset_pods() {
        let text = render(
            &[("postgres".into(), "pg".into())],
            &[PodName { hostname: "postgres-0".into(), subdomain: Some("postgres".into()), namespace: "pg".into() }],
        );
        let names: Vec<&str> = text.lines().skip(1).map(|l| l.split('\t').nth(1).unwrap()).collect();
        for want in [
            "localhost",
            "postgres",
            "postgres.pg",
            "postgres.pg.svc",
            "postgres.pg.svc.cluster.local",
            "postgres-0",
            "postgres-0.postgres",
            "postgres-0.postgres.pg",
            "postgres-0.postgres.pg.svc.cluster.local",
        ] {
            assert!(names.contains(&want), "{want} missing from\n{text}");
        }
        assert!(text.lines().skip(1).all(|l| l.starts_with("127.0.0.1\t")));
        assert_eq!(names.iter().filter(|n| **n == "localhost").count(), 1);
    }

    #[test]
    fn rewrite_keeps_the_inode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hosts");
        write_in_place(&p, "a long first version\n").unwrap();
        let ino = std::fs::metadata(&p).unwrap().ino();
        write_in_place(&p, "short\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "short\n");
        assert_eq!(std::fs::metadata(&p).unwrap().ino(), ino);
    }
}
