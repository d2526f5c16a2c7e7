"""Execute notebooks and save their outputs in place (figures and values for the docs), then `nbdev_clean` them.

Cells flagged `#| slow` or `#| eval: false` are skipped, as under `nbdev_test`. Each notebook runs in a fresh process.
Usage: python tools/exec_nbs.py [NOTEBOOK ...]   (default: every notebook)
"""
import os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def execute(nb:Path):
    "Run `nb` top to bottom in this process and write it back with its outputs."
    from execnb.nbio import read_nb, write_nb
    from execnb.shell import CaptureShell
    from nbdev.config import get_config
    from nbdev.process import extract_directives
    skip = set(get_config().tst_flags.split())
    def _skip(cell):
        if cell.cell_type != 'code': return True
        if 'nbdev_export(' in cell.source: return True
        d = extract_directives(cell, remove=False)
        return d.get('eval:', [''])[0].lower() == 'false' or bool(skip & d.keys())
    book = read_nb(nb)
    sh = CaptureShell(nb)
    sh.set_path(nb.parent.resolve())
    os.chdir(nb.parent)
    sh.run_all(book, exc_stop=True, preproc=_skip)
    if sh.exc: raise sh.exc
    write_nb(book, nb)

def main():
    nbs = [Path(p).resolve() for p in sys.argv[1:]] or sorted(
        p for p in (ROOT/'nbs').rglob('*.ipynb') if not any(s.startswith(('.', '_')) for s in p.relative_to(ROOT/'nbs').parts))
    env = {**os.environ, 'RNA_FM_PROGRESS': '0', 'MPLBACKEND': 'module://matplotlib_inline.backend_inline'}
    failed = []
    for nb in nbs:
        print(f'executing {nb.relative_to(ROOT)}', flush=True)
        r = subprocess.run([sys.executable, __file__, '--one', str(nb)], env=env)
        if r.returncode: failed.append(nb)
    subprocess.run([Path(sys.executable).parent/'nbdev_clean'], cwd=ROOT, check=True)
    if failed: sys.exit(f'failed: {[str(f) for f in failed]}')

if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == '--one': execute(Path(sys.argv[2]))
    else: main()
