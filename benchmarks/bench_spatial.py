"""Spatial maps (rna_fm.spatial): how fast local prediction runs on CPU, and whether maps find the tissue that drives a
gene on synthetic slides with known regions.

--speed: a 5,000-tile slide (tiles in one round piece of tissue, K=100 clusters of D=1280 features, as EfficientNet-Lite0
  gives), the demo's model size (hidden 64, depth 2) on 600 genes, untrained (the cost does not depend on the weights).
  Prints tiles/s and windows/s of `local_predictions` at the default settings (window 5, stride 2, 8 samples, 9 Euler
  steps, 64 windows per model call; the guidance scales of --guidance, default MapConfig's) (with --stride1 also at
  stride 1), and the same windows sampled one per model call (the baseline, on 16 windows, measured in the same run) to
  show what batching buys. Guidance 1 runs the network once per step, any other scale twice (with the null condition).
--truth: a synthetic cohort with tissue-marker genes (rna_fm.synth, frac_prop), a small model trained on its slides'
  cluster features with rna_fm.train.fit (early stopping on validation patients only), and the held-out test patients'
  slides built by rna_fm.synth.synthetic_store (tile textures from the slide geometry, tile features from the cohort's
  feature generator, k-means into the cohort's K). Strongly driven genes are defined on the truth alone, before any
  model runs: over 5,000 random compositions (Dirichlet(1), factors 0), the gene's expected expression has a Spearman
  correlation of at least 0.8 in absolute value with the proportion of one texture, its driving texture (the sign is
  the direction). Reported, fixed in advance (no threshold tuned after seeing results):
  - per gene, the median over slides of the Spearman correlation over tiles between the local-prediction map and the
    local abundance of the driving texture (times the sign); the distribution over genes and the share of genes at
    >= 0.6; the same for the expected local expression itself (the truth's own ceiling), and for a least-squares linear
    reference (`linear_in_composition`: the truth's expected expression least-squares fitted, linear in the texture
    shares and the factors, on 20,000 random compositions, then applied to each window's shares): a guide to what a
    prior linear in the composition would draw, not a bound (a rank correlation can beat least squares, and the tile
    mean also carries share x factor terms, as the textures' features move with the factors);
  - cluster importance: the share of (gene, slide) pairs, and per gene the share of slides, in which the cluster of
    largest |importance| belongs (by majority of its tiles) to the driving texture; the same for the truth's own
    occlusion (expected expression of the slide's composition and of the composition with the cluster occluded as the
    map occludes it: its tiles left out ('remove'), or given the training slides' mean composition ('mean'), which is
    what the training mean feature stands for; divided by the cluster's tiles for importance_unit 'per_tile');
  - an extra figure, not the bar: the share of pairs with a cluster of the driving texture among the top m by |importance|,
    m = that texture's number of clusters on the slide (a texture is split over several clusters), and the same for the truth.
  All of it at each guidance scale of --guidance (e.g. '1,2'; default: MapConfig's, the checkpoint's own scale).
  --context: the maps' `MapConfig.context` values (the whole slide's weight in each position's condition), comma-separated;
    each guidance scale is mapped at each (default: MapConfig's).
  --choose_window: the map window (3, 5, 7, 9) with the most strongly driven genes at >= 0.6 (then the highest median) on 8
    training-fold slides, never the test slides; when it is not the default, the test slides are mapped with it once.
  --choose_context: the same for MapConfig.context, among CONTEXTS (0, 0.25, 0.5, 0.75, 0.9, fixed before any run), at
    the first map's window and guidance (so every context is judged against the same abundance).
  --choose_importance: MapConfig.occlusion and importance_unit, among ('remove', 'mean') x ('per_cluster', 'per_tile') (fixed
    before any run), on the same 8 training slides: the pair with the most genes whose driving texture is first in most
    slides, then the largest share of (gene, slide) pairs, then the first in that order (today's 'remove', 'per_cluster');
    'mean' only where the model has a fitted prior. Beside each pair (a diagnosis, not the choice): the same figures from
    the model's prior mean alone, without the flow or sampling.
  --diagnose: why genes stay below 0.6, per driving texture: (a) the model's whole-slide test-fold predictions (16 samples,
    19 Euler steps): per-gene Pearson r with the measured log2 expression and with the oracle mean; (b) the textures'
    region sizes on the tile grid and the share of windows that mix a texture with others; (c) k-means purity: the share
    of a texture's tiles in clusters whose majority is that texture, and how pure those clusters are; (d) sampling noise:
    the mean sd^2 / n_samples over tiles against the variance of the map over tiles, and the Spearman between the map
    and a map drawn from other noise (seed + 1); and each gene's log2 level in each texture (the margin of its driving
    texture over the next one).
Everything printed is saved as JSON (default benchmarks/out/bench_spatial.json).

Usage: python benchmarks/bench_spatial.py [--speed] [--truth] [--tiles 5000] [--max_windows N] [--no_importance] [--stride1] [--patients 300] [--steps 1500] [--seed 0] [--max_slides 16] [--prior none|ridge|kernel|mixture] [--work DIR] [--train_only] [--checkpoint DIR] [--guidance 1,2] [--context 0,0.5] [--choose_window] [--choose_context] [--choose_importance] [--diagnose] [--threads N] [--json PATH]
Under load, --threads 1: two torch threads stall on each other when other processes hold the cores.
"""
import argparse, json, os, platform, resource, sys, tempfile, time
from pathlib import Path
import numpy as np
import pandas as pd
import scipy.stats
import torch

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT/'benchmarks'/'out'
MIN_RHO, DRIVEN_RHO = 0.6, 0.8     # the bar for a map; the truth's definition of a strongly driven gene
WINDOWS, CONTEXTS = (3, 5, 7, 9), (0, 0.25, 0.5, 0.75, 0.9)   # the values --choose_window and --choose_context try
IMPORTANCES = (('remove', 'per_cluster'), ('remove', 'per_tile'), ('mean', 'per_cluster'), ('mean', 'per_tile'))   # --choose_importance: (occlusion, unit)

