#!/usr/bin/env bash
# Fuzz every decoder of repository bytes for SECONDS each (default 60). Installs cargo-fuzz
# into a cache directory on first use. New inputs go to a scratch corpus; the committed seed
# corpus (fuzz/corpus/, replayed by the test suite) is only read.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
CACHE=${KANREPO_FUZZ_CACHE:-$HOME/.cache/kanrepo-fuzz}
[ -x "$CACHE/bin/cargo-fuzz" ] || cargo install cargo-fuzz --locked --root "$CACHE"
export PATH=$CACHE/bin:$PATH RUSTC_BOOTSTRAP=1   # cargo-fuzz needs -Z flags; the toolchain is stable
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config keyfile pack_header index snapshot tree_node frame)
cargo fuzz build -O
for t in "${targets[@]}"; do
  mkdir -p "$CACHE/corpus/$t"
  echo "== $t (${secs}s)"
  cargo fuzz run -O "$t" "$CACHE/corpus/$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -max_len=65536 2>&1 | grep -E "^Done|panicked|ERROR" || true
done
