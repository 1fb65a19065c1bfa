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
    let bin = std::env::var("KANREPO_TEST_PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into());
    // The manifest scripts/demo-cluster.sh applies too.
    include_str!("../manifests/postgresql.yaml")
        .replace("@INSTANCE@", instance)
        .replace("@PASSWORD@", password)
        .replace("@PORT@", &port.to_string())
        .replace("@UID@", &uid("postgres").to_string())
        .replace("@BIN@", &bin)
}

/// Wait until a workload (`kind`: StatefulSet or Deployment) of this namespace has `n` ready pods.
pub async fn wait_ready(ns: &Ns, kind: &str, name: &str, n: i64, timeout: Duration) {
    let api = ns.api("apps/v1", kind, "").await;
    let t0 = Instant::now();
    loop {
        let s = api.get(name).await.unwrap();
        if s.data.pointer("/status/readyReplicas").and_then(|v| v.as_i64()).unwrap_or(0) == n {
            return;
        }
        assert!(t0.elapsed() < timeout, "{kind} {name} not ready within {timeout:?}: {:?}", s.data.get("status"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Run `psql` against the test PostgreSQL and return its stdout (tab-separated, no headers).
pub fn psql(port: u16, password: &str, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-At",
            "-F",
            "\t",
            "-c",
            sql,
        ])
        .env("PGPASSWORD", password)
        .output()
        .expect("psql");
    assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Wait until nothing listens on 127.0.0.1:`port` any more. Pods share the host network: the
/// server of a previous demo (its namespace being deleted) must be gone before the next one
/// starts, or the new pod's readiness probe and the seeding would talk to the old server.
pub async fn wait_port_free(port: u16, timeout: Duration) {
    let t0 = Instant::now();
    while std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)).is_ok() {
        assert!(
            t0.elapsed() < timeout,
            "127.0.0.1:{port} is still in use after {timeout:?} (a leftover database pod?)"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A binary of the harness's cache (`scripts/dbtools.sh`): `$<env_var>` if set, else
/// `~/.cache/kanrepo-test/bin/<name>` (or `$KANREPO_CACHE/bin/<name>`).
fn cached(env_var: &str, rel: &str) -> String {
    if let Ok(p) = std::env::var(env_var) {
        return p;
    }
    let cache = std::env::var("KANREPO_CACHE").unwrap_or_else(|_| {
        format!("{}/.cache/kanrepo-test", std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
    });
    format!("{cache}/{rel}")
}

/// FerretDB v1 (`scripts/dbtools.sh` builds it).
pub fn ferretdb_bin() -> String {
    let p = cached("KANREPO_TEST_FERRETDB_BIN", "bin/ferretdb");
    assert!(std::path::Path::new(&p).exists(), "{p} is missing: scripts/servers.sh install builds FerretDB");
    p
}

/// The directory of mongodump and mongorestore (`scripts/dbtools.sh` builds them).
pub fn mongo_tools_dir() -> String {
    let d = cached("KANREPO_TEST_MONGO_TOOLS_BIN", "bin");
    assert!(
        std::path::Path::new(&d).join("mongorestore").exists(),
        "{d}/mongodump and mongorestore are missing: scripts/servers.sh install builds them"
    );
    d
}

/// The Python of the pymongo venv (`scripts/dbtools.sh` installs it).
pub fn pymongo_python() -> String {
    let p = cached("KANREPO_TEST_PYMONGO_PYTHON", "pymongo-venv/bin/python");
    assert!(std::path::Path::new(&p).exists(), "{p} is missing: scripts/servers.sh install makes the pymongo venv");
    p
}

/// Put an executable script first on the pod PATH (`$KANREPO_TEST_POD_BIN`), written to a
/// temporary file and renamed, so a pod never sees a half-written one; rewriting it with the
/// same content is harmless (tests may run it again and again).
pub fn pod_bin_script(name: &str, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::path::PathBuf::from(crate::support::env("KANREPO_TEST_POD_BIN"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    if std::fs::read_to_string(&path).is_ok_and(|s| s == script) {
        return;
    }
    let tmp = dir.join(format!(".{name}.{}", crate::support::suffix()));
    std::fs::write(&tmp, script).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
}

/// MySQL release `instance` as the Bitnami MySQL chart names it for upstream's mysql blueprint:
/// StatefulSet, Service and Secret all `<instance>` (the blueprint takes the Secret name and the
/// host from the StatefulSet's `app.kubernetes.io/instance` label), the Secret's key
/// `mysql-root-password`. The server is the host's MariaDB 10.11 (`mariadb-install-db` on the
/// first start), as the `mysql` user; root has the password from `root@localhost`,
/// `root@127.0.0.1` and `root@%` (an `--init-file` sets it at every start).
pub fn mysql(instance: &str, password: &str, port: u16) -> String {
    let uid = uid("mysql");
    format!(
        r#"
apiVersion: v1
kind: Secret
metadata:
  name: {instance}
  labels: {{app.kubernetes.io/instance: {instance}}}
stringData:
  mysql-root-password: "{password}"
---
apiVersion: v1
kind: Service
metadata:
  name: {instance}
  labels: {{app.kubernetes.io/instance: {instance}}}
spec:
  selector: {{app.kubernetes.io/instance: {instance}, app.kubernetes.io/name: mysql}}
  ports: [{{name: mysql, port: {port}}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {instance}
  labels: {{app.kubernetes.io/instance: {instance}, app.kubernetes.io/name: mysql}}
spec:
  replicas: 1
  serviceName: {instance}
  selector:
    matchLabels: {{app.kubernetes.io/instance: {instance}, app.kubernetes.io/name: mysql}}
  template:
    metadata:
      labels: {{app.kubernetes.io/instance: {instance}, app.kubernetes.io/name: mysql}}
    spec:
      securityContext: {{runAsUser: {uid}}}
      terminationGracePeriodSeconds: 10
      containers:
      - name: mysql
        image: docker.io/bitnami/mysql:8.0
        env:
        - name: MYSQL_ROOT_PASSWORD
          valueFrom: {{secretKeyRef: {{name: {instance}, key: mysql-root-password}}}}
        command:
        - bash
        - -ec
        - |
          B=/bitnami/mysql
          if [ ! -e "$B/.initialized" ]; then
            rm -rf "$B/data"
            mariadb-install-db --no-defaults --datadir="$B/data" --auth-root-authentication-method=normal \
              --skip-test-db >"$B/install.log" 2>&1 || {{ cat "$B/install.log"; exit 1; }}
            touch "$B/.initialized"
          fi
          pw=${{MYSQL_ROOT_PASSWORD//\'/\'\'}}
          umask 077
          {{
            echo "ALTER USER root@localhost IDENTIFIED BY '$pw';"
            for h in 127.0.0.1 %; do
              echo "CREATE OR REPLACE USER root@'$h' IDENTIFIED BY '$pw';"
              echo "GRANT ALL PRIVILEGES ON *.* TO root@'$h' WITH GRANT OPTION;"
            done
          }} >"$B/init.sql"
          exec /usr/sbin/mariadbd --no-defaults --datadir="$B/data" --bind-address=127.0.0.1 --port={port} \
            --socket="$B/mysqld.sock" --pid-file="$B/mysqld.pid" --init-file="$B/init.sql" --skip-name-resolve \
            --skip-log-bin --innodb-buffer-pool-size=32M --innodb-flush-log-at-trx-commit=0
        readinessProbe:
          exec:
            command: [bash, -c, 'mariadb --no-defaults -h 127.0.0.1 -P {port} -u root -p"$MYSQL_ROOT_PASSWORD" -e "SELECT 1" >/dev/null']
          periodSeconds: 1
        volumeMounts: [{{name: data, mountPath: /bitnami/mysql}}]
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 1Gi}}}}
"#
    )
}

/// `mysqldump` first on the pod PATH: upstream's mysql blueprint runs MySQL 8's
/// `mysqldump --column-statistics=0`, and MariaDB's mysqldump (the host's) refuses the option
/// (`unknown variable 'column-statistics=0'`; it has no column statistics to skip). The wrapper
/// drops exactly that argument and runs MariaDB's mysqldump with the rest unchanged.
pub fn install_mysqldump_wrapper() {
    let real = ["/usr/bin/mariadb-dump", "/usr/bin/mysqldump"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("MariaDB's mysqldump (apt-get install mariadb-client)");
    pod_bin_script(
        "mysqldump",
        &format!(
            "#!/bin/bash\n\
             # Written by the kanister-controller e2e tests (tests/it/databases.rs): MariaDB's mysqldump\n\
             # rejects MySQL 8's --column-statistics=0, which upstream's mysql blueprint passes.\n\
             args=()\n\
             for a in \"$@\"; do [[ $a == --column-statistics=0 ]] || args+=(\"$a\"); done\n\
             exec {real} \"${{args[@]}}\"\n"
        ),
    );
}

/// Run the host's `mariadb` client as root over TCP; `(success, stdout, stderr)`.
pub fn mariadb(port: u16, password: &str, db: &str, sql: &str) -> (bool, String, String) {
    let mut cmd = std::process::Command::new("mariadb");
    cmd.args(["--no-defaults", "--default-character-set=utf8mb4", "-h", "127.0.0.1", "-P", &port.to_string()]);
    cmd.args(["-u", "root", "-N", "-B"]);
    if !db.is_empty() {
        cmd.args(["-D", db]);
    }
    let o = cmd.args(["-e", sql]).env("MYSQL_PWD", password).output().expect("mariadb client");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// MongoDB StatefulSet `sts` shaped like the Bitnami MongoDB chart upstream's mongodb blueprint
/// expects: Secret `<sts>` with `mongodb-root-password`, headless Service `<sts>-headless` (the
/// blueprint connects to `<sts>-0.<sts>-headless.<ns>.svc.cluster.local`, port 27017). The one
/// pod runs two containers: PostgreSQL 15 on `pg_port` (as the postgres user; superuser `root`
/// with the root password, scram-sha-256, database `ferretdb`), and FerretDB v1 on 27017 with
/// its PostgreSQL handler and `--repl-set-name=rs0` (for `mongodump --oplog`). FerretDB passes
/// the client's user and password on to PostgreSQL, so `root` + the password authenticate and a
/// wrong password fails — over the PLAIN mechanism only (see [`install_mongo_tool_wrappers`]).
/// FerretDB runs as root: its binary is in root's cache directory.
pub fn mongodb(sts: &str, password: &str, pg_port: u16) -> String {
    let uid = uid("postgres");
    let bin = std::env::var("KANREPO_TEST_PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into());
    let ferretdb = ferretdb_bin();
    format!(
        r#"
apiVersion: v1
kind: Secret
metadata:
  name: {sts}
  labels: {{app.kubernetes.io/instance: {sts}}}
stringData:
  mongodb-root-password: "{password}"
---
apiVersion: v1
kind: Service
metadata:
  name: {sts}-headless
  labels: {{app.kubernetes.io/instance: {sts}}}
spec:
  clusterIP: None
  selector: {{app.kubernetes.io/instance: {sts}, app.kubernetes.io/name: mongodb}}
  ports: [{{name: mongodb, port: 27017}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {sts}
  labels: {{app.kubernetes.io/instance: {sts}, app.kubernetes.io/name: mongodb}}
spec:
  replicas: 1
  serviceName: {sts}-headless
  selector:
    matchLabels: {{app.kubernetes.io/instance: {sts}, app.kubernetes.io/name: mongodb}}
  template:
    metadata:
      labels: {{app.kubernetes.io/instance: {sts}, app.kubernetes.io/name: mongodb}}
    spec:
      securityContext: {{runAsUser: {uid}}}
      terminationGracePeriodSeconds: 10
      containers:
      - name: postgresql
        image: docker.io/bitnami/postgresql:15
        env:
        - name: MONGODB_ROOT_PASSWORD
          valueFrom: {{secretKeyRef: {{name: {sts}, key: mongodb-root-password}}}}
        - name: PGDATA
          value: /bitnami/mongodb/pg
        command:
        - bash
        - -ec
        - |
          if [ ! -e /bitnami/mongodb/.initialized ]; then
            rm -rf "$PGDATA"
            umask 077
            printf '%s\n' "$MONGODB_ROOT_PASSWORD" > /bitnami/mongodb/.pw
            {bin}/initdb -D "$PGDATA" -U root -E UTF8 --locale=C --auth=scram-sha-256 --pwfile=/bitnami/mongodb/.pw >/dev/null
            rm -f /bitnami/mongodb/.pw
            echo 'CREATE DATABASE ferretdb' | {bin}/postgres --single -D "$PGDATA" postgres >/dev/null
            touch /bitnami/mongodb/.initialized
          fi
          exec {bin}/postgres -D "$PGDATA" -c listen_addresses=127.0.0.1 -c port={pg_port} \
            -c unix_socket_directories=/bitnami/mongodb -c fsync=off -c shared_buffers=32MB
        readinessProbe:
          exec: {{command: [pg_isready, -q, -h, 127.0.0.1, -p, "{pg_port}"]}}
          periodSeconds: 1
        volumeMounts: [{{name: datadir, mountPath: /bitnami/mongodb}}]
      - name: mongodb
        image: docker.io/bitnami/mongodb:7.0
        securityContext: {{runAsUser: 0}}
        command:
        - bash
        - -ec
        - |
          mkdir -p /bitnami/mongodb/ferretdb
          exec {ferretdb} --handler=postgresql --postgresql-url=postgres://127.0.0.1:{pg_port}/ferretdb \
            --listen-addr=127.0.0.1:27017 --state-dir=/bitnami/mongodb/ferretdb --repl-set-name=rs0 \
            --telemetry=disable --debug-addr=- --log-level=warn
        readinessProbe:
          tcpSocket: {{port: 27017}}
          periodSeconds: 1
        volumeMounts: [{{name: datadir, mountPath: /bitnami/mongodb}}]
  volumeClaimTemplates:
  - metadata: {{name: datadir}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 1Gi}}}}
"#
    )
}

/// `mongodump` and `mongorestore` first on the pod PATH, appending
/// `--authenticationMechanism=PLAIN`: FerretDB v1 with the PostgreSQL handler authenticates with
/// PLAIN only, and answers the tools' default SCRAM-SHA-1 with `Unsupported authentication
/// mechanism`. Everything else of the blueprints' command lines reaches the real tools unchanged.
pub fn install_mongo_tool_wrappers() {
    let dir = mongo_tools_dir();
    for tool in ["mongodump", "mongorestore"] {
        pod_bin_script(
            tool,
            &format!(
                "#!/bin/sh\n\
                 # Written by the kanister-controller e2e tests (tests/it/databases.rs): FerretDB v1\n\
                 # authenticates with PLAIN only (no SCRAM).\n\
                 exec {dir}/{tool} \"$@\" --authenticationMechanism=PLAIN\n"
            ),
        );
    }
}

/// Run a Python snippet with pymongo against the FerretDB on 127.0.0.1:27017 as root (PLAIN);
/// the snippet has `c` (the client), `json_util` and `CANONICAL` (bson's canonical extended JSON
/// options) and prints what the test reads. `(success, stdout, stderr)`.
pub fn pymongo(password: &str, snippet: &str) -> (bool, String, String) {
    let prelude = "import os, sys, pymongo\n\
                   from bson import json_util\n\
                   from bson.json_util import CANONICAL_JSON_OPTIONS as CANONICAL\n\
                   c = pymongo.MongoClient('127.0.0.1', 27017, username='root', password=os.environ['MONGO_PW'],\n\
                   \x20   authMechanism='PLAIN', directConnection=True, serverSelectionTimeoutMS=5000)\n";
    let o = std::process::Command::new(pymongo_python())
        .args(["-c", &format!("{prelude}{snippet}")])
        .env("MONGO_PW", password)
        .output()
        .expect("python (pymongo)");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}
