#!/usr/bin/env bash
# Run rna_fm's end-to-end demonstration on a synthetic cohort with known truth (output in demo_out/).
# Sets up .venv first if needed. Extra arguments go to `rna-fm demo` (see `rna-fm demo --help`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/tools/env.sh"
cd "$ROOT"
export MPLBACKEND=Agg
exec "$(dirname "$RNA_FM_PY")/rna-fm" demo "$@"
