"""A training run killed with SIGKILL at arbitrary moments resumes from its last complete checkpoint and ends with
exactly the weights and the log of an uninterrupted run (log rows written after the last checkpoint are dropped on
resume, not duplicated); no half-written checkpoint or figure is ever read."""
import os, random, signal, subprocess, sys, time
from pathlib import Path
import pandas as pd
import torch
from safetensors.torch import load_file

HERE = Path(__file__).resolve().parent

def _run(out, wait=True):
    p = subprocess.Popen([sys.executable, str(HERE/'_tiny_run.py'), str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if wait:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err.decode()[-2000:]
    return p

def _same(a, b):
    x, y = load_file(str(a)), load_file(str(b))
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)

def test_sigkill_and_resume(tmp_path):
    ref, run = tmp_path/'ref', tmp_path/'killed'
    _run(ref)
    rng = random.Random(0)
    kills = 0
    for attempt in range(3):                       # kill at a random moment after a first checkpoint exists
        p = _run(run, wait=False)
        t0 = time.time()
        while not (run/'last'/'trainer_state.json').exists() and p.poll() is None and time.time() - t0 < 300: time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
        if p.poll() is None: p.send_signal(signal.SIGKILL); p.wait(); kills += 1
        if (run/'done.json').exists(): break
    assert kills >= 1, 'the run finished before it could be killed; make it longer'
    _run(run)                                     # resume to the end
    for name in ('last/model.safetensors', 'last/ema.safetensors', 'best/ema.safetensors'):
        assert _same(ref/name, run/name), f'{name} differs from the uninterrupted run'
    assert not [q for q in run.rglob('*') if '.tmp-' in q.name], 'temporary files were left behind'
    cols = ['step', 'loss', 'lr', 'grad_norm', 'val_loss', 'val_pcc']            # all but the wall-clock seconds
    a, b = pd.read_csv(ref/'log.csv')[cols], pd.read_csv(run/'log.csv')[cols]
    assert a.shape == b.shape and a.fillna(-1).equals(b.fillna(-1)), f'the resumed log differs:\n{a}\n{b}'
    assert (run/'loss.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
