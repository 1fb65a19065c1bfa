# shellcheck shell=bash
# A real Kubernetes control plane for the tests, on 127.0.0.1 with no container runtime: etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, and the test node agent
# (crates/node-agent) that plays kubelet with host processes, so Pods really run
# (docs/test-cluster.md). Sourced by scripts/servers.sh, whose helpers (say, die, fail, spawn,
# running, port_free, timed, expect, shq, usec, since) it uses.
#
# Install (cached in $CACHE/bin, rebuilt only when the pinned version changes): neither etcd nor
# the Kubernetes binaries can be `go install`ed (k8s.io/kubernetes pins its staging modules at
# v0.0.0 with replace directives; etcd's server module has the same problem), so each is built
# from a throw-away wrapper module under $CACHE/kube-build: `go mod init`, for Kubernetes a
# `go mod edit -replace` of every k8s.io/* staging module to its published v0.N.P, `go get`,
# `go build`. The node agent is this repository's own binary: build it with
# `cargo build -p kanrepo-node-agent` (servers.sh only checks that it exists).
#
# Start: etcd (data in STATEDIR/etcd, wiped each start) and kube-apiserver with token auth
# (STATEDIR/kube/tokens.csv: an admin in system:masters and an unprivileged user), RBAC, a
# self-signed serving certificate made by the apiserver, WebSocket exec passed through to the
# node (TranslateStreamCloseWebsocketRequests=false) and nodes reached at their InternalIP; waits
# for /readyz and the default namespace, then writes STATEDIR/kube/kubeconfig (admin) and
# kubeconfig-unprivileged (the apiserver's own CA is in them, so clients verify TLS). Then
# kube-controller-manager and kube-scheduler (admin kubeconfig, no leader election, no serving
# port), then the node agent (state in STATEDIR/node, serving certificate made here with openssl,
# pod PATH = STATEDIR/pod-bin:$KANREPO_POD_PATH), waiting until the node is Ready and untainted.
#
# Knobs: KANREPO_KUBE=0 skips all of this; KANREPO_{ETCD,ETCD_PEER,KUBE_APISERVER,NODE_AGENT}_PORT
# (default 22379 22380 26443 20250); KANREPO_NODE_AGENT_BIN (default target/debug/kanrepo-node-agent);
# KANREPO_POD_PATH (default target/debug: where kando and kanctl are); KANREPO_NODE_NAME
# (default kanrepo-node).

KUBE_VERSION=1.33.13 # kube-apiserver; its staging modules are v0.33.13
ETCD_VERSION=3.5.24  # k8s 1.31-1.33 need etcd >= 3.5.11; kubeadm pins 3.5.24 for 1.33
HELM_VERSION=4.3.2 # helm.sh/helm/v4: renders deploy/helm/kanister-operator for its test

KUBE_ENABLED=${KANREPO_KUBE:-1}
ETCD_PORT=${KANREPO_ETCD_PORT:-22379}
ETCD_PEER_PORT=${KANREPO_ETCD_PEER_PORT:-22380}
KUBE_PORT=${KANREPO_KUBE_APISERVER_PORT:-26443}
NODE_AGENT_PORT=${KANREPO_NODE_AGENT_PORT:-20250}
NODE_NAME=${KANREPO_NODE_NAME:-kanrepo-node}
KUBE_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NODE_AGENT_BIN=${KANREPO_NODE_AGENT_BIN:-$KUBE_REPO/target/debug/kanrepo-node-agent}
POD_PATH=${KANREPO_POD_PATH:-$KUBE_REPO/target/debug}

KUBE_BINS=(kube-apiserver kube-controller-manager kube-scheduler) # built together, one wrapper module

kube_bin_ok() { # kube_bin_ok NAME WANT: the cached binary reports version WANT
  local bin=$CACHE/bin/$1
  [[ -x $bin ]] || return 1
  case $1 in
    etcd) [[ "$("$bin" --version 2>/dev/null | awk '/^etcd Version:/ { print $3 }')" == "$2" ]] ;;
    kube-*) [[ "$("$bin" --version 2>/dev/null)" == "Kubernetes v$2" ]] ;;
    helm) [[ "$("$bin" version --template '{{.Version}}' 2>/dev/null)" == "v$2" ]] ;;
  esac
}

