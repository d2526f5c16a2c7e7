"""`--threads` (rna_fm.config.ComputeConfig) of the commands that run torch: the run sees the number of torch threads asked
for, and the caller's setting is back afterwards (issue 17). `rna-fm map` is tested the same way in nbs/16_spatial."""
import os, subprocess, sys
from pathlib import Path
import pytest
import torch
os.environ.setdefault('RNA_FM_PROGRESS', '0')
import rna_fm.aggregate, rna_fm.baselines, rna_fm.crossval, rna_fm.embed, rna_fm.infer
from rna_fm.cli import main
from rna_fm.synth import make_slide

HERE = Path(__file__).resolve().parent
FAST = ['--n_samples', '2', '--solver_steps', '2', '--max_steps', '10', '--folds', '0']

@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    "The tiny cohort's inputs for `rna-fm train` (tests/_tiny_run.py)."
    w = tmp_path_factory.mktemp('threads')
    subprocess.run([sys.executable, str(HERE/'_tiny_run.py'), '--prepare', str(w)], check=True)
    return w

def spied(monkeypatch, module, name) -> list:
    "Record the torch threads each call of `module.name` runs with (then make the call)."
    seen, real = [], getattr(module, name)
    monkeypatch.setattr(module, name, lambda *a, **kw: (seen.append(torch.get_num_threads()), real(*a, **kw))[1])
    return seen

def test_train_baseline_and_predict_run_with_the_threads_asked(tiny, monkeypatch):
    w, before = tiny, torch.get_num_threads()
    n = before + 1                                             # not what the run would see without the option
    train = spied(monkeypatch, rna_fm.crossval, 'run_cv')
    assert main([str(a) for a in ['train', w/'ref.csv', w/'sets.json', w/'out', '--features', w/'feats.npz', '--model_config',
                                  w/'model.json', '--train_config', w/'train.json', *FAST, '--threads', n]]) == 0
    base = spied(monkeypatch, rna_fm.baselines, 'run_cv')
    assert main([str(a) for a in ['baseline', 'mean', w/'ref.csv', w/'base', '--features', w/'feats.npz', '--folds', '0',
                                  '--threads', n]]) == 0
    pred = spied(monkeypatch, rna_fm.infer, 'predict')
    assert main([str(a) for a in ['predict', w/'out'/'fold0'/'best', w/'pred', '--features', w/'feats.npz', '--n_samples', '2',
                                  '--steps', '2', '--threads', n]]) == 0
    assert (train, base, pred) == ([n], [n], [n])
    assert torch.get_num_threads() == before                   # the caller's setting is back
    assert main([str(a) for a in ['predict', w/'out'/'fold0'/'best', w/'pred2', '--features', w/'feats.npz', '--n_samples', '2',
                                  '--steps', '2']]) == 0
    assert pred == [n, before]                                 # without the option: torch's own setting

def test_embed_and_aggregate_run_with_the_threads_asked(tmp_path, monkeypatch):
    make_slide(tmp_path/'slides'/'A.svs', width=1024, height=768, downsamples=(1, 4), seed=0)
    st, before = tmp_path/'stores', torch.get_num_threads()
    n = before + 1
    assert main([str(a) for a in ['tile', tmp_path/'slides', st, '--target_mpp', '2', '--tile_px', '32', '--no_pictures']]) == 0
    emb = spied(monkeypatch, rna_fm.embed, 'embed_slide')
    assert main(['embed', str(st), '--encoder', 'texture_stats', '--workers', '0', '--threads', str(n)]) == 0
    agg = spied(monkeypatch, rna_fm.aggregate, 'aggregate_slide')
    assert main(['aggregate', str(st), '--encoder', 'texture_stats', '--k', '3', '--threads', str(n)]) == 0
    assert (emb, agg) == ([n], [n])
    assert torch.get_num_threads() == before                   # the caller's setting is back
    assert main(['aggregate', str(st), '--encoder', 'texture_stats', '--k', '3', '--overwrite']) == 0
    assert agg == [n, before]                                  # without the option: torch's own setting

def test_threads_below_one_are_refused(tiny, capsys):
    assert main(['predict', str(tiny/'nothing'), str(tiny/'p0'), '--features', str(tiny/'feats.npz'), '--threads', '0']) == 2
    assert 'threads 0: use 1 or more' in capsys.readouterr().err
    assert not (tiny/'p0').exists()
