"""End-to-end check on a synthetic cohort with known truth: `rna-fm train` over 5 folds, then `rna-fm predict` on an
external cohort drawn from the same model, both through the command line.

The cohort's genes are the Hallmark genes of the published 20,820-gene list (a few thousand), grouped by the 50
MSigDB Hallmark sets; its expression is driven by morphology for known genes only (rna_fm.synth.make_cohort). The
script prints the mean test correlation per kind of gene and a verdict against fixed thresholds (THRESHOLDS): the
morphology-driven genes must be recovered (mean r at least 0.2, on the CV test folds and on the external cohort),
the genes with no morphology signal ('null' and 'latent') must stay near 0 (|mean r| at most 0.1). It prints the
wall-clock and CPU time a user waits, and saves everything as JSON (default benchmarks/out/cv_synthetic.json). The
exit code is 0 when the verdict is PASS, 1 otherwise.

Usage: python benchmarks/bench_cv_synthetic.py [--patients 300] [--genes 0 (all Hallmark genes)] [--steps 800]
       [--folds 5] [--external 60] [--work DIR] [--out JSON]
"""
import argparse, json, os, platform, resource, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
THRESHOLDS = {'morph_min_r': 0.2,          # morphology-driven genes: mean per-gene r at least this (CV test and external)
              'no_signal_max_abs_r': 0.1}  # genes without morphology signal ('null', 'latent'): |mean r| at most this
NO_SIGNAL = ('null', 'latent')