# go_wrapper_build NAME DIR [BIN...]: run the build steps of kube_build_NAME in a fresh DIR,
# logging to $CACHE/NAME-build.log; the binaries (default: NAME) land in $CACHE/bin only when
# every step succeeded. GOCACHE and GOMODCACHE live in $CACHE/go, shared by every Go build of
# the test harness (the controller-manager build reuses most of the apiserver's packages).
go_wrapper_build() {
  local name=$1 dir=$2 log=$CACHE/$1-build.log b
  shift 2
  local bins=("${@:-$name}")
  command -v go >/dev/null || die "$name is built from Go modules: Go is required (or set KANREPO_KUBE=0)"
  rm -rf "$dir"
  mkdir -p "$dir" "$CACHE/bin"
  if ! (cd "$dir" && export GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 \
    GOCACHE="$CACHE/go/build" GOMODCACHE="$CACHE/go/mod" && "kube_build_$name") >"$log" 2>&1; then
    tail -n 25 "$log" >&2
    die "building $name failed (log: $log); KANREPO_KUBE=0 skips the Kubernetes tests' server"
  fi
  for b in "${bins[@]}"; do mv -f "$dir/$b" "$CACHE/bin/$b"; done
}

kube_build_etcd() { # etcd's server module replaces nothing, but `go install` refuses it (etcd-io/etcd#18501)
  go mod init kanrepo-test/etcd
  go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
  go build -trimpath -ldflags '-s -w' -o etcd go.etcd.io/etcd/server/v3
}

