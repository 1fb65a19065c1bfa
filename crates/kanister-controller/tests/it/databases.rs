//! Database servers as StatefulSet pods of the test cluster, shaped like the Bitnami charts the
//! upstream example blueprints expect (names, labels, Secret keys, Services), but running the
//! host's binaries through the test node agent (images are ignored): PostgreSQL 15 and
//! MariaDB from Debian, FerretDB (MongoDB wire protocol) over its own PostgreSQL.
//!
//! Each server listens on 127.0.0.1 at its usual port (pods share the host network);
//! the agent's hosts file resolves the Service names the blueprints use.

use crate::support::Ns;
use std::time::{Duration, Instant};

/// The uid of a host user (the database servers refuse to run as root).
pub fn uid(user: &str) -> u32 {
    let out = std::process::Command::new("id").args(["-u", user]).output().expect("id");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or_else(|_| panic!("no host user {user}"))
}

/// PostgreSQL release `instance` (StatefulSet and Service `<instance>-postgresql`, Secret
/// `<instance>-postgresql` with `postgres-password`), as the Bitnami chart names them.
pub fn postgres(instance: &str, password: &str, port: u16) -> String {
    let uid = uid("postgres");
    let bin = std::env::var("KANREPO_TEST_PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into());
    format!(
        r#"
apiVersion: v1
kind: Secret
metadata:
  name: {instance}-postgresql
  labels: {{app.kubernetes.io/instance: {instance}}}
stringData:
  postgres-password: "{password}"
---
apiVersion: v1
kind: Service
metadata:
  name: {instance}-postgresql
  labels: {{app.kubernetes.io/instance: {instance}}}
spec:
  selector: {{app.kubernetes.io/instance: {instance}, app.kubernetes.io/name: postgresql}}
  ports: [{{name: tcp-postgresql, port: {port}}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {instance}-postgresql
  labels: {{app.kubernetes.io/instance: {instance}, app.kubernetes.io/name: postgresql}}
spec:
  replicas: 1
  serviceName: {instance}-postgresql
  selector:
    matchLabels: {{app.kubernetes.io/instance: {instance}, app.kubernetes.io/name: postgresql}}
  template:
    metadata:
      labels: {{app.kubernetes.io/instance: {instance}, app.kubernetes.io/name: postgresql}}
    spec:
      securityContext: {{runAsUser: {uid}, fsGroup: {uid}}}
      containers:
      - name: postgresql
        image: docker.io/bitnami/postgresql:15
        env:
        - name: POSTGRES_PASSWORD
          valueFrom: {{secretKeyRef: {{name: {instance}-postgresql, key: postgres-password}}}}
        - name: PGDATA
          value: /bitnami/postgresql/data
        command:
        - bash
        - -ec
        - |
          if [ ! -s "$PGDATA/PG_VERSION" ]; then
            printf '%s\n' "$POSTGRES_PASSWORD" > /bitnami/postgresql/.pw
            {bin}/initdb -D "$PGDATA" -U postgres --auth=scram-sha-256 --pwfile=/bitnami/postgresql/.pw >/dev/null
            rm -f /bitnami/postgresql/.pw
          fi
          exec {bin}/postgres -D "$PGDATA" -c listen_addresses=127.0.0.1 -c port={port} \
            -c unix_socket_directories=/bitnami/postgresql -c fsync=off -c shared_buffers=32MB
        readinessProbe:
          exec: {{command: [pg_isready, -q, -h, 127.0.0.1, -p, "{port}"]}}
          periodSeconds: 1
        volumeMounts: [{{name: data, mountPath: /bitnami/postgresql}}]
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 1Gi}}}}
"#
    )
}

/// Wait until a StatefulSet has `n` ready pods.
pub async fn wait_ready(ns: &Ns, sts: &str, n: i64, timeout: Duration) {
    let api = ns.api("apps/v1", "StatefulSet", "").await;
    let t0 = Instant::now();
    loop {
        let s = api.get(sts).await.unwrap();
        if s.data.pointer("/status/readyReplicas").and_then(|v| v.as_i64()).unwrap_or(0) == n {
            return;
        }
        assert!(t0.elapsed() < timeout, "StatefulSet {sts} not ready within {timeout:?}: {:?}", s.data.get("status"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Run `psql` against the test PostgreSQL and return its stdout (tab-separated, no headers).
pub fn psql(port: u16, password: &str, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-At", "-F", "\t", "-c", sql])
        .env("PGPASSWORD", password)
        .output()
        .expect("psql");
    assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
