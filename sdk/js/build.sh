#!/bin/sh
# Builds a batou-run component written in JavaScript:
#
#   sdk/js/build.sh COMPONENT_DIR OUT.wasm
#
# COMPONENT_DIR holds index.js and any modules it imports with relative
# paths. componentize-js resolves those imports itself, but only beneath
# the directory it runs in, so the JavaScript files are staged in a
# temporary directory together with this SDK's batou.js (which replaces a
# batou.js the component may carry: the SDK must match the runner's WIT),
# and componentize-js runs there on `index.js`.
#
# COMPONENTIZE_JS: the componentize-js command (default: componentize-js
# in PATH); BATOU_WIT: the contract (default: the wit/ beside sdk/).
set -eu
[ $# -eq 2 ] || { echo "usage: $0 COMPONENT_DIR OUT.wasm" >&2; exit 2; }
sdk=$(cd "$(dirname "$0")" && pwd)
wit=${BATOU_WIT:-$sdk/../../wit}
src=$(cd "$1" && pwd)
out=$(realpath -m "$2")
[ -f "$src/index.js" ] || { echo "$src has no index.js" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/src
# componentize-js works in $TMPDIR/<random>/ and leaves it behind when the
# source does not parse: keep it inside what the trap removes.
export TMPDIR=$tmp/work
mkdir "$stage" "$TMPDIR"
# Only the modules: assets and prebuilt .wasm files are not needed to build.
(cd "$src" && find . -type f \( -name '*.js' -o -name '*.mjs' -o -name '*.json' \) -print) |
  while IFS= read -r f; do mkdir -p "$stage/$(dirname "$f")" && cp "$src/$f" "$stage/$f"; done
cp "$sdk/batou.js" "$stage/batou.js"
cd "$stage"
# http/fetch-event would import wasi:http, which the runner does not link.
${COMPONENTIZE_JS:-componentize-js} index.js --wit "$wit" --world-name deployment-component \
  --disable http fetch-event --out "$out"
