#!/usr/bin/env bash
# Peer benchmark: kando vs restic, borg and rustic on the same machine, local-disk repositories.
# Installs what it needs (PostgreSQL, restic, borg, GNU time from Debian; rustic from crates.io
# into a cache directory), builds the corpus with ../shared/bench/gen_corpus.py, loads each
# generation into PostgreSQL, dumps it with pg_dump, then runs benches/run.py, which prints the
# table that docs/benchmarks.md records.
# Also kando against MinIO on loopback (scripts/servers.sh), through the S3 backend.
#   benches/run.sh [--quick]      (--quick: 50,000 rows, one round, no RSS runs)
#   KANREPO_BENCH_TOOLS=kando,kando-s3 benches/run.sh    (a subset of the tools; borg, rustic and
#                                   the MinIO server are installed and started only when listed)
# Then the repository maintenance benchmark, benches/maintenance.sh (with the same --quick),
# unless KANREPO_BENCH_SKIP_MAINTENANCE=1. KANREPO_BENCH_REPEAT=N: rounds per tool (default 3;
# speeds are medians, each round's figures are printed too).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${KANREPO_BENCH_CACHE:-$HOME/.cache/kanrepo-bench}
ROWS=250000
EXTRA=()
[ "${1:-}" = "--quick" ] && ROWS=50000 && EXTRA=(--repeat 1 --skip-rss)
TOOLS=${KANREPO_BENCH_TOOLS:-kando,kando-s3,restic,borg,rustic}
wants() { [[ ",$TOOLS," == *",$1,"* ]]; }
mkdir -p "$CACHE"
GEN=$ROOT/../shared/bench/gen_corpus.py
[ -f "$GEN" ] || { echo "missing $GEN"; exit 1; }

need_apt=()
command -v pg_dump >/dev/null && [ -d /usr/lib/postgresql ] && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need_apt+=(postgresql)
command -v restic >/dev/null || need_apt+=(restic) # the maintenance benchmark needs it too
wants borg && ! command -v borg >/dev/null && need_apt+=(borgbackup)
[ -x /usr/bin/time ] || need_apt+=(time)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if wants rustic && [ ! -x "$CACHE/bin/rustic" ]; then
  echo "installing rustic-rs into $CACHE (about 20 minutes on 2 cores)"
  cargo install rustic-rs --locked --root "$CACHE"
fi
export PATH=$CACHE/bin:$PATH

echo "== building kando (release)"
cargo build --release -p kando -q
KANDO=${CARGO_TARGET_DIR:-$ROOT/target}/release/kando

# Corpus: generations 0 and 1, loaded into PostgreSQL and dumped with pg_dump (benches/corpus.sh).
# shellcheck source=benches/corpus.sh
source "$ROOT/benches/corpus.sh"
CORPUS=$CACHE/corpus-$ROWS
build_corpus "$CORPUS" "$ROWS" 1

# MinIO (and the other test servers) on loopback for the kando-s3 rows; data on this disk.
SERVERS=$CACHE/servers
if wants kando-s3; then
  trap '"$ROOT/scripts/servers.sh" stop "$SERVERS" >/dev/null 2>&1 || true' EXIT
  # No Kubernetes API server here: the benchmarks do not use it (KANREPO_KUBE=0).
  KANREPO_KUBE=0 "$ROOT/scripts/servers.sh" start "$SERVERS"
  # shellcheck disable=SC1091
  source "$SERVERS/env"
fi

python3 "$ROOT/benches/run.py" --kando "$KANDO" \
  --dump0 "$CORPUS/dump0.sql" --dump1 "$CORPUS/dump1.sql" --work "$CACHE/work" \
  --tools "$TOOLS" --repeat "${KANREPO_BENCH_REPEAT:-3}" "${EXTRA[@]}"

# Repository maintenance (issue 11): 30 generations, forget/gc/compact/verify against restic.
if [ "${KANREPO_BENCH_SKIP_MAINTENANCE:-0}" != 1 ]; then
  if wants kando-s3; then "$ROOT/scripts/servers.sh" stop "$SERVERS" >/dev/null 2>&1 || true; fi
  "$ROOT/benches/maintenance.sh" "$@"
fi
