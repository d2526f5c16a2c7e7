"""Training time of each baseline (mean, ridge, HE2RNA- and SEQUOIA-style) on the demo's cohort, beside the flow model's.

The cohort is the one `rna-fm demo` builds (rna_fm.demo.run_demo: 200 patients plus 40 external, 600 Hallmark genes,
50 Hallmark sets, seed 0; only the 200 cross-validated patients are used), split as the demo splits it (3 folds,
validation share 0.15, seed 0). Every baseline runs every fold through `rna_fm.crossval.run_cv(..., baseline=...)`, as
`rna-fm baseline` does, with its default settings; the flow model runs fold 0 with the demo's settings (hidden 64,
depth 2, 400 steps), the reference measured in the same run. Printed per model: training seconds per fold (fitting and
choosing on validation, without the prediction of validation and test patients), prediction seconds, and the test
scores (mean over the folds run, and fold 0 alone, the flow model's fold: mean Pearson r over genes, PCC T20 with genes ranked on validation, CRPS, 90% coverage).
Results go to benchmarks/out/baselines.json.

Usage: python benchmarks/bench_baselines.py [--folds 3] [--no-flow] [--threads 1] [--work DIR] [--keep]
"""
import argparse, json, os, platform, shutil, tempfile, time
from pathlib import Path
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent

def demo_cohort(n_patients:int=200, n_genes:int=600, seed:int=0):
    "The demo's synthetic cohort (as rna_fm.demo.run_demo draws it) and its gene sets; the cross-validated part."
    from rna_fm.pathways import hallmark_gene_sets
    from rna_fm.synth import make_cohort
    from rna_fm.cohort import read_reference_table
    sets = hallmark_gene_sets()
    genes = sorted({g for m in sets.values() for g in m})
    genes = list(np.random.default_rng(seed).choice(genes, min(n_genes, len(genes)), replace=False))
    chosen = set(genes)
    sets = {k: [g for g in v if g in chosen] for k, v in sets.items()}
    n_ext = max(4, n_patients // 5)
    coh = make_cohort(n_patients=n_patients + n_ext, genes=genes, pathways=sets, frac_two_slides=0.2, seed=seed)
    ext = coh.slides.patient_id.isin(set(coh.patients.index[-n_ext:])).values
    return coh, read_reference_table(coh.reference_table()[~ext]), sets

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--folds', type=int, default=3, help='folds each baseline runs (of the 3)')
    ap.add_argument('--no-flow', action='store_true', help='skip the flow model reference')
    ap.add_argument('--threads', type=int, default=1, help='torch threads')
    ap.add_argument('--work', default=None); ap.add_argument('--keep', action='store_true')
    ap.add_argument('--out', default=str(ROOT/'benchmarks'/'out'/'baselines.json'))
    a = ap.parse_args()
    os.environ['RNA_FM_PROGRESS'] = '0'
    import torch
    from rna_fm.baselines import Baseline, BaselineConfig
    from rna_fm.features import ArrayFeatures
    from rna_fm.splits import make_splits
    from rna_fm.core import torch_threads
    from rna_fm.crossval import run_cv
    from rna_fm.model import ModelConfig
    from rna_fm.predict import PredictConfig
    from rna_fm.train import TrainConfig
    coh, ref, sets = demo_cohort()
    feats = ArrayFeatures.from_arrays(coh.slides.slide_id, coh.features, coh.cluster_sizes)
    splits = make_splits(ref, n_folds=3, val_fraction=0.15, seed=0)
    pcfg = PredictConfig(n_samples=16)
    work = Path(a.work or tempfile.mkdtemp(prefix='bench_baselines_'))
    cols = ['train_seconds', 'predict_seconds', 'pcc_mean', 'pcc_T20_val_ranked', 'crps_mean', 'coverage_90']
    rows = {}
    try:
        with torch_threads(a.threads):
            for name in ('mean', 'ridge', 'he2rna', 'sequoia'):
                t0 = time.time()
                t = run_cv(ref, splits, feats, None, work/name, predict_cfg=pcfg, encoder='synthetic',
                           folds=list(range(a.folds)), baseline=Baseline(BaselineConfig(name)))
                rows[name] = {**{c: float(t.loc['mean', c]) for c in cols}, 'wall_seconds': time.time() - t0,
                              **({'alpha': float(t.loc['mean', 'alpha'])} if 'alpha' in t else {}),
                              'fold0': {c: float(t.loc[0, c]) for c in cols}}
                print(f"{name:8s} train {rows[name]['train_seconds']:7.2f} s/fold   predict {rows[name]['predict_seconds']:6.2f} s/fold   "
                      f"pcc {rows[name]['pcc_mean']:.3f}   T20(val) {rows[name]['pcc_T20_val_ranked']:.3f}   "
                      f"crps {rows[name]['crps_mean']:.3f}   cov90 {rows[name]['coverage_90']:.3f}", flush=True)
            if not a.no_flow:
                mcfg = ModelConfig(hidden=64, depth=2, heads=4, cond_mlp=128, graph_heads=2)
                tcfg = TrainConfig(batch_size=32, max_steps=400, eval_every=100, log_every=20, lr=1e-3, val_samples=4,
                                   val_steps=9, patience=0)
                t0 = time.time()
                t = run_cv(ref, splits, feats, sets, work/'flow', mcfg, tcfg, pcfg, encoder='synthetic', folds=[0])
                rows['rna-fm'] = {**{c: float(t.loc[0, c]) for c in cols}, 'wall_seconds': time.time() - t0, 'folds': 1}
                f = rows['rna-fm']
                print(f"{'rna-fm':8s} train {f['train_seconds']:7.2f} s/fold   predict {f['predict_seconds']:6.2f} s/fold   "
                      f"pcc {f['pcc_mean']:.3f}   T20(val) {f['pcc_T20_val_ranked']:.3f}   crps {f['crps_mean']:.3f}   "
                      f"cov90 {f['coverage_90']:.3f}   (fold 0 only)")
                print('fold 0 alone (the same test patients for every model): ' + ', '.join(
                    f"{n} pcc {rows[n]['fold0']['pcc_mean']:.3f} / T20(val) {rows[n]['fold0']['pcc_T20_val_ranked']:.3f} / "
                    f"crps {rows[n]['fold0']['crps_mean']:.3f}" for n in ('mean', 'ridge', 'he2rna', 'sequoia')))
                print('training time as a share of the flow model\'s (fold 0 reference): ' +
                      ', '.join(f"{n} {rows[n]['train_seconds'] / f['train_seconds']:.3f}x" for n in ('mean', 'ridge', 'he2rna', 'sequoia')))
        res = {'cohort': {'patients': len(ref.patients), 'slides': len(ref.slide_ids), 'genes': len(ref.genes),
                          'K': int(coh.features.shape[1]), 'D': int(coh.features.shape[2])},
               'folds_baselines': a.folds, 'threads': a.threads, 'models': rows,
               'machine': {'cpus': os.cpu_count(), 'python': platform.python_version(), 'torch': torch.__version__,
                           'note': 'shared machine (other jobs running): absolute seconds are inflated and noisy'}}
        Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text(json.dumps(res, indent=1))
        print(f"-> {a.out}")
    finally:
        if not a.keep: shutil.rmtree(work, ignore_errors=True)

if __name__ == '__main__': main()
