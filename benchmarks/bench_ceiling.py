"""How much of the oracle ceiling can be learnt from a slide's tile-mean features, and how that grows with the cohort.

The cohort and split are bench_accuracy's (rna_fm.synth.make_cohort on real GO BP sets, make_holdout: 25% test, 15% of
the rest validation), at several sizes. Closed-form learners of the tile-mean (size-weighted pooled) cluster
features, each predicting exactly (no sampling), everything chosen on validation MSE:
- ridge (rna_fm.ridge.fit_ridge, the `ridge` baseline and prior), and reduced-rank ridge (`ranks=RANKS`: the rank
  of the fit chosen on validation too);
- kernel ridge through random Fourier features (rna_fm.ridge.fit_kernel_ridge, 2,048 features: the `kernel` baseline
  and prior), and its reduced-rank form;
- exact RBF kernel ridge (scikit-learn's KernelRidge, a dev requirement), bandwidth in (0.1, 0.3, 1, 3) / D and
  penalty in (0.01, 0.1, 1, 10), on standardised features.
Also an additive linear + RBF model: ridge, then kernel ridge (RFF) of its training residuals, each stage's settings
chosen on validation; and the mixture in linear space (rna_fm.ridge.fit_mixture, the `mixture` baseline and prior), which
reads the cluster features and their shares rather than the tile mean. Printed per size and learner: mean test r (patient level) of morphology- and proportion-driven
genes and its share of the oracle ceiling (mean r over mean sqrt(oracle R2)), as bench_accuracy reports it, and the
validation MSE over all genes (z units), by which a user would choose between the learners. It says whether issue 16's
"r >= 0.9 of the oracle" is within reach of any learner of these features at a cohort's size.

Usage: python benchmarks/bench_ceiling.py [--patients 360,1440,4320] [--learners 'ridge;mixture in linear space']
"""
import argparse, json, time
from pathlib import Path
import numpy as np
import pandas as pd
from bench_accuracy import ROOT, make_benchmark_cohort

def learners(Xt, Zt, Xv, Zv, Xe, clusters:dict, log2_sd, only=None) -> dict:
    "Validation and test predictions (z units) of each learner (those named in `only`, default all), fitted on (Xt, Zt) with its settings chosen on (Xv, Zv)."
    from rna_fm.ridge import RANKS, fit_kernel_ridge, fit_mixture, fit_ridge, kernel_predict, mixture_predict, ridge_predict
    want = lambda name: only is None or name in only
    out, lin = {}, fit_ridge(Xt, Zt, Xv, Zv)
    if want('ridge'): out['ridge'] = (ridge_predict(lin, Xv), ridge_predict(lin, Xe))
    if want('ridge, reduced rank'):
        lin_r = fit_ridge(Xt, Zt, Xv, Zv, ranks=RANKS)
        print(f"  reduced rank chosen on validation: ridge {lin_r['rank']} of {lin_r['full_rank']}", flush=True)
        out['ridge, reduced rank'] = (ridge_predict(lin_r, Xv), ridge_predict(lin_r, Xe))
    if want('kernel ridge (RFF, 2,048)'):
        ker = fit_kernel_ridge(Xt, Zt, Xv, Zv, 2048)
        out['kernel ridge (RFF, 2,048)'] = (kernel_predict(ker, Xv), kernel_predict(ker, Xe))
    if want('kernel ridge (RFF, 2,048), reduced rank'):
        ker_r = fit_kernel_ridge(Xt, Zt, Xv, Zv, 2048, ranks=RANKS)
        print(f"  reduced rank chosen on validation: kernel ridge {ker_r['rank']} of {ker_r['full_rank']}", flush=True)
        out['kernel ridge (RFF, 2,048), reduced rank'] = (kernel_predict(ker_r, Xv), kernel_predict(ker_r, Xe))
    if want('ridge + kernel ridge of its residual'):      # a linear + RBF model fitted in two stages
        res = fit_kernel_ridge(Xt, Zt - ridge_predict(lin, Xt), Xv, Zv - ridge_predict(lin, Xv), 2048)
        out['ridge + kernel ridge of its residual'] = tuple(ridge_predict(lin, X) + kernel_predict(res, X) for X in (Xv, Xe))
    if want('mixture in linear space'):                   # each cluster's level linear in its feature, mixed by shares in linear space
        t0 = time.time()
        mix = fit_mixture(*clusters['train'], Zt, *clusters['val'], Zv, log2_sd)
        print(f"  mixture: penalty {mix['alpha']} (ridge's {mix['ridge_alpha']}), {mix['dims']} feature directions, fitted in {time.time() - t0:.1f} s", flush=True)
        out['mixture in linear space'] = (mixture_predict(mix, *clusters['val']), mixture_predict(mix, *clusters['test']))
    if want('kernel ridge (exact RBF)'):
        from sklearn.kernel_ridge import KernelRidge
        mu, sd = Xt.mean(0), Xt.std(0) + 1e-12
        S = lambda X: (X - mu) / sd
        z0, best = Zt.mean(0), None
        for g in (0.1, 0.3, 1.0, 3.0):
            for a in (1e-2, 1e-1, 1.0, 10.0):
                m = KernelRidge(alpha=a, kernel='rbf', gamma=g / Xt.shape[1]).fit(S(Xt), Zt - z0)
                mse = ((m.predict(S(Xv)) + z0 - Zv)**2).mean()
                if best is None or mse < best[0]: best = (mse, m)
        out['kernel ridge (exact RBF)'] = (best[1].predict(S(Xv)) + z0, best[1].predict(S(Xe)) + z0)
    return out

