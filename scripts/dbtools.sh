# shellcheck shell=bash
# Database servers and dump tools for the end-to-end Kanister tests, installed once into the
# cache. Sourced by scripts/servers.sh, whose helpers (say, die, timed) it uses. Nothing here
# starts a database: the e2e tests run them as StatefulSet pods through the test node agent.
#
#   PostgreSQL 15, MariaDB 10.11   Debian packages (apt-get), their services left stopped
#   FerretDB v1.24.2               MongoDB wire protocol over PostgreSQL, built from its Go module
#                                  (the module zip lacks build/version/version.txt: written here)
#   mongodump, mongorestore        built from the mongo-tools 100.18.0 source tarball the project
#                                  keeps beside the repository (../shared/thirdparty, or
#                                  $KANREPO_THIRDPARTY): the Go module proxy does not serve it
#   pymongo 4.20.0                 PyPI, in a venv: the MongoDB demo seeds and checks its data
#   restic 0.16.5                  built from its Go module (upstream kanister-tools' version): the
#                                  restic data functions (BackupData, RestoreData, DeleteData)
#
# Knob: KANREPO_DBTOOLS=0 skips all of this (and the e2e tests then fail, loudly).

FERRETDB_VERSION=1.24.2
MONGO_TOOLS_VERSION=100.18.0
MONGO_TOOLS_COMMIT=21a342dfee6468ad9350d156d25086da64dd03b1
PYMONGO_VERSION=4.20.0
RESTIC_VERSION=0.16.5
DBTOOLS_ENABLED=${KANREPO_DBTOOLS:-1}

thirdparty_dir() {
  local d
  for d in "${KANREPO_THIRDPARTY:-}" "$HERE/../../shared/thirdparty" "/work/shared/thirdparty"; do
    [[ -n $d && -f $d/mongo-tools-$MONGO_TOOLS_VERSION.tar.gz ]] && { (cd "$d" && pwd); return 0; }
  done
  return 1
}

# Go builds of the harness share one GOCACHE/GOMODCACHE under the cache directory.
go_env() { env GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOCACHE="$CACHE/go/build" GOMODCACHE="$CACHE/go/mod" "$@"; }

