"""Accuracy at equal CPU budget: the published RNA-FM configuration, the fast recipe without and with a prior mean (ridge,
kernel ridge: the default), and the ridge and kernel ridge baselines, on a synthetic cohort whose truth is known
(rna_fm.synth.make_cohort), in one run. Each flow model samples at its recipe's guidance (published 2, fast 1).

The cohort: N patients (default 360), real GO Biological Process 2023 gene sets from data_samples/ (a seeded random
choice of sets of 15-60 genes of the published 20,820-gene list, plus genes in none of them as background), with
four kinds of genes: morphology-driven ('morph'), tissue-proportion-driven ('prop', frac_prop=0.2), subtype-shifted
('subtype'), and genes no image can see ('latent', 'null'). One fixed patient-level split (make_holdout: 25% test, 15%
of the rest validation), the same for every model.

`--table models` (each flow model trained on train, selected on validation only, then predicting validation and test
once; every field that differs is named in FLOW_VARIANTS, so the rows keep their meaning whatever RECIPES holds):
- `published`: the paper's condition (K cluster means, mean-pooled) and recipe (AdamW lr 1e-4 constant, EMA 0.999);
- `fast`: the paper's condition with the fast recipe (lr 1e-3, warm-up, cosine decay, EMA 0.995);
- `fast + prior`: the same with `ModelConfig(prior='ridge')` (the flow learns the residual of a ridge prior mean);
- `fast + prior + composition`: and each cluster's share of the tiles in the condition;
- `fast + kernel prior`: `fast + prior` with `ModelConfig(prior='kernel')` (RBF kernel ridge through random Fourier
  features as the prior mean);
- `ridge`: rna_fm.baselines ridge on the size-weighted pooled cluster features (the tile mean), penalty chosen on
  validation;
- `kernel ridge`: rna_fm.baselines kernel (RBF kernel ridge on the same features through random Fourier features,
  bandwidth and penalty chosen on validation).
`--table recipe`: the recipe settings one at a time on top of `--base` (input standardisation of the cluster features
with training statistics, logit-normal time sampling, batch 16 and 64, EMA 0.999 and 0.99), the base included.
Every flow model gets the same training budget in process CPU seconds (--budget; one torch thread, so neighbours on a
shared machine change the wall-clock time, not the budget): its step count is the budget divided by its own measured
CPU seconds per step, so the cosine schedule of the fast recipe ends when the budget does. The network size is the same
for all flow models (a CPU-sized one, --hidden/--depth).

Printed per model and gene group: mean test r, r as a share of the oracle ceiling (mean r over mean sqrt(oracle R2)),
CRPS (log2 units) and 90% interval coverage (from --n_samples samples per slide, as PredictConfig; the flow models' test
predictions carry the spread fitted on their validation patients, as `rna-fm train` writes them, and the baselines'
Gaussians their validation residual sd); per model:
honest T200 (the 200 genes best on validation, their test r) and T200 ranked on test. Then, for --calibrate (default
`fast + kernel prior`), coverage and accuracy on validation (--calib_test: and test) at guidance 1, 1.5, 2, 3
(--guidances) and at 16, 32, 64, 128 samples per slide (--sample_counts), all without the fitted spread, beside the coverage a perfectly calibrated
model reaches when its interval is read from that many draws (the sample quantiles' interval is too narrow at small
counts). The default's and kernel ridge's mean test r minus ridge's per group, with a 95% paired bootstrap interval
over test patients, says whether a difference is larger than the test set's sampling noise. The targets of issue 16
are checked for --default and printed (met or not). JSON goes to benchmarks/out/accuracy.json (--out to change).

Usage: python benchmarks/bench_accuracy.py [--patients 360] [--budget 90] [--table models|recipe] [--quick]
"""
import argparse, json, os, platform, sys, tempfile, time
from pathlib import Path
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
GROUPS = ('morph', 'prop', 'subtype', 'latent', 'null')

