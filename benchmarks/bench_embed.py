"""Benchmark tile embedding with the default encoder and rna_fm's torch k-means against scikit-learn's `KMeans`.

Measured in one run, on the CPU:
  - embedding: tiles per second of `embed_slide` with EfficientNet-Lite0 (tile reading in DataLoader workers, the
    encoder, writing the store) on a synthetic slide, for the batch size and worker count given, and of the encoder
    alone on tiles already in memory;
  - k-means on the same float32 data (N x D, default 20,000 x 1,024, a mixture of 150 Gaussian clusters of unequal
    sizes in a 48-dimensional subspace plus isotropic noise), K=100, one k-means++ initialisation, the same iteration
    budget (max_iter) and tolerance for both: wall time and inertia of `rna_fm.aggregate.kmeans` and of
    `sklearn.cluster.KMeans` (lloyd), each from its own k-means++ seeding, and their ratio; then the two seedings
    and the two Lloyd loops timed apart, the Lloyd loops from the same initial centroids.

Both libraries use the same number of threads (`--threads`, default: one per core; scikit-learn's through
threadpoolctl). The load average is printed: on a machine shared with other jobs, multi-threaded timings suffer.

Usage: python benchmarks/bench_embed.py [--batch_size 64] [--workers 2] [--slide_px 4096] [--n 20000] [--d 1024]
                                        [--k 100] [--max_iter 100] [--tol 1e-4] [--threads N] [--skip-embed] [--skip-kmeans]
"""
import argparse, os, tempfile, time
from pathlib import Path

def _timed(f):
    t = time.perf_counter(); out = f(); return time.perf_counter() - t, out

def bench_embed(slide_px:int, batch_size:int, workers:int):
    import numpy as np, torch
    from rna_fm.synth import make_slide
    from rna_fm.tiling import tile_slide, TileDataset
    from rna_fm.embed import get_encoder, embed_slide
    from rna_fm.store import store_attrs
    tmp = Path(tempfile.mkdtemp())
    syn = make_slide(tmp/'bench.svs', width=slide_px, height=slide_px, n_textures=4, tissue_fraction=0.6, n_blobs=1,
                     seed=0, workers=2)
    sp = tile_slide(syn.path, tmp/'stores', picture=False)['store']
    enc = get_encoder('effnet_lite0')
    n = store_attrs(sp)['n_tiles']
    print(f"embedding: synthetic slide {slide_px} x {slide_px} px at 0.5 um/px -> {n} tiles of 256 px; "
          f"EfficientNet-Lite0 (224 px input, D=1280), CPU, torch threads {torch.get_num_threads()}")
    embed_slide(sp, enc, batch_size=batch_size, num_workers=workers, show_progress=False, overwrite=True)   # warm-up
    secs, _ = _timed(lambda: embed_slide(sp, enc, batch_size=batch_size, num_workers=workers, show_progress=False, overwrite=True))
    print(f"  embed_slide, batch_size {batch_size}, workers {workers}: {n / secs:.1f} tiles/s ({n} tiles in {secs:.1f} s)")
    ds = TileDataset(sp, transform=enc.transform)
    x = torch.stack([ds[i][0] for i in range(min(n, 4 * batch_size))])
    with torch.inference_mode():
        enc.model(x[:batch_size])
        secs, _ = _timed(lambda: [enc.model(b) for b in x.split(batch_size)])
    print(f"  encoder alone on tiles in memory, batch_size {batch_size}: {len(x) / secs:.1f} tiles/s")

def make_data(n:int, d:int, seed:int=0):
    "A mixture of 150 Gaussian clusters of unequal sizes in a 48-D subspace of R^d, plus isotropic noise (float32)."
    import numpy as np
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(48, d)) / np.sqrt(48)
    centres = rng.normal(size=(150, 48)) * 3.0
    lab = rng.choice(150, size=n, p=rng.dirichlet(np.full(150, 2.0)))
    z = centres[lab] + rng.normal(size=(n, 48))
    return (z @ basis + 0.3 * rng.normal(size=(n, d))).astype(np.float32)

