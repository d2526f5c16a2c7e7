"""Benchmark tile embedding with the default encoder and rna_fm's torch k-means against scikit-learn's `KMeans`.

Measured in one run, on the CPU:
  - embedding: tiles per second of `embed_slide` with EfficientNet-Lite0 (tile reading in DataLoader workers, the
    encoder, writing the store) on a synthetic slide, for the batch size and worker count given, and of the encoder
    alone on tiles already in memory;
  - k-means on the same float32 data (N x D, default 20,000 x 1,024, a mixture of 150 Gaussian clusters of unequal
    sizes in a 48-dimensional subspace plus isotropic noise), K=100, Lloyd's algorithm, the same max_iter and tol.

    Headline, for each seed s = 0..--seeds-1: both libraries start from IDENTICAL initial centroids: rna_fm's greedy
    k-means++ draws for seed s, computed once in the parent process and given as an array to
    `rna_fm.aggregate.kmeans(init=...)` and to `sklearn.cluster.KMeans(init=array, n_init=1)`. What differs is then
    only the Lloyd loop. Printed per seed: each library's seconds, iterations run (n_iter), seconds per iteration and
    inertia; the ratios (sklearn / rna_fm) of the time per iteration and of the total time; the inertia ratio
    (rna_fm / sklearn); and whether the target is met (at least 3x faster per iteration and in total, inertia within
    1%). Secondary: each library with its own k-means++ seeding (rna_fm `kmeans(seed=s)`, whose draws are the
    headline's initial centroids; scikit-learn `KMeans(init='k-means++', random_state=s)`), seeding included in the
    time; and the k-means++ seeding alone.

    Stopping rules, the same in both (scikit-learn: `_tolerance` and `_kmeans_single_lloyd` in
    sklearn/cluster/_kmeans.py; rna_fm: `_lloyd` in rna_fm/aggregate.py): an iteration is one assignment and one
    update; a run stops at the first of (1) assignments unchanged since the previous iteration, (2) the sum over
    centroids of the squared centroid shift <= tol x the mean per-feature variance of the data, (3) max_iter
    iterations; n_iter counts the iterations run. So the same tol and max_iter ask the same of both, and iteration
    counts from identical starts differ only where float rounding flips an assignment. `--tol 0` leaves rules (1) and
    (3) only.

Each library runs in its own process: torch and scikit-learn bring different OpenMP runtimes, whose idle threads
spin for a while after each parallel region and slow the other library down when both share a process (on 2 cores
that interference made either library several times slower). Each process runs one untimed warm-up fit on the full
data first. Both use the same number of threads (`--threads`, default one per core; scikit-learn's through
threadpoolctl). The libraries' processes alternate `--rounds` times and each run keeps its fastest time (iteration
counts and inertia are those of the first round). The load average is printed: on a machine shared with other jobs,
timings vary.

Everything printed is also saved as JSON to `--json` (default benchmarks/out/bench_embed.json; benchmarks/out/ is
git-ignored).

Usage: python benchmarks/bench_embed.py [--batch_size 64] [--workers 2] [--slide_px 4096] [--n 20000] [--d 1024]
                                        [--k 100] [--max_iter 100] [--tol 1e-4] [--threads N] [--seeds 3]
                                        [--rounds 2] [--json PATH] [--skip-embed] [--skip-kmeans]
Smoke test (seconds): python benchmarks/bench_embed.py --slide_px 1024 --batch_size 8 --workers 0 --n 3000 --d 64
                                        --k 20 --seeds 2 --rounds 1 --json /tmp/bench_embed_smoke.json
"""
import argparse, json, os, platform, shutil, subprocess, sys, tempfile, time
from pathlib import Path

OUT = Path(__file__).resolve().parent/'out'

def _timed(f):
    t = time.perf_counter(); out = f(); return time.perf_counter() - t, out

def phase_embed(a) -> dict:
    import torch
    from rna_fm.synth import make_slide
    from rna_fm.tiling import tile_slide, TileDataset
    from rna_fm.embed import embed_slide
    from rna_fm.encoders import get_encoder
    from rna_fm.store import store_attrs
    tmp = Path(tempfile.mkdtemp())
    try:
        syn = make_slide(tmp/'bench.svs', width=a.slide_px, height=a.slide_px, n_textures=4, tissue_fraction=0.6,
                         n_blobs=1, seed=0, workers=2)
        sp = tile_slide(syn.path, tmp/'stores', picture=False)['store']
        enc, n = get_encoder('effnet_lite0'), store_attrs(sp)['n_tiles']
        with torch.inference_mode(): enc.model(torch.zeros(a.batch_size, 3, 224, 224, dtype=torch.uint8))   # warm-up
        secs, _ = _timed(lambda: embed_slide(sp, enc, batch_size=a.batch_size, num_workers=a.workers, show_progress=False))
        ds = TileDataset(sp, transform=enc.transform)
        x = torch.stack([ds[i][0] for i in range(min(n, 4 * a.batch_size))])
        with torch.inference_mode(): secs_model, _ = _timed(lambda: [enc.model(b) for b in x.split(a.batch_size)])
    finally: shutil.rmtree(tmp, ignore_errors=True)
    return {'n_tiles': n, 'secs': secs, 'model_tiles': len(x), 'model_secs': secs_model}

