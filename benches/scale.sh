#!/usr/bin/env bash
# Repository-scale benchmark (issue 12): peak RSS and wall time of push and pull, and push
# start-up, on repositories of about 0.2 M, 1 M, 5 M and 20 M stored chunks.
# Builds kando and synth_stream (release), builds the synthetic repositories once (cached in
# ~/.cache/kanrepo-bench/scale/<N>M/, each a hard-link copy of the one below plus more synthetic
# streams; the 20 M one holds 164 GB of streams in 3.4 GB, ~5 minutes to build, then one gc
# each to write their locator tables, ~1 minute), then runs benches/scale.py: on a hard-link
# copy of each (deleted afterwards) it pulls the dump (covered by the locator tables), pushes
# the benchmark dump's generation 1 as an incremental of generation 0, pushes a fresh 1 GB
# stream, pulls the new generation back (covered by its push's records) and times how long a push
# takes to read its first input byte. It prints the table
# that docs/benchmarks.md records and draws docs/benchmarks-scale.svg.
#   benches/scale.sh [--quick] [--rebuild]
#     --quick    0.2 M and 1 M chunks only, one round, plot into the cache directory
#     --rebuild  delete the cached repositories and build them again
# Needs the corpus dumps 0 and 1 of benches/run.sh (built here, with PostgreSQL, if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${KANREPO_BENCH_CACHE:-$HOME/.cache/kanrepo-bench}
ROWS=250000
SIZES=0.2,1,5,20
EXTRA=(--repeat 3 --plot "$ROOT/docs/benchmarks-scale.svg")
REBUILD=()
for arg in "$@"; do
  case $arg in
    --quick) SIZES=0.2,1 EXTRA=(--repeat 1 --plot "$CACHE/benchmarks-scale-quick.svg") ;;
    --rebuild) REBUILD=(--rebuild) ;;
    *) echo "usage: benches/scale.sh [--quick] [--rebuild]"; exit 2 ;;
  esac
done
mkdir -p "$CACHE"
echo "== $(date '+%F %T'): repository-scale benchmark, sizes $SIZES M chunks"

[ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }

# shellcheck source=benches/corpus.sh
source "$ROOT/benches/corpus.sh"
PY=$(plot_python "$CACHE")

echo "== building kando and synth_stream (release)"
cargo build --release -p kando -p kanrepo-benches --bin kando --bin synth_stream -q
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release

CORPUS=$CACHE/corpus-$ROWS
if [ ! -s "$CORPUS/dump0.sql" ] || [ ! -s "$CORPUS/dump1.sql" ]; then
  GEN=$ROOT/../shared/bench/gen_corpus.py
  [ -f "$GEN" ] || { echo "missing $GEN"; exit 1; }
  if ! { command -v pg_dump >/dev/null && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; }; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  build_corpus "$CORPUS" "$ROWS" 1
fi

# Disk: ~170 bytes per stored chunk, the sizes sharing their files (20 M: ~3.5 GB in all);
# scale.py checks the free space before each build push.
echo "== $(date '+%F %T'): $(df -h "$CACHE" | awk 'NR==2 {print $4}') free in $CACHE"
"$PY" "$ROOT/benches/scale.py" --kando "$BIN/kando" --synth "$BIN/synth_stream" --corpus "$CORPUS" \
  --cache "$CACHE/scale" --work "$CACHE/scale-work" --sizes "$SIZES" \
  --commit "$(git rev-parse --short HEAD)" "${EXTRA[@]}" "${REBUILD[@]}"
echo "== $(date '+%F %T'): done in $SECONDS s; cache $(du -sh "$CACHE/scale" | cut -f1)"
