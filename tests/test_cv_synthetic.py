"""Slow end-to-end test: `rna-fm train` (5-fold CV) and `rna-fm predict` on a synthetic cohort recover the
morphology-driven genes and do not pretend about the others, judged by the same thresholds as the benchmark
(benchmarks/bench_cv_synthetic.py, which runs the issue's full size: 300 patients, all Hallmark genes). Run with
`tools/run_tests.py --slow test_cv_synthetic`."""
import sys
from pathlib import Path
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent/'benchmarks'))

@pytest.mark.slow
def test_cv_recovers_morphology_genes(tmp_path):
    from bench_cv_synthetic import run
    res = run(tmp_path, patients=150, genes=800, steps=300, folds=5)
    t = res['table']
    assert res['verdict']['passed'], (res['verdict'], t)            # morph r >= 0.2, |null|, |latent| <= 0.1
    assert (t.cv_test_r <= t.oracle_r + 0.05).all(), t            # nothing beats what morphology can explain
    assert sorted(p.name for p in (tmp_path/'cv').glob('fold*')) == [f'fold{i}' for i in range(5)]