install_apt_dbs() {
  local missing=()
  [[ -x /usr/lib/postgresql/15/bin/postgres ]] || missing+=(postgresql-15)
  command -v mariadbd >/dev/null || [[ -x /usr/sbin/mariadbd ]] || missing+=(mariadb-server)
  ((${#missing[@]})) || return 0
  command -v apt-get >/dev/null || die "the e2e tests need ${missing[*]} (Debian packages) and apt-get is missing"
  # policy-rc.d 101: install without starting the packaged services; the tests start their own.
  local prc=/usr/sbin/policy-rc.d had_prc=0
  [[ -e $prc ]] && had_prc=1
  if [[ $had_prc == 0 ]]; then printf '#!/bin/sh\nexit 101\n' >"$prc" && chmod +x "$prc"; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >"$CACHE/apt-dbs.log" 2>&1 ||
    { DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$CACHE/apt-dbs.log" 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >>"$CACHE/apt-dbs.log" 2>&1; } ||
    { [[ $had_prc == 1 ]] || rm -f "$prc"; tail -n 20 "$CACHE/apt-dbs.log" >&2; die "apt-get install ${missing[*]} failed (log: $CACHE/apt-dbs.log)"; }
  [[ $had_prc == 1 ]] || rm -f "$prc"
}

install_ferretdb() {
  local src dir=$CACHE/ferretdb-build
  go_env go mod download -json "github.com/FerretDB/FerretDB@v$FERRETDB_VERSION" >"$CACHE/ferretdb-download.json" ||
    die "go mod download FerretDB v$FERRETDB_VERSION failed"
  src=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["Dir"])' "$CACHE/ferretdb-download.json")
  rm -rf "$dir"
  cp -r "$src" "$dir"
  chmod -R u+w "$dir"
  echo "v$FERRETDB_VERSION" >"$dir/build/version/version.txt"
  (cd "$dir" && go_env go build -trimpath -ldflags '-s -w' -o "$CACHE/bin/ferretdb.tmp" ./cmd/ferretdb) \
    >"$CACHE/ferretdb-build.log" 2>&1 || { tail -n 20 "$CACHE/ferretdb-build.log" >&2; die "building FerretDB failed"; }
  mv -f "$CACHE/bin/ferretdb.tmp" "$CACHE/bin/ferretdb"
  rm -rf "$dir"
}

install_mongo_tools() {
  local tp dir=$CACHE/mongo-tools-$MONGO_TOOLS_VERSION t
  tp=$(thirdparty_dir) || die "mongo-tools source not found: expected ../shared/thirdparty/mongo-tools-$MONGO_TOOLS_VERSION.tar.gz beside the repository (or set KANREPO_THIRDPARTY)"
  rm -rf "$dir"
  tar -xzf "$tp/mongo-tools-$MONGO_TOOLS_VERSION.tar.gz" -C "$CACHE"
  for t in mongodump mongorestore; do
    (cd "$dir" && go_env go build -mod=vendor -trimpath -ldflags "-s -w -X main.VersionStr=$MONGO_TOOLS_VERSION -X main.GitCommit=$MONGO_TOOLS_COMMIT" \
      -o "$CACHE/bin/$t.tmp" "./$t/main") >"$CACHE/mongo-tools-build.log" 2>&1 ||
      { tail -n 20 "$CACHE/mongo-tools-build.log" >&2; die "building $t failed"; }
    mv -f "$CACHE/bin/$t.tmp" "$CACHE/bin/$t"
  done
  rm -rf "$dir"
}

install_restic() {
  local src
  # Its go.mod has replace directives, so `go install mod@version` refuses it: build in the module.
  go_env go mod download -json "github.com/restic/restic@v$RESTIC_VERSION" >"$CACHE/restic-download.json" ||
    die "go mod download restic v$RESTIC_VERSION failed"
  src=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["Dir"])' "$CACHE/restic-download.json")
  (cd "$src" && go_env go build -mod=mod -trimpath -ldflags '-s -w' -o "$CACHE/bin/restic.tmp" ./cmd/restic) \
    >"$CACHE/restic-build.log" 2>&1 || { tail -n 20 "$CACHE/restic-build.log" >&2; die "building restic failed"; }
  mv -f "$CACHE/bin/restic.tmp" "$CACHE/bin/restic"
}

install_dbtools() {
  [[ $DBTOOLS_ENABLED == 1 ]] || return 0
  mkdir -p "$CACHE/bin"
  install_apt_dbs
  [[ "$("$CACHE/bin/ferretdb" --version 2>/dev/null | awk '/^version:/ { print $2 }')" == "v$FERRETDB_VERSION" ]] ||
    timed "FerretDB v$FERRETDB_VERSION (Go module; about 1 min cold)" install_ferretdb
  [[ "$("$CACHE/bin/mongodump" --version 2>/dev/null | awk 'NR == 1 { print $3 }')" == "$MONGO_TOOLS_VERSION" &&
    -x $CACHE/bin/mongorestore ]] ||
    timed "mongodump + mongorestore $MONGO_TOOLS_VERSION (source tarball; about 30 s)" install_mongo_tools
  [[ "$("$CACHE/bin/restic" version 2>/dev/null | awk '{ print $2 }')" == "$RESTIC_VERSION" ]] ||
    timed "restic $RESTIC_VERSION (Go module; about 1 min cold)" install_restic
  # install_venv: scripts/servers.sh
  [[ -f "$CACHE/pymongo-venv/.installed-pymongo==$PYMONGO_VERSION" ]] ||
    timed "pymongo $PYMONGO_VERSION (pip)" install_venv "$CACHE/pymongo-venv" "pymongo==$PYMONGO_VERSION"
}

dbtools_env() {
  [[ $DBTOOLS_ENABLED == 1 ]] || return 0
  echo "export KANREPO_TEST_PG_BIN=$(shq /usr/lib/postgresql/15/bin)"
  echo "export KANREPO_TEST_FERRETDB_BIN=$(shq "$CACHE/bin/ferretdb")"
  echo "export KANREPO_TEST_MONGO_TOOLS_BIN=$(shq "$CACHE/bin")"
  echo "export KANREPO_TEST_PYMONGO_PYTHON=$(shq "$CACHE/pymongo-venv/bin/python")"
  echo "export KANREPO_TEST_RESTIC_BIN=$(shq "$CACHE/bin/restic")"
}
