"""tools/run_tests.py counts truthfully: a test file that does not import, a test whose teardown fails, a pytest
session that cannot start and a notebook whose test process is killed are all failures, each counted once, and the
run still ends with the line `N passed, N failed` and a non-zero exit status."""
import json, re, subprocess, sys, textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def _notebook(path:Path, *sources:str):
    "Write a minimal notebook with one code cell per source."
    cells = [{'cell_type': 'code', 'execution_count': None, 'id': f'c{i}', 'metadata': {}, 'outputs': [], 'source': s}
             for i, s in enumerate(sources)]
    nb = {'cells': cells, 'metadata': {'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}},
          'nbformat': 4, 'nbformat_minor': 5}
    path.parent.mkdir(parents=True, exist_ok=True); path.write_text(json.dumps(nb))

def _write(path:Path, src:str):
    path.parent.mkdir(parents=True, exist_ok=True); path.write_text(textwrap.dedent(src))

def _run(nbs:Path, tests:Path):
    "Run tools/run_tests.py on the given directories: (exit status, output, closing (passed, failed))."
    nbs.mkdir(parents=True, exist_ok=True); tests.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'run_tests.py'), '--nbs-dir', str(nbs), '--tests-dir', str(tests)],
                       capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    last = r.stdout.strip().splitlines()[-1]
    m = re.fullmatch(r'(\d+) passed, (\d+) failed', last)
    assert m, f'the closing line is {last!r}, not `N passed, N failed`:\n{out}'
    return r.returncode, out, (int(m[1]), int(m[2]))

def test_everything_passing_exits_zero(tmp_path):
    "The positive control: a passing notebook and a passing test give `2 passed, 0 failed` and exit status 0."
    _notebook(tmp_path/'nbs'/'ok.ipynb', 'assert 1 + 1 == 2')
    _write(tmp_path/'tests'/'test_ok.py', 'def test_ok(): assert True\n')
    rc, out, counts = _run(tmp_path/'nbs', tmp_path/'tests')
    assert (rc, counts) == (0, (2, 0)), out

def test_collection_error_teardown_error_and_crashed_notebook(tmp_path):
    _notebook(tmp_path/'nbs'/'ok.ipynb', 'x = 1', 'assert x == 1')
    _notebook(tmp_path/'nbs'/'crash.ipynb', 'import os, signal', 'os.kill(os.getpid(), signal.SIGKILL)')
    _write(tmp_path/'tests'/'test_broken.py', '''\
        import a_module_that_does_not_exist
        def test_never_collected(): pass
        ''')
    _write(tmp_path/'tests'/'test_teardown.py', '''\
        import pytest
        @pytest.fixture
        def res():
            yield 1
            raise RuntimeError('teardown failed')
        def test_passes_then_teardown_fails(res): assert res == 1
        def test_passes(): assert True
        @pytest.mark.skip(reason='not today')
        def test_skipped(): pass
        ''')
    rc, out, counts = _run(tmp_path/'nbs', tmp_path/'tests')
    # passed: ok.ipynb and test_passes; failed: crash.ipynb, test_broken.py (collection), the teardown error, once
    assert counts == (2, 3), out
    assert rc == 1, out
    assert 'FAIL  ' in out and 'crash.ipynb' in out and 'killed by signal 9' in out, out
    assert 'pytest: 1 passed, 2 failed, 1 skipped' in out, out
    assert 'test_broken.py (collection error)' in out, out
    assert re.search(r'failed test: .*test_passes_then_teardown_fails', out), out

def test_pytest_session_that_cannot_start(tmp_path):
    "A conftest.py that raises stops pytest before any test runs (exit code 4): that is a failure, not 0 of 0."
    _write(tmp_path/'tests'/'conftest.py', 'raise ImportError("broken conftest")\n')
    _write(tmp_path/'tests'/'test_ok.py', 'def test_ok(): assert True\n')
    rc, out, counts = _run(tmp_path/'nbs', tmp_path/'tests')
    assert counts == (0, 1) and rc == 1, out
    assert 'pytest session ended with exit code 4' in out, out
