"""End-to-end check on a synthetic cohort with known truth: `rna-fm train` over 5 folds, then `rna-fm predict` on an
external cohort drawn from the same model, both through the command line.

The cohort's genes are the Hallmark genes of the published 20,820-gene list (a few thousand), grouped by the 50
MSigDB Hallmark sets; its expression is driven by morphology for known genes only (rna_fm.synth.make_cohort). The
script prints the mean test correlation per kind of gene: morphology-driven genes must be recovered, genes with no
morphology signal must stay near 0. It also prints the CPU time a user would wait.

Usage: python benchmarks/bench_cv_synthetic.py [--patients 300] [--genes 0 (all Hallmark genes)] [--steps 800]
       [--folds 5] [--work DIR]
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent

def _cli(*args):
    "Run `rna-fm` as a user would (a fresh process)."
    r = subprocess.run([sys.executable, '-m', 'rna_fm.cli', *map(str, args)], capture_output=True, text=True,
                       env={**os.environ, 'RNA_FM_PROGRESS': '0'})
    if r.returncode: raise RuntimeError(f"rna-fm {args[0]} failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    return r.stdout

def run(work:Path, patients:int=300, genes:int=0, steps:int=800, folds:int=5, external:int=60, seed:int=0) -> dict:
    "Build the cohort, cross-validate and predict an external cohort; return correlations by gene kind and timings."
    from rna_fm.cohort import ArrayFeatures
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
    t0, c0 = time.time(), resource.getrusage(resource.RUSAGE_CHILDREN)
    _cli('train', work/'reference.csv', gmt, work/'cv', '--features', work/'features.npz', '--n_folds', folds,
         '--model_config', work/'model.json', '--train_config', work/'train.json', '--n_samples', 16)
    t_train = time.time() - t0
    _cli('predict', work/'cv'/'fold0'/'best', work/'external', '--features', work/'external_features.npz',
         '--sample_sheet', work/'external_sheet.csv', '--n_samples', 16)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
    table = recovery_by_kind(coh, work/'cv', folds, work/'external')['by_kind']
    summary = pd.read_csv(work/'cv'/'summary.csv', index_col=0)
    return {'table': table, 'summary': summary, 'train_seconds': t_train, 'total_seconds': time.time() - t0,
            'cpu_seconds': cpu, 'patients': patients, 'genes': len(gl), 'pathways': len(sets)}

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--patients', type=int, default=300); ap.add_argument('--genes', type=int, default=0)
    ap.add_argument('--steps', type=int, default=800); ap.add_argument('--folds', type=int, default=5)
    ap.add_argument('--work', default=None)
    a = ap.parse_args()
    work = Path(a.work or tempfile.mkdtemp(prefix='rna_fm_cv_'))
    res = run(work, a.patients, a.genes, a.steps, a.folds)
    print(f"synthetic cohort: {res['patients']} patients ({a.folds}-fold CV) + 60 external, {res['genes']} genes, "
          f"{res['pathways']} Hallmark pathways; {a.steps} steps per fold")
    print(res['table'].round(3).to_string())
    cols = [c for c in ('best_step', 'best_val_pcc', 'pcc_mean', 'pcc_T20_test_ranked', 'pcc_T20_val_ranked',
                        'pcc_T200_val_ranked', 'crps_mean', 'coverage_50', 'coverage_90') if c in res['summary']]
    print(res['summary'][cols].round(3).to_string())
    print(f"wall time: train (5 folds + test predictions) {res['train_seconds']:.0f} s, total {res['total_seconds']:.0f} s; "
          f"CPU time {res['cpu_seconds']:.0f} s on {os.cpu_count()} cores; work dir {work}")

if __name__ == '__main__': main()