kube_build_kubernetes() {
  local modfile replaces=() m b pkg=k8s.io/component-base/version minor=${KUBE_VERSION#1.}
  minor=${minor%%.*}
  go mod init kanrepo-test/kubernetes
  modfile=$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["GoMod"])')
  # Every staging module k8s.io/kubernetes replaces with ./staging/src/k8s.io/M, at its tag.
  while read -r m; do
    replaces+=("-replace=$m=$m@v0.${KUBE_VERSION#1.}")
  done < <(awk '$2 == "=>" && $3 ~ /^\.\/staging\// { print $1 }' "$modfile")
  ((${#replaces[@]} > 20)) || { echo "found only ${#replaces[@]} staging modules in $modfile"; return 1; }
  go mod edit "${replaces[@]}"
  for b in "${KUBE_BINS[@]}"; do go get "k8s.io/kubernetes/cmd/$b@v$KUBE_VERSION"; done
  # One after the other, in one module and one GOCACHE: the second and third reuse most of the
  # first's compiled packages. Without the -X flags each calls itself v0.0.0-master+$Format:%H$.
  for b in "${KUBE_BINS[@]}"; do
    go build -trimpath -o "$b" -ldflags "-s -w -X $pkg.gitVersion=v$KUBE_VERSION \
      -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean" \
      "k8s.io/kubernetes/cmd/$b"
  done
}

kube_build_helm() { # only `helm template` is used (no release is installed in the test cluster)
  go mod init kanrepo-test/helm
  go get "helm.sh/helm/v4@v$HELM_VERSION"
  go build -trimpath -o helm -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=v$HELM_VERSION" \
    helm.sh/helm/v4/cmd/helm
}

install_kube() {
  [[ $KUBE_ENABLED == 1 ]] || return 0
  if ! kube_bin_ok etcd "$ETCD_VERSION"; then
    timed "etcd v$ETCD_VERSION (Go wrapper module; about 2 min cold on 2 cores)" \
      go_wrapper_build etcd "$CACHE/kube-build/etcd"
  fi
  local b ok=1
  for b in "${KUBE_BINS[@]}"; do kube_bin_ok "$b" "$KUBE_VERSION" || ok=0; done
  if [[ $ok == 0 ]]; then
    timed "kube-apiserver, kube-controller-manager, kube-scheduler v$KUBE_VERSION (one Go wrapper module; about 12 min cold on 2 cores)" \
      go_wrapper_build kubernetes "$CACHE/kube-build/kubernetes" "${KUBE_BINS[@]}"
  fi
  if ! kube_bin_ok helm "$HELM_VERSION"; then
    timed "helm v$HELM_VERSION (Go wrapper module; about 4 min cold on 2 cores)" \
      go_wrapper_build helm "$CACHE/kube-build/helm"
  fi
}

kcurl() { # kcurl TOKEN METHOD PATH [curl args...]: a request to the apiserver; prints the HTTP status
  local token=$1 method=$2 path=$3
  shift 3
  curl -sS -o "${KUBE_OUT:-/dev/null}" -w '%{http_code}' --max-time 10 --cacert "$KUBE_DIR/ca.crt" \
    -H "Authorization: Bearer $token" -X "$method" "$@" "https://127.0.0.1:$KUBE_PORT$path"
}

write_kubeconfig() { # write_kubeconfig FILE TOKEN
  cat >"$1" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: kanrepo-test
  cluster:
    server: https://127.0.0.1:$KUBE_PORT
    certificate-authority-data: $(base64 -w0 <"$KUBE_DIR/ca.crt")
users:
- name: kanrepo-test
  user:
    token: $2
contexts:
- name: kanrepo-test
  context:
    cluster: kanrepo-test
    user: kanrepo-test
    namespace: default
current-context: kanrepo-test
KUBECONFIG
}

start_kube() {
  local deadline code
  [[ -x $NODE_AGENT_BIN ]] ||
    die "the test node agent $NODE_AGENT_BIN is missing: run 'cargo build -p kanrepo-node-agent' first (or set KANREPO_NODE_AGENT_BIN, or KANREPO_KUBE=0)"
  KUBE_DIR=$STATE/kube
  port_free etcd "$ETCD_PORT"
  port_free etcd "$ETCD_PEER_PORT"
  port_free kube-apiserver "$KUBE_PORT"
  rm -rf "$STATE/etcd" "$KUBE_DIR"
  mkdir -p "$STATE/etcd" "$KUBE_DIR/certs"
  spawn etcd "$CACHE/bin/etcd" --data-dir "$STATE/etcd" --name kanrepo-test --log-level warn --unsafe-no-fsync \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "kanrepo-test=http://127.0.0.1:$ETCD_PEER_PORT"
  wait_http etcd "http://127.0.0.1:$ETCD_PORT/health"

  openssl genrsa -out "$KUBE_DIR/sa.key" 2048 2>/dev/null
  openssl rsa -in "$KUBE_DIR/sa.key" -pubout -out "$KUBE_DIR/sa.pub" 2>/dev/null
  KUBE_ADMIN_TOKEN=$(openssl rand -hex 24)
  KUBE_NOBODY_TOKEN=$(openssl rand -hex 24)
  # token,user,uid,"groups": the admin bypasses RBAC (system:masters); the other user has no
  # role bindings beyond the defaults every authenticated user gets.
  {
    echo "$KUBE_ADMIN_TOKEN,kanrepo-admin,kanrepo-admin,\"system:masters\""
    echo "$KUBE_NOBODY_TOKEN,kanrepo-nobody,kanrepo-nobody"
  } >"$KUBE_DIR/tokens.csv"
  spawn kube-apiserver "$CACHE/bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --cert-dir "$KUBE_DIR/certs" --secure-port "$KUBE_PORT" --bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
    --service-cluster-ip-range 10.0.0.0/24 --service-account-issuer "https://127.0.0.1:$KUBE_PORT" \
    --service-account-key-file "$KUBE_DIR/sa.pub" --service-account-signing-key-file "$KUBE_DIR/sa.key" \
    --authorization-mode RBAC --token-auth-file "$KUBE_DIR/tokens.csv" --disable-admission-plugins ServiceAccount \
    --allow-privileged=true --profiling=false --enable-priority-and-fairness=false \
    --feature-gates TranslateStreamCloseWebsocketRequests=false --kubelet-preferred-address-types InternalIP
  # The apiserver writes its self-signed certificate, then its CA, into certs/apiserver.crt.
  deadline=$((SECONDS + TIMEOUT))
  until [[ -s $KUBE_DIR/certs/apiserver.crt ]]; do
    running kube-apiserver || fail kube-apiserver "exited before writing its certificate"
    ((SECONDS < deadline)) || fail kube-apiserver "no certificate in $KUBE_DIR/certs within ${TIMEOUT}s"
    sleep 0.2
  done
  sleep 0.2
  awk '/BEGIN CERTIFICATE/ { n++; buf = "" } { buf = buf $0 "\n" } /END CERTIFICATE/ { last = buf } END { printf "%s", last }' \
    "$KUBE_DIR/certs/apiserver.crt" >"$KUBE_DIR/ca.crt"
  # Ready (every post-start hook, RBAC bootstrap roles included), then the default namespace.
  deadline=$((SECONDS + TIMEOUT))
  for path in /readyz /api/v1/namespaces/default; do
    while :; do
      code=$(kcurl "$KUBE_ADMIN_TOKEN" GET "$path" 2>/dev/null || true)
      [[ $code == 200 ]] && break
      running kube-apiserver || fail kube-apiserver "exited before answering $path"
      ((SECONDS < deadline)) || fail kube-apiserver "$path did not answer 200 within ${TIMEOUT}s (last: ${code:-none})"
      sleep 0.3
    done
  done
  write_kubeconfig "$KUBE_DIR/kubeconfig" "$KUBE_ADMIN_TOKEN"
  write_kubeconfig "$KUBE_DIR/kubeconfig-unprivileged" "$KUBE_NOBODY_TOKEN"
  start_kube_controllers
  start_node_agent
}

# kube_wait NAME WHAT TEST...: poll TEST (a command) until it succeeds, NAME dies or TIMEOUT passes.
kube_wait() {
  local name=$1 what=$2 deadline=$((SECONDS + TIMEOUT))
  shift 2
  until "$@"; do
    running "$name" || fail "$name" "exited before $what"
    ((SECONDS < deadline)) || fail "$name" "not $what within ${TIMEOUT}s"
    sleep 0.1
  done
}

kube_json() { # kube_json PATH PYTHON-EXPR: GET PATH as the admin, true if EXPR (on `o`) holds
  local out
  out=$(mktemp)
  if [[ "$(KUBE_OUT=$out kcurl "$KUBE_ADMIN_TOKEN" GET "$1" 2>/dev/null)" != 200 ]]; then
    rm -f "$out"
    return 1
  fi
  python3 -c 'import json, sys; o = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$out" "$2"
  local rc=$?
  rm -f "$out"
  return $rc
}

# The real controllers (Deployment, ReplicaSet, StatefulSet, Job, garbage collector, namespace, PV
# binder, service accounts, node lifecycle, ...) and the scheduler. Both use the admin kubeconfig.
# The endpoint controllers are off: every pod's IP is 127.0.0.1, which Endpoints and
# EndpointSlices reject ("may not be in the loopback range"), so they would only retry and spam
# events. A namespace is deleted 5 s after the request at the earliest (the namespace
# controller's fixed delay); --namespace-sync-period 5s re-checks one whose pods are terminating.
start_kube_controllers() {
  spawn kube-controller-manager "$CACHE/bin/kube-controller-manager" --kubeconfig "$KUBE_DIR/kubeconfig" \
    --leader-elect=false --secure-port=0 --service-account-private-key-file "$KUBE_DIR/sa.key" \
    --root-ca-file "$KUBE_DIR/ca.crt" --use-service-account-credentials=false \
    --controllers '*,-endpoints-controller,-endpointslice-controller,-endpointslice-mirroring-controller' \
    --concurrent-gc-syncs 5 --namespace-sync-period 5s
  spawn kube-scheduler "$CACHE/bin/kube-scheduler" --kubeconfig "$KUBE_DIR/kubeconfig" \
    --leader-elect=false --secure-port=0
  # The serviceaccount controller creates "default" in every namespace: the controllers are up.
  kube_wait kube-controller-manager "creating the default ServiceAccount" \
    kube_json /api/v1/namespaces/default/serviceaccounts/default 'True'
  running kube-scheduler || fail kube-scheduler "exited at start"
}

start_node_agent() {
  local dir=$STATE/node
  port_free kanrepo-node-agent "$NODE_AGENT_PORT"
  rm -rf "$dir"
  mkdir -p "$dir" "$STATE/pod-bin"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -keyout "$KUBE_DIR/node-agent.key" -out "$KUBE_DIR/node-agent.crt" -subj "/CN=$NODE_NAME" \
    -addext "subjectAltName=IP:127.0.0.1,DNS:$NODE_NAME,DNS:localhost" 2>/dev/null ||
    die "openssl could not make the node agent's serving certificate"
  spawn kanrepo-node-agent "$NODE_AGENT_BIN" --kubeconfig "$KUBE_DIR/kubeconfig" --node-name "$NODE_NAME" \
    --port "$NODE_AGENT_PORT" --tls-cert "$KUBE_DIR/node-agent.crt" --tls-key "$KUBE_DIR/node-agent.key" \
    --state-dir "$dir" --path-prepend "$STATE/pod-bin:$POD_PATH" \
    --image-command "ghcr.io/kanrepo/controller=exec kanister-controller"
  kube_wait kanrepo-node-agent "serving on port $NODE_AGENT_PORT" \
    curl -sfk -o /dev/null --max-time 2 "https://127.0.0.1:$NODE_AGENT_PORT/healthz"
  kube_wait kanrepo-node-agent "Ready without taints" kube_json "/api/v1/nodes/$NODE_NAME" \
    "not o['spec'].get('taints') and any(c['type'] == 'Ready' and c['status'] == 'True' for c in o['status']['conditions'])"
}

smoke_kube() {
  local cm=/api/v1/namespaces/default/configmaps tmp
  tmp=$(mktemp -d)
  expect kube-apiserver "create a ConfigMap (admin)" 201 \
    "$(kcurl "$KUBE_ADMIN_TOKEN" POST "$cm" -H 'Content-Type: application/json' \
      --data '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"servers-smoke"},"data":{"a":"first"}}')"
  expect kube-apiserver "read it back" 200 "$(KUBE_OUT=$tmp/cm kcurl "$KUBE_ADMIN_TOKEN" GET "$cm/servers-smoke")"
  grep -q '"a": *"first"' "$tmp/cm" || fail kube-apiserver "smoke test: the ConfigMap came back without its data"
  expect kube-apiserver "delete it" 200 "$(kcurl "$KUBE_ADMIN_TOKEN" DELETE "$cm/servers-smoke")"
  expect kube-apiserver "list Secrets as the unprivileged user" 403 \
    "$(kcurl "$KUBE_NOBODY_TOKEN" GET /api/v1/namespaces/default/secrets)"
  expect kube-apiserver "a request with a wrong token" 401 "$(kcurl wrong-token GET /api/v1/namespaces)"
  rm -rf "$tmp"
}

# Pods for real: a Deployment and a StatefulSet with a volume claim run through the controllers,
# the scheduler and the node agent; logs and exec go through the apiserver to the agent (kubectl
# exec speaks WebSocket, passed through); deleting the namespace stops every process.
smoke_pods() {
  local ns=servers-smoke tmp t rc uid pids=() pid left
  command -v kubectl >/dev/null || { say "  pods: kubectl not found: pod smoke test skipped"; return 0; }
  kc() { kubectl --kubeconfig "$KUBE_DIR/kubeconfig" -n "$ns" "$@"; }
  tmp=$(mktemp -d)
  kc create namespace "$ns" >/dev/null 2>"$tmp/err" || fail kanrepo-node-agent "creating namespace $ns: $(<"$tmp/err")"
  t=$(usec)
  kc apply -f - >/dev/null 2>"$tmp/err" <<'YAML' || fail kanrepo-node-agent "smoke test: kubectl apply: $(<"$tmp/err")"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: busybox
        command: [sh, -c, 'echo "web up on $HOSTNAME"; exec sleep infinity']
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 5432}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - name: db
        image: postgres:15
        command: [sh, -c, 'echo hello >/tmp/kanrepo-smoke-data/hello && echo "wrote hello"; exec sleep infinity']
        readinessProbe: {exec: {command: [cat, /tmp/kanrepo-smoke-data/hello]}, periodSeconds: 1}
        volumeMounts: [{name: data, mountPath: /tmp/kanrepo-smoke-data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 16Mi}}}
YAML
  kc rollout status deployment/web --timeout="${TIMEOUT}s" >/dev/null 2>"$tmp/err" ||
    fail kanrepo-node-agent "smoke test: deployment not ready: $(<"$tmp/err")"
  say "  pods: deployment 2/2 ready in $(since "$t") (ok)"
  kc rollout status statefulset/db --timeout="${TIMEOUT}s" >/dev/null 2>"$tmp/err" ||
    fail kanrepo-node-agent "smoke test: statefulset not ready: $(<"$tmp/err")"
  say "  pods: statefulset 1/1 ready (PVC provisioned and bound, exec readiness probe) in $(since "$t") (ok)"
  expect kanrepo-node-agent "PVC data-db-0" Bound "$(kc get pvc data-db-0 -o 'jsonpath={.status.phase}')"
  uid=$(kc get pvc data-db-0 -o 'jsonpath={.metadata.uid}')
  expect kanrepo-node-agent "file the pod wrote into its volume" hello "$(cat "$STATE/node/pvs/$uid/hello" 2>/dev/null)"
  t=$(usec)
  expect kanrepo-node-agent "kubectl logs db-0" "wrote hello" "$(kc logs db-0 2>&1)"
  say "  pods: logs in $(since "$t")"
  t=$(usec)
  rc=0
  kc exec db-0 -- sh -c 'echo out; echo err >&2; exit 3' >"$tmp/out" 2>"$tmp/err" || rc=$?
  expect kanrepo-node-agent "kubectl exec (WebSocket): exit code" 3 "$rc"
  expect kanrepo-node-agent "kubectl exec: stdout" out "$(<"$tmp/out")"
  grep -qx err "$tmp/err" || fail kanrepo-node-agent "smoke test: kubectl exec stderr was '$(<"$tmp/err")', expected 'err'"
  say "  pods: exec in $(since "$t")"
  expect kanrepo-node-agent "hosts file: db-0.db.$ns.svc.cluster.local" "127\.0\.0\.1.*" \
    "$(kc exec db-0 -- getent hosts "db-0.db.$ns.svc.cluster.local" 2>&1)"
  for pid in "$STATE"/node/pods/*/*.pid; do pids+=("$(cut -d' ' -f1 "$pid")"); done
  ((${#pids[@]} == 3)) || fail kanrepo-node-agent "smoke test: expected 3 running containers, found ${#pids[@]}"
  t=$(usec)
  kc delete deployment/web statefulset/db service/db --wait >/dev/null 2>"$tmp/err" ||
    fail kanrepo-node-agent "smoke test: deleting the workloads: $(<"$tmp/err")"
  kc wait --for=delete pod --all --timeout="${TIMEOUT}s" >/dev/null 2>"$tmp/err" ||
    fail kanrepo-node-agent "smoke test: pods not deleted: $(<"$tmp/err")"
  left=()
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left+=("$pid"); done
  ((${#left[@]} == 0)) || fail kanrepo-node-agent "smoke test: container processes still alive: ${left[*]}"
  [[ -z "$(ls -A "$STATE/node/pods")" ]] || fail kanrepo-node-agent "smoke test: pod directories left: $(ls "$STATE/node/pods")"
  say "  pods: deleted (garbage collector, SIGTERM, processes and pod dirs gone) in $(since "$t") (ok)"
  t=$(usec)
  kc delete pvc data-db-0 --wait >/dev/null 2>"$tmp/err" || fail kanrepo-node-agent "smoke test: deleting the PVC: $(<"$tmp/err")"
  kube_wait kanrepo-node-agent "deleting the released PV" kube_json /api/v1/persistentvolumes "not o['items']"
  [[ ! -e $STATE/node/pvs/$uid ]] || fail kanrepo-node-agent "smoke test: the PV directory $STATE/node/pvs/$uid is left"
  say "  pods: PVC deleted, PV and its directory reclaimed in $(since "$t") (ok)"
  t=$(usec)
  kubectl --kubeconfig "$KUBE_DIR/kubeconfig" delete namespace "$ns" --timeout="${TIMEOUT}s" >/dev/null 2>"$tmp/err" ||
    fail kanrepo-node-agent "smoke test: deleting namespace $ns: $(<"$tmp/err")"
  say "  pods: namespace deleted in $(since "$t") (the namespace controller waits 5 s) (ok)"
  rm -rf "$tmp"
}

kube_env() {
  [[ $KUBE_ENABLED == 1 ]] || return 0
  echo "export KUBECONFIG=$(shq "$STATE/kube/kubeconfig")"
  echo "export KANREPO_TEST_KUBECONFIG=$(shq "$STATE/kube/kubeconfig")"
  echo "export KANREPO_TEST_KUBECONFIG_UNPRIVILEGED=$(shq "$STATE/kube/kubeconfig-unprivileged")"
  echo "export KANREPO_TEST_KUBE_SERVER=$(shq "https://127.0.0.1:$KUBE_PORT")"
  echo "export KANREPO_TEST_KUBE_VERSION=$(shq "v$KUBE_VERSION")"
  echo "export KANREPO_TEST_NODE_NAME=$(shq "$NODE_NAME")"
  echo "export KANREPO_TEST_POD_BIN=$(shq "$STATE/pod-bin")"
  echo "export KANREPO_TEST_NODE_STATE=$(shq "$STATE/node")"
  echo "export KANREPO_TEST_HELM=$(shq "$CACHE/bin/helm")"
}