def make_benchmark_cohort(patients:int=360, n_sets:int=110, n_background:int=400, seed:int=0):
    "The synthetic cohort on real GO BP gene sets: (cohort, gene sets used)."
    from rna_fm.pathways import read_gmt
    from rna_fm.synth import make_cohort
    known = set(pd.read_csv(ROOT/'data_samples/genesets/gene_list_20820.csv').gene)
    sets = read_gmt(ROOT/'data_samples/genesets/GO_Biological_Process_2023.gmt')
    rng = np.random.default_rng(seed)
    ok = sorted(s for s, m in sets.items() if 15 <= len(set(m) & known) <= 60)
    chosen = {s: sorted(set(sets[s]) & known) for s in rng.choice(ok, n_sets, replace=False)}
    in_sets = sorted({g for m in chosen.values() for g in m})
    background = sorted(rng.choice(sorted(known - set(in_sets)), n_background, replace=False))
    coh = make_cohort(n_patients=patients, genes=in_sets + background, pathways=chosen, frac_prop=0.2,
                      frac_two_slides=0.2, seed=seed)
    return coh, chosen

def group_table(coh, pred_dir:Path) -> pd.DataFrame:
    "Per gene group: mean test r, share of the oracle, CRPS and 90% coverage, from a prediction directory."
    gm = pd.read_csv(pred_dir/'gene_metrics.csv', index_col=0)
    mean = pd.read_csv(pred_dir/'patients'/'mean.csv', index_col=0)
    lo, hi = (pd.read_csv(pred_dir/'patients'/f'{q}.csv', index_col=0)[mean.columns] for q in ('q05', 'q95'))
    y = coh.log_expression.loc[mean.index, mean.columns]
    inside = ((y >= lo) & (y <= hi)).mean(0)
    kind = coh.gene_truth.kind.reindex(mean.columns)
    oracle = np.sqrt(coh.gene_truth.oracle_r2.reindex(mean.columns))
    rows = {}
    for g in [g for g in GROUPS if (kind == g).any()] + ['all']:
        m = (kind == g) if g != 'all' else kind.notna()
        r = gm.r_patient[m.values]
        rows[g] = {'genes': int(m.sum()), 'r': r.mean(), 'oracle_r': oracle[m].mean(),
                   'r_share_of_oracle': r.mean() / oracle[m].mean() if oracle[m].mean() > 0.05 else np.nan,
                   'crps': gm.crps[m.values].mean(), 'coverage_90': inside[m].mean()}
    return pd.DataFrame(rows).T

