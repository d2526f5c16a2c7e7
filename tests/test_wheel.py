"""The package as users get it: a wheel built from this checkout carries every module and the data its demo needs,
and (slow) installed into a fresh virtual environment it runs `rna-fm demo --quick` from an empty folder."""
import json, os, shutil, subprocess, sys, zipfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent

def _clean_env() -> dict:
    "This process's environment without what would let a child see the checkout's own rna_fm instead of an installed one."
    return {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV')}

def _build_wheel(out:Path) -> Path:
    "Build the wheel of a clean copy of this checkout's tracked files into `out` (no dependencies, no isolated build)."
    files = subprocess.run(['git', 'ls-files', '-z'], cwd=ROOT, capture_output=True, check=True).stdout.decode().split('\0')
    src = out/'src'
    for f in filter(None, files):
        (src/f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT/f, src/f)                     # links are followed: the wheel holds the files' bytes
    r = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation', '-w', str(out), str(src)],
                       capture_output=True, text=True, cwd=out, env=_clean_env())
    assert r.returncode == 0, f'building the wheel failed:\n{r.stdout}\n{r.stderr}'
    wheels = list(out.glob('*.whl'))
    assert len(wheels) == 1, wheels
    return wheels[0]

def test_wheel_carries_modules_and_data(tmp_path):
    "Every rna_fm module and the packaged Hallmark gene sets are in the wheel, the GMT byte for byte."
    names = set(zipfile.ZipFile(_build_wheel(tmp_path)).namelist())
    modules = {f'rna_fm/{p.name}' for p in (ROOT/'rna_fm').glob('*.py')}
    assert modules <= names, f'modules missing from the wheel: {sorted(modules - names)}'
    gmt = 'rna_fm/data/h.all.v7.0.symbols.gmt'
    assert gmt in names, 'the Hallmark GMT the demo needs is not in the wheel (setup.py package_data, MANIFEST.in)'
    assert zipfile.ZipFile(next(tmp_path.glob('*.whl'))).read(gmt) == (ROOT/gmt).read_bytes()

@pytest.mark.slow
def test_installed_wheel_runs_quick_demo_from_empty_folder(tmp_path):
    "pip install of the wheel into a fresh venv (the CPU torch first), then `rna-fm demo --quick` in an empty folder."
    whl = _build_wheel(tmp_path)
    venv = tmp_path/'venv'
    subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True, env=_clean_env())
    r = subprocess.run([str(venv/'bin'/'python'), '-m', 'pip', 'install', '-q', 'torch==2.13.0', str(whl)],
                       capture_output=True, text=True, env=_clean_env())
    assert r.returncode == 0, f'pip install failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}'
    empty = tmp_path/'empty'; empty.mkdir()
    r = subprocess.run([str(venv/'bin'/'rna-fm'), 'demo', '--quick', '--out', 'q'], cwd=empty, capture_output=True,
                       text=True, env={'PATH': '/usr/bin:/bin', 'HOME': str(tmp_path), 'MPLBACKEND': 'Agg'}, timeout=1200)
    assert r.returncode == 0, f'rna-fm demo --quick failed:\n{r.stderr[-3000:]}'
    s = json.loads((empty/'q'/'summary.json').read_text())
    assert s['genes'] == 150 and s['by_kind']['morph']['cv_test_r'] > s['by_kind']['latent']['cv_test_r']
    assert (empty/'q'/'results.png').stat().st_size > 10_000
    r = subprocess.run([str(venv/'bin'/'rna-fm'), 'train', '--help'], capture_output=True, text=True, env={'PATH': '/usr/bin:/bin'})
    assert r.returncode == 0 and '--max_steps' in r.stdout and '--overwrite' in r.stdout, r.stdout + r.stderr   # whatever fastcore pip chose
