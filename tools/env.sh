#!/usr/bin/env bash
# Create the project's virtual environment if it is missing and install rna_fm into it (editable, with the dev
# extras). Safe to re-run: when nothing changed since the last install it only checks and returns.
# Sourced by tools/demo.sh and tools/test.sh; sets RNA_FM_PY to the environment's python.
# Environment: PYTHON (the interpreter that creates the environment, default python3), RNA_FM_VENV (default .venv).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RNA_FM_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
TORCH_VERSION=2.13.0
MIN_PYTHON="$(sed -n 's/^min_python *= *//p' "$ROOT/settings.ini" | head -n 1)"

_fail() { echo "[setup] $*" >&2; exit 1; }

_create_venv() {
  command -v "$PY" >/dev/null 2>&1 || _fail "no '$PY' on PATH: install Python $MIN_PYTHON or later (Debian: sudo apt-get install python3 python3-venv)"
  "$PY" -c "import sys; sys.exit(sys.version_info[:2] < tuple(map(int, '$MIN_PYTHON'.split('.'))))" \
    || _fail "rna_fm needs Python $MIN_PYTHON or later; '$PY' is $("$PY" -V 2>&1). Set PYTHON=/path/to/python3.X and re-run."
  if ! "$PY" -c "import venv, ensurepip" >/dev/null 2>&1; then
    local ver; ver="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    _fail "'$PY -m venv' cannot create an environment with pip: this Python $ver has no ensurepip module.
[setup] On Debian or Ubuntu install it with:  sudo apt-get install python3-venv  (for this interpreter: python$ver-venv)
[setup] then re-run this command."
  fi
  if [ -e "$VENV" ] && [ ! -f "$VENV/pyvenv.cfg" ]; then
    _fail "$VENV exists but is not a virtual environment: move it away, or set RNA_FM_VENV to another directory"
  fi
  echo "[setup] creating virtual environment $VENV"
  "$PY" -m venv --clear "$VENV" || _fail "'$PY -m venv $VENV' failed (see above)"
}

# pip, with its "WARNING: Location" noise filtered out and its own exit status kept
_pip() {
  local rc=0
  "$RNA_FM_PY" -m pip "$@" 2>&1 | { grep -v "^WARNING: Location" || true; } || rc=$?
  return "$rc"
}

# the environment is complete: rna_fm, torch and nbdev import; the installed distribution has settings.ini's version
# (run from / so that nothing in the working directory, such as a stale *.egg-info, stands in for the installation)
_check() {
  (cd / && "$RNA_FM_PY" - "$ROOT/settings.ini" "$TORCH_VERSION") <<'EOF'
import sys, configparser
from importlib.metadata import version, PackageNotFoundError
cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(sys.argv[1], encoding='utf-8'); cfg = cfg['DEFAULT']
import rna_fm, torch, nbdev
dist, want = cfg['dist_name'], cfg['version']
try: have = version(dist)
except PackageNotFoundError: sys.exit(f'[setup] the distribution {dist} is not installed in {sys.prefix}')
if have != want: sys.exit(f'[setup] the installed {dist} is version {have}, but settings.ini says {want}')
if rna_fm.__version__ != want: sys.exit(f'[setup] rna_fm.__version__ is {rna_fm.__version__}, but settings.ini says {want}')
if not torch.__version__.startswith(sys.argv[2]): sys.exit(f'[setup] torch is {torch.__version__}, not {sys.argv[2]}')
EOF
}

# a missing environment, or one left without pip by an interrupted `python -m venv`, is (re)created
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then _create_venv; fi
RNA_FM_PY="$VENV/bin/python"
stamp="$VENV/.rna_fm_install"
want="$(cat "$ROOT/settings.ini" "$ROOT/setup.py" "$ROOT/tools/env.sh" | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && _check 2>/dev/null; then
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
    _pip install -q "torch==$TORCH_VERSION" || _fail "installing torch==$TORCH_VERSION failed (pip's message above)"
  else
    echo "[setup] installing torch==$TORCH_VERSION (CPU build from download.pytorch.org)"
    _pip install -q "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu \
      || _fail "installing torch==$TORCH_VERSION failed (pip's message above)"
  fi
fi
echo "[setup] installing rna_fm (editable) with dev extras"
_pip install -q -e "$ROOT[dev]" || _fail "installing rna_fm failed (pip's message above); fix it and re-run"
_check || _fail "installation failed: the environment $VENV is incomplete (see above)"
echo "$want" > "$stamp"
export RNA_FM_PY