def _blob_store(root:Path, n_tiles:int, k:int, d:int, seed:int=0) -> Path:
    "A slide store of about `n_tiles` tiles in a disc, random features and spatially coherent cluster assignments."
    from rna_fm.store import create_store, store_path, write_group, clusters_name
    from rna_fm.features import write_features
    rng = np.random.default_rng(seed)
    r = int(np.ceil(np.sqrt(n_tiles / np.pi))) + 1
    gx, gy = np.meshgrid(np.arange(-r, r + 1), np.arange(-r, r + 1))
    keep = np.argsort((gx**2 + gy**2).ravel(), kind='stable')[:n_tiles]
    grid = np.stack([gx.ravel()[keep] + r, gy.ravel()[keep] + r], 1)
    centres = rng.uniform(0, 2 * r, (k, 2))                               # clusters as patches: nearest centre
    assign = np.argmin(((grid[:, None] - centres[None]) ** 2).sum(-1), 1)
    feats = (rng.normal(size=(k, d))[assign] + 0.3 * rng.normal(size=(n_tiles, d))).astype(np.float32)
    path = store_path(root, 'speed')
    create_store(path, grid * 256, {'slide_id': 'speed', 'tile_px_level0': 256, 'mpp': 0.5})
    write_features(path, 'effnet_lite0', feats, {'encoder': 'effnet_lite0', 'weights_id': 'random', 'dim': d}, dtype='float16')
    sizes = np.bincount(assign, minlength=k)
    write_group(path, clusters_name('effnet_lite0', k), {'centroids': np.zeros((k, d), np.float32), 'assign': assign.astype(np.int32),
                                                         'sizes': sizes}, {'encoder': 'effnet_lite0'})
    return path