def make_data(n:int, d:int, seed:int=0):
    "A mixture of 150 Gaussian clusters of unequal sizes in a 48-D subspace of R^d, plus isotropic noise (float32)."
    import numpy as np
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(48, d)) / np.sqrt(48)
    centres = rng.normal(size=(150, 48)) * 3.0
    lab = rng.choice(150, size=n, p=rng.dirichlet(np.full(150, 2.0)))
    z = centres[lab] + rng.normal(size=(n, 48))
    return (z @ basis + 0.3 * rng.normal(size=(n, d))).astype(np.float32)

def initial_centroids(X, k:int, seeds:int):
    "(seeds, k, D): rna_fm's greedy k-means++ draws for seeds 0..seeds-1, as rows of X (what `kmeans(seed=s)` starts from)."
    import numpy as np, torch
    from rna_fm.aggregate import kmeans_pp
    xt = torch.from_numpy(X); xc = xt - xt.mean(0)
    idx = [kmeans_pp(xc, k, torch.Generator().manual_seed(s)).numpy() for s in range(seeds)]
    if any(len(i) < k for i in idx): raise SystemExit(f'the data hold fewer than k={k} distinct points')
    return np.stack([X[i] for i in idx])

def _fit(lib:str, X, a, init=None, seed:int=0, max_iter:int|None=None) -> dict:
    "One k-means run of `lib` ('rna_fm' or 'sklearn') from `init` (k, D), or from its own k-means++ seeding with `seed`."
    max_iter = max_iter or a.max_iter
    if lib == 'rna_fm':
        from rna_fm.aggregate import kmeans
        t, r = _timed(lambda: kmeans(X, a.k, seed=seed, max_iter=max_iter, tol=a.tol, device='cpu', init=init))
        return {'secs': t, 'n_iter': r.n_iter, 'inertia': r.inertia, 'distance_rows': r.distance_rows}
    from sklearn.cluster import KMeans
    km = KMeans(a.k, init='k-means++' if init is None else init, n_init=1, max_iter=max_iter, tol=a.tol,
                random_state=seed, algorithm='lloyd')
    t, km = _timed(lambda: km.fit(X))
    return {'secs': t, 'n_iter': int(km.n_iter_), 'inertia': float(km.inertia_)}

def _seeding(lib:str, X, a, seed:int) -> float:
    "Seconds of the k-means++ seeding alone."
    if lib == 'rna_fm':
        import torch
        from rna_fm.aggregate import kmeans_pp
        def f():
            xt = torch.from_numpy(X); return kmeans_pp(xt - xt.mean(0), a.k, torch.Generator().manual_seed(seed))
        return _timed(f)[0]
    from sklearn.cluster import kmeans_plusplus
    return _timed(lambda: kmeans_plusplus(X, a.k, random_state=seed))[0]

def phase_kmeans(a, lib:str) -> dict:
    "Every k-means run of one library, in this process: per seed, from the shared initial centroids, from its own seeding."
    import numpy as np
    X, inits = np.load(a.data), np.load(a.inits)
    _fit(lib, X, a, init=inits[0], max_iter=3); _seeding(lib, X, a, seed=99)           # warm-up on the full data
    return {'runs': [{'same_init': _fit(lib, X, a, init=inits[s]), 'own_seed': _fit(lib, X, a, seed=s),
                      'seeding_secs': _seeding(lib, X, a, s)} for s in range(a.seeds)]}

PASS_THROUGH = ('batch_size', 'workers', 'slide_px', 'n', 'd', 'k', 'max_iter', 'tol', 'threads', 'seeds', 'data', 'inits')

def run_phase(a, phase:str, lib:str='') -> dict:
    "Run one phase in a fresh process and return its JSON result."
    argv = [sys.executable, __file__, '--phase', phase, '--lib', lib] + [f'--{k}={getattr(a, k)}' for k in PASS_THROUGH
                                                                          if getattr(a, k) is not None]
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode: raise RuntimeError(f'phase {phase} {lib} failed:\n{out.stderr[-3000:]}')
    return json.loads(out.stdout.strip().splitlines()[-1])

