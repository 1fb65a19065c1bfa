#!/usr/bin/env bash
# Repository maintenance benchmark (issue 11): kando vs restic on 30 nightly dumps.
# Installs what it needs (PostgreSQL, restic, GNU time from Debian; matplotlib from PyPI into a
# venv in the cache directory, for the plot), builds kando, builds the corpus (generations
# 0 … 29 of ../shared/bench/gen_corpus.py, each loaded into PostgreSQL and dumped with pg_dump;
# cached beside benches/run.sh's generations 0 and 1), then runs benches/maintenance.py: both
# tools back up every dump, forget all but the last 7, reclaim space and verify; it prints the
# table that docs/benchmarks.md records and draws docs/benchmarks-maintenance.svg.
#   benches/maintenance.sh [--quick]   (--quick: 50,000 rows, 8 generations, keep-last 3, one
#                                       round, plot into the cache directory, not docs/)
# benches/run.sh runs it after the peer benchmark unless KANREPO_BENCH_SKIP_MAINTENANCE=1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${KANREPO_BENCH_CACHE:-$HOME/.cache/kanrepo-bench}
ROWS=250000
GENERATIONS=30
KEEP=7
EXTRA=(--plot "$ROOT/docs/benchmarks-maintenance.svg")
if [ "${1:-}" = "--quick" ]; then
  ROWS=50000 GENERATIONS=8 KEEP=3
  EXTRA=(--repeat 1 --plot "$CACHE/benchmarks-maintenance-quick.svg")
fi
mkdir -p "$CACHE"
echo "== $(date '+%F %T'): maintenance benchmark, $ROWS rows, $GENERATIONS generations, keep-last $KEEP"
GEN=$ROOT/../shared/bench/gen_corpus.py
[ -f "$GEN" ] || { echo "missing $GEN"; exit 1; }

need_apt=()
command -v pg_dump >/dev/null && [ -d /usr/lib/postgresql ] && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need_apt+=(postgresql)
command -v restic >/dev/null || need_apt+=(restic)
[ -x /usr/bin/time ] || need_apt+=(time)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# shellcheck source=benches/corpus.sh
source "$ROOT/benches/corpus.sh"
PY=$(plot_python "$CACHE")

echo "== building kando (release)"
cargo build --release -p kando -q
KANDO=${CARGO_TARGET_DIR:-$ROOT/target}/release/kando

CORPUS=$CACHE/corpus-$ROWS
# Disk: the dumps stay in the cache (0.58-0.64 GB each at 250,000 rows, 18.4 GB for 30); the
# repositories need up to ~9 GB more (restic's holds ~3.8 GB before its prune, and a fresh copy
# of each repository is maintained per round) and are deleted at the end.
missing=0
for g in $(seq 0 $((GENERATIONS - 1))); do [ -s "$CORPUS/dump$g.sql" ] || missing=$((missing + 1)); done
need_mb=$(( ROWS / 400 * missing + ROWS * GENERATIONS / 800 ))
free_mb=$(df -Pm "$CACHE" | awk 'NR==2 {print $4}')
if [ "$free_mb" -lt "$need_mb" ]; then
  echo "needs about $need_mb MB free in $CACHE, has $free_mb MB"; exit 1
fi
build_corpus "$CORPUS" "$ROWS" $((GENERATIONS - 1))
echo "== $(date '+%F %T'): corpus ready ($(du -sh "$CORPUS" | cut -f1) in $CORPUS), $SECONDS s so far"

"$PY" "$ROOT/benches/maintenance.py" --kando "$KANDO" --corpus "$CORPUS" --generations "$GENERATIONS" \
  --keep-last "$KEEP" --work "$CACHE/maintenance" "${EXTRA[@]}"
echo "== $(date '+%F %T'): done in $SECONDS s"
