"""Slow end-to-end test: `rna-fm train` (3-fold CV) and `rna-fm predict` on a synthetic cohort recover the
morphology-driven genes and do not pretend about the others. Run with `tools/test.sh --slow`; the full-size run is
benchmarks/bench_cv_synthetic.py."""
import sys
from pathlib import Path
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent/'benchmarks'))

@pytest.mark.slow
def test_cv_recovers_morphology_genes(tmp_path):
    from bench_cv_synthetic import run
    res = run(tmp_path, patients=150, genes=800, steps=300, folds=3)
    t = res['table']
    assert t.loc['morph', 'cv_test_r'] > 0.2 and t.loc['morph', 'external_r'] > 0.2, t         # recovered...
    assert abs(t.loc['latent', 'cv_test_r']) < 0.1 and abs(t.loc['latent', 'external_r']) < 0.1, t   # ...no signal: ~0
    assert (t.cv_test_r <= t.oracle_r + 0.05).all(), t            # nothing beats what morphology can explain
