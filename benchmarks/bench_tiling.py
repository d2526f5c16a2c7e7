"""Benchmark of slide tiling and tile reading (`rna_fm.tiling`), against the naive reader of published pipelines.

Builds once, and caches under benchmarks/out/ (git-ignored), synthetic slides scanned like real 40x slides: 0.25 um/px,
JPEG tiles of 256 px (quality 85), pyramid downsamples 1, 4, 16; square, 20,000 and 40,000 px by default. On each:

- tiling (tissue detection + tile grid + store, `rna_fm.tiling.tile_slide`): seconds and peak memory of the tiling
  process;
- accuracy against the slide's known truth (`rna_fm.synth`): the IoU of the tissue mask with the true tissue, and the
  number of tiles kept against the number the true tissue outline gives (tiles with at least 50% true tissue);
- reading every tile (256 px at 0.5 um/px): the naive approach of published pipelines (one process; for each tile
  `read_region` of 512 px at level 0, convert to RGB, resize to 256 px) and rna_fm's `TileDataset` through a torch
  DataLoader with 0, 1 and 2 workers: tiles/s and peak memory, side by side, measured in the same run, and how
  tiles/s scales with the number of workers;
- that rna_fm's tiles equal the naive ones within resampling error (a sample of tiles, both readers).

Each measurement runs in a fresh process, so its peak resident memory is its own; timings are the best of `--repeat`
runs, since other jobs may share the machine, and tiles per CPU-second (all processes of a reader together) are
printed beside tiles per second, as a measure of the work per tile that does not depend on what else runs. Peak
memory says whose it is: the measuring process's peak RSS (the main process: the tiler, the naive reader, or the
process iterating the DataLoader) and its growth over the RSS after imports ("working"); with DataLoader workers,
also the largest worker process's peak RSS.

Everything printed is also saved, with every figure, to benchmarks/out/bench_tiling.json (or --json).

Usage: python benchmarks/bench_tiling.py [--sizes 20000,40000] [--workers 0,1,2] [--repeat 3] [--sample 300] [--json PATH]
A smoke run: python benchmarks/bench_tiling.py --sizes 3000,4000 --workers 0,2 --repeat 1 --sample 20
"""
import argparse, datetime, json, os, resource, subprocess, sys, time
from pathlib import Path

OUT = Path(__file__).resolve().parent/'out'
LINES = []   # everything printed, saved with the figures

def say(*args):
    "Print a line of the report, and keep it for the JSON file."
    line = ' '.join(map(str, args)); LINES.append(line); print(line, flush=True)

def _rss_mb() -> float:
    "Current resident memory of this process (MB)."
    with open('/proc/self/statm') as f: return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20

def _peak_mb(who=resource.RUSAGE_SELF) -> float: return resource.getrusage(who).ru_maxrss / 1024

def _cpu_s() -> float:
    "CPU seconds used so far by this process and its finished children (DataLoader workers)."
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))

def _spec(size:int):
    from rna_fm.synth import SlideSpec
    return SlideSpec(width=size, height=size, mpp=0.25, objective_power=40, downsamples=(1, 4, 16), tile_size=256,
                     quality=85, tissue_fraction=0.3, n_blobs=3, pen_marks=True, debris=True, blur=True, seed=7)

def build_slide(size:int, workers:int=2) -> Path:
    "The cached benchmark slide of `size` x `size` px, drawn (in `workers` processes) if missing or stale."
    from rna_fm.synth import SyntheticSlide, make_slide
    path = OUT/f'bench-{size}.svs'
    try:
        if SyntheticSlide.load(path).spec == _spec(size) and path.exists(): return path
    except Exception: pass
    print(f'drawing {path.name} ({size} x {size} px) with {workers} processes ...', flush=True)
    t = time.time(); make_slide(path, _spec(size), workers=workers)
    print(f'  drawn in {time.time() - t:.0f} s, {path.stat().st_size / 2**20:.0f} MB', flush=True)
    return path

