#!/bin/sh
# Run the example pipeline (examples/shop-api/.wishstar.yaml) locally, then list the latest runs.
# Extra arguments go to `wishstar run`, e.g.: scripts/demo.sh --param push_image=false
set -eu

ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd -P)
"$ROOT/scripts/setup.sh"

PATH="$ROOT/.venv/bin:$PATH"
export PATH
cd "$ROOT"

status=0
wishstar run examples/shop-api "$@" || status=$?

echo
wishstar runs list --limit 5
exit "$status"