def perfect_coverage(n_samples:int, level:float=0.9, reps:int=200_000, seed:int=0) -> float:
    """Coverage of the central `level` interval read from `n_samples` draws (numpy's linear quantiles, as the metrics) when the
    draws and the measured value come from the same distribution: a perfectly calibrated model's coverage at that sample count."""
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((n_samples, reps)), rng.standard_normal(reps)
    lo, hi = np.quantile(x, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return float(((y >= lo) & (y <= hi)).mean())

def paired_difference(coh, dir_a:Path, dir_b:Path, groups=('morph', 'prop'), n_boot:int=2000, seed:int=0) -> dict:
    """Mean test r of model a minus model b per gene group, with a 95% paired bootstrap interval over test patients (both
    models scored on the same resampled patients, so the interval reflects which patients happen to be in the test set)."""
    pa, pb = (pd.read_csv(Path(d)/'patients'/'mean.csv', index_col=0) for d in (dir_a, dir_b))
    pb = pb.loc[pa.index, pa.columns]
    y = coh.log_expression.loc[pa.index, pa.columns].to_numpy(np.float64)
    kind = coh.gene_truth.kind.reindex(pa.columns).to_numpy()
    A, B = pa.to_numpy(np.float64), pb.to_numpy(np.float64)
    def mean_r(P, idx, m):
        p, t = P[idx][:, m], y[idx][:, m]
        p, t = p - p.mean(0), t - t.mean(0)
        return np.nanmean((p * t).sum(0) / np.sqrt((p**2).sum(0) * (t**2).sum(0) + 1e-30))
    rng, n, out = np.random.default_rng(seed), len(y), {}
    for g in groups:
        m = kind == g
        full = np.arange(n)
        boot = [mean_r(A, i, m) - mean_r(B, i, m) for i in (rng.integers(0, n, n) for _ in range(n_boot))]
        lo, hi = np.percentile(boot, [2.5, 97.5])
        out[g] = {'difference': float(mean_r(A, full, m) - mean_r(B, full, m)), 'ci95_low': float(lo), 'ci95_high': float(hi)}
    return out

def topk(run_dir:Path, k:int=200) -> dict:
    "Honest T200 (genes chosen on validation r) and T200 ranked on test."
    rv = pd.read_csv(run_dir/'val_predictions'/'gene_metrics.csv', index_col=0).r_patient
    rt = pd.read_csv(run_dir/'test_predictions'/'gene_metrics.csv', index_col=0).r_patient
    chosen = rv.dropna().sort_values(ascending=False).index[:k]
    return {'T200_honest': float(rt[chosen].mean()), 'T200_test_ranked': float(rt.dropna().sort_values(ascending=False)[:k].mean())}

def cpu_seconds_per_step(model_cfg, train_cfg, cohort, fold, feats, sets, steps:int=8) -> float:
    "Measured process CPU seconds per training step of this configuration (forward, backward, AdamW, EMA), first 2 steps excluded."
    import torch, torch.nn.functional as F
    from rna_fm.cohort import SlideDataset, collate_slides
    from rna_fm.normalise import fit_normaliser
    from rna_fm.flow import draw_training_noise, get_path
    from rna_fm.model import RNAFM
    from rna_fm.pathways import build_pathway_structure
    from rna_fm.train import EMA
    norm = fit_normaliser(cohort, fold)
    m = RNAFM(model_cfg, build_pathway_structure(sets, norm.genes))
    ds = SlideDataset(fold.slides(cohort, 'train'), feats, cohort, norm)
    batch = collate_slides([ds[i] for i in range(train_cfg.batch_size)])
    opt, ema, path = torch.optim.AdamW(m.parameters(), lr=train_cfg.lr), EMA(m, train_cfg.ema_decay), get_path('linear')
    for i in range(steps):
        if i == 2: t0 = time.process_time()
        t, x0, drop = draw_training_noise(batch['x1'].shape, 'uniform', 0.1)
        x_t, u = path.sample(x0, batch['x1'], t)
        loss = F.mse_loss(m(x_t, t, m.encode_condition(batch['cond'], drop)), u)
        opt.zero_grad(); loss.backward(); opt.step(); ema.update(m, i)
    return (time.process_time() - t0) / (steps - 2)

FLOW_VARIANTS = {   # name -> (recipe, ModelConfig fields, TrainConfig fields): every field that differs is named, so the
                    # table keeps its meaning whatever RECIPES['fast'] holds
    'published': ('published', {'condition': 'published', 'prior': 'none'}, {}),
    'fast': ('fast', {'condition': 'published', 'prior': 'none'}, {}),
    'fast + prior': ('fast', {'condition': 'published', 'prior': 'ridge'}, {}),
    'fast + prior + composition': ('fast', {'condition': 'composition', 'prior': 'ridge'}, {}),
    'fast + kernel prior': ('fast', {'condition': 'published', 'prior': 'kernel'}, {}),
    'composition + fast recipe': ('fast', {'condition': 'composition', 'prior': 'none'}, {}),
}
RECIPE_SETTINGS = {   # the recipe settings one at a time, on top of `--base`: name -> (ModelConfig, TrainConfig fields, standardise)
    'base': ({}, {}, False),
    'standardised features': ({}, {}, True),
    'logit-normal t': ({}, {'time_dist': 'logit_normal'}, False),
    'batch 16': ({}, {'batch_size': 16}, False),
    'batch 64': ({}, {'batch_size': 64}, False),
    'EMA 0.999': ({}, {'ema_decay': 0.999}, False),
    'EMA 0.99': ({}, {'ema_decay': 0.99}, False),
}

def standardised(feats, slides:list):
    "The cluster features standardised per dimension with the training slides' mean and sd over their clusters (sizes kept)."
    from rna_fm.cohort import ArrayFeatures
    X = np.concatenate([np.asarray(feats[s], np.float64) for s in slides])
    mu, sd = X.mean(0), np.where(X.std(0) > 1e-12, X.std(0), 1.0)
    ids = list(feats.features)
    return ArrayFeatures({s: ((np.asarray(feats[s], np.float64) - mu) / sd).astype(np.float32) for s in ids},
                         {s: feats.sizes(s) for s in ids})

def main(patients:int=360, budget:float=60.0, hidden:int=64, depth:int=2, quick:bool=False, out:str=None, seed:int=0,
         threads:int=1, n_samples:int|None=None, only:list|None=None, table:str='models', base:str='fast + prior',
         calibrate:tuple=('fast + kernel prior',), default:str='fast + kernel prior', calib_roles:tuple=('val',),
         sample_counts:tuple=(16, 32, 64, 128), guidances:tuple=(1.0, 1.5, 2.0, 3.0)):
    import torch
    from rna_fm.features import ArrayFeatures
    from rna_fm.splits import make_holdout
    from rna_fm.cohort import read_reference_table
    from rna_fm.crossval import run_fold
    from rna_fm.baselines import Baseline, BaselineConfig
    from rna_fm.model import ModelConfig
    from rna_fm.predict import PredictConfig, predict
    from rna_fm.train import RECIPES, TrainConfig, recipe_configs
    from rna_fm.checkpoint import load_checkpoint
    os.environ.setdefault('RNA_FM_PROGRESS', '0')
    torch.set_num_threads(threads)
    n_samples = n_samples or PredictConfig.n_samples
    t_start = time.time()
    coh, sets = make_benchmark_cohort(patients, seed=seed)
    cohort = read_reference_table(coh.reference_table())
    feats = ArrayFeatures.from_arrays(coh.slides.slide_id, coh.features, coh.cluster_sizes)
    fold = make_holdout(cohort, test_fraction=0.25, val_fraction=0.15, seed=seed)[0]
    work = Path(tempfile.mkdtemp(prefix='bench_accuracy_'))
    size = ModelConfig(hidden=hidden, depth=depth, heads=4, cond_mlp=2 * hidden, graph_heads=2,
                       feat_dim=coh.spec.D, n_clusters=coh.spec.K)
    pcfg = PredictConfig(n_samples=n_samples, batch_slides=16, save_samples=False)
    if table == 'models':      # name -> (recipe, model fields, train fields, standardise)
        variants = {n: (*v, False) for n, v in FLOW_VARIANTS.items() if n != 'composition + fast recipe'}
        if quick: variants = {k: variants[k] for k in ('published', 'fast', 'fast + prior', 'fast + kernel prior')}
    else:
        r, m0, t0_ = FLOW_VARIANTS[base]
        variants = {n: (r, {**m0, **m}, {**t0_, **t}, z) for n, (m, t, z) in RECIPE_SETTINGS.items()}
        default, calibrate = 'base', ()
    if only: variants = {k: variants[k] for k in only}
    results, timings = {}, {}
    for name, (train_from, model_fields, train_fields, standardise) in variants.items():
        mcfg = recipe_configs(train_from, size)[0].replace(**model_fields)
        tcfg = recipe_configs(train_from, size, TrainConfig(batch_size=32, val_samples=4, val_steps=9, patience=0, log_every=25,
                                                            seed=seed).replace(**train_fields))[1]
        f = standardised(feats, fold.slides(cohort, 'train')) if standardise else feats
        sps = cpu_seconds_per_step(mcfg, tcfg, cohort, fold, f, sets)
        steps = max(20, int(budget / sps))
        tcfg = recipe_configs(train_from, size, tcfg.replace(max_steps=steps, eval_every=max(10, steps // 4)))[1]
        t0, c0 = time.time(), time.process_time()
        row = run_fold(cohort, fold, work/f'run_{len(timings)}', f, sets, mcfg, tcfg, pcfg, encoder='synthetic')
        timings[name] = {'cpu_seconds_per_step': round(sps, 4), 'steps': steps, 'train_wall_seconds': row['train_seconds'],
                         'predict_wall_seconds': row['predict_seconds'], 'cpu_seconds_train_and_predict': round(time.process_time() - c0, 1),
                         'wall_seconds': round(time.time() - t0, 1), 'best_step': row['best_step'],
                         'best_val_pcc': round(row['best_val_pcc'], 4), 'prior_alpha': row.get('prior_alpha'), 'prior_gamma': row.get('prior_gamma')}
        results[name] = (work/f'run_{len(timings) - 1}', mcfg, tcfg, f)
        print(f"{name}: {steps} steps at {sps:.3f} CPU s/step, trained {row['train_seconds']} s wall, best step {row['best_step']}, "
              f"validation r {row['best_val_pcc']:.3f}", flush=True)
    if table == 'models':
        t0 = time.time()
        rrow = run_fold(cohort, fold, work/'ridge', feats, sets, None, None, pcfg, encoder='synthetic',
                        baseline=Baseline(BaselineConfig('ridge', pooling='tile')))
        timings['ridge'] = {'train_wall_seconds': rrow['train_seconds'], 'predict_wall_seconds': rrow['predict_seconds'],
                            'wall_seconds': round(time.time() - t0, 1), 'alpha': rrow.get('alpha')}
        results['ridge'] = (work/'ridge', None, None, feats)
        t0 = time.time()      # kernel ridge on the same pooled features (RBF, random Fourier features): the nonlinear closed form
        krow = run_fold(cohort, fold, work/'kernel', feats, sets, None, None, pcfg, encoder='synthetic',
                        baseline=Baseline(BaselineConfig('kernel', pooling='tile')))
        timings['kernel ridge'] = {'train_wall_seconds': krow['train_seconds'], 'predict_wall_seconds': krow['predict_seconds'],
                                   'wall_seconds': round(time.time() - t0, 1), 'alpha': krow.get('alpha'), 'gamma': krow.get('gamma')}
        results['kernel ridge'] = (work/'kernel', None, None, feats)
    tables = {n: group_table(coh, d/'test_predictions') for n, (d, _, _, _) in results.items()}
    tops = {n: topk(d) for n, (d, _, _, _) in results.items()}
    # calibration: coverage and accuracy on validation (and test) against the guidance scale; validation chooses
    truth = cohort.log_expression()
    calib = {}
    for name in [c for c in calibrate if c in results]:
        d0, _, tcfg, f = results[name]
        ck = load_checkpoint(d0/'best')
        own = pcfg.guidance if pcfg.guidance is not None else ck[1].guidance   # the scale the run's own predictions used
        for g in guidances:
            row = {}
            for role in calib_roles:
                d = work/f'guidance_{name}_{g}_{role}'
                if g == own and role == 'val': d = d0/f'{role}_predictions'   # the run's own (its test predictions carry the spread)
                else: predict(ck, f, fold.slides(cohort, role), d, pcfg.replace(guidance=g), cohort.sample_sheet, truth, 'synthetic')
                t = group_table(coh, d)
                row.update({f'{role}_r_all': t.loc['all', 'r'], f'{role}_r_morph_prop': t.loc[['morph', 'prop'], 'r'].mean(),
                            f'{role}_coverage_90': t.loc['all', 'coverage_90'], f'{role}_crps': t.loc['all', 'crps']})
            calib[(name, g)] = row
    calib = pd.DataFrame(calib).T.rename_axis(['model', 'guidance']) if calib else pd.DataFrame()
    # sample count: coverage, CRPS and r on validation (and test) against the draws per slide, at the run's own guidance
    by_samples = {}
    for name in [c for c in calibrate if c in results]:
        d0, _, tcfg, f = results[name]
        ck = load_checkpoint(d0/'best')
        for S in sample_counts:
            row = {'perfect_model_coverage_90': perfect_coverage(S)}
            for role in calib_roles:
                own_ = S == n_samples and role == 'val'      # the run's own validation predictions (made without the spread)
                d = d0/f'{role}_predictions' if own_ else work/f'samples_{name}_{S}_{role}'
                t1 = time.time()
                if not own_: predict(ck, f, fold.slides(cohort, role), d, pcfg.replace(n_samples=S), cohort.sample_sheet, truth, 'synthetic')
                t = group_table(coh, d)
                row.update({f'{role}_r_all': t.loc['all', 'r'], f'{role}_coverage_90': t.loc['all', 'coverage_90'],
                            f'{role}_crps': t.loc['all', 'crps']})
                if not own_: row[f'{role}_predict_wall_seconds'] = round(time.time() - t1, 1)
            by_samples[(name, S)] = row
    by_samples = pd.DataFrame(by_samples).T.rename_axis(['model', 'samples']) if by_samples else pd.DataFrame()
    diffs = {f'{n} - ridge': paired_difference(coh, results[n][0]/'test_predictions', results['ridge'][0]/'test_predictions')
             for n in (default, 'kernel ridge') if n in results and 'ridge' in results}
    out_d = {'table': table, 'default': default, 'tables': {n: t.round(4).to_dict() for n, t in tables.items()}, 'top200': tops,
             'timings': timings, 'calibration': {f'{n} @ {g}': v for (n, g), v in calib.round(4).T.to_dict().items()} if len(calib) else {},
             'sample_counts': {f'{n} @ {S}': v for (n, S), v in by_samples.round(4).T.to_dict().items()} if len(by_samples) else {},
             'paired_differences': diffs, 'budget_cpu_seconds': budget, 'threads': threads, 'n_samples': n_samples, 'patients': patients,
             'slides': len(coh.slides), 'genes': len(coh.genes), 'pathways': len(sets),
             'kinds': coh.gene_truth.kind.value_counts().to_dict(), 'model': size.to_dict(),
             'variants': {n: {'recipe': v[0], 'model': v[1], 'train': v[2], 'standardised_features': v[3]} for n, v in variants.items()},
             'recipes': RECIPES, 'predict': pcfg.to_dict(),
             'split': {r: len(getattr(fold, r)) for r in ('train', 'val', 'test')},
             'machine': f'{platform.machine()} {os.cpu_count()} cores (shared, load average {os.getloadavg()[0]:.1f} at the end)',
             'total_seconds': round(time.time() - t_start, 1)}
    _report_and_save(out_d, tables, tops, calib, out, by_samples)
    print(f"total {out_d['total_seconds']:.0f} s")
    return out_d

def _report_and_save(d:dict, tables, tops, calib, out, by_samples=None):
    "Print the tables and targets, and write the JSON (default benchmarks/out/accuracy.json)."
    report(d, tables, tops, calib, by_samples)
    path = Path(out) if out else ROOT/'benchmarks'/'out'/'accuracy.json'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(d, indent=1, default=float))
    print(f"saved {path}")

def collect(runs:dict, # model name -> run directory (val_predictions/, test_predictions/) of an earlier or interrupted run
            guidance_dirs:dict|None=None, # guidance scale -> {'val': dir, 'test': dir} of the new default's predictions
            patients:int=360, seed:int=0, out:str=None, note:str=''):
    "Tables, targets and JSON from finished run directories (when one process could not do everything in time)."
    coh, sets = make_benchmark_cohort(patients, seed=seed)
    tables = {n: group_table(coh, Path(d)/'test_predictions') for n, d in runs.items()}
    tops = {n: topk(Path(d)) for n, d in runs.items()}
    calib = {}
    for g, dirs in (guidance_dirs or {}).items():
        row = {}
        for role, d in dirs.items():
            t = group_table(coh, Path(d))
            row.update({f'{role}_r_all': t.loc['all', 'r'], f'{role}_r_morph_prop': t.loc[['morph', 'prop'], 'r'].mean(),
                        f'{role}_coverage_90': t.loc['all', 'coverage_90'], f'{role}_crps': t.loc['all', 'crps']})
        calib[g] = row
    calib = pd.DataFrame(calib).T.rename_axis('guidance').sort_index()
    d = {'tables': {n: t.round(4).to_dict() for n, t in tables.items()}, 'top200': tops, 'timings': {}, 'note': note,
         'calibration': calib.round(4).to_dict(), 'budget_cpu_seconds': float('nan'), 'patients': patients, 'slides': len(coh.slides),
         'genes': len(coh.genes), 'pathways': len(sets), 'kinds': coh.gene_truth.kind.value_counts().to_dict(),
         'split': 'see the runs', 'runs': {n: str(v) for n, v in runs.items()}}
    _report_and_save(d, tables, tops, calib, out)
    return d

def report(d, tables, tops, calib, by_samples=None):
    "Print the tables and the targets of issue 16."
    print(f"\ncohort: {d['patients']} patients, {d['slides']} slides, {d['genes']} genes ({d['kinds']}), {d['pathways']} GO BP sets; "
          f"split {d['split']}; budget {d['budget_cpu_seconds']} CPU s of training per flow model")
    long = pd.concat({n: t for n, t in tables.items()}, names=['model', 'group'])
    print(long[['genes', 'r', 'oracle_r', 'r_share_of_oracle', 'crps', 'coverage_90']].round(3).to_string())
    print('\n' + pd.DataFrame(tops).T.round(3).to_string())
    if d['timings']: print('\n' + pd.DataFrame(d['timings']).T.to_string())
    if len(calib): print('\nguidance scale (validation chooses; test shown for the record):\n' + calib.round(3).to_string())
    if by_samples is not None and len(by_samples):
        print('\nsamples per slide (validation chooses; test shown for the record; perfect_model_coverage_90: what a perfectly '
              'calibrated model covers when its interval is read from that many draws):\n' + by_samples.round(3).to_string())
    for pair, v in d.get('paired_differences', {}).items():
        print(f"\n{pair}, mean test r with a 95% paired bootstrap interval over test patients: " +
              '; '.join(f"{g} {x['difference']:+.4f} [{x['ci95_low']:+.4f}, {x['ci95_high']:+.4f}]" for g, x in v.items()))
    name = d.get('default', 'new default')
    if name not in tables or 'ridge' not in tables: return
    nd, rg = tables[name], tables['ridge']
    checks = []
    for g in ('morph', 'prop'):
        checks.append((f'{g}: {name} r >= ridge r', nd.loc[g, 'r'], rg.loc[g, 'r'], nd.loc[g, 'r'] >= rg.loc[g, 'r']))
        checks.append((f'{g}: {name} r >= 0.9 oracle', nd.loc[g, 'r_share_of_oracle'], 0.9, nd.loc[g, 'r_share_of_oracle'] >= 0.9))
    checks.append(('honest T200 >= ridge', tops[name]['T200_honest'], tops['ridge']['T200_honest'],
                   tops[name]['T200_honest'] >= tops['ridge']['T200_honest']))
    cov = nd.loc['all', 'coverage_90']
    checks.append(('90% coverage in [0.85, 0.95]', cov, '0.85-0.95', 0.85 <= cov <= 0.95))
    checks.append(('null |mean r| < 0.03', nd.loc['null', 'r'], 0.03, abs(nd.loc['null', 'r']) < 0.03))
    print(f'\ntargets (issue 16), for {name}:')
    for c in checks: print(f"  {'MET    ' if c[3] else 'NOT MET'} {c[0]}: {c[1]:.3f} vs {c[2] if isinstance(c[2], str) else f'{c[2]:.3f}'}")
    d['targets'] = [{'target': c[0], 'value': float(c[1]), 'bound': c[2] if isinstance(c[2], str) else float(c[2]), 'met': bool(c[3])} for c in checks]

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--patients', type=int, default=360)
    ap.add_argument('--budget', type=float, default=60.0, help='training CPU seconds per flow model (process time)')
    ap.add_argument('--threads', type=int, default=1, help='torch threads (1: on a shared machine more threads spin)')
    ap.add_argument('--n_samples', type=int, default=None, help='transcriptomes sampled per slide for the predictions (default: PredictConfig.n_samples)')
    ap.add_argument('--hidden', type=int, default=64)
    ap.add_argument('--depth', type=int, default=2)
    ap.add_argument('--quick', action='store_true', help='only published, fast, fast + prior, fast + kernel prior and the two ridge baselines')
    ap.add_argument('--table', default='models', choices=['models', 'recipe'],
                    help="'models': the flow variants against ridge; 'recipe': the recipe settings one at a time on top of --base")
    ap.add_argument('--base', default='fast + kernel prior', help='the flow variant the recipe table starts from')
    ap.add_argument('--default', default='fast + kernel prior', help='the flow variant whose targets are checked')
    ap.add_argument('--calibrate', default='fast + kernel prior', help='comma-separated flow variants measured at guidance 1, 1.5, 2, 3')
    ap.add_argument('--calib_test', action='store_true', help='also predict the test patients at every guidance scale (validation chooses)')
    ap.add_argument('--guidances', default='1,1.5,2,3', help="guidance scales at which --calibrate's models are also measured ('' for none)")
    ap.add_argument('--sample_counts', default='16,32,64,128', help="samples per slide at which --calibrate's models are also measured ('' for none)")
    ap.add_argument('--out', default=None)
    ap.add_argument('--only', default=None, help="comma-separated flow variants to train, e.g. 'published condition + fast recipe'")
    a = ap.parse_args()
    from rna_fm.predict import PredictConfig
    main(a.patients, a.budget, a.hidden, a.depth, a.quick, a.out, threads=a.threads, n_samples=a.n_samples or PredictConfig.n_samples,
         only=a.only.split(',') if a.only else None, table=a.table, base=a.base, default=a.default,
         calibrate=tuple(a.calibrate.split(',')) if a.calibrate else (), calib_roles=('val', 'test') if a.calib_test else ('val',),
         sample_counts=tuple(int(x) for x in a.sample_counts.split(',')) if a.sample_counts else (),
         guidances=tuple(float(x) for x in a.guidances.split(',')) if a.guidances else ())
