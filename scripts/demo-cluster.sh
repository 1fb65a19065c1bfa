#!/usr/bin/env bash
# The whole product in one go, on a local control plane (optional; needs what the test command
# installs: the first run builds the Kubernetes binaries, MinIO, … into ~/.cache/kanrepo-test,
# about 17 min on 2 cores; later runs start in ~20 s):
#
#   1. a real control plane (etcd, kube-apiserver, controller-manager, scheduler) and the test
#      node agent, which runs pods as host processes (no Docker, no kubelet), plus MinIO;
#   2. kanister-controller as a Deployment from deploy/kanister-controller.yaml (its own
#      ServiceAccount and RBAC), with a repository password Secret;
#   3. PostgreSQL as a StatefulSet, with a table of four restaurants;
#   4. a Profile on MinIO created with kanctl, and upstream's postgres blueprint (unchanged);
#   5. backup ActionSet -> complete; DROP TABLE; restore ActionSet (--from the backup) ->
#      the rows are back; delete ActionSet -> the backup is gone.
#
#   scripts/demo-cluster.sh            (stops everything at the end)
#   KEEP=1 scripts/demo-cluster.sh     (leaves the cluster running; prints how to use it)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
NS=kanister-demo
PG_PORT=${KANREPO_DEMO_PG_PORT:-5432}
PG_PASSWORD=demo-postgres-password
HEALTH_PORT=${KANREPO_DEMO_HEALTH_PORT:-18080}
STATE=$(mktemp -d /tmp/kanrepo-demo.XXXXXX)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
cleanup() {
  if [ "${KEEP:-0}" != 1 ]; then
    scripts/servers.sh stop "$STATE" >/dev/null 2>&1 || true
    rm -rf "$STATE"
  fi
}
trap cleanup EXIT

command -v kubectl >/dev/null || { echo "kubectl is needed to show the objects (apt-get install kubectl, or any v1.2x kubectl)"; exit 1; }
command -v psql >/dev/null || { echo "psql is needed (apt-get install postgresql-client)"; exit 1; }

step "building kando, kanctl, kanister-controller and the test node agent"
cargo build -q -p kando -p kanctl -p kanister-controller -p kanrepo-node-agent
export PATH=$ROOT/target/debug:$PATH

step "starting the local control plane, the node agent and MinIO (logs in $STATE)"
scripts/servers.sh start "$STATE" | grep -E '^\[servers\] (all servers up|installing|installed)|^  ' || true
# shellcheck disable=SC1091
source "$STATE/env"
run kubectl get nodes

step "kanister-controller as a Deployment (deploy/kanister-controller.yaml), and its repository password"
# The manifest as a user applies it, in namespace $NS, with its port 8000 moved to $HEALTH_PORT
# (pods share the host network here).
sed -e "s/namespace: kanister$/namespace: $NS/" -e "s/^  name: kanister$/  name: $NS/" -e "s/\b8000\b/$HEALTH_PORT/g" \
  deploy/kanister-controller.yaml | kubectl apply -f -
openssl rand -hex 16 | kubectl -n "$NS" create secret generic kando-password --from-file=password=/dev/stdin
run kubectl -n "$NS" rollout status deployment/kanister-controller --timeout=120s ||
  { kubectl -n "$NS" logs deployment/kanister-controller --tail 20; exit 1; }

step "PostgreSQL as a StatefulSet (Bitnami names), with four restaurants"
sed -e "s/@INSTANCE@/demo/g" -e "s/@PASSWORD@/$PG_PASSWORD/g" -e "s/@PORT@/$PG_PORT/g" \
  -e "s/@UID@/$(id -u postgres)/g" -e "s#@BIN@#/usr/lib/postgresql/15/bin#g" \
  crates/kanister-controller/tests/manifests/postgresql.yaml | kubectl -n "$NS" apply -f - >/dev/null
run kubectl -n "$NS" rollout status statefulset/demo-postgresql --timeout=120s
q() { PGPASSWORD=$PG_PASSWORD psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -At "$@"; }
q -c "CREATE TABLE restaurants (name text, cuisine text, id text)" >/dev/null
q -c "INSERT INTO restaurants VALUES ('Roys', 'Hawaiian', '8675309'), ('Rubens', 'Jewish', '1234567'), ('Carls', 'Burgers', '2345678'), ('Jacks', 'Grill', '3456789')" >/dev/null
run q -c "SELECT * FROM restaurants"

step "a Profile on MinIO (kanctl checks the bucket first), and upstream's postgres blueprint"
out=$(kanctl -n "$NS" create profile --bucket "$KANREPO_TEST_S3_BUCKET" --endpoint "$KANREPO_TEST_S3_ENDPOINT" \
  --region "$KANREPO_TEST_S3_REGION" --prefix "demo-$(date +%s)" s3compliant \
  --access-key "$KANREPO_TEST_S3_ACCESS_KEY" --secret-key "$KANREPO_TEST_S3_SECRET_KEY")
echo "$out"
PROFILE=$(sed -n "s/^profile '\(.*\)' created$/\1/p" <<<"$out")
run kubectl -n "$NS" apply -f crates/kanister/tests/data/blueprints/postgres/postgres-blueprint.yaml

# wait_actionset NAME: wait until complete (or fail loudly), then show it.
wait_actionset() {
  local state=""
  for _ in $(seq 600); do
    state=$(kubectl -n "$NS" get actionset "$1" -o jsonpath='{.status.state}' 2>/dev/null || true)
    [ "$state" = complete ] || [ "$state" = failed ] && break
    sleep 0.2
  done
  kubectl -n "$NS" get actionset "$1"
  if [ "$state" != complete ]; then
    kubectl -n "$NS" get actionset "$1" -o jsonpath='{.status.error.message}{"\n"}'
    exit 1
  fi
}
actionset() { kanctl -n "$NS" create actionset "$@" | sed -n 's/^actionset \(.*\) created$/\1/p'; }

step "backup: kanctl create actionset --action backup"
BACKUP=$(actionset --action backup --blueprint postgres-bp --statefulset "$NS/demo-postgresql" --profile "$NS/$PROFILE")
wait_actionset "$BACKUP"
echo "artifact: $(kubectl -n "$NS" get actionset "$BACKUP" -o jsonpath='{.status.actions[0].artifacts.cloudObject.keyValue.backupLocation}')"

step "disaster: DROP TABLE restaurants"
run q -c "DROP TABLE restaurants"
q -c "SELECT count(*) FROM restaurants" 2>&1 | sed 's/^/  /' || true

step "restore: kanctl create actionset --action restore --from $BACKUP"
RESTORE=$(actionset --action restore --from "$BACKUP")
wait_actionset "$RESTORE"
run q -c "SELECT * FROM restaurants"

step "delete the backup: kanctl create actionset --action delete --from $BACKUP"
DELETE=$(actionset --action delete --from "$BACKUP" --namespacetargets "$NS")
wait_actionset "$DELETE"

step "events of the backup ActionSet"
kubectl -n "$NS" get events --field-selector "involvedObject.name=$BACKUP" -o custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message

if [ "${KEEP:-0}" = 1 ]; then
  echo
  echo "The cluster is still running: source $STATE/env (KUBECONFIG), then kubectl/kanctl"
  echo "(the controller's log: kubectl -n $NS logs deployment/kanister-controller);"
  echo "stop it with: scripts/servers.sh stop $STATE"
fi
echo
echo "demo complete"