def run(patients:int, only=None) -> dict:
    from rna_fm.cohort import read_reference_table
    from rna_fm.features import ArrayFeatures
    from rna_fm.ridge import pooled_features
    from rna_fm.splits import make_holdout
    coh, _ = make_benchmark_cohort(patients)
    cohort = read_reference_table(coh.reference_table())
    feats = ArrayFeatures.from_arrays(coh.slides.slide_id, coh.features, coh.cluster_sizes)
    fold = make_holdout(cohort, test_fraction=0.25, val_fraction=0.15, seed=0)[0]
    Y = cohort.log_expression()
    patient = cohort.sample_sheet.set_index('slide_id').patient_id.astype(str)
    sl = {r: fold.slides(cohort, r) for r in ('train', 'val', 'test')}
    X = {r: pooled_features(feats, s) for r, s in sl.items()}
    mu, sd = Y.loc[patient[sl['train']]].mean(0).values, Y.loc[patient[sl['train']]].std(0).values + 1e-8
    Z = {r: (Y.loc[patient[s]].values - mu) / sd for r, s in sl.items()}
    C = {r: (np.stack([feats[x] for x in s]).astype(np.float64), np.stack([feats.sizes(x) for x in s]).astype(np.float64)) for r, s in sl.items()}
    preds = learners(X['train'], Z['train'], X['val'], Z['val'], X['test'], C, sd, only)
    kind = coh.gene_truth.kind.reindex(Y.columns).values
    oracle = np.sqrt(coh.gene_truth.oracle_r2.reindex(Y.columns).values)
    pe = patient[sl['test']].values
    truth = Y.groupby(level=0).mean().loc[pd.unique(pe)]
    rows = {}
    for name, (pv, p) in preds.items():
        pp = pd.DataFrame(p * sd + mu, columns=Y.columns).groupby(pe).mean().loc[truth.index]    # patient level, as evaluated
        a, b = pp.values - pp.values.mean(0), truth.values - truth.values.mean(0)
        r = (a * b).sum(0) / np.sqrt((a**2).sum(0) * (b**2).sum(0) + 1e-30)
        rows[name] = {f'{k} {w}': v for k in ('morph', 'prop') for w, v in
                      (('r', np.nanmean(r[kind == k])), ('share of oracle', np.nanmean(r[kind == k]) / oracle[kind == k].mean()))}
        rows[name]['validation MSE (z, all genes)'] = float(((pv - Z['val'])**2).mean())
    return {'patients': patients, 'train_slides': len(sl['train']), 'table': rows}

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--patients', default='360,1440,4320', help='cohort sizes, comma-separated')
    ap.add_argument('--learners', default=None, help="only these learners, separated by ';' (e.g. 'ridge;kernel ridge (RFF, 2,048);mixture in linear space')")
    ap.add_argument('--out', default=str(ROOT/'benchmarks'/'out'/'ceiling.json'))
    a = ap.parse_args()
    res = []
    for n in (int(x) for x in a.patients.split(',')):
        t0 = time.time(); r = run(n, a.learners.split(';') if a.learners else None); r['seconds'] = round(time.time() - t0, 1); res.append(r)
        print(f"\n{n} patients ({r['train_slides']} training slides, {r['seconds']} s):")
        print(pd.DataFrame(r['table']).T.round(3).to_string(), flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1, default=float))
    print(f"saved {a.out}")
