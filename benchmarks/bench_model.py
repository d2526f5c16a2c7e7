"""Benchmark RNA-FM's vectorised velocity network against the per-pathway loop reference (`LoopRNAFM`).

At the published configuration (hidden 256, depth 7, 8 heads, D=1024, K=100, 20,820 genes, 380 pathways holding
231,304 memberships plus 3,645 background genes), batch 32, CPU, float32, measured in one run:
  - seconds per training step (forward, backward, AdamW) and its peak memory, for both implementations, each with
    glibc's default allocator settings and with the tuned ones of PyTorch's CPU tuning guide (`ALLOCATORS`);
  - the training step's achieved FLOP/s divided by the FLOP/s of a large fp32 matrix product measured in the same run;
  - seconds per slide to sample 32 transcriptomes with the 20-point Euler grid and guidance 2, and peak memory
    (also rna_fm in bf16 and under torch.compile);
  - the ceilings: how much faster than the loop any implementation could be if all of rna_fm's FLOPs ran at the
    matrix-product rate, and the share of that rate each target needs;
  - the accuracy-vs-NFE trade-off of the ODE solvers on a synthetic cohort (a small model trained here);
  - one training step with the full GO Biological Process structure: parameter count and peak memory.
Each measurement runs in its own process, so peak memory (max RSS) belongs to that measurement alone; timings are
the best of repeated runs, alternating the two implementations, because the machine may be shared.

Usage: python benchmarks/bench_model.py [--skip-nfe] [--skip-gobp] [--steps N]
"""
import argparse, json, math, os, resource, statistics, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def _peak_gib() -> float: return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

def _structure(kind:str):
    import pandas as pd
    from rna_fm.pathways import build_pathway_structure
    from rna_fm.synth import make_gene_sets
    genes = pd.read_csv(ROOT/'data_samples/genesets/gene_list_20820.csv').gene.tolist()
    if kind == 'gobp': return build_pathway_structure(ROOT/'data_samples/genesets/GO_Biological_Process_2023.gmt', genes)
    return build_pathway_structure(make_gene_sets(genes, 380, 231_304, 3_645), genes, min_size=1)

def _models(impl:str, structure, cfg):
    import torch
    from rna_fm.model import RNAFM, LoopRNAFM
    torch.manual_seed(0)
    vec = RNAFM(cfg, structure)
    if impl == 'vec': return vec
    return LoopRNAFM(cfg, structure).load_from(vec)

def _attention_flops() -> dict:
    "FLOP formulas for the CPU flash-attention kernels, which torch's FlopCounterMode does not count by itself."
    import torch
    from torch.utils.flop_counter import sdpa_flop_count, sdpa_backward_flop_count
    aten = torch.ops.aten
    def fwd(q, k, v, *args, **kw): return sdpa_flop_count(q, k, v)
    def bwd(grad_out, q, k, v, *args, **kw): return sdpa_backward_flop_count(grad_out, q, k, v)
    return {aten._scaled_dot_product_flash_attention_for_cpu: fwd,
            aten._scaled_dot_product_flash_attention_for_cpu_backward: bwd}

def phase_matmul(n:int=4096) -> dict:
    "Best-of-5 rate of an n x n x n float32 matrix product."
    import torch
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(5))
    return {'gflops': 2 * n**3 / best / 1e9}

def _timed(f) -> float:
    t = time.perf_counter(); f(); return time.perf_counter() - t

def phase_train(impl:str, steps:int, batch:int=32, kind:str='published') -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from rna_fm.flow import flow_matching_loss
    from rna_fm.model import ModelConfig
    st = _structure(kind)
    cfg = ModelConfig()
    model = _models(impl, st, cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01, fused=True)
    g = torch.Generator().manual_seed(0)
    x1 = torch.randn(batch, st.n_genes, generator=g)
    feats = torch.randn(batch, cfg.n_clusters, cfg.feat_dim, generator=g)
    def step():
        opt.zero_grad(set_to_none=True)                                # before the forward: old gradients never
        loss = flow_matching_loss(model, x1, feats, cond_drop=0.1, generator=g)   # coexist with new activations
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step()
    step()                                                             # warm-up: allocations, optimizer state
    times = [_timed(step) for _ in range(steps)]
    opt.zero_grad(set_to_none=True)
    with FlopCounterMode(display=False, custom_mapping=_attention_flops()) as fc:
        loss = flow_matching_loss(model, x1, feats, cond_drop=0.1, generator=g); loss.backward()
    return {'seconds': min(times), 'flops': fc.get_total_flops(), 'peak_gib': _peak_gib(),
            'params': sum(p.numel() for p in model.parameters())}

