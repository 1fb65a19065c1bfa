#!/usr/bin/env bash
# azurite_mkcontainer.sh CONTAINER [BLOB_URL] -- create a container in Azurite; prints 201 (created) or 409 (exists).
# BLOB_URL is the service URL without the account, default http://127.0.0.1:10000.
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: $0 CONTAINER [BLOB_URL]" >&2; exit 2; }
AZURITE_BLOB_URL=${2:-${AZURITE_BLOB_URL:-http://127.0.0.1:10000}} \
  exec "$(dirname "${BASH_SOURCE[0]}")/azurite_curl.sh" PUT "$1?restype=container"