def _cli(*args):
    "Run `rna-fm` as a user would (a fresh process)."
    r = subprocess.run([sys.executable, '-m', 'rna_fm.cli', *map(str, args)], capture_output=True, text=True,
                       env={**os.environ, 'RNA_FM_PROGRESS': '0'})
    if r.returncode: raise RuntimeError(f"rna-fm {args[0]} failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    return r.stdout

def run(work:Path, patients:int=300, genes:int=0, steps:int=800, folds:int=5, external:int=60, seed:int=0) -> dict:
    "Build the cohort, cross-validate and predict an external cohort; return correlations by gene kind and timings."
    from rna_fm.features import ArrayFeatures
    from rna_fm.demo import recovery_by_kind
    from rna_fm.model import ModelConfig
    from rna_fm.pathways import read_gmt
    from rna_fm.synth import make_cohort
    from rna_fm.train import TrainConfig
    work.mkdir(parents=True, exist_ok=True)
    gmt = ROOT/'data_samples/genesets/h.all.v7.0.symbols.gmt'
    sets = read_gmt(gmt)
    known = set(pd.read_csv(ROOT/'data_samples/genesets/gene_list_20820.csv').gene)
    gl = sorted({g for m in sets.values() for g in m} & known)
    if genes: gl = list(np.random.default_rng(seed).choice(gl, genes, replace=False))
    coh = make_cohort(n_patients=patients + external, genes=gl, pathways=sets, frac_two_slides=0.2, seed=seed)
    ext_p = set(coh.patients.index[-external:])
    is_ext = coh.slides.patient_id.isin(ext_p).values
    ref = coh.reference_table()
    ref[~is_ext].to_csv(work/'reference.csv', index=False)
    ArrayFeatures.from_arrays(coh.slides.slide_id[~is_ext], coh.features[~is_ext]).save(work/'features.npz')
    ArrayFeatures.from_arrays(coh.slides.slide_id[is_ext], coh.features[is_ext]).save(work/'external_features.npz')
    coh.sample_sheet[is_ext].to_csv(work/'external_sheet.csv', index=False)          # slides -> patients, no expression
    ModelConfig(hidden=64, depth=2, heads=4, cond_mlp=128, graph_heads=2).save(work/'model.json')
    TrainConfig(batch_size=32, max_steps=steps, eval_every=max(50, steps // 4), log_every=50, lr=1e-3, val_samples=4,
                val_steps=9, patience=0).save(work/'train.json')
    def _cpu(): r = resource.getrusage(resource.RUSAGE_CHILDREN); return r.ru_utime + r.ru_stime
    t0, c0 = time.time(), _cpu()
    _cli('train', work/'reference.csv', gmt, work/'cv', '--features', work/'features.npz', '--n_folds', folds,
         '--model_config', work/'model.json', '--train_config', work/'train.json', '--n_samples', 16)
    t1, c1 = time.time(), _cpu()
    _cli('predict', work/'cv'/'fold0'/'best', work/'external', '--features', work/'external_features.npz',
         '--sample_sheet', work/'external_sheet.csv', '--n_samples', 16)
    t2, c2 = time.time(), _cpu()
    table = recovery_by_kind(coh, work/'cv', folds, work/'external')['by_kind']
    summary = pd.read_csv(work/'cv'/'summary.csv', index_col=0)
    return {'table': table, 'summary': summary, 'verdict': verdict(table),
            'train_seconds': t1 - t0, 'predict_seconds': t2 - t1, 'total_seconds': t2 - t0,
            'train_cpu_seconds': c1 - c0, 'predict_cpu_seconds': c2 - c1, 'cpu_seconds': c2 - c0,
            'patients': patients, 'external_patients': external, 'folds': folds, 'steps': steps, 'genes': len(gl),
            'pathways': len(sets), 'work': str(work)}

def verdict(table:pd.DataFrame, th:dict=THRESHOLDS) -> dict:
    "Check the correlations by kind of gene against the thresholds: each check's value, its bound, and the overall result."
    checks = []
    for col in ('cv_test_r', 'external_r'):
        checks.append({'check': f'morph {col} >= {th["morph_min_r"]}', 'value': float(table.loc['morph', col]),
                       'passed': bool(table.loc['morph', col] >= th['morph_min_r'])})
        for k in NO_SIGNAL:
            if k not in table.index: continue
            checks.append({'check': f'|{k} {col}| <= {th["no_signal_max_abs_r"]}', 'value': float(table.loc[k, col]),
                           'passed': bool(abs(table.loc[k, col]) <= th['no_signal_max_abs_r'])})
    return {'passed': all(c['passed'] for c in checks), 'checks': checks, 'thresholds': dict(th)}

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--patients', type=int, default=300, help='patients in the cross-validation')
    ap.add_argument('--genes', type=int, default=0, help='genes drawn from the Hallmark genes (0: all of them)')
    ap.add_argument('--steps', type=int, default=800, help='training steps per fold')
    ap.add_argument('--folds', type=int, default=5)
    ap.add_argument('--external', type=int, default=60, help='patients of the external cohort')
    ap.add_argument('--work', default=None, help='working directory (default: a new temporary one)')
    ap.add_argument('--out', default=str(ROOT/'benchmarks'/'out'/'cv_synthetic.json'), help='JSON file of the results')
    a = ap.parse_args()
    work = Path(a.work or tempfile.mkdtemp(prefix='rna_fm_cv_'))
    res = run(work, a.patients, a.genes, a.steps, a.folds, a.external)
    print(f"synthetic cohort: {res['patients']} patients ({a.folds}-fold CV) + {a.external} external, {res['genes']} genes, "
          f"{res['pathways']} Hallmark pathways; {a.steps} steps per fold")
    print(res['table'].round(3).to_string())
    cols = [c for c in ('best_step', 'best_val_pcc', 'pcc_mean', 'pcc_T20_test_ranked', 'pcc_T20_val_ranked',
                        'pcc_T200_val_ranked', 'crps_mean', 'coverage_50', 'coverage_90') if c in res['summary']]
    print(res['summary'][cols].round(3).to_string())
    v = res['verdict']
    for c in v['checks']: print(f"  {'ok  ' if c['passed'] else 'FAIL'}  {c['check']}: {c['value']:.3f}")
    print(f"verdict: {'PASS' if v['passed'] else 'FAIL'} (morphology-driven genes recovered, genes without signal near 0)")
    print(f"time: train ({a.folds} folds + their validation and test predictions) {res['train_seconds']:.0f} s wall, "
          f"{res['train_cpu_seconds']:.0f} s CPU; external prediction {res['predict_seconds']:.0f} s wall, "
          f"{res['predict_cpu_seconds']:.0f} s CPU; total {res['total_seconds']:.0f} s wall, {res['cpu_seconds']:.0f} s CPU "
          f"on {os.cpu_count()} cores; work dir {work}")
    import torch
    record = {**{k: v for k, v in res.items() if k not in ('table', 'summary')},
              'by_kind': json.loads(res['table'].to_json(orient='index')), 'cv_summary': json.loads(res['summary'].to_json(orient='index')),
              'machine': {'cpus': os.cpu_count(), 'platform': platform.platform(), 'torch': torch.__version__},
              'date': time.strftime('%Y-%m-%dT%H:%M:%S')}
    from rna_fm.core import atomic_write_json
    out = atomic_write_json(a.out, record)
    print(f'results saved to {out}')
    return 0 if v['passed'] else 1

if __name__ == '__main__': sys.exit(main())
