"""Benchmark tile embedding with the default encoder and rna_fm's torch k-means against scikit-learn's `KMeans`.

Measured in one run, on the CPU:
  - embedding: tiles per second of `embed_slide` with EfficientNet-Lite0 (tile reading in DataLoader workers, the
    encoder, writing the store) on a synthetic slide, for the batch size and worker count given, and of the encoder
    alone on tiles already in memory;
  - k-means on the same float32 data (N x D, default 20,000 x 1,024, a mixture of 150 Gaussian clusters of unequal
    sizes in a 48-dimensional subspace plus isotropic noise), K=100, one k-means++ initialisation per run, the same
    iteration budget (max_iter) and tolerance for both: wall time and inertia of `rna_fm.aggregate.kmeans` and of
    `sklearn.cluster.KMeans` (lloyd), each from its own k-means++ seeding, for seeds 0..--seeds-1 (a single run's
    inertia depends on the luck of its seeding), with the total time ratio and the mean inertia ratio; then the two
    seedings and the two Lloyd loops timed apart, the Lloyd loops from the same initial centroids.

Each library runs in its own process: torch and scikit-learn bring different OpenMP runtimes, whose idle threads
spin for a while after each parallel region and slow the other library down when both share a process (on 2 cores
that interference made either library several times slower). Each process runs one untimed warm-up fit on the full
data first. Both use the same number of threads (`--threads`, default one per core; scikit-learn's through
threadpoolctl). The load average is printed: on a machine shared with other jobs, timings vary.

Usage: python benchmarks/bench_embed.py [--batch_size 64] [--workers 2] [--slide_px 4096] [--n 20000] [--d 1024]
                                        [--k 100] [--max_iter 100] [--tol 1e-4] [--threads N] [--seeds 3]
                                        [--skip-embed] [--skip-kmeans]
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

def _timed(f):
    t = time.perf_counter(); out = f(); return time.perf_counter() - t, out

def phase_embed(a) -> dict:
    import torch
    from rna_fm.synth import make_slide
    from rna_fm.tiling import tile_slide, TileDataset
    from rna_fm.embed import get_encoder, embed_slide
    from rna_fm.store import store_attrs
    tmp = Path(tempfile.mkdtemp())
    syn = make_slide(tmp/'bench.svs', width=a.slide_px, height=a.slide_px, n_textures=4, tissue_fraction=0.6, n_blobs=1,
                     seed=0, workers=2)
    sp = tile_slide(syn.path, tmp/'stores', picture=False)['store']
    enc, n = get_encoder('effnet_lite0'), store_attrs(sp)['n_tiles']
    with torch.inference_mode(): enc.model(torch.zeros(a.batch_size, 3, 224, 224, dtype=torch.uint8))   # warm-up
    secs, _ = _timed(lambda: embed_slide(sp, enc, batch_size=a.batch_size, num_workers=a.workers, show_progress=False))
    ds = TileDataset(sp, transform=enc.transform)
    x = torch.stack([ds[i][0] for i in range(min(n, 4 * a.batch_size))])
    with torch.inference_mode(): secs_model, _ = _timed(lambda: [enc.model(b) for b in x.split(a.batch_size)])
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

def _fit(lib:str, X, a, seed:int, max_iter:int|None=None):
    "One k-means run of `lib` ('rna_fm' or 'sklearn'): (seconds, inertia, iterations)."
    max_iter = max_iter or a.max_iter
    if lib == 'rna_fm':
        from rna_fm.aggregate import kmeans
        t, r = _timed(lambda: kmeans(X, a.k, seed=seed, max_iter=max_iter, tol=a.tol, device='cpu'))
        return t, r.inertia, r.n_iter
    from sklearn.cluster import KMeans
    t, km = _timed(lambda: KMeans(a.k, init='k-means++', n_init=1, max_iter=max_iter, tol=a.tol, random_state=seed,
                                  algorithm='lloyd').fit(X))
    return t, float(km.inertia_), int(km.n_iter_)

def phase_kmeans(a, lib:str) -> dict:
    import numpy as np
    X = np.load(a.data)
    _fit(lib, X, a, seed=99, max_iter=3)                                   # warm-up on the full data
    return {'runs': [dict(zip(('secs', 'inertia', 'n_iter'), _fit(lib, X, a, seed))) for seed in range(a.seeds)]}

def phase_split(a, lib:str) -> dict:
    "Seeding alone, then Lloyd from the initial centroids of rna_fm's seeding (seed 0), for one library."
    import numpy as np, torch
    from rna_fm.aggregate import kmeans_pp, _lloyd
    X = np.load(a.data)
    xc = torch.from_numpy(X) - torch.from_numpy(X).mean(0)
    idx = kmeans_pp(xc, a.k, torch.Generator().manual_seed(0))
    if lib == 'rna_fm':
        kmeans_pp(xc, a.k, torch.Generator().manual_seed(1))               # warm-up
        t_pp, _ = _timed(lambda: kmeans_pp(xc, a.k, torch.Generator().manual_seed(0)))
        tol_abs = a.tol * float(xc.var(0, unbiased=False).mean())
        t_l, r = _timed(lambda: _lloyd(xc, (xc * xc).sum(1), xc[idx], a.max_iter, tol_abs))
        return {'seed_secs': t_pp, 'lloyd_secs': t_l, 'n_iter': r.n_iter, 'inertia': r.inertia}
    from sklearn.cluster import KMeans, kmeans_plusplus
    kmeans_plusplus(X, a.k, random_state=1)                                 # warm-up
    t_pp, _ = _timed(lambda: kmeans_plusplus(X, a.k, random_state=0))
    t_l, km = _timed(lambda: KMeans(a.k, init=X[idx.numpy()], n_init=1, max_iter=a.max_iter, tol=a.tol,
                                    algorithm='lloyd').fit(X))
    return {'seed_secs': t_pp, 'lloyd_secs': t_l, 'n_iter': int(km.n_iter_), 'inertia': float(km.inertia_)}

def run_phase(a, phase:str, lib:str='') -> dict:
    "Run one phase in a fresh process and return its JSON result."
    argv = [sys.executable, __file__, '--phase', phase, '--lib', lib] + [f'--{k}={v}' for k, v in vars(a).items()
            if k not in ('phase', 'lib', 'skip_embed', 'skip_kmeans') and v is not None]
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode: raise RuntimeError(f'phase {phase} {lib} failed:\n{out.stderr[-3000:]}')
    return json.loads(out.stdout.strip().splitlines()[-1])

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--batch_size', type=int, default=64); ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--slide_px', type=int, default=4096)
    ap.add_argument('--n', type=int, default=20000); ap.add_argument('--d', type=int, default=1024)
    ap.add_argument('--k', type=int, default=100); ap.add_argument('--max_iter', type=int, default=100)
    ap.add_argument('--tol', type=float, default=1e-4)
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    ap.add_argument('--seeds', type=int, default=3)
    ap.add_argument('--skip-embed', action='store_true'); ap.add_argument('--skip-kmeans', action='store_true')
    ap.add_argument('--phase', default=None, help=argparse.SUPPRESS); ap.add_argument('--lib', default='', help=argparse.SUPPRESS)
    ap.add_argument('--data', default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    os.environ.setdefault('RNA_FM_PROGRESS', '0')
    if a.phase:                                            # inside a measurement process
        import torch
        from threadpoolctl import threadpool_limits
        torch.set_num_threads(a.threads)
        with threadpool_limits(a.threads):
            res = (phase_embed(a) if a.phase == 'embed' else phase_kmeans(a, a.lib) if a.phase == 'kmeans'
                   else phase_split(a, a.lib))
        print(json.dumps(res)); return
    import numpy as np, torch, sklearn
    print(f"CPU cores: {os.cpu_count()}, threads: {a.threads}, load average before: {os.getloadavg()[0]:.2f}")
    if not a.skip_embed:
        r = run_phase(a, 'embed')
        print(f"embedding: synthetic slide {a.slide_px} x {a.slide_px} px at 0.5 um/px -> {r['n_tiles']} tiles of 256 px; "
              f"EfficientNet-Lite0 (224 px input, D=1280), CPU, {a.threads} torch threads")
        print(f"  embed_slide, batch_size {a.batch_size}, workers {a.workers}: {r['n_tiles'] / r['secs']:.1f} tiles/s "
              f"({r['n_tiles']} tiles in {r['secs']:.1f} s)")
        print(f"  encoder alone on tiles in memory, batch_size {a.batch_size}: {r['model_tiles'] / r['model_secs']:.1f} tiles/s")
    if not a.skip_kmeans:
        a.data = str(Path(tempfile.mkdtemp())/'X.npy'); np.save(a.data, make_data(a.n, a.d))
        print(f"k-means: {a.n} x {a.d} float32, K={a.k}, max_iter={a.max_iter}, tol={a.tol}, one k-means++ initialisation "
              f"per run, seeds 0..{a.seeds - 1}; torch {torch.__version__}, scikit-learn {sklearn.__version__}, "
              f"{a.threads} threads each, one process per library")
        ours, sk = run_phase(a, 'kmeans', 'rna_fm')['runs'], run_phase(a, 'kmeans', 'sklearn')['runs']
        for s, (o, k) in enumerate(zip(ours, sk)):
            print(f"  seed {s}: rna_fm {o['secs']:6.2f} s, {o['n_iter']:3d} it, inertia {o['inertia']:.6e} | "
                  f"sklearn {k['secs']:6.2f} s, {k['n_iter']:3d} it, inertia {k['inertia']:.6e}")
        to, ts = sum(o['secs'] for o in ours), sum(k['secs'] for k in sk)
        io, ik = np.mean([o['inertia'] for o in ours]), np.mean([k['inertia'] for k in sk])
        print(f"  total time rna_fm {to:.2f} s, sklearn {ts:.2f} s: speed-up {ts / to:.1f}x; mean inertia rna_fm / sklearn "
              f"= {io / ik:.4f} ({100 * (io / ik - 1):+.2f}%)")
        so, sk1 = run_phase(a, 'split', 'rna_fm'), run_phase(a, 'split', 'sklearn')
        print(f"  k-means++ seeding alone: rna_fm {so['seed_secs']:.2f} s, sklearn (kmeans_plusplus) {sk1['seed_secs']:.2f} s")
        print(f"  Lloyd from the same initial centroids: rna_fm {so['lloyd_secs']:.2f} s / {so['n_iter']} it "
              f"({so['lloyd_secs'] / so['n_iter'] * 1e3:.0f} ms/it), sklearn {sk1['lloyd_secs']:.2f} s / {sk1['n_iter']} it "
              f"({sk1['lloyd_secs'] / sk1['n_iter'] * 1e3:.0f} ms/it); inertia ratio {so['inertia'] / sk1['inertia']:.6f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")

if __name__ == '__main__': main()
