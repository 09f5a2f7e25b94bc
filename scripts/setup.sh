#!/bin/sh
# Create (once) the project's virtualenv at $ROOT/.venv and install wishstar into it in editable mode with the
# dev extras, every dependency at the version pinned in requirements.lock (refresh it with scripts/lock.sh).
# Idempotent and quick on a second run: the venv is reused and pip's cache lives in
# ~/.cache/wishstar/pip. Usage: scripts/setup.sh   (PYTHON=python3.12 scripts/setup.sh to pick the interpreter)
set -eu

ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd -P)
VENV="$ROOT/.venv"
PYTHON=${PYTHON:-python3}
PIP_CACHE_DIR=${PIP_CACHE_DIR:-"${XDG_CACHE_HOME:-$HOME/.cache}/wishstar/pip"}
export PIP_CACHE_DIR PIP_DISABLE_PIP_VERSION_CHECK=1

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "setup.sh: $PYTHON not found; Wishstar needs Python >= 3.11" >&2
    exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup.sh: $PYTHON is $("$PYTHON" -V 2>&1); Wishstar needs Python >= 3.11" >&2
    exit 1
fi

mkdir -p "$PIP_CACHE_DIR"

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    echo "setup.sh: creating virtualenv $VENV"
    rm -rf "$VENV"
    if ! "$PYTHON" -m venv "$VENV"; then
        echo "setup.sh: '$PYTHON -m venv' failed (on Debian: apt-get install python3-venv)" >&2
        exit 1
    fi
fi

# Skip pip entirely when the editable install is there and pyproject.toml (which lists the dependencies) and
# requirements.lock (which pins them) are the ones it was made from: the stamp holds their checksums.
STAMP="$VENV/.wishstar-setup.stamp"
WANT=$(cat "$ROOT/pyproject.toml" "$ROOT/requirements.lock" | cksum)
if [ -x "$VENV/bin/wishstar" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
    echo "setup.sh: $VENV is up to date"
else
    echo "setup.sh: installing wishstar (editable, with dev extras) into $VENV"
    (cd "$ROOT" && "$VENV/bin/python" -m pip install --quiet -c requirements.lock -e ".[dev]")
    printf '%s\n' "$WANT" > "$STAMP"
fi

# The installed import names are wishstar.engine, wishstar.cli, ... (setup.py maps them onto the top-level
# folders). mypy cannot follow the editable install's import hook, so it reads them through this link tree.
mkdir -p "$VENV/typecheck/wishstar"
for folder in cli engine pipelines tasks steps webhook; do
    ln -sfn "../../../$folder" "$VENV/typecheck/wishstar/$folder"
done

echo "setup.sh: wishstar is $VENV/bin/wishstar"
echo "setup.sh: add it to PATH with: export PATH=\"$VENV/bin:\$PATH\""
