"""Run rna_fm's whole test suite: every notebook with nbdev's test engine, then the pytest tests in tests/.

Prints one line per notebook and a closing line `N passed, N failed` that counts notebooks and pytest tests.
A notebook whose test process crashes, a test file that cannot be collected and a pytest session that ends badly
all count as failures; the exit status is 1 whenever anything failed.
Usage: python tools/run_tests.py [--slow] [--workers N] [FILTER ...]
"""
import argparse, os, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def _name(p:Path) -> str:
    "`p` relative to the repository when it lies inside it."
    try: return p.resolve().relative_to(ROOT).as_posix()
    except ValueError: return p.as_posix()

def _test_one_notebook(fn:Path, flags:list) -> int:
    "Inside a child process: test notebook `fn` with nbdev's `test_nb`; 0 when it passed, 1 when it failed."
    from nbdev.config import get_config
    from nbdev.test import test_nb
    ok, _ = test_nb(fn, skip_flags=get_config().tst_flags.split(), force_flags=flags, basepath=ROOT, showerr=True)
    return 0 if ok else 1

def run_notebook(fn:Path, flags:list) -> tuple:
    "Test notebook `fn` in a fresh Python process: (passed, seconds, why it failed). A crashed process is a failure."
    t0 = time.time()
    # a fresh process per notebook: no state (or forked torch threads) leaks from one notebook to the next, and a
    # notebook that kills its process (a segfault, the OOM killer) fails alone
    cmd = [sys.executable, str(Path(__file__).resolve()), '--one-notebook', str(fn)] + [f'--flag={f}' for f in flags]
    env = {**os.environ, 'RNA_FM_PROGRESS': os.environ.get('RNA_FM_PROGRESS', '0')}
    try: rc = subprocess.run(cmd, cwd=ROOT, env=env).returncode
    except Exception as e: return False, time.time() - t0, f'could not start its test process: {e}'
    why = ('' if rc == 0 else 'failed' if rc == 1 else
           f'its test process was killed by signal {-rc}' if rc < 0 else f'its test process exited with status {rc}')
    return rc == 0, time.time() - t0, why

def run_notebooks(nbs:list, flags:list, workers:int) -> list:
    "Test `nbs`, `workers` at a time, printing a line per notebook; [(name, passed, why)] in the order of `nbs`."
    results = []
    with ThreadPoolExecutor(max(1, workers)) as ex:
        futs = [ex.submit(run_notebook, p, flags) for p in nbs]
        for p, fut in zip(nbs, futs):
            try: ok, secs, why = fut.result()
            except Exception as e: ok, secs, why = False, 0.0, f'the runner failed: {e!r}'
            results.append((_name(p), ok, why))
            print(f"  {'PASS' if ok else 'FAIL'}  {_name(p)}  ({secs:.1f} s){'' if ok else '  ' + why}", flush=True)
    return results

class PytestCounter:
    "pytest plugin: one outcome per test (failed when any of its phases failed) and a failure per collection error."
    def __init__(self): self.outcomes, self.exit_code = {}, None
    def pytest_runtest_logreport(self, report):
        prev = self.outcomes.get(report.nodeid)
        if report.failed: self.outcomes[report.nodeid] = 'failed'
        elif report.skipped and prev is None: self.outcomes[report.nodeid] = 'skipped'
        elif report.when == 'call' and report.passed and prev is None: self.outcomes[report.nodeid] = 'passed'
    def pytest_collectreport(self, report):
        if report.failed: self.outcomes[f'{report.nodeid or "<collection>"} (collection error)'] = 'failed'
    def _with(self, outcome): return [k for k, v in self.outcomes.items() if v == outcome]
    @property
    def passed(self): return self._with('passed')
    @property
    def failed(self): return self._with('failed')
    @property
    def skipped(self): return self._with('skipped')

def run_pytest(paths:list, slow:bool=False) -> PytestCounter:
    "Run pytest on `paths` in this process and count its outcomes; a session that ended badly counts as a failure."
    import pytest
    counter = PytestCounter()
    args = (['-q', '-p', 'no:cacheprovider', '-rfEs', '--continue-on-collection-errors'] + (['--run-slow'] if slow else [])
            + [str(p) for p in paths])
    rc = counter.exit_code = int(pytest.main(args, plugins=[counter]))
    # 0: all passed; 5: no tests collected; 1: tests failed (counted above, unless something else went wrong);
    # 2: interrupted; 3: internal error; 4: usage error (a conftest.py that does not import, an unknown option)
    if rc in (2, 3, 4) or (rc not in (0, 5) and not counter.failed):
        counter.outcomes[f'<pytest session ended with exit code {rc}>'] = 'failed'
    return counter

def _notebooks(nbs_dir:Path, filters:list) -> list:
    nbs = sorted(p for p in nbs_dir.rglob('*.ipynb')
                 if not any(part.startswith(('.', '_')) for part in p.relative_to(nbs_dir).parts))
    return [p for p in nbs if not filters or any(f in p.as_posix() for f in filters)]

def _test_files(tests_dir:Path, filters:list) -> list:
    tests = sorted(tests_dir.glob('test_*.py'))
    return [t for t in tests if not filters or any(f in t.as_posix() for f in filters)]

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--slow', action='store_true', help='also run cells and tests flagged slow')
    ap.add_argument('--workers', type=int, default=min(os.cpu_count() or 1, 2), help='notebooks tested at once')
    ap.add_argument('--nbs-dir', type=Path, default=ROOT/'nbs', help='where the notebooks are (default: nbs/)')
    ap.add_argument('--tests-dir', type=Path, default=ROOT/'tests', help='where the pytest files are (default: tests/)')
    ap.add_argument('--one-notebook', type=Path, help=argparse.SUPPRESS)   # internal: the child process of one notebook
    ap.add_argument('--flag', action='append', default=[], help=argparse.SUPPRESS)
    ap.add_argument('filters', nargs='*', help='only notebooks/tests whose path contains one of these')
    a = ap.parse_args()
    if a.one_notebook: sys.exit(_test_one_notebook(a.one_notebook, a.flag))
    nbs_dir, tests_dir = a.nbs_dir.resolve(), a.tests_dir.resolve()
    os.chdir(ROOT)
    t0 = time.time()
    nbs = _notebooks(nbs_dir, a.filters)
    print(f'Testing {len(nbs)} notebooks with {a.workers} workers', flush=True)
    results = run_notebooks(nbs, ['slow'] if a.slow else [], a.workers)
    tests = _test_files(tests_dir, a.filters)
    counter = PytestCounter()
    if tests:
        print(f'Running pytest on {len(tests)} files', flush=True)
        counter = run_pytest(tests, a.slow)
    nb_pass = sum(ok for _, ok, _ in results); nb_fail = len(results) - nb_pass
    print(f'\nnotebooks: {nb_pass} passed, {nb_fail} failed; pytest: {len(counter.passed)} passed, '
          f'{len(counter.failed)} failed, {len(counter.skipped)} skipped; {time.time() - t0:.0f} s')
    for name, ok, why in results:
        if not ok: print(f'  failed notebook: {name} ({why})')
    for n in counter.failed: print(f'  failed test: {n}')
    passed, failed = nb_pass + len(counter.passed), nb_fail + len(counter.failed)
    print(f'{passed} passed, {failed} failed', flush=True)
    sys.exit(1 if failed or not (results or tests) else 0)

if __name__ == '__main__': main()
