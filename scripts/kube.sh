# shellcheck shell=bash
# A real Kubernetes API server for the tests: etcd + kube-apiserver on 127.0.0.1, no kubelet,
# no controller-manager, no Docker (envtest style). Sourced by scripts/servers.sh, whose helpers
# (say, die, fail, spawn, running, port_free, timed, expect, shq) it uses.
#
# Install (cached in $CACHE/bin, rebuilt only when the pinned version changes): neither binary
# can be `go install`ed (k8s.io/kubernetes pins its staging modules at v0.0.0 with replace
# directives; etcd's server module has the same problem), so each is built from a throw-away
# wrapper module under $CACHE/kube-build: `go mod init`, for kube-apiserver a `go mod edit
# -replace` of every k8s.io/* staging module to its published v0.N.P, `go get`, `go build`.
#
# Start: etcd (data in STATEDIR/etcd, wiped each start) and kube-apiserver with token auth
# (STATEDIR/kube/tokens.csv: an admin in system:masters and an unprivileged user), RBAC, a
# self-signed serving certificate made by the apiserver, waits for /readyz and the default
# namespace, then writes STATEDIR/kube/kubeconfig (admin) and kubeconfig-unprivileged. The
# apiserver's own CA is in the kubeconfig, so clients verify TLS.
#
# Knobs: KANREPO_KUBE=0 skips all of this; KANREPO_{ETCD,ETCD_PEER,KUBE_APISERVER}_PORT
# (default 22379 22380 26443).

KUBE_VERSION=1.33.13 # kube-apiserver; its staging modules are v0.33.13
ETCD_VERSION=3.5.24  # k8s 1.31-1.33 need etcd >= 3.5.11; kubeadm pins 3.5.24 for 1.33

KUBE_ENABLED=${KANREPO_KUBE:-1}
ETCD_PORT=${KANREPO_ETCD_PORT:-22379}
ETCD_PEER_PORT=${KANREPO_ETCD_PEER_PORT:-22380}
KUBE_PORT=${KANREPO_KUBE_APISERVER_PORT:-26443}

KUBE_BINS=(kube-apiserver kube-controller-manager kube-scheduler) # built together, one wrapper module

kube_bin_ok() { # kube_bin_ok NAME WANT: the cached binary reports version WANT
  local bin=$CACHE/bin/$1
  [[ -x $bin ]] || return 1
  case $1 in
    etcd) [[ "$("$bin" --version 2>/dev/null | awk '/^etcd Version:/ { print $3 }')" == "$2" ]] ;;
    kube-*) [[ "$("$bin" --version 2>/dev/null)" == "Kubernetes v$2" ]] ;;
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
    --allow-privileged=true --profiling=false --enable-priority-and-fairness=false
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

kube_env() {
  [[ $KUBE_ENABLED == 1 ]] || return 0
  echo "export KANREPO_TEST_KUBECONFIG=$(shq "$STATE/kube/kubeconfig")"
  echo "export KANREPO_TEST_KUBECONFIG_UNPRIVILEGED=$(shq "$STATE/kube/kubeconfig-unprivileged")"
  echo "export KANREPO_TEST_KUBE_SERVER=$(shq "https://127.0.0.1:$KUBE_PORT")"
  echo "export KANREPO_TEST_KUBE_VERSION=$(shq "v$KUBE_VERSION")"
}
