"""Run rna_fm's whole test suite: every notebook with nbdev's test engine, then the pytest tests in tests/.

Prints one line per notebook and a closing line `N passed, N failed` that counts notebooks and pytest tests.
Usage: python tools/run_tests.py [--slow] [--workers N] [FILTER ...]
"""
import argparse, multiprocessing, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def _run_nb(args):
    "Test one notebook in a fresh process (nbdev's `test_nb`), returning (name, passed, seconds)."
    fn, flags = args
    os.environ.setdefault('RNA_FM_PROGRESS', '0')
    from nbdev.config import get_config
    from nbdev.test import test_nb
    skip = get_config().tst_flags.split()
    ok, secs = test_nb(fn, skip_flags=skip, force_flags=flags, basepath=ROOT, showerr=True)
    return fn.relative_to(ROOT).as_posix(), ok, secs

def _notebooks(filters):
    nbs = sorted(p for p in (ROOT/'nbs').rglob('*.ipynb')
                 if not any(part.startswith(('.', '_')) for part in p.relative_to(ROOT/'nbs').parts))
    return [p for p in nbs if not filters or any(f in p.as_posix() for f in filters)]

class _Counter:
    "pytest plugin counting outcomes."
    def __init__(self): self.passed, self.failed, self.skipped = [], [], []
    def pytest_runtest_logreport(self, report):
        if report.when == 'call' or report.outcome != 'passed':
            if report.skipped: self.skipped.append(report.nodeid)
            elif report.failed: self.failed.append(report.nodeid)
            elif report.when == 'call': self.passed.append(report.nodeid)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--slow', action='store_true', help='also run cells and tests flagged slow')
    ap.add_argument('--workers', type=int, default=min(os.cpu_count() or 1, 2), help='notebooks tested at once')
    ap.add_argument('filters', nargs='*', help='only notebooks/tests whose path contains one of these')
    a = ap.parse_args()
    os.chdir(ROOT)
    flags = ['slow'] if a.slow else []
    nbs = _notebooks(a.filters)
    t0, results = time.time(), []
    print(f'Testing {len(nbs)} notebooks with {a.workers} workers', flush=True)
    # a fresh spawned process per notebook: no state (or forked torch threads) leaks from one notebook to the next
    with ProcessPoolExecutor(a.workers, mp_context=multiprocessing.get_context('spawn'), max_tasks_per_child=1) as ex:
        for name, ok, secs in ex.map(_run_nb, [(p, flags) for p in nbs]):
            results.append((name, ok)); print(f"  {'PASS' if ok else 'FAIL'}  {name}  ({secs:.1f} s)", flush=True)
    counter = _Counter()
    tests = sorted((ROOT/'tests').glob('test_*.py'))
    tests = [t for t in tests if not a.filters or any(f in t.as_posix() for f in a.filters)]
    if tests:
        import pytest
        print(f'Running pytest on {len(tests)} files', flush=True)
        args = ['-q', '-p', 'no:cacheprovider', '-rfs'] + (['--run-slow'] if a.slow else []) + [str(t) for t in tests]
        pytest.main(args, plugins=[counter])
    nb_pass = sum(ok for _, ok in results); nb_fail = len(results) - nb_pass
    print(f'\nnotebooks: {nb_pass} passed, {nb_fail} failed; pytest: {len(counter.passed)} passed, '
          f'{len(counter.failed)} failed, {len(counter.skipped)} skipped; {time.time() - t0:.0f} s')
    for name, ok in results:
        if not ok: print(f'  failed notebook: {name}')
    for n in counter.failed: print(f'  failed test: {n}')
    passed, failed = nb_pass + len(counter.passed), nb_fail + len(counter.failed)
    print(f'{passed} passed, {failed} failed', flush=True)
    sys.exit(1 if failed or not (results or tests) else 0)

if __name__ == '__main__': main()
