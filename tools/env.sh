#!/usr/bin/env bash
# Create the project's virtual environment if it is missing and install rna_fm into it (editable, with the dev
# extras). Safe to re-run: when nothing changed since the last install it only checks and returns.
# Sourced by tools/demo.sh and tools/test.sh; sets RNA_FM_PY to the environment's python.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RNA_FM_VENV:-$ROOT/.venv}"
TORCH_VERSION=2.13.0
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtual environment $VENV"
  "${PYTHON:-python3}" -m venv "$VENV"
fi
RNA_FM_PY="$VENV/bin/python"
stamp="$VENV/.rna_fm_install"
want="$(cat "$ROOT/settings.ini" "$ROOT/setup.py" "$ROOT/tools/env.sh" | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$RNA_FM_PY" -c "import rna_fm, torch, nbdev" 2>/dev/null; then
  export RNA_FM_PY; return 0 2>/dev/null || exit 0
fi
have_torch="$("$RNA_FM_PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || true)"
if [ "${have_torch%%+*}" != "$TORCH_VERSION" ]; then
  # The CPU build first, so that installing the package never pulls torch's multi-GB CUDA build.
  # A local CPU wheel (pip's find-links) is used when present, else PyTorch's CPU index.
  local_wheel=""
  links="${PIP_FIND_LINKS:-} $("$RNA_FM_PY" -m pip config list 2>/dev/null | sed -n "s/.*find-links='\(.*\)'/\1/p")"
  for d in $links; do
    d="${d#file://}"
    if ls "$d"/torch-${TORCH_VERSION}+cpu-*.whl >/dev/null 2>&1; then local_wheel="$d"; fi
  done
  if [ -n "$local_wheel" ]; then
    echo "[setup] installing torch==$TORCH_VERSION (CPU)"
    "$RNA_FM_PY" -m pip install -q "torch==$TORCH_VERSION" 2>&1 | grep -v "^WARNING: Location" || true
  else
    echo "[setup] installing torch==$TORCH_VERSION (CPU build from download.pytorch.org)"
    "$RNA_FM_PY" -m pip install -q "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu
  fi
fi
echo "[setup] installing rna_fm (editable) with dev extras"
"$RNA_FM_PY" -m pip install -q -e "$ROOT[dev]" 2>&1 | grep -v "^WARNING: Location" || true
"$RNA_FM_PY" -c "import rna_fm, torch, nbdev; assert torch.__version__.startswith('$TORCH_VERSION'), torch.__version__" \
  || { echo "[setup] installation failed" >&2; exit 1; }
echo "$want" > "$stamp"
export RNA_FM_PY