def merge_rounds(rounds:list) -> list:
    "Per seed and kind of run: the fastest time over the rounds, n_iter and inertia of the first round, all times."
    out = []
    for s, first in enumerate(rounds[0]['runs']):
        rs = [r['runs'][s] for r in rounds]
        out.append({kind: {**first[kind], 'secs': min(r[kind]['secs'] for r in rs), 'secs_all': [r[kind]['secs'] for r in rs]}
                    for kind in ('same_init', 'own_seed')} | {'seeding_secs': min(r['seeding_secs'] for r in rs)})
    return out

def compare(o:dict, k:dict) -> dict:
    "Ratios of one rna_fm run `o` against the scikit-learn run `k`."
    per_it = (k['secs'] / k['n_iter']) / (o['secs'] / o['n_iter'])
    total, inertia = k['secs'] / o['secs'], o['inertia'] / k['inertia']
    return {'speedup_per_iter': per_it, 'speedup_total': total, 'inertia_ratio': inertia}

def _run(tag:str, r:dict) -> str:
    return f"{tag} {r['secs']:7.3f} s, n_iter {r['n_iter']:3d} ({1e3 * r['secs'] / r['n_iter']:7.2f} ms/it), inertia {r['inertia']:.6e}"

def bench_kmeans(a, log) -> dict:
    import numpy as np, torch, sklearn
    with tempfile.TemporaryDirectory() as tmp:
        X = make_data(a.n, a.d)
        a.data, a.inits = str(Path(tmp)/'X.npy'), str(Path(tmp)/'inits.npy')
        np.save(a.data, X); np.save(a.inits, initial_centroids(X, a.k, a.seeds))
        log(f"k-means: {a.n} x {a.d} float32, K={a.k}, max_iter={a.max_iter}, tol={a.tol} (both libraries: stop when "
            f"assignments are unchanged or the summed squared centroid shift <= tol x mean feature variance), Lloyd; "
            f"seeds 0..{a.seeds - 1}; torch {torch.__version__}, scikit-learn {sklearn.__version__}, {a.threads} threads "
            f"each, one process per library, best of {a.rounds} alternating rounds")
        ours, sk = [], []
        for _ in range(a.rounds):
            ours.append(run_phase(a, 'kmeans', 'rna_fm')); sk.append(run_phase(a, 'kmeans', 'sklearn'))
        a.data = a.inits = None
    ours, sk = merge_rounds(ours), merge_rounds(sk)
    per_seed = [{'seed': i, 'rna_fm': o, 'sklearn': k, 'same_init': compare(o['same_init'], k['same_init']),
                 'own_seed': compare(o['own_seed'], k['own_seed'])} for i, (o, k) in enumerate(zip(ours, sk))]
    tot = lambda lib, kind: sum(p[lib][kind]['secs'] for p in per_seed)
    mean_inertia = lambda lib, kind: float(np.mean([p[lib][kind]['inertia'] for p in per_seed]))
    log("  (A) as users run them: each library from its own k-means++ seeding (included in the time), same max_iter and tol")
    for p in per_seed:
        o, k, c = p['rna_fm']['own_seed'], p['sklearn']['own_seed'], p['own_seed']
        log(f"  seed {p['seed']}: {_run('rna_fm', o)} | {_run('sklearn', k)}")
        log(f"          {c['speedup_total']:.2f}x faster; inertia ratio {c['inertia_ratio']:.6f} ({100 * (c['inertia_ratio'] - 1):+.3f}%, "
            "different seeds reach different local minima)")
    speed_a = tot('sklearn', 'own_seed') / tot('rna_fm', 'own_seed')
    inert_a = mean_inertia('rna_fm', 'own_seed') / mean_inertia('sklearn', 'own_seed')
    met_a = speed_a >= 3 and abs(inert_a - 1) <= 0.01
    log(f"  (A) over {len(per_seed)} seeds: {speed_a:.2f}x faster in total; mean inertia rna_fm / sklearn {inert_a:.6f} "
        f"({100 * (inert_a - 1):+.3f}%); target (>= 3x faster, inertia within 1%) {'MET' if met_a else 'NOT met'}")
    log("  (B) the iterations alone: both from the same initial centroids (rna_fm's k-means++ draws for the seed), same max_iter and tol")
    for p in per_seed:
        o, k, c = p['rna_fm']['same_init'], p['sklearn']['same_init'], p['same_init']
        log(f"  seed {p['seed']}: {_run('rna_fm', o)} | {_run('sklearn', k)}")
        log(f"          {c['speedup_total']:.2f}x faster; inertia ratio {c['inertia_ratio']:.6f} ({100 * (c['inertia_ratio'] - 1):+.4f}%); "
            f"rna_fm computed {o['distance_rows'] / a.n:.2f} rows of N distances where plain Lloyd computes {o['n_iter'] + 1}")
    speed_b = tot('sklearn', 'same_init') / tot('rna_fm', 'same_init')
    worst_b = max(abs(p['same_init']['inertia_ratio'] - 1) for p in per_seed)
    log(f"  (B) over {len(per_seed)} seeds: {speed_b:.2f}x faster in total; largest inertia difference {100 * worst_b:.4f}%")
    so, ss = sum(o['seeding_secs'] for o in ours), sum(k['seeding_secs'] for k in sk)
    log(f"  k-means++ seeding alone, {a.seeds} seeds: rna_fm (kmeans_pp) {so:.3f} s, sklearn (kmeans_plusplus) {ss:.3f} s "
        f"({ss / so:.2f}x)")
    return {'per_seed': per_seed, 'summary': {'seeds': len(per_seed), 'users_speedup_total': speed_a,
            'users_mean_inertia_ratio': inert_a, 'target_met': met_a, 'same_init_speedup_total': speed_b,
            'same_init_max_abs_inertia_diff': worst_b, 'seeding_secs': {'rna_fm': so, 'sklearn': ss}}}

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--batch_size', type=int, default=64); ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--slide_px', type=int, default=4096)
    ap.add_argument('--n', type=int, default=20000); ap.add_argument('--d', type=int, default=1024)
    ap.add_argument('--k', type=int, default=100); ap.add_argument('--max_iter', type=int, default=100)
    ap.add_argument('--tol', type=float, default=1e-4)
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    ap.add_argument('--seeds', type=int, default=5); ap.add_argument('--rounds', type=int, default=2)
    ap.add_argument('--json', default=str(OUT/'bench_embed.json'), help='where to save the results')
    ap.add_argument('--skip-embed', action='store_true'); ap.add_argument('--skip-kmeans', action='store_true')
    ap.add_argument('--phase', default=None, help=argparse.SUPPRESS); ap.add_argument('--lib', default='', help=argparse.SUPPRESS)
    ap.add_argument('--data', default=None, help=argparse.SUPPRESS); ap.add_argument('--inits', default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    os.environ.setdefault('RNA_FM_PROGRESS', '0')
    if a.phase:                                            # inside a measurement process
        import torch
        from threadpoolctl import threadpool_limits
        torch.set_num_threads(a.threads)
        with threadpool_limits(a.threads): res = phase_embed(a) if a.phase == 'embed' else phase_kmeans(a, a.lib)
        print(json.dumps(res)); return
    if min(a.seeds, a.rounds, a.k, a.max_iter) < 1 or a.n < a.k: raise SystemExit('need seeds, rounds, k, max_iter >= 1 and n >= k')
    lines, result = [], {'args': {k: v for k, v in vars(a).items() if k not in ('phase', 'lib', 'data', 'inits')}}
    def log(s): print(s, flush=True); lines.append(s)
    result['machine'] = {'cpu_count': os.cpu_count(), 'platform': platform.platform(), 'python': platform.python_version(),
                         'load_before': os.getloadavg()[0]}
    log(f"CPU cores: {os.cpu_count()}, threads: {a.threads}, load average before: {os.getloadavg()[0]:.2f}")
    if not a.skip_embed:
        r = run_phase(a, 'embed'); result['embed'] = r
        log(f"embedding: synthetic slide {a.slide_px} x {a.slide_px} px at 0.5 um/px -> {r['n_tiles']} tiles of 256 px; "
            f"EfficientNet-Lite0 (224 px input, D=1280), CPU, {a.threads} torch threads")
        log(f"  embed_slide, batch_size {a.batch_size}, workers {a.workers}: {r['n_tiles'] / r['secs']:.1f} tiles/s "
            f"({r['n_tiles']} tiles in {r['secs']:.1f} s)")
        log(f"  encoder alone on tiles in memory, batch_size {a.batch_size}: {r['model_tiles'] / r['model_secs']:.1f} tiles/s")
    if not a.skip_kmeans: result['kmeans'] = bench_kmeans(a, log)
    result['machine']['load_after'] = os.getloadavg()[0]
    log(f"load average after: {os.getloadavg()[0]:.2f}")
    result['printed'] = lines
    out = Path(a.json); out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1)); print(f"results saved to {out}")

if __name__ == '__main__': main()
