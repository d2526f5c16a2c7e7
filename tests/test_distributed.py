"""Training under torchrun with 2 CPU processes (gloo) follows the single-process run with the same global batch."""
import socket, subprocess, sys
from pathlib import Path
import pandas as pd
import torch
from safetensors.torch import load_file

HERE = Path(__file__).resolve().parent

def _free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def test_two_processes_match_one(tmp_path):
    one, two = tmp_path/'one', tmp_path/'two'
    r = subprocess.run([sys.executable, str(HERE/'_tiny_run.py'), str(one), '30'], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    r = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_addr', '127.0.0.1',
                        '--master_port', str(_free_port()), str(HERE/'_tiny_run.py'), str(two), '30'],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = load_file(str(one/'last'/'model.safetensors')), load_file(str(two/'last'/'model.safetensors'))
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    assert diff < 1e-3, f'weights differ by {diff}'
    la, lb = pd.read_csv(one/'log.csv'), pd.read_csv(two/'log.csv')
    assert (la.step.values == lb.step.values).all()
    assert (la.loss - lb.loss).abs().max() < 1e-3
    assert (one/'best').exists() and (two/'best').exists() and not list(two.glob('*/*rank1*'))
