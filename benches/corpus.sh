# Benchmark corpus and plotting helpers, sourced by benches/run.sh, maintenance.sh and scale.sh
# (not run on its own).
#
#   plot_python CACHE   prints the python to plot with: CACHE/venv's (matplotlib installed into it
#                       from PyPI if needed), else python3 (the scripts then write the SVG by hand)
#
#   build_corpus DIR ROWS LAST_GENERATION
#
# makes DIR/dump0.sql … DIR/dumpLAST.sql: generation N of ../shared/bench/gen_corpus.py
# (--rows ROWS --seed 1 --churn 0.005 --generation N), loaded into a fresh PostgreSQL database
# and dumped with pg_dump. Dumps already in DIR are kept (a cache shared by both scripts: run.sh
# needs generations 0 and 1, maintenance.sh 0 … 29). Starts the local PostgreSQL cluster if it
# is down and stops it again afterwards. Needs GEN (the generator's path) to be set.

plot_python() {
  local cache=$1
  if [ -x "$cache/venv/bin/python" ] && "$cache/venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
    echo "$cache/venv/bin/python"
  elif python3 -m venv "$cache/venv" >/dev/null 2>&1 &&
    "$cache/venv/bin/pip" install -q --disable-pip-version-check matplotlib >/dev/null 2>&1; then
    echo "$cache/venv/bin/python"
  else
    echo "matplotlib not installable: the plot will be a hand-written SVG" >&2
    echo python3
  fi
}

build_corpus() {
  local corpus=$1 rows=$2 last=$3 g ver started_pg=0
  local missing=()
  mkdir -p "$corpus"
  for g in $(seq 0 "$last"); do
    [ -s "$corpus/dump$g.sql" ] || missing+=("$g")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
  if ! pg_lsclusters -h | grep -q online; then
    pg_ctlcluster "$ver" main start && started_pg=1
  fi
  for g in "${missing[@]}"; do
    echo "== corpus generation $g ($rows rows): generate, load into PostgreSQL, pg_dump ($(date +%T))"
    # The postgres user runs in / (it may not enter the caller's directory) and without the
    # generator's "does not exist, skipping" notices.
    (cd / && PGOPTIONS='-c client_min_messages=warning' su postgres -c \
      "dropdb --if-exists kanrepo_bench$g && createdb kanrepo_bench$g")
    # Fed on stdin: the postgres user may not be able to read a file under a 700 home. Piped
    # straight from the generator, so generating and loading share the two cores (the same
    # statements in the same order as from a file; callers run with pipefail). pg_dump writes
    # to our stdout, so the dump is created by the caller, wherever the cache is.
    python3 "$GEN" --rows "$rows" --seed 1 --churn 0.005 --generation "$g" |
      (cd / && PGOPTIONS='-c client_min_messages=warning' \
        su postgres -c "psql -q -X -v ON_ERROR_STOP=1 -d kanrepo_bench$g") >/dev/null
    (cd / && su postgres -c "pg_dump kanrepo_bench$g") > "$corpus/dump$g.sql.tmp"
    mv "$corpus/dump$g.sql.tmp" "$corpus/dump$g.sql"
    (cd / && su postgres -c "dropdb kanrepo_bench$g")
  done
  if [ "$started_pg" = 1 ]; then pg_ctlcluster "$ver" main stop; fi
}