# ---- measurements, each run in a child process -------------------------------------------------------------------
def child_tile(slide:str, out:str) -> dict:
    from rna_fm.tiling import tile_slide
    base = _rss_mb(); t = time.perf_counter()
    r = tile_slide(slide, out, overwrite=True)
    return {'seconds': time.perf_counter() - t, 'n_tiles': r['n_tiles'], 'peak_mb': _peak_mb(), 'working_mb': _peak_mb() - base}

def child_accuracy(slide:str, store:str) -> dict:
    "The tissue mask and the tile count of rna_fm's tiling against the synthetic slide's known truth."
    from rna_fm.synth import SyntheticSlide
    from rna_fm.tiling import plan_tiles
    from rna_fm.store import read_coords, store_attrs
    s, a, n = SyntheticSlide.load(slide), store_attrs(store), len(read_coords(store))
    plan = plan_tiles(slide, min_tissue=a['min_tissue'])          # the mask behind the store's tiles
    truth = s.tissue_mask(plan.mask_px0)
    h, w = min(truth.shape[0], plan.mask.shape[0]), min(truth.shape[1], plan.mask.shape[1])
    m, t = plan.mask[:h, :w], truth[:h, :w]
    expected = int((s.tile_tissue_fraction(a['tile_px_level0']) >= a['min_tissue']).sum())
    return {'mask_iou': float((m & t).sum() / (m | t).sum()), 'mask_um_per_px': plan.mask_px0 * a['mpp'],
            'n_tiles': n, 'expected_tiles': expected, 'tile_count_error': n / expected - 1 if expected else None,
            'tissue_covered': a.get('tissue_covered')}

def child_naive(store:str) -> dict:
    "The published reader: one process, read_region 512 px at level 0, RGB, resize to 256 px."
    import numpy as np, openslide, zarr     # no rna_fm (and so no torch) in this process: the baseline as published
    g = zarr.open_group(store, mode='r')
    coords, slide = g['coords'][:], openslide.OpenSlide(g.attrs['source_path'])
    base, cpu = _rss_mb(), _cpu_s(); t = time.perf_counter(); total = 0
    for x, y in coords:
        tile = np.asarray(slide.read_region((int(x), int(y)), 0, (512, 512)).convert('RGB').resize((256, 256)))
        total += int(tile[0, 0, 0])
    dt = time.perf_counter() - t
    return {'seconds': dt, 'tiles_per_s': len(coords) / dt, 'tiles_per_cpu_s': len(coords) / (_cpu_s() - cpu),
            'peak_mb': _peak_mb(), 'working_mb': _peak_mb() - base}

def child_dataset(store:str, workers:int, batch:int=32) -> dict:
    "rna_fm's reader: TileDataset through a DataLoader with `workers` worker processes."
    import torch
    from rna_fm.tiling import TileDataset
    torch.set_num_threads(1)
    ds = TileDataset(store)
    base, cpu = _rss_mb(), _cpu_s(); t = time.perf_counter(); n = 0
    dl = torch.utils.data.DataLoader(ds, batch_size=batch, num_workers=workers)
    for tiles, idx in dl: n += len(idx)
    dt = time.perf_counter() - t
    del dl
    assert n == len(ds)
    return {'seconds': dt, 'tiles_per_s': n / dt, 'tiles_per_cpu_s': n / (_cpu_s() - cpu), 'peak_mb': _peak_mb(),
            'working_mb': _peak_mb() - base,
            'worker_peak_mb': _peak_mb(resource.RUSAGE_CHILDREN) if workers else None}

def child_compare(store:str, sample:int) -> dict:
    "Mean absolute difference (grey levels) between rna_fm's tiles and the naive ones, on evenly spaced tiles."
    import numpy as np, openslide
    from rna_fm.tiling import TileDataset
    ds = TileDataset(store)
    slide = openslide.OpenSlide(str(ds.path))
    idx = np.unique(np.linspace(0, len(ds) - 1, min(sample, len(ds))).round().astype(int))
    err = []
    for i in idx:
        x, y = ds.coords[i]
        naive = np.asarray(slide.read_region((int(x), int(y)), 0, (512, 512)).convert('RGB').resize((256, 256)), float)
        err.append(np.abs(ds[int(i)][0] - naive).mean())
    err = np.array(err)
    return {'n': len(idx), 'mean': float(err.mean()), 'max': float(err.max())}

