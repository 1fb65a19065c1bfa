#!/usr/bin/env bash
# azurite_curl.sh [-H 'Name: value']... [-T FILE] [-o OUT] METHOD CONTAINER[/BLOB][?QUERY]
#
# One SharedKey-signed Blob-service request to Azurite (curl + openssl only); prints the HTTP status.
#   AZURITE_BLOB_URL  service URL without the account (default http://127.0.0.1:10000)
#   AZURITE_ACCOUNT / AZURITE_KEY  default: devstoreaccount1 and Azurite's well-known key
# Examples:
#   azurite_curl.sh PUT 'kanrepo-test?restype=container'                      # 201 created, 409 exists
#   azurite_curl.sh -H 'x-ms-blob-type: BlockBlob' -H 'If-None-Match: *' -T f PUT kanrepo-test/a/b
#   azurite_curl.sh -o out GET kanrepo-test/a/b
# Query values must not need URL-decoding (plain ASCII names), which is all the test scripts use.
set -euo pipefail

usage() { sed -n '2,3p' "$0" >&2; exit 2; }

acct=${AZURITE_ACCOUNT:-devstoreaccount1}
key=${AZURITE_KEY:-Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==}
url=${AZURITE_BLOB_URL:-http://127.0.0.1:10000}
ver=2021-10-04

headers=()
upload=""
out=/dev/null
while getopts 'H:T:o:' opt; do
  case $opt in
    H) headers+=("$OPTARG") ;;
    T) upload=$OPTARG ;;
    o) out=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[[ $# -eq 2 ]] || usage
method=$1
target=$2
path=${target%%\?*}
query=""
[[ $target == *\?* ]] && query=${target#*\?}

date=$(LC_ALL=C TZ=GMT date '+%a, %d %b %Y %H:%M:%S GMT')

# Standard headers that take part in the string to sign, and the x-ms-* canonical headers.
declare -A std=()
xms=("x-ms-date:${date}" "x-ms-version:${ver}")
for h in ${headers[@]+"${headers[@]}"}; do
  name=${h%%:*}
  value=${h#*:}
  value=${value#"${value%%[! ]*}"} # trim leading blanks
  lname=${name,,}
  case $lname in
    x-ms-*) xms+=("${lname}:${value}") ;;
    *) std[$lname]=$value ;;
  esac
done
length=0
[[ -n $upload ]] && length=$(stat -c %s -- "$upload")
[[ $length == 0 ]] && length="" # version >= 2015-02-21: empty, not 0

nl=$'\n'
sts="${method}${nl}${std[content-encoding]-}${nl}${std[content-language]-}${nl}${length}${nl}"
sts+="${std[content-md5]-}${nl}${std[content-type]-}${nl}${nl}${std[if-modified-since]-}${nl}"
sts+="${std[if-match]-}${nl}${std[if-none-match]-}${nl}${std[if-unmodified-since]-}${nl}${std[range]-}${nl}"
sts+=$(printf '%s\n' "${xms[@]}" | LC_ALL=C sort)
sts+="${nl}/${acct}/${acct}/${path}"
if [[ -n $query ]]; then
  sts+="${nl}"$(tr '&' '\n' <<<"$query" | awk -F= '{ k = tolower($1); sub(/^[^=]*=?/, ""); print k ":" $0 }' | LC_ALL=C sort)
fi

hexkey=$(printf '%s' "$key" | base64 -d | od -An -tx1 | tr -d ' \n')
sig=$(printf '%s' "$sts" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:${hexkey}" -binary | base64 -w0)

args=(-sS -o "$out" -w '%{http_code}\n' -X "$method"
  -H "x-ms-date: ${date}" -H "x-ms-version: ${ver}" -H "Authorization: SharedKey ${acct}:${sig}")
for h in ${headers[@]+"${headers[@]}"}; do args+=(-H "$h"); done
if [[ -n $upload ]]; then
  args+=(-T "$upload") # -T: no default Content-Type (it is part of the signature)
else
  args+=(-H "Content-Length: 0")
fi
curl "${args[@]}" "${url}/${acct}/${target}"
