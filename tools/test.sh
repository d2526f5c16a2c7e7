#!/usr/bin/env bash
# Run the whole test suite: every notebook (nbdev's test runner) and the pytest tests in tests/.
# Sets up .venv first if needed. Options: --slow also runs cells flagged `#| slow`; any other argument
# selects notebooks or tests whose path contains it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/tools/env.sh"
cd "$ROOT"
exec "$RNA_FM_PY" tools/run_tests.py "$@"
