"""Training and prediction throughput of RNA-FM at the published configuration on this machine's CPU.

- training throughput (slides/s) for 1 process and for 2 processes under torchrun (gloo), same global batch 32;
- prediction throughput (sampled transcriptomes/s) for each ODE solver, guidance 2, 32 samples per slide.
The structure has the published size (20,820 genes, 380 pathways, 231,304 memberships, 3,645 background genes);
cluster features are random (throughput does not depend on their values).

Usage: python benchmarks/bench_train.py [--steps N] [--skip-ddp]
"""
import argparse, json, os, socket, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/'benchmarks'))

def _setup(batch_slides:int):
    "Published-size structure, a dataset of random cluster features with targets, and the configs."
    import numpy as np, pandas as pd, torch
    from bench_model import _structure
    from rna_fm.features import ArrayFeatures
    from rna_fm.normalise import Normaliser
    from rna_fm.cohort import SlideDataset
    st = _structure('published')
    g = np.random.default_rng(0)
    ids = [f'S{i:04d}' for i in range(batch_slides)]
    feats = ArrayFeatures({s: g.standard_normal((100, 1024)).astype(np.float32) for s in ids})
    ex = pd.DataFrame(g.normal(5, 2, (len(ids), st.n_genes)), index=ids, columns=st.genes)
    norm = Normaliser(st.genes, [5.0] * st.n_genes, [2.0] * st.n_genes, log_transform=False)
    sheet = pd.DataFrame({'slide_id': ids, 'patient_id': ids})
    return st, feats, ex, norm, sheet, SlideDataset(ids, feats, ex, norm, sheet)

def phase_train(out:str, steps:int):
    "Run under torchrun or alone: time `steps` optimiser steps after one warm-up step."
    import torch
    from rna_fm.model import ModelConfig, RNAFM
    from rna_fm.cohort import SlideDataset
    from rna_fm.train import TrainConfig, fit
    os.environ['RNA_FM_PROGRESS'] = '0'
    st, feats, ex, norm, sheet, ds = _setup(64)
    times = []
    class Clock:
        def __call__(self, row): times.append((row['step'], time.perf_counter()))
    cfg = TrainConfig(batch_size=32, max_steps=steps + 1, eval_every=10_000, log_every=1, device='cpu',
                      val_samples=2, val_steps=1)                          # the one final validation is cheap
    torch.manual_seed(0)
    model = RNAFM(ModelConfig(), st)
    val = SlideDataset(ds.slide_ids[:2], feats, ex, norm, sheet)
    fit(model, ds, val, cfg, out, norm, 'random', callbacks=[Clock()])
    if int(os.environ.get('RANK', '0')) == 0:
        (t1, a), (t2, b) = times[0], times[-1]
        print(json.dumps({'slides_per_s': 32 * (t2 - t1) / (b - a), 'seconds_per_step': (b - a) / (t2 - t1)}))

def phase_predict(n_samples:int=32):
    import numpy as np, torch
    from rna_fm.model import ModelConfig, RNAFM
    from rna_fm.predict import PredictConfig, predict
    from rna_fm.checkpoint import CheckpointInfo
    st, feats, ex, norm, sheet, ds = _setup(2)
    torch.manual_seed(0)
    model = RNAFM(ModelConfig(), st).eval()
    with torch.no_grad():
        for p in model.parameters(): p.add_(0.01 * torch.randn_like(p))
    info = CheckpointInfo(Path('in-memory'), model.cfg, st, norm, 'random', 100, 1024, 0, {}, 'raw')
    out, rows = Path(tempfile.mkdtemp()), []
    for solver, steps in [('euler', 19), ('midpoint', 5), ('heun', 5), ('rk4', 3), ('dopri5', 19)]:
        cfg = PredictConfig(n_samples=n_samples, solver=solver, steps=steps, batch_slides=1, save_samples=False, device='cpu')
        t = time.perf_counter()
        r = predict((model, info), feats, sorted(feats.features), out/solver, cfg)
        secs = time.perf_counter() - t
        rows.append({'solver': solver, 'steps': steps, 'samples_per_s': n_samples * r['slides'] / secs,
                     'seconds_per_slide': secs / r['slides']})
    print(json.dumps(rows))

def _free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def _json(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if r.returncode: raise RuntimeError(r.stderr[-3000:])
    return json.loads([l for l in r.stdout.splitlines() if l.startswith(('{', '['))][-1])

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--phase', nargs='+', help=argparse.SUPPRESS)
    ap.add_argument('--steps', type=int, default=4)
    ap.add_argument('--skip-ddp', action='store_true')
    a = ap.parse_args()
    if a.phase:
        if a.phase[0] == 'train': phase_train(a.phase[1], int(a.phase[2]))
        else: phase_predict()
        return
    import torch
    print(f'torch {torch.__version__}, {os.cpu_count()} CPUs; published configuration (219M parameters), global batch 32, fp32')
    one = _json([sys.executable, __file__, '--phase', 'train', tempfile.mkdtemp(), str(a.steps)])
    print(f"1 process  ({torch.get_num_threads()} threads): {one['slides_per_s']:.2f} slides/s ({one['seconds_per_step']:.2f} s/step)")
    if not a.skip_ddp:
        two = _json([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_addr', '127.0.0.1',
                     '--master_port', str(_free_port()), __file__, '--phase', 'train', tempfile.mkdtemp(), str(a.steps)],
                    env={'OMP_NUM_THREADS': str(max(1, (os.cpu_count() or 2) // 2))})
        print(f"2 processes (gloo, {max(1, (os.cpu_count() or 2) // 2)} thread each): {two['slides_per_s']:.2f} slides/s "
              f"({two['seconds_per_step']:.2f} s/step); ratio to 1 process {two['slides_per_s'] / one['slides_per_s']:.2f}")
    rows = _json([sys.executable, __file__, '--phase', 'predict'])
    print('\nprediction, 32 samples per slide, guidance 2 (one slide at a time)')
    print(f"{'solver':>10}{'steps':>7}{'samples/s':>12}{'s/slide':>10}")
    for r in rows: print(f"{r['solver']:>10}{r['steps']:>7}{r['samples_per_s']:>12.2f}{r['seconds_per_slide']:>10.2f}")

if __name__ == '__main__': main()