def phase_sample(impl:str, n_samples:int=32, slides:int=2, precision:str='fp32', compiled:str='eager') -> dict:
    """Seconds per slide to draw `n_samples` transcriptomes (20-point Euler grid, guidance 2), `slides` slides in one batch.
    `compiled='compile'` wraps the vectorised network's conditioned part (`RNAFM.trunk`) in `torch.compile` (the
    compilation happens in the warm-up, outside the time)."""
    import torch
    from rna_fm.config import autocast
    from rna_fm.flow import sample
    from rna_fm.model import ModelConfig
    st = _structure('published')
    cfg = ModelConfig()
    model = _models(impl, st, cfg).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters(): p.add_(0.01 * torch.randn(p.shape, generator=g))   # non-trivial outputs
    feats = torch.randn(slides, cfg.n_clusters, cfg.feat_dim, generator=g)
    if compiled == 'compile': model.trunk = torch.compile(model.trunk, dynamic=False)
    with autocast(precision, 'cpu'):
        sample(model, feats, n_samples=n_samples, solver='euler', steps=1, guidance=2.0, n_genes=st.n_genes)   # warm-up, same shapes
        t = _timed(lambda: sample(model, feats, n_samples=n_samples, solver='euler', steps=19, guidance=2.0, n_genes=st.n_genes,
                                  generator=torch.Generator().manual_seed(1)))
    return {'seconds_per_slide': t / slides, 'peak_gib': _peak_gib()}

def phase_sample_flops(impl:str='vec', n_samples:int=32) -> dict:
    "FLOPs to sample one slide (`n_samples` draws, 19 Euler steps, guidance 2): the 1-step count plus 18 times one more step."
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from rna_fm.flow import sample
    from rna_fm.model import ModelConfig
    st = _structure('published'); cfg = ModelConfig()
    model = _models(impl, st, cfg).eval()
    feats = torch.randn(1, cfg.n_clusters, cfg.feat_dim)
    counts = []
    for steps in (1, 2):
        with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=_attention_flops()) as fc:
            sample(model, feats, n_samples=n_samples, solver='euler', steps=steps, guidance=2.0, n_genes=st.n_genes)
        counts.append(fc.get_total_flops())
    return {'flops_per_slide': counts[0] + 18 * (counts[1] - counts[0]), 'flops_per_step': counts[1] - counts[0]}

def phase_nfe(train_steps:int=1500) -> dict:
    "Train a small model on a synthetic cohort, then compare solvers on held-out slides."
    import numpy as np, torch
    from rna_fm.core import torch_threads
    from rna_fm.flow import flow_matching_loss, sample
    from rna_fm.model import ModelConfig, RNAFM
    from rna_fm.pathways import build_pathway_structure
    from rna_fm.synth import make_cohort
    coh = make_cohort(n_patients=300, n_genes=400, frac_two_slides=0.0, seed=0)
    st = build_pathway_structure(coh.pathways, coh.genes, min_size=3)
    y = np.log2(coh.expression.loc[coh.slides.patient_id].values + 1)
    tr = np.arange(len(y)) < 240
    mu, sd = y[tr].mean(0), y[tr].std(0) + 1e-6
    Y = torch.tensor((y - mu) / sd, dtype=torch.float32); F = torch.tensor(coh.features)
    torch.manual_seed(0)
    model = RNAFM(ModelConfig(hidden=64, depth=3, heads=4, feat_dim=F.shape[2], n_clusters=F.shape[1], cond_mlp=128,
                              graph_heads=2), st)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    g = torch.Generator().manual_seed(0)
    idx = np.flatnonzero(tr)
    t0 = time.perf_counter()
    with torch_threads(1 if os.cpu_count() <= 2 else os.cpu_count()):
        for i in range(train_steps):
            b = torch.as_tensor(np.random.default_rng(i).choice(idx, 64))
            loss = flow_matching_loss(model, Y[b], F[b], generator=g)
            opt.zero_grad(); loss.backward(); opt.step()
    train_s = time.perf_counter() - t0
    model.eval()
    te = torch.as_tensor(np.flatnonzero(~tr))
    morph = torch.as_tensor((coh.gene_truth.kind == 'morph').values)
    def run(solver, steps, **kw):
        t = time.perf_counter()
        xs, info = sample(model, F[te], n_samples=16, solver=solver, steps=steps, guidance=2.0,
                          generator=torch.Generator().manual_seed(3), **kw)
        return xs, info['nfe'], time.perf_counter() - t
    ref, _, _ = run('rk4', 50)
    rows = []
    for solver, steps, kw in [('euler', 19, {}), ('heun', 5, {}), ('midpoint', 5, {}), ('rk4', 3, {}),
                              ('dopri5', 19, {'rtol': 1e-3, 'atol': 1e-3}), ('euler', 9, {}), ('euler', 49, {})]:
        xs, nfe, secs = run(solver, steps, **kw)
        m = xs.mean(0); a, b = m - m.mean(0), Y[te] - Y[te].mean(0)
        r = (a * b).sum(0) / (a.norm(dim=0) * b.norm(dim=0) + 1e-12)
        rows.append({'solver': solver, 'steps': steps, 'nfe': nfe, 'seconds': round(secs, 3),
                     'rms_to_reference': round(float((xs - ref).pow(2).mean().sqrt()), 4),
                     'pcc_morph_genes': round(float(r[morph].mean()), 4), 'pcc_all_genes': round(float(r.mean()), 4)})
    return {'train_seconds': train_s, 'rows': rows}

