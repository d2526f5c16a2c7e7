"""pytest options shared by the repository-level tests."""
import pytest

def pytest_addoption(parser):
    parser.addoption('--run-slow', action='store_true', default=False, help='run tests marked slow')

def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: a test that takes minutes; run with --run-slow')

def pytest_collection_modifyitems(config, items):
    if config.getoption('--run-slow'): return
    skip = pytest.mark.skip(reason='slow: run with --run-slow (tools/test.sh --slow)')
    for item in items:
        if 'slow' in item.keywords: item.add_marker(skip)