def bench_kmeans(n:int, d:int, k:int, max_iter:int, tol:float):
    import numpy as np, torch, sklearn
    from sklearn.cluster import KMeans, kmeans_plusplus
    from rna_fm.aggregate import kmeans, kmeans_pp, _lloyd
    X = make_data(n, d)
    print(f"k-means: {n} x {d} float32, K={k}, max_iter={max_iter}, tol={tol}, one k-means++ initialisation; "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), scikit-learn {sklearn.__version__}")
    kmeans(X[:2000], k, max_iter=2)                                   # warm-up
    t_ours, r = _timed(lambda: kmeans(X, k, seed=0, max_iter=max_iter, tol=tol, device='cpu'))
    t_sk, km = _timed(lambda: KMeans(k, init='k-means++', n_init=1, max_iter=max_iter, tol=tol, random_state=0,
                                     algorithm='lloyd').fit(X))
    print(f"  rna_fm kmeans : {t_ours:7.2f} s, {r.n_iter} iterations, inertia {r.inertia:.6e}")
    print(f"  sklearn KMeans: {t_sk:7.2f} s, {km.n_iter_} iterations, inertia {km.inertia_:.6e}")
    print(f"  speed-up {t_sk / t_ours:.1f}x; inertia rna_fm / sklearn = {r.inertia / km.inertia_:.4f} "
          f"({100 * (r.inertia / km.inertia_ - 1):+.2f}%)")
    # the two halves apart: seeding, then Lloyd from the same initial centroids
    x = torch.from_numpy(X); mean = x.mean(0); xc = x - mean
    t_pp, idx = _timed(lambda: kmeans_pp(xc, k, torch.Generator().manual_seed(0)))
    t_skpp, _ = _timed(lambda: kmeans_plusplus(X, k, random_state=0))
    init = X[idx.numpy()]
    tol_abs = tol * float(xc.var(0, unbiased=False).mean())
    t_l, rl = _timed(lambda: _lloyd(xc, (xc * xc).sum(1), xc[idx], max_iter, tol_abs))
    t_skl, kml = _timed(lambda: KMeans(k, init=init, n_init=1, max_iter=max_iter, tol=tol, algorithm='lloyd').fit(X))
    print(f"  k-means++ seeding: rna_fm {t_pp:.2f} s, sklearn {t_skpp:.2f} s ({t_skpp / t_pp:.1f}x)")
    print(f"  Lloyd from the same initial centroids: rna_fm {t_l:.2f} s / {rl.n_iter} it ({t_l / rl.n_iter * 1e3:.0f} ms/it), "
          f"sklearn {t_skl:.2f} s / {kml.n_iter_} it ({t_skl / kml.n_iter_ * 1e3:.0f} ms/it); "
          f"inertia ratio {rl.inertia / kml.inertia_:.6f}")

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--batch_size', type=int, default=64); ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--slide_px', type=int, default=4096)
    ap.add_argument('--n', type=int, default=20000); ap.add_argument('--d', type=int, default=1024)
    ap.add_argument('--k', type=int, default=100); ap.add_argument('--max_iter', type=int, default=100)
    ap.add_argument('--tol', type=float, default=1e-4)
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    ap.add_argument('--skip-embed', action='store_true'); ap.add_argument('--skip-kmeans', action='store_true')
    a = ap.parse_args()
    os.environ.setdefault('RNA_FM_PROGRESS', '0')
    import torch
    from threadpoolctl import threadpool_limits
    torch.set_num_threads(a.threads)
    print(f"CPU cores: {os.cpu_count()}, threads: {a.threads}, load average before: {os.getloadavg()[0]:.2f}")
    with threadpool_limits(a.threads):
        if not a.skip_embed: bench_embed(a.slide_px, a.batch_size, a.workers)
        if not a.skip_kmeans: bench_kmeans(a.n, a.d, a.k, a.max_iter, a.tol)
    print(f"load average after: {os.getloadavg()[0]:.2f}")

if __name__ == '__main__': main()
