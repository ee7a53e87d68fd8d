#!/usr/bin/env bash
# Static analysis of contracts/src with slither (from the tools venv), offline, through forge + solc-js.
# Fails (non-zero exit) on any High or Medium finding that contracts/slither.config.json does not triage.
#   bash tools/slither.sh            (from anywhere; `make slither` runs it)
# Extra arguments are passed to slither (e.g. --json -).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SLITHER="$ROOT/.venv-tools/bin/slither"
FORGE_BIN="$ROOT/node_modules/@foundry-rs/forge-linux-amd64/bin"

if [[ ! -x "$SLITHER" ]]; then
    echo "slither.sh: $SLITHER not found; run 'make .venv-tools/.stamp' first" >&2
    exit 2
fi
if [[ ! -x "$FORGE_BIN/forge" ]]; then
    echo "slither.sh: forge not found in $FORGE_BIN; run 'npm ci' first" >&2
    exit 2
fi

export PATH="$FORGE_BIN:$PATH"
# foundry.toml remaps to ../node_modules; forge keys sources reached through a relative remapping outside
# its root differently from the same files reached by relative imports (duplicate source units with
# different AST ids, which slither cannot resolve). Absolute remappings give one key per file.
# (FOUNDRY_REMAPPINGS holds one remapping; tests, the only users of forge-std, are skipped by slither.)
export FOUNDRY_REMAPPINGS="@openzeppelin/contracts/=$ROOT/node_modules/@openzeppelin/contracts/"
export FOUNDRY_OFFLINE=true
# Keep slither's own build (forge clean + build without tests) out of the test build in contracts/out.
export FOUNDRY_OUT="out-slither"
export FOUNDRY_CACHE_PATH="cache-slither"

cd "$ROOT/contracts"
trap 'rm -rf "$ROOT/contracts/out-slither" "$ROOT/contracts/cache-slither"' EXIT
"$SLITHER" . \
    --compile-force-framework foundry \
    --foundry-out-directory out-slither \
    --config-file slither.config.json \
    --fail-medium \
    "$@"
