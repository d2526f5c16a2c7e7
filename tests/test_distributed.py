"""Training under torchrun with 2 CPU processes (gloo) follows the single-process run with the same global batch, and
only rank 0 writes: every other rank runs with a guard that ends it (exit code 17) on any write into the output
directory (see tests/_tiny_run.py), and the 2-process run leaves exactly the files of the 1-process run."""
import json, os, socket, subprocess, sys
from pathlib import Path
import numpy as np
import pandas as pd
from safetensors.torch import load_file

HERE = Path(__file__).resolve().parent
TINY = str(HERE/'_tiny_run.py')

def _free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def _run(*args, procs:int=1, env=None) -> subprocess.CompletedProcess:
    "Run tests/_tiny_run.py in one process, or under torchrun in `procs` processes; fail with its stderr."
    launch = [] if procs == 1 else ['-m', 'torch.distributed.run', '--nproc_per_node', str(procs), '--master_addr', '127.0.0.1',
                                    '--master_port', str(_free_port())]
    r = subprocess.run([sys.executable, *launch, TINY, *map(str, args)], capture_output=True, text=True, timeout=900,
                       env={**os.environ, **(env or {})})
    assert r.returncode == 0, f'exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}'
    return r

def _listing(root:Path) -> list[str]:
    "Every file and directory under `root`, relative."
    return sorted(p.relative_to(root).as_posix() for p in root.rglob('*'))

def _max_diff(a:Path, b:Path) -> float:
    x, y = load_file(str(a)), load_file(str(b))
    assert x.keys() == y.keys()
    return max((x[k] - y[k]).abs().max().item() for k in x)

def test_write_guard_stops_other_ranks(tmp_path):
    "The guard the tests rely on: a non-zero rank that writes into the guarded directory is stopped; rank 0 is not."
    r = subprocess.run([sys.executable, TINY, '--guard-selftest', str(tmp_path)], capture_output=True, text=True,
                       env={**os.environ, 'RANK': '1'}, timeout=120)
    assert r.returncode == 17 and 'rank 1 must not write' in r.stderr, (r.returncode, r.stderr[-2000:])
    assert not (tmp_path/'written.txt').exists()
    _run('--guard-selftest', tmp_path, env={'RANK': '0'})
    assert (tmp_path/'written.txt').exists()

def test_two_processes_match_one(tmp_path):
    one, two = tmp_path/'one', tmp_path/'two'
    _run(one, 30)
    _run(two, 30, procs=2)
    assert _listing(one) == _listing(two)                         # the same files, and no others (rank 1 wrote none)
    assert (d := _max_diff(one/'last'/'model.safetensors', two/'last'/'model.safetensors')) < 1e-3, f'weights differ by {d}'
    la, lb = pd.read_csv(one/'log.csv'), pd.read_csv(two/'log.csv')
    assert (la.step.values == lb.step.values).all()
    assert (la.loss - lb.loss).abs().max() < 1e-3
    sa, sb = json.loads((one/'done.json').read_text()), json.loads((two/'done.json').read_text())
    assert sa['best_step'] == sb['best_step'] and sa['steps'] == sb['steps']

def test_cli_train_two_processes_match_one(tmp_path):
    "`rna-fm train` (one fold: normalise, train, select, predict validation and test) under torchrun equals 1 process."
    work, one, two = tmp_path/'inputs', tmp_path/'one', tmp_path/'two'
    _run('--prepare', work)
    def args(out): return ['--cli', out, 'train', work/'ref.csv', work/'sets.json', out, '--features', work/'feats.npz',
                           '--n_folds', '3', '--folds', '0', '--model_config', work/'model.json', '--train_config',
                           work/'train.json', '--min_size', '3', '--n_samples', '4', '--dist_timeout', '45']
    _run(*args(one))
    r = _run(*args(two), procs=2)
    assert 'PG_TIMEOUT 2700.0' in r.stdout, r.stdout[-2000:]        # --dist_timeout 45 (minutes) reached the process group
    assert _listing(one) == _listing(two)
    for f in ('splits.csv', 'run.json', 'fold0/fold.json', 'fold0/normaliser.json'):
        assert (one/f).read_bytes() == (two/f).read_bytes(), f'{f} differs'
    fa, fb = (json.loads((o/'fold0'/'fold_summary.json').read_text()) for o in (one, two))
    assert (fa['best_step'], fa['steps']) == (fb['best_step'], fb['steps'])            # the same checkpoint was chosen
    assert abs(fa['best_val_pcc'] - fb['best_val_pcc']) < 1e-3
    for w in ('best/ema.safetensors', 'last/model.safetensors'):
        assert (d := _max_diff(one/'fold0'/w, two/'fold0'/w)) < 1e-3, f'{w}: weights differ by {d}'
    for d in ('val_predictions', 'test_predictions'):
        pa, pb = (json.loads((o/'fold0'/d/'prediction.json').read_text()) for o in (one, two))
        assert pa['checkpoint_step'] == pb['checkpoint_step'] == fa['best_step']
        ma, mb = (pd.read_csv(o/'fold0'/d/'patients'/'mean.csv', index_col=0) for o in (one, two))
        assert ma.index.equals(mb.index) and np.abs(ma.values - mb.values).max() < 1e-2, d
