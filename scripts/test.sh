#!/usr/bin/env bash
# The whole test suite, on a fresh machine: format, lints, dependency boundaries, unit +
# integration tests (engine, kando CLI, properties, multi-GB round trip, memory ceiling,
# fuzz-corpus replay, and the object-store backends on real servers: MinIO, Azurite,
# fake-gcs-server), the Kanister model (types, CRDs, Go templates, validation), kanctl offline
# and on a real Kubernetes API server, and the controller on a real control plane (etcd,
# kube-apiserver, controller-manager, scheduler, the test node agent running pods as host
# processes) with PostgreSQL, MariaDB and MongoDB (FerretDB) demos; then a compile check of the
# benchmarks and fuzz targets. scripts/servers.sh installs the servers and databases into
# ~/.cache/kanrepo-test (the first run builds MinIO, etcd, kube-apiserver, controller-manager,
# scheduler, FerretDB and mongo-tools from Go: about 17 min on 2 cores), starts them here and
# stops them on exit. Ends with one summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
log=$(mktemp)
servers=$(mktemp -d)
cleanup() {
  scripts/servers.sh stop "$servers" >/dev/null 2>&1 || true
  rm -rf "$log" "$servers"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

step "toolchain"
command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)"; exit 1; }
cargo --version
rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt clippy

step "format"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "dependency boundaries (cargo tree)"
# The controller runs kando only inside pods: it must not link the engine; the Kanister model
# depends on neither kube nor the engine; the kube client layer not on the engine.
deps() { cargo tree -p "$1" -e normal --prefix none | awk '{print $1}' | sort -u; }
for pair in "kanister-controller:kanrepo" "kanister:kanrepo" "kanister:kube" "kanister-kube:kanrepo" "kanrepo:kube" "kanrepo:clap"; do
  crate=${pair%%:*} dep=${pair#*:}
  if deps "$crate" | grep -qx "$dep"; then
    echo "error: $crate depends on $dep (cargo tree -p $crate -i $dep)"
    exit 1
  fi
  echo "ok: $crate does not depend on $dep"
done

step "binaries the test cluster runs (node agent; kando and kanctl on the pods' PATH)"
cargo build -p kanrepo-node-agent -p kando -p kanctl -p kanister-controller

step "test servers (MinIO, Azurite, fake-gcs-server, Kubernetes control plane + node agent)"
scripts/servers.sh start "$servers"
# shellcheck disable=SC1091
source "$servers/env"

step "tests"
set +e
# --include-ignored: the server tests are #[ignore]d only so that a bare `cargo test` lists
# them instead of failing; here the servers run, so every test runs.
status=0
run() { "$@" 2>&1 | tee -a "$log"; [ "${PIPESTATUS[0]}" -eq 0 ] || status=1; }
# The engine (round trips, properties, multi-GB stream, fuzz corpus), then kando (CLI, object
# stores on the servers above, memory ceiling).
run cargo test -p kanrepo --all-targets -- --include-ignored
run cargo test -p kanrepo --doc
run cargo test -p kando --all-targets -- --include-ignored
# The Kanister model (API types, CRDs, template engine, validation, rendering), then kanctl
# (offline, and against the Kubernetes API server and MinIO started above).
run cargo test -p kanister --all-targets -- --include-ignored
run cargo test -p kanister-kube --all-targets -- --include-ignored
run cargo test -p kanctl --all-targets -- --include-ignored
# The test node agent, then the controller on the test control plane: lifecycle, functions,
# and the PostgreSQL/MariaDB/MongoDB demos (benches/controller.sh runs the benchmark).
run cargo test -p kanrepo-node-agent --all-targets
run cargo test -p kanister-controller --all-targets -- --include-ignored --skip bench_
set -e

step "benchmarks and fuzz targets compile"
cargo check -p kanrepo-benches --all-targets
cargo check --manifest-path fuzz/Cargo.toml --bins

passed=$(grep -Eo '[0-9]+ passed' "$log" | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')
ignored=$(grep -Eo '[0-9]+ ignored' "$log" | awk '{s+=$1} END {print s+0}')
echo
echo "summary: ${passed} passed, ${failed} failed, ${ignored} skipped"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
  exit 1
fi
