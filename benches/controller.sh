#!/usr/bin/env bash
# The controller's own cost on a real backup: a PostgreSQL StatefulSet on the test control
# plane loaded with the benchmark corpus (gen_corpus.py --rows 250000: a ~580 MB pg_dump), then
# backup ActionSets (our blueprint: full, then the next night's generation; upstream's
# blueprint with gzip), each timed from creation to `complete`. Prints, per run, the ActionSet's
# wall time, the kando push time inside it and the difference (the controller's overhead for
# the one phase), and the controller's peak RSS. Targets: overhead <= 2 s per phase,
# controller RSS <= 64 MB. docs/benchmarks.md records the figures.
#   benches/controller.sh [ROWS]        (default 250000; e.g. 50000 for a quick run)
# Builds release binaries (kando, kanctl, controller, node agent), starts the test servers
# (scripts/servers.sh; the first run builds them, see the README) and stops them at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ROWS=${1:-250000}
CACHE=${KANREPO_BENCH_CACHE:-$HOME/.cache/kanrepo-bench}
GEN=$ROOT/../shared/bench/gen_corpus.py
[ -f "$GEN" ] || { echo "missing $GEN (the corpus generator beside the repository)"; exit 1; }
mkdir -p "$CACHE/controller-corpus-$ROWS"
CORPUS=$CACHE/controller-corpus-$ROWS
for g in 0 1; do
  if [ ! -s "$CORPUS/gen$g.sql" ]; then
    echo "== corpus generation $g ($ROWS rows)"
    python3 "$GEN" --rows "$ROWS" --seed 1 --churn 0.005 --generation "$g" >"$CORPUS/gen$g.sql.tmp"
    mv "$CORPUS/gen$g.sql.tmp" "$CORPUS/gen$g.sql"
  fi
done

echo "== building release binaries"
cargo build --release -q -p kando -p kanctl -p kanister-controller -p kanrepo-node-agent

SERVERS=$(mktemp -d)
trap 'scripts/servers.sh stop "$SERVERS" >/dev/null 2>&1 || true; rm -rf "$SERVERS"' EXIT
# Pods run the release kando.
KANREPO_NODE_AGENT_BIN=$ROOT/target/release/kanrepo-node-agent KANREPO_POD_PATH=$ROOT/target/release \
  scripts/servers.sh start "$SERVERS"
# shellcheck disable=SC1091
source "$SERVERS/env"

KANREPO_BENCH_CORPUS=$CORPUS/gen0.sql KANREPO_BENCH_CORPUS1=$CORPUS/gen1.sql \
  cargo test --release -q -p kanister-controller --test it -- --ignored --exact bench::bench_postgres_backup_actionset --nocapture
