#!/usr/bin/env bash
# Run rna_fm's end-to-end demonstration on a synthetic cohort with known truth (output in demo_out/).
# Sets up .venv first if needed. Extra arguments go to `rna-fm demo` (see `rna-fm demo --help`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/tools/env.sh"
cd "$ROOT"
export MPLBACKEND=Agg
# glibc keeps large freed blocks for reuse instead of page-faulting them in again at every step: about 20% faster
# sampling on the CPU (benchmarks/README.md); the user's own settings win
export MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-33554432}" MALLOC_TRIM_THRESHOLD_="${MALLOC_TRIM_THRESHOLD_:-68719476736}" \
       MALLOC_TOP_PAD_="${MALLOC_TOP_PAD_:-1073741824}"
exec "$(dirname "$RNA_FM_PY")/rna-fm" demo "$@"