# glibc's malloc returns freed blocks above its (adaptive) mmap threshold to the system, so every large tensor of the
# next step is page-faulted in afresh. 'tuned' keeps blocks up to 32 MB in the heap and never trims it: the usual
# CPU-training setting (https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html). Both implementations are
# measured under both, in the same run. It only applies from process start, hence environment variables.
ALLOCATORS = {'default': {},
              'tuned': {'MALLOC_MMAP_THRESHOLD_': str(32 << 20), 'MALLOC_TRIM_THRESHOLD_': str(1 << 36),
                        'MALLOC_TOP_PAD_': str(1 << 30)}}

def _run(args:list, alloc:str='default') -> dict:
    "Run one phase in a fresh process (with allocator setting `alloc`) and return its JSON result."
    env = {**os.environ, **ALLOCATORS[alloc]}
    out = subprocess.run([sys.executable, __file__, '--phase', *map(str, args)], capture_output=True, text=True, env=env)
    if out.returncode: raise RuntimeError(f'phase {args} failed:\n{out.stderr[-3000:]}')
    return json.loads(out.stdout.strip().splitlines()[-1])

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--phase', nargs='+', help=argparse.SUPPRESS)
    ap.add_argument('--steps', type=int, default=3, help='timed training steps per run (the fastest is kept)')
    ap.add_argument('--skip-nfe', action='store_true'); ap.add_argument('--skip-gobp', action='store_true')
    ap.add_argument('--json', default=str(ROOT/'benchmarks'/'out'/'bench_model.json'), help='where to save the results')
    a = ap.parse_args()
    if a.phase:
        name, *rest = a.phase
        fn = {'matmul': phase_matmul, 'train': phase_train, 'sample': phase_sample, 'nfe': phase_nfe,
              'sample_flops': phase_sample_flops}[name]
        conv = [int(r) if r.isdigit() else r for r in rest]
        print(json.dumps(fn(*conv))); return
    import torch
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs')
    mm = _run(['matmul'])
    print(f"fp32 matmul (4096^3): {mm['gflops']:.1f} GFLOP/s")
    res = {}
    for rep in range(2):                       # alternate the implementations; keep each one's best (the machine is shared)
        for alloc in ALLOCATORS:
            for impl in ('loop', 'vec'):
                r = _run(['train', impl, a.steps], alloc)
                if (impl, alloc) not in res or r['seconds'] < res[impl, alloc]['seconds']: res[impl, alloc] = r
    print('\ntraining step, published configuration, batch 32, fp32, AdamW (fused), grad clip 1.0 (FLOPs include attention)')
    print(f"{'':8}{'allocator':>10}{'s/step':>10}{'peak GiB':>10}{'GFLOP/step':>12}{'GFLOP/s':>10}{'of matmul':>11}")
    for (impl, alloc), r in res.items():
        rate = r['flops'] / r['seconds'] / 1e9
        print(f"{impl:8}{alloc:>10}{r['seconds']:10.2f}{r['peak_gib']:10.2f}{r['flops']/1e9:12.1f}{rate:10.1f}{rate/mm['gflops']:11.0%}")
    print(f"parameters: {res['vec', 'default']['params']:,}; training step speed-up (loop / vectorised): "
          + ', '.join(f"{res['loop', al]['seconds'] / res['vec', al]['seconds']:.2f}x ({al} allocator)" for al in ALLOCATORS))
    # The most any implementation of this step could gain over the loop: all of its FLOPs at the matrix-product rate.
    floor = res['vec', 'default']['flops'] / (mm['gflops'] * 1e9)
    ceil = {al: res['loop', al]['seconds'] / floor for al in ALLOCATORS}
    print(f"ceiling: {res['vec', 'default']['flops']/1e9:.0f} GFLOP at the matrix-product rate take {floor:.2f} s, so no "
          "implementation of this step can be more than " + ', '.join(f"{c:.2f}x ({al})" for al, c in ceil.items())
          + " faster than the loop here; 1.5x needs "
          + ', '.join(f"{floor * 1.5 / res['loop', al]['seconds']:.0%} ({al})" for al in ALLOCATORS) + " of that rate")
    print('\nsampling per slide, Euler 20-point grid (19 NFE), guidance 2, fp32 unless stated')
    print(f"{'':40}{'allocator':>10}{'loop s/slide':>14}{'vec s/slide':>13}{'speed-up':>10}{'peak GiB (vec)':>16}")
    loop32, report = None, {'matmul': mm, 'train': {f'{i}/{al}': r for (i, al), r in res.items()}, 'sample': [],
                            'train_ceiling': {'floor_seconds': floor, 'max_speedup': ceil}}
    for label, args, alloc in [('32 draws per slide (rna_fm default)', (32, 2), 'default'),
                               ('32 draws per slide (rna_fm default)', (32, 2), 'tuned'),
                               ('1 draw per slide, 32 slides a batch', (1, 32), 'default'),
                               ('1 draw per slide, one slide a batch', (1, 1), 'default')]:
        lo, ve = (min((_run(['sample', impl, *args], alloc) for _ in range(2)), key=lambda r: r['seconds_per_slide'])
                  for impl in ('loop', 'vec'))
        loop32 = loop32 or lo
        report['sample'].append({'case': label, 'allocator': alloc, 'loop': lo, 'vec': ve})
        print(f"{label:40}{alloc:>10}{lo['seconds_per_slide']:14.2f}{ve['seconds_per_slide']:13.2f}"
              f"{lo['seconds_per_slide'] / ve['seconds_per_slide']:9.2f}x{ve['peak_gib']:16.2f}")
    for label, args, key in [('32 draws, vec in bf16 (vs loop fp32)', ('bf16', 'eager'), 'sample_vec_bf16'),
                             ('32 draws, vec torch.compile (vs loop)', ('fp32', 'compile'), 'sample_vec_compiled')]:
        r = _run(['sample', 'vec', 32, 2, *args]); report[key] = r
        print(f"{label:40}{'default':>10}{loop32['seconds_per_slide']:14.2f}{r['seconds_per_slide']:13.2f}"
              f"{loop32['seconds_per_slide'] / r['seconds_per_slide']:9.2f}x{r['peak_gib']:16.2f}")
    sf = _run(['sample_flops', 'vec', 32]); report['sample_flops'] = sf
    floor = sf['flops_per_slide'] / (mm['gflops'] * 1e9)
    report['sample_ceiling'] = {'floor_seconds_per_slide': floor, 'max_speedup': loop32['seconds_per_slide'] / floor}
    print(f"ceiling: rna_fm samples a slide (32 draws) in {sf['flops_per_slide']/1e9:.0f} GFLOP, {floor:.1f} s at the "
          f"matrix-product rate: at most {loop32['seconds_per_slide'] / floor:.2f}x faster than the loop (default "
          f"allocator); it runs at {sf['flops_per_slide'] / report['sample'][0]['vec']['seconds_per_slide'] / 1e9:.0f} GFLOP/s, "
          f"2x needs {2 * floor / loop32['seconds_per_slide']:.0%} of the matrix-product rate")
    if not a.skip_nfe:
        nfe = _run(['nfe']); report['nfe'] = nfe
        print(f"\naccuracy vs NFE on a synthetic cohort (300 patients, 400 genes; small model trained {nfe['train_seconds']:.0f} s)")
        print('rms_to_reference: distance of the samples to a 50-step RK4 solution from the same noise')
        cols = ['solver', 'steps', 'nfe', 'seconds', 'rms_to_reference', 'pcc_morph_genes', 'pcc_all_genes']
        print(''.join(f'{c:>18}' for c in cols))
        for r in nfe['rows']: print(''.join(f'{str(r[c]):>18}' for c in cols))
    if not a.skip_gobp:
        r = _run(['train', 'vec', 1, 4, 'gobp']); report['gobp'] = r
        print(f"\nfull GO Biological Process structure (20,820 genes), batch 4: {r['params']:,} parameters, "
              f"{r['seconds']:.1f} s/step, peak {r['peak_gib']:.1f} GiB")

    out = Path(a.json); out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1)); print(f'\nresults saved to {out}')

if __name__ == '__main__': main()