def run_child(*args) -> dict:
    "Run a measurement in a fresh Python process and return its JSON result."
    r = subprocess.run([sys.executable, __file__, '--child', *map(str, args)], capture_output=True, text=True)
    if r.returncode: raise SystemExit(f'measurement {args} failed:\n{r.stdout}\n{r.stderr}')
    return json.loads(r.stdout.strip().splitlines()[-1])

def best(runs:list) -> dict: return max(runs, key=lambda r: r.get('tiles_per_s', -r.get('seconds', 0)))

# ---- the report ---------------------------------------------------------------------------------------------------
def bench_slide(size:int, workers:list, repeat:int, sample:int) -> dict:
    slide = build_slide(size)
    store_dir = OUT/f'stores-{size}'
    store = store_dir/f'{slide.stem}.zarr'
    tile = best([run_child('tile', slide, store_dir) for _ in range(repeat)])
    say(f'\nslide {size} x {size} px at 0.25 um/px ({size * size / 1e9:.2f} Gpx; JPEG q85; levels 1, 4, 16): '
        f'{tile["n_tiles"]} tiles of 256 px at 0.5 um/px')
    say(f'  tiling (tissue detection + grid + store): {tile["seconds"]:.2f} s; the tiling process: peak RSS '
        f'{tile["peak_mb"]:.0f} MB, working {tile["working_mb"]:.0f} MB')
    acc = run_child('accuracy', slide, store)
    acc_ok = acc['mask_iou'] >= 0.9 and acc['tile_count_error'] is not None and abs(acc['tile_count_error']) <= 0.05
    say(f'  against the known truth: tissue mask IoU {acc["mask_iou"]:.3f} (at {acc["mask_um_per_px"]:.0f} um/px); '
        f'{acc["n_tiles"]} tiles kept, {acc["expected_tiles"]} expected from the true tissue '
        f'({acc["tile_count_error"]:+.1%}) -> IoU >= 0.9 and count within 5%: {"yes" if acc_ok else "NO"}')
    rows = {'naive': best([run_child('naive', store) for _ in range(repeat)])}
    for w in workers: rows[w] = best([run_child('dataset', store, w) for _ in range(repeat)])
    base = rows['naive']['tiles_per_s']
    say(f'  {"reading every tile":<48}{"tiles/s":>9}{"x naive":>9}{"tiles/CPU-s":>13}{"main peak MB":>14}'
        f'{"main working MB":>17}{"largest worker MB":>19}')
    for k, r in rows.items():
        name = ('naive: 1 process, read_region 512 px, RGB, resize' if k == 'naive'
                else f'rna_fm TileDataset, DataLoader, {k} worker{"s" if k != 1 else ""}')
        wk = f'{r["worker_peak_mb"]:.0f}' if r.get('worker_peak_mb') else '-'
        say(f'  {name:<48}{r["tiles_per_s"]:>9.1f}{r["tiles_per_s"] / base:>9.2f}{r["tiles_per_cpu_s"]:>13.1f}'
            f'{r["peak_mb"]:>14.0f}{r["working_mb"]:>17.0f}{wk:>19}')
    say('  (main: the process that reads, or iterates the DataLoader; peak RSS and its growth after imports. '
        'largest worker: the peak RSS of the largest DataLoader worker process)')
    w0 = workers[0]
    say(f'  worker scaling (tiles/s): ' + ', '.join(f'{w} worker{"s" if w != 1 else ""} {rows[w]["tiles_per_s"]:.1f}'
        + (f' ({rows[w]["tiles_per_s"] / rows[w0]["tiles_per_s"]:.2f}x that with {w0})' if w != w0 else '') for w in workers))
    cmp = run_child('compare', store, sample)
    ok = cmp['mean'] < 2 and cmp['max'] < 4
    say(f'  tiles vs naive ({cmp["n"]} tiles): mean |difference| {cmp["mean"]:.2f} grey levels, worst tile '
        f'{cmp["max"]:.2f} -> equal within resampling error: {"yes" if ok else "NO"}')
    return {'size': size, 'tile': tile, 'accuracy': acc, 'accuracy_ok': acc_ok, 'read': rows, 'compare': cmp, 'ok': ok}

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--sizes', default='20000,40000', help='slide edges (px), comma-separated')
    ap.add_argument('--workers', default='0,1,2', help='DataLoader worker counts, comma-separated')
    ap.add_argument('--repeat', type=int, default=3, help='runs per measurement (the best is reported)')
    ap.add_argument('--sample', type=int, default=300, help='tiles compared with the naive reader')
    ap.add_argument('--json', default=str(OUT/'bench_tiling.json'), help='where to save the figures and the printed report')
    a = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    sizes, workers = [int(s) for s in a.sizes.split(',')], [int(w) for w in a.workers.split(',')]
    load0 = os.getloadavg()[0]
    say(f'rna_fm tiling benchmark: {os.cpu_count()} CPUs, load average {load0:.2f} at the start (other jobs '
        f'share the CPUs); timings are the best of {a.repeat} runs')
    res = [bench_slide(s, workers, a.repeat, a.sample) for s in sizes]
    say(f'\nsummary (load average {os.getloadavg()[0]:.2f} at the end)')
    for r in res:
        rd, top, acc = r['read'], max(workers), r['accuracy']
        say(f'  {r["size"]:>6} px: {rd[top]["tiles_per_s"]:.1f} tiles/s with {top} workers, '
            f'{rd[top]["tiles_per_s"] / rd["naive"]["tiles_per_s"]:.2f}x the naive {rd["naive"]["tiles_per_s"]:.1f} (target >= 2x); '
            f'tiles equal within resampling error: {"yes" if r["ok"] else "NO"}; mask IoU {acc["mask_iou"]:.3f}, '
            f'tile count {acc["tile_count_error"]:+.1%} against the truth')
    if len(res) > 1:
        s, l = res[0], res[-1]
        say(f'  memory vs slide size ({s["size"]} -> {l["size"]} px, {(l["size"] / s["size"]) ** 2:.0f}x the pixels):')
        say(f'    tiling process: working memory {s["tile"]["working_mb"]:.0f} -> {l["tile"]["working_mb"]:.0f} MB; '
            f'peak RSS {s["tile"]["peak_mb"]:.0f} -> {l["tile"]["peak_mb"]:.0f} MB')
        for k in ['naive'] + workers:
            wk = (f'; largest worker {s["read"][k]["worker_peak_mb"]:.0f} -> {l["read"][k]["worker_peak_mb"]:.0f} MB'
                  if s['read'][k].get('worker_peak_mb') else '')
            say(f'    reading ({k if k == "naive" else f"{k} workers"}): main process peak RSS {s["read"][k]["peak_mb"]:.0f} -> '
                f'{l["read"][k]["peak_mb"]:.0f} MB, working {s["read"][k]["working_mb"]:.0f} -> {l["read"][k]["working_mb"]:.0f} MB{wk}')
    ok = all(r['ok'] and r['accuracy_ok'] for r in res)
    report = {'script': 'benchmarks/bench_tiling.py', 'when': datetime.datetime.now().isoformat(timespec='seconds'),
              'cpus': os.cpu_count(), 'load_average': [load0, os.getloadavg()[0]], 'args': vars(a),
              'slides': [{**r, 'read': {str(k): v for k, v in r['read'].items()}} for r in res], 'ok': ok, 'printed': LINES}
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(report, indent=2) + '\n')
    print(f'figures and report saved to {a.json}')
    sys.exit(0 if ok else 1)

if __name__ == '__main__':
    if len(sys.argv) > 2 and sys.argv[1] == '--child':
        mode, args = sys.argv[2], sys.argv[3:]
        fn = {'tile': child_tile, 'accuracy': child_accuracy, 'naive': child_naive, 'dataset': lambda s, w: child_dataset(s, int(w)),
              'compare': lambda s, n: child_compare(s, int(n))}[mode]
        print(json.dumps(fn(*args)))
    else: main()
