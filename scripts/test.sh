#!/usr/bin/env bash
# The test command (README and .ci/run): set up the venv, start the throwaway PostgreSQL the store tests need,
# and run the whole suite with PostgreSQL required (no silent skips). Extra arguments go to pytest.
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
scripts/setup.sh >/dev/null
WISHSTAR_TEST_POSTGRES_URL="$(scripts/postgres.sh start)"
export WISHSTAR_TEST_POSTGRES_URL
export CI_REQUIRE_POSTGRES=1
export CI_REQUIRE_CONFORMANCE=1
exec .venv/bin/pytest "$@"
