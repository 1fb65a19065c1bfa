#!/usr/bin/env bash
# The main job on a local-disk repository: stream a database-like dump into `kando location
# push`, push a changed copy (to show deduplication), pull both back and compare byte for byte.
# Usage: scripts/demo.sh [REPO_DIR]   (default: a fresh temporary directory)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p kando -q
K=$PWD/target/release/kando
work=$(mktemp -d)
repo=${1:-$work/repo}
export KANDO_REPOSITORY_PASSWORD=${KANDO_REPOSITORY_PASSWORD:-demo-password}
profile="{\"Location\":{\"Type\":\"filestore\",\"Prefix\":\"$repo\"}}"

gen() { python3 ../shared/bench/gen_corpus.py --rows 40000 --seed 1 --churn 0.005 --generation "$1" 2>/dev/null ||
        python3 - "$1" <<'PY'
import random, sys
g = int(sys.argv[1]); r = random.Random(1)
rows = [f"INSERT INTO t VALUES ({i}, '{r.random():.12f}', 'user{r.randrange(10**6)}');" for i in range(400000)]
if g: rows[1000:1010] = ["-- changed"] * 10
print("\n".join(rows))
PY
}
gen 0 > "$work/night1.sql"
gen 1 > "$work/night2.sql"

echo "== push night 1 (the repository is created on first use)"
cat "$work/night1.sql" | "$K" location push --profile "$profile" --path demo/night1.sql -
echo "== push night 2 (only changed chunks are stored)"
"$K" location push --profile "$profile" --path demo/night2.sql --from-command "cat $work/night2.sql"
echo "== pull both back and compare"
"$K" location pull --profile "$profile" --path demo/night1.sql - | cmp - "$work/night1.sql"
"$K" location pull --profile "$profile" --path demo/night2.sql "$work/restored2.sql"
cmp "$work/restored2.sql" "$work/night2.sql"
"$K" repository snapshots --profile "$profile"
"$K" repository stats --profile "$profile"
echo "demo OK: both nights restored byte-exact from $repo"
