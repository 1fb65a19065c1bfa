#!/usr/bin/env bash
# The whole test suite, on a fresh machine: format, lints, unit + integration tests (engine,
# kando CLI, properties, multi-GB round trip, memory ceiling, fuzz-corpus replay, and the
# object-store backends on real servers: MinIO, Azurite, fake-gcs-server), the Kanister API
# crate (types, CRDs, Go templates, validation, kanctl offline and against a real Kubernetes
# API server: etcd + kube-apiserver, no kubelet), and a compile check of the benchmarks and
# fuzz targets. scripts/servers.sh installs the servers into ~/.cache/kanrepo-test (the first
# run builds MinIO, etcd and kube-apiserver from Go modules: about 12-15 min on 2 cores), starts
# them here and stops them on exit. Ends with one summary line.
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

step "test servers (MinIO, Azurite, fake-gcs-server, Kubernetes API server)"
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