def speed(work:Path, n_tiles:int=5000, genes:int=600, k:int=100, d:int=1280, stride1:bool=False, max_windows:int|None=None, importance:bool=True,
          guidance=(None,)) -> dict:
    "Tiles per second of local prediction on CPU, batched and one window per call."
    from rna_fm.core import torch_threads
    from rna_fm.synth import make_gene_sets
    from rna_fm.normalise import Normaliser
    from rna_fm.pathways import build_pathway_structure
    from rna_fm.model import ModelConfig, RNAFM
    from rna_fm.checkpoint import save_checkpoint, load_checkpoint
    from rna_fm.spatial import MapConfig, Readout, read_slide_clusters, local_predictions, cluster_importance
    store = _blob_store(work, n_tiles, k, d)
    names = [f'G{i:04d}' for i in range(genes)]
    sets = make_gene_sets(names, n_sets=50, n_members=int(genes * 1.5), n_background=genes // 10)
    rng = np.random.default_rng(0)
    ex = pd.DataFrame(rng.gamma(2, 10, (40, genes)), columns=names, index=[f'P{i}' for i in range(40)])
    norm = Normaliser.fit(ex, list(ex.index), log_transform=True)
    torch.manual_seed(0)
    model = RNAFM(ModelConfig(hidden=64, depth=2, heads=4, cond_mlp=128, graph_heads=2, feat_dim=d, n_clusters=k),
                  build_pathway_structure(sets, names, min_size=3))
    ckpt = save_checkpoint(work/'ckpt', model, norm, 'effnet_lite0')
    model, info = load_checkpoint(ckpt)
    slide = read_slide_clusters(store, 'effnet_lite0', k)
    ro = Readout(info, names[:5], info.structure.names[:3])
    out = {'tiles': n_tiles, 'genes': genes, 'K': k, 'D': d, 'model': 'hidden 64, depth 2, 4 heads (the demo\'s size)',
           'threads': torch.get_num_threads(), 'runs': []}
    from rna_fm.spatial import window_positions, tile_grid, _window_sums, _sample_values, _noise
    feats, assign = torch.as_tensor(slide.features, dtype=torch.float32), torch.as_tensor(slide.assign).long()
    base = [MapConfig() if g is None else MapConfig(guidance=g) for g in guidance]    # the default map, at each guidance scale asked
    for cfg in [c.replace(stride=2, batch=64) for c in base] + ([base[0].replace(stride=1, batch=64)] if stride1 else []):
        stride, batch = cfg.stride, cfg.batch
        if max_windows is None:
            t0, c0 = time.perf_counter(), time.process_time()
            table, w = local_predictions(slide, model, ro, cfg)
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            timed = len(w.positions)
        else:                      # the loop of local_predictions on a random subset of the windows, timed alone
            w = window_positions(tile_grid(slide.coords, slide.tile_px), cfg.window, cfg.stride, cfg.min_fill)
            sub = np.random.default_rng(0).permutation(len(w.positions))[:max_windows]
            x0 = _noise(cfg, genes)
            t0, c0 = time.perf_counter(), time.process_time()
            for s in range(0, len(sub), cfg.batch):
                _sample_values(model, ro, *_window_sums(feats, assign, torch.as_tensor(w.members[sub[s:s + cfg.batch]]), k), x0, cfg)
            timed = len(sub)
            dt, dc = [(x * len(w.positions) / timed) for x in (time.perf_counter() - t0, time.process_time() - c0)]
        out['runs'].append({'window': cfg.window, 'stride': stride, 'batch': batch, 'n_samples': cfg.n_samples, 'steps': cfg.steps, 'guidance': cfg.guidance,
                            'windows': int(len(w.positions)), 'windows_timed': int(timed), 'seconds': round(dt, 2),
                            'tiles_per_s': round(n_tiles / dt, 1), 'windows_per_s': round(len(w.positions) / dt, 2),
                            'cpu_seconds': round(dc, 2), 'tiles_per_cpu_s': round(n_tiles / dc, 1)})
    # baseline: the same sampler, one window per model call, on the first 16 windows of the stride-2 map (the first guidance)
    cfg = base[0].replace(stride=2)
    w = window_positions(tile_grid(slide.coords, slide.tile_px), cfg.window, cfg.stride, cfg.min_fill)
    x0 = _noise(cfg, genes)
    n = min(16, len(w.positions))
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.no_grad():
        for j in range(n): _sample_values(model, ro, *_window_sums(feats, assign, torch.as_tensor(w.members[j:j + 1]), k), x0, cfg)
    one, one_c = (time.perf_counter() - t0) / n, (time.process_time() - c0) / n
    batched, batched_c = out['runs'][0]['seconds'] / len(w.positions), out['runs'][0]['cpu_seconds'] / len(w.positions)
    out['one_window_per_call'] = {'windows_timed': n, 'seconds_per_window': round(one, 4),
                                  'batched_seconds_per_window': round(batched, 4), 'batching_speedup': round(one / batched, 2),
                                  'cpu_seconds_per_window': round(one_c, 4), 'batched_cpu_seconds_per_window': round(batched_c, 4),
                                  'batching_speedup_cpu': round(one_c / batched_c, 2)}
    if importance:
        t0, c0 = time.perf_counter(), time.process_time(); cluster_importance(slide, model, ro, cfg)
        out['importance_seconds'], out['importance_cpu_seconds'] = round(time.perf_counter() - t0, 2), round(time.process_time() - c0, 2)
    return out

def driven_genes(coh, n:int=5000, seed:int=0) -> pd.DataFrame:
    "Per gene: its driving texture, the direction and strength (Spearman with that texture's share), on the truth alone."
    rng = np.random.default_rng(seed)
    T = coh.spec.n_textures
    pi = rng.dirichlet(np.ones(T), n)
    y = coh.truth.expected_expression(pi, np.zeros((n, coh.spec.n_factors)))
    ry, rp = scipy.stats.rankdata(y, axis=0), scipy.stats.rankdata(pi, axis=0)       # Spearman = Pearson of the ranks
    ry, rp = ry - ry.mean(0), rp - rp.mean(0)
    rho = np.nan_to_num((ry.T @ rp) / np.outer(np.linalg.norm(ry, axis=0), np.linalg.norm(rp, axis=0)))   # (G, T)
    t = np.abs(rho).argmax(1)
    r = rho[np.arange(len(t)), t]
    return pd.DataFrame({'texture': t, 'sign': np.sign(r), 'rho': r, 'kind': coh.gene_truth.kind.to_numpy()}, index=coh.genes)

def _stores(coh, ids:list, work:Path, max_slides:int, slide_size, seed:int) -> tuple[list, list]:
    "Slide stores of the first `max_slides` of `ids` whose geometry can be drawn at `slide_size`: [(slide id, index, store, tile textures)], skipped ids."
    from rna_fm.synth import synthetic_store
    from rna_fm.core import RNAFMError
    index = {s: i for i, s in enumerate(coh.slides.slide_id)}
    out, skipped = [], []
    for sid in ids:
        if len(out) == max_slides: break
        try: store, tex = synthetic_store(coh, index[sid], work, size=slide_size, seed=seed)
        except RNAFMError as e:
            if 'cannot fit' not in str(e): raise
            skipped.append(sid); continue            # its tissue pieces do not fit a slide this size: the next slide
        out.append((sid, index[sid], store, tex))
    return out, skipped

def _shares(tex:np.ndarray, members:np.ndarray, T:int) -> np.ndarray:
    "(M, T) texture shares of each window's tiles."
    share = np.stack([((tex[np.where(members >= 0, members, 0)] == t) & (members >= 0)).sum(1) for t in range(T)], 1)
    return share / share.sum(1, keepdims=True)

def _importance_acc() -> dict: return {'top': {}, 'top_truth': {}, 'top_m': [], 'top_m_truth': [], 'm_count': []}

def _slide_importance(coh, strong:pd.DataFrame, i:int, tex:np.ndarray, assign:np.ndarray, K:int, imp_df:pd.DataFrame, cfg, mean_comp:np.ndarray, acc:dict):
    "Add one slide's figures of cluster importance `imp_df` (K, genes), and of the truth's own occlusion done alike (`cfg`), to `acc`."
    T, g_idx = coh.spec.n_textures, {g: j for j, g in enumerate(coh.genes)}
    counts = np.stack([np.bincount(tex[assign == c], minlength=T) for c in range(K)])   # (K, T) tiles per cluster and texture
    cl_tex = np.where(counts.sum(1) > 0, counts.argmax(1), -1)
    full, present = counts.sum(0), np.flatnonzero(counts.sum(1) > 0)
    n_c = counts[present].sum(1)
    if cfg.occlusion == 'mean': occluded = np.stack([(full - counts[c] + n_c[j] * mean_comp) / full.sum() for j, c in enumerate(present)])
    else: occluded = np.stack([(full - counts[c]) / max(1, (full - counts[c]).sum()) for c in present])
    z = np.repeat(coh.slides.loc[i, [f'factor_{f}' for f in range(coh.spec.n_factors)]].to_numpy(float)[None], len(present) + 1, 0)
    occl = coh.truth.expected_expression(np.vstack([full / full.sum(), occluded]), z)
    for g in strong.index:
        t = int(strong.texture[g])
        imp = imp_df[g].to_numpy()
        if not np.isfinite(imp).any() or full[t] in (0, full.sum()): continue   # one cluster, or the texture absent or everywhere
        acc['top'].setdefault(g, []).append(bool(cl_tex[int(np.nanargmax(np.abs(imp)))] == t))
        d = (occl[0, g_idx[g]] - occl[1:, g_idx[g]]) / (n_c if cfg.importance_unit == 'per_tile' else 1)
        acc['top_truth'].setdefault(g, []).append(bool(cl_tex[present[int(np.argmax(np.abs(d)))]] == t))
        m = int((cl_tex == t).sum())                                    # clusters of the driving texture on this slide
        if m:
            live = np.flatnonzero(np.isfinite(imp))
            acc['top_m'].append(bool((cl_tex[live[np.argsort(-np.abs(imp[live]), kind='stable')[:m]]] == t).any()))
            acc['top_m_truth'].append(bool((cl_tex[present[np.argsort(-np.abs(d), kind='stable')[:m]]] == t).any()))
            acc['m_count'].append(m)

def _importance_summary(acc:dict) -> dict:
    "The figures of cluster importance over every (gene, slide) pair gathered in `acc`."
    pairs = [x for v in acc['top'].values() for x in v]; pairs_t = [x for v in acc['top_truth'].values() for x in v]
    per_gene = np.array([np.mean(v) for v in acc['top'].values()]); per_gene_t = np.array([np.mean(v) for v in acc['top_truth'].values()])
    return {'importance_top_is_driving_share_of_pairs': round(float(np.mean(pairs)), 3),
            'importance_genes_driving_first_in_most_slides': round(float(np.mean(per_gene > 0.5)), 3),
            'importance_median_share_of_slides_per_gene': round(float(np.median(per_gene)), 3),
            'truth_occlusion_top_is_driving_share_of_pairs': round(float(np.mean(pairs_t)), 3),
            'truth_occlusion_genes_driving_first_in_most_slides': round(float(np.mean(per_gene_t > 0.5)), 3),
            'extra_driving_among_top_m_share_of_pairs': round(float(np.mean(acc['top_m'])), 3),
            'extra_truth_driving_among_top_m_share_of_pairs': round(float(np.mean(acc['top_m_truth'])), 3),
            'extra_mean_m': round(float(np.mean(acc['m_count'])), 2), 'extra_pairs': len(acc['top_m'])}

def importance_choice(coh, strong:pd.DataFrame, slides:list, run, cfg, mean_comp:np.ndarray) -> dict:
    """MapConfig.occlusion and importance_unit chosen on training slides (never the test slides): figures per pair of
    IMPORTANCES the model can use ('mean' needs a fitted prior), and the choice. Beside each, a diagnosis that is not the
    choice: the same figures from the model's prior alone (its mean for the occluded conditions, no flow, no sampling)."""
    from rna_fm.checkpoint import load_checkpoint
    from rna_fm.core import RNAFMError
    from rna_fm.spatial import Readout, cluster_importance, condition_from_counts, map_occlusion, occluded_conditions, read_slide_clusters
    model, info = load_checkpoint(run, cfg.weights, cfg.device)
    ro = Readout(info, list(strong.index))
    def usable(o):
        try: return map_occlusion(model, o) == o
        except RNAFMError: return False
    pairs = [ou for ou in IMPORTANCES if usable(ou[0])]
    per, prior_only = {}, {}
    for occlusion in dict.fromkeys(o for o, _ in pairs):
        c = cfg.replace(occlusion=occlusion, importance_unit='per_cluster')
        units = [u for o, u in pairs if o == occlusion]
        accs, accs_p = {u: _importance_acc() for u in units}, {u: _importance_acc() for u in units}
        for sid, i, store, tex in slides:
            slide = read_slide_clusters(store, info.encoder, info.k)
            n = np.bincount(slide.assign, minlength=slide.k).astype(float)[:, None]
            per_tile = lambda imp, u: imp / np.where(n > 0, n, 1) if u == 'per_tile' else imp
            imp = cluster_importance(slide, model, ro, c)                      # per cluster; per tile divides by the cluster's tiles
            imp_p = None
            if getattr(model, 'prior', None) is not None:
                sums, counts, present = occluded_conditions(slide, model, occlusion)
                with torch.no_grad(): m = ro(model.prior(*condition_from_counts(sums, counts))[None].float())[0].numpy()   # the prior's mean
                imp_p = pd.DataFrame(np.nan, index=imp.index, columns=imp.columns)
                if len(present): imp_p.iloc[present.numpy()] = m[:1] - m[1:]
            for u in units:
                _slide_importance(coh, strong, i, tex, slide.assign, slide.k, per_tile(imp, u), c.replace(importance_unit=u), mean_comp, accs[u])
                if imp_p is not None:
                    _slide_importance(coh, strong, i, tex, slide.assign, slide.k, per_tile(imp_p, u), c.replace(importance_unit=u), mean_comp, accs_p[u])
        for u in units:
            per[f'{occlusion}, {u}'] = _importance_summary(accs[u])
            if accs_p[u]['top']: prior_only[f'{occlusion}, {u}'] = _importance_summary(accs_p[u])
    key = lambda ou: (per[f'{ou[0]}, {ou[1]}']['importance_genes_driving_first_in_most_slides'], per[f'{ou[0]}, {ou[1]}']['importance_top_is_driving_share_of_pairs'])
    best = max(pairs, key=key)                                                # max keeps the first of equals: IMPORTANCES' order
    return {'field': 'importance', 'slides': [x[0] for x in slides], 'per_value': per, 'prior_alone': prior_only, 'chosen': list(best)}

def linear_in_composition(coh, genes:list, n:int=20000, seed:int=7) -> np.ndarray:
    "(T, len(genes)) coefficients of each texture's share in the least-squares fit, over random compositions and factors, of the truth's expected expression linear in the shares and factors."
    from rna_fm.synth import _draw_morphology
    pi, z = _draw_morphology(n, coh.spec, np.random.default_rng(seed))
    y = coh.truth.expected_expression(pi, z)[:, [list(coh.genes).index(g) for g in genes]]
    A = np.c_[pi, z]                                                  # the shares sum to one: they carry the intercept
    return np.linalg.lstsq(A, y, rcond=None)[0][:pi.shape[1]]

def map_figures(coh, strong:pd.DataFrame, slides:list, run, cfg, importance:bool=True, keep_maps:bool=False, mean_comp=None) -> dict:
    "Maps of the strongly driven genes on `slides` with `cfg`, against the truth: the figures of the bar (see the docstring)."
    from rna_fm.checkpoint import load_checkpoint
    from rna_fm.spatial import map_slide
    genes = list(strong.index)
    fac = [f'factor_{f}' for f in range(coh.spec.n_factors)]
    T, g_idx = coh.spec.n_textures, {g: j for j, g in enumerate(coh.genes)}
    rho_map, rho_truth, rho_map_truth, rho_map5, rho_lin, maps = {}, {}, {}, {}, {}, []
    lin = linear_in_composition(coh, genes)                             # (T, genes)
    acc = _importance_acc()
    loaded = load_checkpoint(run, cfg.weights, cfg.device)
    t0, c0 = time.perf_counter(), time.process_time()
    for sid, i, store, tex in slides:
        sm = map_slide(store, loaded, genes=genes, cfg=cfg, importance=importance)
        if keep_maps: maps.append(sm)
        share = _shares(tex, sm.windows.members, T)
        ab5 = _tile_abundance(tex, sm.slide.coords, sm.slide.tile_px, 5, T) if cfg.window != 5 else None   # the default window's abundance
        local_truth = coh.truth.expected_expression(share, np.repeat(coh.slides.loc[i, fac].to_numpy(float)[None], len(share), 0))
        local_lin = share @ lin                                             # (windows, genes): the best map linear in the composition
        near = sm.windows.nearest
        if importance: _slide_importance(coh, strong, i, tex, sm.slide.assign, sm.slide.k, sm.importance, sm.config, mean_comp, acc)
        for j, g in enumerate(genes):
            t, sgn = int(strong.texture[g]), strong.sign[g]
            ab = share[near, t]
            if np.ptp(ab) == 0: continue                                    # the texture does not vary over this slide
            m = sm.table[g].to_numpy()
            lt = local_truth[near, g_idx[g]]
            rho_map.setdefault(g, []).append(scipy.stats.spearmanr(m, sgn * ab)[0])
            rho_truth.setdefault(g, []).append(scipy.stats.spearmanr(lt, sgn * ab)[0])
            rho_map_truth.setdefault(g, []).append(scipy.stats.spearmanr(m, lt)[0])
            rho_lin.setdefault(g, []).append(scipy.stats.spearmanr(local_lin[near, j], sgn * ab)[0])
            if ab5 is not None: rho_map5.setdefault(g, []).append(scipy.stats.spearmanr(m, sgn * ab5[:, t])[0])
    def dist(v):
        v = np.asarray([np.nanmedian(x) for x in v.values()], float)
        return {'genes': int(len(v)), 'median': round(float(np.nanmedian(v)), 3), 'q25': round(float(np.nanquantile(v, 0.25)), 3),
                'q75': round(float(np.nanquantile(v, 0.75)), 3), 'min': round(float(np.nanmin(v)), 3),
                'share_at_least_0.6': round(float(np.mean(v >= MIN_RHO)), 3)}
    used = sm.config if slides else cfg                                 # as the maps used it: None resolved for the checkpoint
    out = {'guidance': used.guidance, 'map_config': used.to_dict(), 'map_seconds': round(time.perf_counter() - t0, 1),
           'map_cpu_seconds': round(time.process_time() - c0, 1),
           'spearman_map_vs_abundance': dist(rho_map), 'spearman_truth_vs_abundance': dist(rho_truth),
           'spearman_map_vs_local_truth': dist(rho_map_truth), 'spearman_linear_in_composition_vs_abundance': dist(rho_lin), **({'spearman_map_vs_abundance_in_5x5': dist(rho_map5)} if rho_map5 else {})}
    if importance: out.update(_importance_summary(acc))
    top = acc['top']
    out['per_gene'] = {g: {'texture': int(strong.texture[g]), 'sign': int(strong.sign[g]), 'truth_rho': round(float(strong.rho[g]), 3),
                           'map_vs_abundance': round(float(np.nanmedian(rho_map[g])), 3), 'ceiling': round(float(np.nanmedian(rho_truth[g])), 3),
                           'map_vs_local_truth': round(float(np.nanmedian(rho_map_truth[g])), 3),
                           'linear_in_composition': round(float(np.nanmedian(rho_lin[g])), 3),
                           **({'importance_first': round(float(np.mean(top[g])), 3)} if importance and g in top else {})} for g in rho_map}
    if keep_maps: out['_maps'] = maps
    return out

def _tile_abundance(tex:np.ndarray, coords:np.ndarray, tile_px:float, window:int, T:int) -> np.ndarray:
    "(N, T) texture shares of the `window` x `window` neighbourhood each tile shows (stride 2, as the default map)."
    from rna_fm.spatial import tile_grid, window_positions
    w = window_positions(tile_grid(coords, tile_px), window, 2, 0.2)
    return _shares(tex, w.members, T)[w.nearest]

def choice(coh, strong:pd.DataFrame, slides:list, run, cfg, field:str, values) -> dict:
    "MapConfig's `field` chosen on training slides (never the test slides): figures per value, and the value with the most genes at >= 0.6 (then the median)."
    per = {}
    for v in values:
        r = map_figures(coh, strong, slides, run, cfg.replace(**{field: v}), importance=False)
        t3 = [x for x in r['per_gene'].values() if x['texture'] == 3]
        per[v] = {'share_at_least_0.6': r['spearman_map_vs_abundance']['share_at_least_0.6'], 'median': r['spearman_map_vs_abundance']['median'],
                  'ceiling_median': r['spearman_truth_vs_abundance']['median'],
                  'ceiling_share_at_least_0.6': r['spearman_truth_vs_abundance']['share_at_least_0.6'],
                  'texture3_median': round(float(np.median([x['map_vs_abundance'] for x in t3])), 3) if t3 else None,
                  'texture3_below_0.6': int(sum(x['map_vs_abundance'] < MIN_RHO for x in t3)), 'texture3_genes': len(t3),
                  'map_seconds': r['map_seconds'],
                  **({'share_at_least_0.6_in_5x5': r['spearman_map_vs_abundance_in_5x5']['share_at_least_0.6'],
                      'median_in_5x5': r['spearman_map_vs_abundance_in_5x5']['median']} if 'spearman_map_vs_abundance_in_5x5' in r else {})}
    best = max(values, key=lambda v: (per[v]['share_at_least_0.6'], per[v]['median']))
    return {'field': field, 'slides': [x[0] for x in slides], 'per_value': per, 'chosen': best}

def diagnose(coh, strong:pd.DataFrame, cohort, fold, run, slides:list, res:dict, cfg) -> dict:
    "Why genes stay below the bar: whole-slide accuracy, region sizes, k-means purity and sampling noise, per driving texture."
    import scipy.ndimage
    from rna_fm.checkpoint import load_checkpoint
    from rna_fm.features import ArrayFeatures
    from rna_fm.flow import sample
    from rna_fm.predict import _read_features
    from rna_fm.spatial import map_slide, tile_grid
    T, genes = coh.spec.n_textures, list(strong.index)
    below = [g for g, v in res['per_gene'].items() if v['map_vs_abundance'] < MIN_RHO]
    out = {'genes_below': below}
    # (a) whole-slide predictions of the test fold: per-gene Pearson r with the measured log2 expression and with the oracle mean
    model, info = load_checkpoint(run, cfg.weights, cfg.device)
    ids = list(fold.slides(cohort, 'test'))
    feats = ArrayFeatures.from_arrays(coh.slides.slide_id, coh.features, coh.cluster_sizes)   # with the shares, as slide stores give them
    with torch.no_grad():
        z, _ = sample(model, _read_features(feats, ids, info), n_samples=16, solver='euler', steps=19, guidance=cfg.guidance,
                      x_0=torch.randn(16, len(ids), len(info.genes), generator=torch.Generator().manual_seed(0)))
    pred = pd.DataFrame(info.normaliser.inverse_transform(z.double()).mean(0).numpy(), index=ids, columns=info.genes)
    pid = coh.slides.set_index('slide_id').patient_id.loc[ids]
    measured = np.log2(coh.expression.loc[pid.to_numpy(), info.genes].to_numpy() + 1)
    oracle = coh.oracle_mean.loc[pid.to_numpy(), info.genes].to_numpy()
    r = lambda a, b: float(np.corrcoef(a, b)[0, 1])
    col = {g: j for j, g in enumerate(info.genes)}
    whole = {g: {'r_measured': round(r(pred[g], measured[:, col[g]]), 3), 'r_oracle': round(r(pred[g], oracle[:, col[g]]), 3),
                 'r_oracle_measured': round(r(oracle[:, col[g]], measured[:, col[g]]), 3)} for g in genes}
    # (b) geometry, (c) k-means purity, per texture, over the test slides
    size, mixed, tiles, recall, precision = [[] for _ in range(T)], np.zeros(T), np.zeros(T), np.zeros(T), np.zeros(T)
    in_major, n_major, n_windows = np.zeros(T), np.zeros(T), 0
    for sm in res['_maps']:
        tex = slides[[s[0] for s in slides].index(sm.slide.slide_id)][3]
        g = tile_grid(sm.slide.coords, sm.slide.tile_px)
        img = np.full(g.max(0)[::-1] + 1, -1); img[g[:, 1], g[:, 0]] = tex
        share = _shares(tex, sm.windows.members, T); n_windows += len(share)
        for t in range(T):
            lab, n = scipy.ndimage.label(img == t)
            if n: size[t] += list(np.bincount(lab.ravel())[1:])
            mixed[t] += ((share[:, t] > 0) & (share[:, t] < 1)).sum(); tiles[t] += (tex == t).sum()
        a = sm.slide.assign
        maj = np.array([np.bincount(tex[a == c], minlength=T).argmax() if (a == c).any() else -1 for c in range(sm.slide.k)])
        for t in range(T):
            recall[t] += ((tex == t) & (maj[a] == t)).sum()                # tiles of t in clusters whose majority is t
            in_major[t] += ((maj[a] == t) & (tex == t)).sum(); n_major[t] += (maj[a] == t).sum()
    out['textures'] = {t: {'tile_share': round(float(tiles[t] / tiles.sum()), 3),
                           'region_tiles_mean': round(float(np.mean(size[t])), 1) if size[t] else None,
                           'region_tiles_median': float(np.median(size[t])) if size[t] else None,
                           'tile_weighted_region_tiles': round(float(np.sum(np.square(size[t])) / max(1, np.sum(size[t]))), 1),
                           'windows_mixed_share': round(float(mixed[t] / n_windows), 3),
                           'kmeans_recall': round(float(recall[t] / max(1, tiles[t])), 3),
                           'kmeans_precision': round(float(in_major[t] / max(1, n_major[t])), 3)} for t in range(T)}
    # (d) sampling noise: per gene and slide, the variance over tiles of the map against the mean sd^2 / n_samples, and the
    # Spearman between the map and a map drawn with other noise (seed + 1): how much of the ranking is noise
    noise, retest = {g: [] for g in genes}, {g: [] for g in genes}
    loaded = (model, info)
    for sm in res['_maps']:
        store = slides[[s[0] for s in slides].index(sm.slide.slide_id)][2]
        sm2 = map_slide(store, loaded, genes=genes, cfg=cfg.replace(seed=cfg.seed + 1), importance=False)
        for g in genes:
            v = sm.table[g].to_numpy()
            if np.var(v) == 0: continue
            noise[g].append(float(np.mean(sm.table[f'{g} sd'].to_numpy() ** 2) / cfg.n_samples / np.var(v)))
            retest[g].append(scipy.stats.spearmanr(v, sm2.table[g].to_numpy())[0])
    lv = coh.texture_levels
    gi = {g: j for j, g in enumerate(coh.genes)}
    out['per_gene'] = {g: {**whole[g], 'noise_over_signal': round(float(np.median(noise[g])), 4),
                           'retest_spearman': round(float(np.median(retest[g])), 3),
                           'level_margin': round(float(lv[gi[g], int(strong.texture[g])] - np.delete(lv[gi[g]], int(strong.texture[g])).max()), 2),
                           'levels': [round(float(x), 2) for x in lv[gi[g]]]} for g in genes}
    def group(gs):
        if not gs: return None
        p = [out['per_gene'][g] for g in gs]
        med = lambda k: round(float(np.median([x[k] for x in p])), 3)
        return {'genes': len(gs), **{k: med(k) for k in ('r_measured', 'r_oracle', 'r_oracle_measured', 'noise_over_signal',
                                                             'retest_spearman', 'level_margin')},
                'map_vs_abundance': round(float(np.median([res['per_gene'][g]['map_vs_abundance'] for g in gs])), 3),
                'ceiling': round(float(np.median([res['per_gene'][g]['ceiling'] for g in gs])), 3),
                'map_vs_local_truth': round(float(np.median([res['per_gene'][g]['map_vs_local_truth'] for g in gs])), 3)}
    out['by_texture'] = {t: group([g for g in genes if int(strong.texture[g]) == t]) for t in range(T)}
    out['below_0.6'] = group(below)
    out['at_least_0.6'] = group([g for g in genes if g not in below])
    return out

def truth(work:Path, patients:int=300, steps:int=1500, seed:int=0, slide_size=(12288, 8192), max_slides:int=16, checkpoint=None,
          train_only:bool=False, prior:str='none', guidance=(None,), context=(None,), diagnosis:bool=False, choose=()) -> dict:
    "Maps of strongly driven genes against the local abundance of their driving texture, and cluster importance (per guidance scale)."
    from rna_fm.synth import make_cohort
    from rna_fm.features import ArrayFeatures
    from rna_fm.cohort import SlideDataset, load_cohort
    from rna_fm.splits import make_splits
    from rna_fm.normalise import fit_normaliser
    from rna_fm.pathways import build_pathway_structure
    from rna_fm.model import ModelConfig, RNAFM
    from rna_fm.train import TrainConfig, fit
    from rna_fm.checkpoint import read_checkpoint
    from rna_fm.spatial import MapConfig
    t_start = time.perf_counter()
    coh = make_cohort(n_patients=patients, n_genes=300, n_pathways=24, frac_prop=0.3, frac_morph=0.3, seed=seed)
    cohort = load_cohort(coh.sample_sheet, coh.expression, logged=False)
    fold = make_splits(cohort, n_folds=5, seed=seed)[0]
    norm = fit_normaliser(cohort, fold)
    feats = ArrayFeatures.from_arrays(coh.slides.slide_id, coh.features, coh.cluster_sizes)   # with the shares, as slide stores give them
    st = build_pathway_structure(coh.pathways, norm.genes, min_size=3)
    mcfg = ModelConfig(hidden=64, depth=2, heads=4, feat_dim=coh.spec.D, n_clusters=coh.spec.K, cond_mlp=128, graph_heads=2, buckets=4,
                       **({'prior': prior} if 'prior' in ModelConfig.__dataclass_fields__ or prior != 'none' else {}))   # named even when 'none'
    tcfg = TrainConfig(batch_size=32, max_steps=steps, eval_every=max(50, steps // 6), log_every=max(50, steps // 6), lr=1e-3,
                       val_samples=4, val_steps=9)
    run = Path(checkpoint) if checkpoint else work/'run'/'best'
    if not checkpoint:
        torch.manual_seed(seed)
        fit(RNAFM(mcfg, st), SlideDataset(fold.slides(cohort, 'train'), feats, cohort, norm),
            SlideDataset(fold.slides(cohort, 'val'), feats, cohort, norm), tcfg, work/'run', norm, 'synthetic')
    t_train = time.perf_counter() - t_start
    ck = read_checkpoint(run)
    if train_only: return {'patients': patients, 'prior': prior, 'train_steps': steps, 'train_seconds': round(t_train, 1), 'checkpoint': str(run),
                           'checkpoint_step': ck.step}
    drv = driven_genes(coh)
    strong = drv[(drv.kind == 'prop') & (drv.rho.abs() >= DRIVEN_RHO)]
    test, skipped = _stores(coh, list(fold.slides(cohort, 'test')), work/'stores', max_slides, slide_size, seed)
    cfgs = [MapConfig(**{k: v for k, v in (('guidance', g), ('context', c)) if v is not None}) for g in guidance for c in context]
    tex_cols = [c for c in coh.slides.columns if c.startswith('tex_')]
    mean_comp = coh.slides.set_index('slide_id').loc[list(fold.slides(cohort, 'train')), tex_cols].to_numpy(float).mean(0)   # what the training mean feature stands for
    runs = [map_figures(coh, strong, test, run, c, keep_maps=diagnosis and j == 0, mean_comp=mean_comp) for j, c in enumerate(cfgs)]
    out = {'patients': patients, 'seed': seed, 'K': coh.spec.K, 'prior': getattr(ck.model_cfg, 'prior', 'none'), 'genes': len(coh.genes),
           'prop_genes': int((drv.kind == 'prop').sum()), 'strongly_driven_genes': len(strong), 'test_slides': len(test),
           'skipped_slides': skipped, 'slide_size': list(slide_size), 'train_steps': None if checkpoint else steps,
           'train_seconds': None if checkpoint else round(t_train, 1), 'checkpoint': str(run), 'checkpoint_step': ck.step,
           'checkpoint_guidance': getattr(ck, 'guidance', None)}
    if choose:                                         # on training slides only; the test slides are mapped at each choice once
        train_slides, _ = _stores(coh, list(fold.slides(cohort, 'train')), work/'train_stores', 8, slide_size, seed)
        out['choices'] = [importance_choice(coh, strong, train_slides, run, cfgs[0], mean_comp) if f == 'importance' else
                          choice(coh, strong, train_slides, run, cfgs[0], f, WINDOWS if f == 'window' else CONTEXTS) for f in choose]
        for c in out['choices']:
            fields = dict(zip(('occlusion', 'importance_unit'), c['chosen'])) if c['field'] == 'importance' else {c['field']: c['chosen']}
            if any(v != runs[0]['map_config'][k] for k, v in fields.items()):
                runs.append(map_figures(coh, strong, test, run, cfgs[0].replace(**fields), mean_comp=mean_comp))
    if diagnosis: out['diagnosis'] = diagnose(coh, strong, cohort, fold, run, test, runs[0], cfgs[0])
    for r in runs: r.pop('_maps', None)
    out['maps'] = runs
    out['seconds'] = round(time.perf_counter() - t_start, 1)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--speed', action='store_true', help='time local prediction on a 5,000-tile slide')
    ap.add_argument('--truth', action='store_true', help='maps and importance against synthetic truth')
    ap.add_argument('--tiles', type=int, default=5000)
    ap.add_argument('--max_windows', type=int, default=None, help='time a random subset of this many windows and scale to the slide (default: all)')
    ap.add_argument('--no_importance', action='store_true', help='do not time cluster importance')
    ap.add_argument('--stride1', action='store_true', help='also time stride 1 (one window per tile, about 4x the windows)')
    ap.add_argument('--patients', type=int, default=300)
    ap.add_argument('--steps', type=int, default=1500)
    ap.add_argument('--seed', type=int, default=0, help='--truth: seed of the synthetic cohort, its split and the training (another seed: an independent replicate)')
    ap.add_argument('--checkpoint', default=None, help="a checkpoint this script trained earlier (same --patients), to map without training again")
    ap.add_argument('--max_slides', type=int, default=16, help='held-out slides mapped (the first of the test fold)')
    ap.add_argument('--work', default=None, help='keep the trained model (<work>/truth/run/best) and the slide stores here (default: a temporary directory)')
    ap.add_argument('--prior', default='none', help="--truth: the model's prior mean (rna_fm.model.ModelConfig.prior: 'none', 'ridge', 'kernel' or 'mixture')")
    ap.add_argument('--train_only', action='store_true', help='--truth: train the model into --work and stop (map later with --checkpoint)')
    ap.add_argument('--threads', type=int, default=None, help='torch threads (default: 2, or the CPUs if fewer)')
    ap.add_argument('--guidance', default=None, help="guidance scales of the maps, comma-separated, e.g. '1,2' (default: MapConfig's default)")
    ap.add_argument('--diagnose', action='store_true', help='--truth: why genes miss the bar (whole-slide r, region sizes, k-means purity, sampling noise)')
    ap.add_argument('--context', default=None, help="--truth: MapConfig.context values of the maps, comma-separated, e.g. '0,0.5' (default: MapConfig's default)")
    ap.add_argument('--choose_window', action='store_true', help='--truth: choose the window on 8 training slides, then map the test slides with it once')
    ap.add_argument('--choose_context', action='store_true', help='--truth: choose MapConfig.context on 8 training slides, then map the test slides with it once')
    ap.add_argument('--choose_importance', action='store_true', help='--truth: choose MapConfig.occlusion and importance_unit on 8 training slides, then map the test slides with them once')
    ap.add_argument('--json', default=str(OUT/'bench_spatial.json'))
    a = ap.parse_args()
    if not (a.speed or a.truth): a.speed = a.truth = True
    guidance = [float(g) for g in a.guidance.split(',')] if a.guidance else [None]
    context = [float(c) for c in a.context.split(',')] if a.context else [None]
    os.environ.setdefault('RNA_FM_PROGRESS', '0')
    torch.set_num_threads(a.threads or min(2, os.cpu_count() or 1))
    report = {'machine': f'{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs (shared with other work: contention)',
              'torch': torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        d = a.work or tmp
        if a.speed:
            r = report['speed'] = speed(Path(d)/'speed', a.tiles, stride1=a.stride1, max_windows=a.max_windows, importance=not a.no_importance,
                                        guidance=guidance)
            print(f"local prediction on CPU, {r['tiles']}-tile slide, K={r['K']}, D={r['D']}, {r['genes']} genes, {r['model']}, "
                  f"{r['threads']} threads:")
            for x in r['runs']:
                print(f"  window {x['window']}, stride {x['stride']}, {x['n_samples']} samples x {x['steps']} steps, guidance {x['guidance']}, {x['batch']} windows/call: "
                      f"{x['windows']} windows in {x['seconds']} s = {x['tiles_per_s']} tiles/s ({x['windows_per_s']} windows/s); "
                      f"process CPU {x['cpu_seconds']} s = {x['tiles_per_cpu_s']} tiles per CPU-second"
                      + (f" [{x['windows_timed']} windows timed, scaled to all]" if x['windows_timed'] < x['windows'] else ''))
            b = r['one_window_per_call']
            print(f"  one window per model call: {b['seconds_per_window']} s/window vs {b['batched_seconds_per_window']} batched "
                  f"(batching {b['batching_speedup']}x faster); process CPU {b['cpu_seconds_per_window']} vs "
                  f"{b['batched_cpu_seconds_per_window']} s/window ({b['batching_speedup_cpu']}x)")
            if 'importance_seconds' in r: print(f"  cluster importance (K+1 = {r['K'] + 1} slide conditions): {r['importance_seconds']} s (process CPU {r['importance_cpu_seconds']} s)")
        if a.truth:
            r = report['truth'] = truth(Path(d)/'truth', a.patients, a.steps, seed=a.seed, max_slides=a.max_slides, checkpoint=a.checkpoint,
                                        train_only=a.train_only, prior=a.prior, guidance=guidance, context=context, diagnosis=a.diagnose,
                                        choose=[f for f, on in (('window', a.choose_window), ('context', a.choose_context), ('importance', a.choose_importance)) if on])
            if a.train_only: print(f"trained {r['train_steps']} steps in {r['train_seconds']} s; checkpoint {r['checkpoint']} (step {r['checkpoint_step']})")
        if a.truth and not a.train_only:
            print(f"synthetic truth (seed {r['seed']}): {r['patients']} patients, {r['genes']} genes ({r['prop_genes']} tissue-marker genes, "
                  f"{r['strongly_driven_genes']} strongly driven: |Spearman| >= {DRIVEN_RHO} with one texture's share), "
                  f"{r['test_slides']} held-out slides ({len(r['skipped_slides'])} skipped: tissue does not fit the slide size), prior {r['prior']}, " + (f"model trained {r['train_steps']} steps in {r['train_seconds']} s" if r['train_steps']
                  else 'model from --checkpoint') + f", checkpoint kept at step {r['checkpoint_step']}")
            for m in r['maps']:
                c = m['map_config']
                print(f"  maps at guidance {m['guidance']}, context {c.get('context', 0)}, occlusion {c.get('occlusion', 'remove')}, importance {c.get('importance_unit', 'per_cluster')} (window {c['window']}, stride {c['stride']}, {c['n_samples']} samples x {c['steps']} steps; "
                      f"{m['map_seconds']} s, process CPU {m['map_cpu_seconds']} s):")
                for key, what in (('spearman_map_vs_abundance', 'map vs local abundance of the driving texture'),
                                  ('spearman_map_vs_abundance_in_5x5', 'map vs abundance in the default 5 x 5 window'),
                                  ('spearman_truth_vs_abundance', 'expected local expression vs abundance (ceiling)'),
                                  ('spearman_linear_in_composition_vs_abundance', 'least-squares linear reference vs abundance (a guide, not a bound)'),
                                  ('spearman_map_vs_local_truth', 'map vs expected local expression')):
                    if key not in m: continue
                    x = m[key]
                    print(f"    {what}: per-gene median over slides, over {x['genes']} genes: median {x['median']} "
                          f"(IQR {x['q25']}..{x['q75']}, min {x['min']}); genes at >= {MIN_RHO}: {x['share_at_least_0.6']:.0%}")
                below = {g: v for g, v in m['per_gene'].items() if v['map_vs_abundance'] < MIN_RHO}
                print(f"    genes below {MIN_RHO}: " + ', '.join(f"{g} (texture {v['texture']}: {v['map_vs_abundance']}, ceiling {v['ceiling']}, linear {v['linear_in_composition']})"
                                                     for g, v in below.items()))
                if 'importance_top_is_driving_share_of_pairs' not in m: continue
                print(f"    cluster importance: top cluster belongs to the driving texture in {m['importance_top_is_driving_share_of_pairs']:.0%} "
                      f"of (gene, slide) pairs; {m['importance_genes_driving_first_in_most_slides']:.0%} of genes have it first in most "
                      f"slides (median share of slides per gene {m['importance_median_share_of_slides_per_gene']:.0%})")
                print(f"    the truth's own occlusion: {m['truth_occlusion_top_is_driving_share_of_pairs']:.0%} of pairs, "
                      f"{m['truth_occlusion_genes_driving_first_in_most_slides']:.0%} of genes first in most slides")
                print(f"    extra figure (not the bar): a cluster of the driving texture among the top m by |importance|, m = that texture's "
                      f"clusters on the slide (mean m {m['extra_mean_m']} of K={r['K']}): {m['extra_driving_among_top_m_share_of_pairs']:.0%} "
                      f"of {m['extra_pairs']} pairs; the truth's own occlusion {m['extra_truth_driving_among_top_m_share_of_pairs']:.0%}")
            for wc in r.get('choices', []):
                if wc['field'] == 'importance':
                    print(f"  occlusion and importance unit chosen on {len(wc['slides'])} training slides (most genes first in most slides, then pairs): {wc['chosen']}")
                    for v, x in wc['per_value'].items():
                        xp = wc['prior_alone'].get(v)
                        print(f"    {v}: driving texture first in {x['importance_top_is_driving_share_of_pairs']:.0%} of pairs, "
                              f"{x['importance_genes_driving_first_in_most_slides']:.0%} of genes first in most slides; the truth's own occlusion "
                              f"{x['truth_occlusion_top_is_driving_share_of_pairs']:.0%}, {x['truth_occlusion_genes_driving_first_in_most_slides']:.0%}"
                              + (f"; the prior alone (not the choice) {xp['importance_top_is_driving_share_of_pairs']:.0%}, "
                                 f"{xp['importance_genes_driving_first_in_most_slides']:.0%}" if xp else ''))
                    continue
                print(f"  {wc['field']} chosen on {len(wc['slides'])} training slides (most genes at >= {MIN_RHO}, then the median): {wc['chosen']}")
                for v, x in wc['per_value'].items():
                    print(f"    {wc['field']} {v}: {x['share_at_least_0.6']:.0%} of genes at >= {MIN_RHO}, median {x['median']}, ceiling median "
                          f"{x['ceiling_median']} ({x['ceiling_share_at_least_0.6']:.0%}); texture 3: median {x['texture3_median']}, "
                          f"{x['texture3_below_0.6']} of {x['texture3_genes']} below"
                          + (f"; against the 5 x 5 abundance {x['share_at_least_0.6_in_5x5']:.0%}, median {x['median_in_5x5']}" if 'median_in_5x5' in x else ''))
            if 'diagnosis' in r:
                dg = r['diagnosis']
                print(f"  diagnosis (guidance {r['maps'][0]['guidance']}): per texture, over the test slides")
                for t, x in dg['textures'].items():
                    print(f"    texture {t}: {x['tile_share']:.0%} of tiles, regions of {x['region_tiles_mean']} tiles on average "
                          f"(a tile sits in a region of {x['tile_weighted_region_tiles']} tiles on average), {x['windows_mixed_share']:.0%} of windows mixed; "
                          f"k-means: {x['kmeans_recall']:.0%} of its tiles in clusters of its majority, those clusters {x['kmeans_precision']:.0%} pure")
                for name, x in [(f'driven by texture {t}', v) for t, v in dg['by_texture'].items()] + [('below 0.6', dg['below_0.6']), ('at >= 0.6', dg['at_least_0.6'])]:
                    if x is None: continue
                    print(f"    genes {name} ({x['genes']}): whole-slide test r {x['r_measured']} with measured, {x['r_oracle']} with the oracle mean "
                          f"(oracle vs measured {x['r_oracle_measured']}); map {x['map_vs_abundance']}, ceiling {x['ceiling']}, map vs local truth "
                          f"{x['map_vs_local_truth']}; sampling noise / signal variance {x['noise_over_signal']}, map vs a map with other noise "
                          f"{x['retest_spearman']}; level margin of the driving texture {x['level_margin']} log2")
    report['max_rss_mb'] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(report, indent=2) + '\n')
    print(f'saved to {a.json}')

if __name__ == '__main__': main()
