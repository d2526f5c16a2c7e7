"""Faults a demanding user meets (issue 14), each reproduced through the CLI on tiny synthetic inputs: a touched,
copied or moved slide, imports and overwrites, a failure in one slide, two writers at once, bad options and files.
Each test asserts a clear one-line error or a per-slide failure summary, a non-zero exit where something failed, and
that every store, feature array and cluster set that existed before is byte-identical afterwards (hashed)."""
import hashlib, multiprocessing, os, shutil, signal, time
from pathlib import Path
import h5py
import numpy as np
import pytest
os.environ.setdefault('RNA_FM_PROGRESS', '0')
from rna_fm.cli import main
from rna_fm.store import read_coords, store_attrs
from rna_fm.synth import make_slide

TILE = ['--target_mpp', '2', '--tile_px', '32', '--no_pictures']

def hashes(root, skip=()) -> dict:
    "SHA-256 of every file under `root` (relative path -> digest), leaving out lock files and the paths in `skip`."
    root = Path(root)
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob('*'))
            if p.is_file() and not p.name.endswith('.lock') and str(p.relative_to(root)) not in skip}

def run(capsys, *argv) -> tuple[int, str, str]:
    "`rna-fm argv` in this process: (exit code, stdout, stderr)."
    code = main([str(a) for a in argv]); out, err = capsys.readouterr()
    return code, out, err

@pytest.fixture(scope='module')
def slides(tmp_path_factory):
    "Two small synthetic slides (A, B), made once for the module."
    d = tmp_path_factory.mktemp('slides')
    for i, name in enumerate('AB'): make_slide(d/f'{name}.svs', width=1024, height=768, downsamples=(1, 4), seed=i)
    return d

@pytest.fixture
def work(slides, tmp_path, capsys):
    "A copy of the slides and their stores, tiled, embedded with texture_stats and clustered (k=3)."
    sl = tmp_path/'slides'; shutil.copytree(slides, sl)
    st = tmp_path/'stores'
    assert run(capsys, 'tile', sl, st, *TILE)[0] == 0
    assert run(capsys, 'embed', st, '--encoder', 'texture_stats', '--workers', '0')[0] == 0
    assert run(capsys, 'aggregate', st, '--encoder', 'texture_stats', '--k', '3')[0] == 0
    return sl, st

def one_line(err:str, *words):
    "The error is one line `rna-fm CMD: error: ...` holding `words`."
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and ': error: ' in lines[0], err
    for w in words: assert w in lines[0], (w, lines[0])

def test_touched_or_copied_slide_keeps_its_work(work, capsys):
    sl, st = work; before = hashes(st)
    os.utime(sl/'A.svs', ns=(1, 1))                                        # touched
    shutil.copyfile(sl/'B.svs', sl/'B2'); os.replace(sl/'B2', sl/'B.svs')    # copied without its times
    code, out, _ = run(capsys, 'tile', sl, st, *TILE)
    assert code == 0 and '2 up to date' in out, out
    assert hashes(st) == before

def test_new_tiling_settings_need_overwrite_and_say_what_goes(work, capsys):
    sl, st = work; before = hashes(st)
    code, out, err = run(capsys, 'tile', sl, st, '--target_mpp', '2', '--tile_px', '48', '--no_pictures')
    assert code == 1 and 'tile_px: 32 recorded, 48 now' in err and 'features/texture_stats' in err and 'clusters/texture_stats/k3' in err
    assert '--overwrite' in err
    assert hashes(st) == before
    code, out, _ = run(capsys, 'tile', sl, st, '--target_mpp', '2', '--tile_px', '48', '--no_pictures', '--overwrite')
    assert code == 0 and '2 tiled' in out and store_attrs(st/'A.zarr')['tile_px'] == 48

def test_moved_slides_are_recognised_and_relocated(work, capsys):
    sl, st = work; before = hashes(st, skip=('A.zarr/zarr.json', 'B.zarr/zarr.json'))
    new = sl.parent/'moved'; os.replace(sl, new)
    code, out, _ = run(capsys, 'tile', new, st, *TILE)
    assert code == 0 and '2 moved' in out, out
    assert store_attrs(st/'A.zarr')['source_path'] == str((new/'A.svs').resolve())
    assert hashes(st, skip=('A.zarr/zarr.json', 'B.zarr/zarr.json')) == before      # features, clusters, coords untouched
    code, out, _ = run(capsys, 'embed', st, '--encoder', 'texture_stats', '--workers', '0', '--overwrite')
    assert code == 0, out                                                    # the tiles are read from the new place

def test_from_h5_overwrite_replaces_only_its_features(work, tmp_path, capsys):
    sl, st = work
    keep = {k: v for k, v in hashes(st).items() if '/features/texture_stats/' in k or '/clusters/' in k or '/coords/' in k}
    h5 = tmp_path/'h5'; h5.mkdir()
    for s in 'AB':
        c = read_coords(st/f'{s}.zarr')
        with h5py.File(h5/f'{s}.h5', 'w') as f: f['coords'] = c; f['features'] = np.random.default_rng(0).normal(size=(len(c), 8))
    code, out, err = run(capsys, 'embed', st, '--from_h5', h5, '--encoder', 'imported', '--overwrite')
    assert code == 0, err
    after = hashes(st)
    assert {k: after.get(k) for k in keep} == keep                          # other encoders, clusters and tiles kept
    assert 'level' in store_attrs(st/'A.zarr')                                # and the tiling geometry
    assert any('/features/imported/' in k for k in after)
    assert run(capsys, 'embed', st, '--encoder', 'texture_stats', '--workers', '0')[0] == 0   # a later embed still works

def test_a_bad_h5_file_does_not_stop_the_others(work, tmp_path, capsys):
    sl, st = work; before = hashes(st)
    h5 = tmp_path/'h5'; h5.mkdir(); (h5/'A.h5').write_bytes(b'not hdf5')
    c = read_coords(st/'B.zarr')
    with h5py.File(h5/'B.h5', 'w') as f: f['coords'] = c; f['features'] = np.ones((len(c), 4))
    code, out, err = run(capsys, 'embed', st, '--from_h5', h5, '--encoder', 'imp')
    assert code == 1 and 'A.h5' in err and '1 imported' in out.replace('1 imported as', '1 imported'), (out, err)
    assert 'features/imp/zarr.json' in ''.join(k for k in hashes(st) if k.startswith('B.zarr'))
    assert {k: v for k, v in hashes(st).items() if k in before} == before

def test_bad_embed_option_touches_nothing(work, capsys):
    sl, st = work; before = hashes(st)
    code, out, err = run(capsys, 'embed', st, '--encoder', 'texture_stats', '--workers', '-1', '--overwrite')
    assert code == 2; one_line(err, '--workers -1')
    assert hashes(st) == before

def test_one_failing_slide_fails_alone(work, capsys, monkeypatch):
    sl, st = work; before = hashes(st)
    import rna_fm.embed as E
    real = E._encode_chunks
    def boom(arr, ds, enc, todo, done, n, chunk_tiles, *a):
        if Path(ds.store).name == 'B.zarr': raise ValueError('an unexpected bug')
        return real(arr, ds, enc, todo, done, n, chunk_tiles, *a)
    monkeypatch.setattr(E, '_encode_chunks', boom)
    code, out, err = run(capsys, 'embed', st, '--encoder', 'texture_stats', '--workers', '0', '--overwrite')
    assert code == 1 and 'A: embedded' in out
    assert '1 slide stores failed' in err and 'B.zarr' in err and 'ValueError: an unexpected bug' in err
    after = hashes(st)
    assert {k: after.get(k) for k in before if k.startswith('B.zarr/')} == {k: v for k, v in before.items() if k.startswith('B.zarr/')}

def _hold(path, ready):
    from rna_fm.core import path_lock
    with path_lock(path): ready.set(); time.sleep(120)

def test_a_second_writer_skips_a_locked_store(work, capsys):
    sl, st = work; before = hashes(st)
    ctx = multiprocessing.get_context('fork'); ready = ctx.Event()
    p = ctx.Process(target=_hold, args=(st/'A.zarr', ready)); p.start(); assert ready.wait(20)
    try:
        code, out, err = run(capsys, 'tile', sl, st, *TILE, '--overwrite')
        assert code == 1 and f'pid {p.pid}' in err and '--wait' in err and 'B: tiled' in out
        code, out, err = run(capsys, 'embed', st, '--encoder', 'texture_stats', '--workers', '0', '--overwrite')
        assert code == 1 and f'pid {p.pid}' in err
        code, out, err = run(capsys, 'aggregate', st, '--encoder', 'texture_stats', '--k', '3', '--overwrite')
        assert code == 1 and f'pid {p.pid}' in err
        assert run(capsys, 'export-h5', st/'A.zarr', st.parent/'h5')[0] == 0
        code, out, err = run(capsys, 'import-h5', st.parent/'h5'/'A.h5', sl/'A.svs', st)
        assert code == 2 and f'pid {p.pid}' in err
        assert {k: v for k, v in hashes(st).items() if k.startswith('A.zarr')} == {k: v for k, v in before.items() if k.startswith('A.zarr')}
    finally: os.kill(p.pid, signal.SIGKILL); p.join()
    assert run(capsys, 'tile', sl, st, *TILE)[0] == 0                          # the lock died with its holder

def test_a_slide_name_with_spaces_says_the_fix(slides, tmp_path, capsys):
    d = tmp_path/'s'; d.mkdir(); shutil.copy(slides/'A.svs', d/'my slide.svs')
    code, out, err = run(capsys, 'tile', d, tmp_path/'st', *TILE)
    assert code != 0 and 'slide_id column' in err, err

# ---- training, checkpoints and predictions --------------------------------------------------------------------------
import json, subprocess, sys
HERE = Path(__file__).resolve().parent
FAST = ['--n_samples', '4', '--solver_steps', '3', '--max_steps', '10']

@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    "The tiny cohort's inputs, fold 0 trained for 10 steps, and predictions made from its best checkpoint."
    w = tmp_path_factory.mktemp('train')
    subprocess.run([sys.executable, str(HERE/'_tiny_run.py'), '--prepare', str(w)], check=True)
    assert main(['train', str(w/'ref.csv'), str(w/'sets.json'), str(w/'out'), '--features', str(w/'feats.npz'),
                 '--model_config', str(w/'model.json'), '--train_config', str(w/'train.json'), '--folds', '0', *FAST]) == 0
    assert main(['predict', str(w/'out'/'fold0'/'best'), str(w/'pred'), '--features', str(w/'feats.npz'),
                 '--n_samples', '4', '--steps', '3']) == 0
    return w

def predict_args(w, ckpt, out, *more):
    return ['predict', ckpt, out, '--features', w/'feats.npz', '--n_samples', '4', '--steps', '3', *more]

@pytest.mark.parametrize('opt', [['--guidance', 'nan'], ['--guidance', 'inf'], ['--batch_slides', '0'], ['--steps', '0']])
def test_bad_predict_options_are_refused(trained, capsys, opt):
    w = trained; before = hashes(w/'pred')
    code, out, err = run(capsys, *predict_args(w, w/'out'/'fold0'/'best', w/'pred'), *opt)
    assert code == 2; one_line(err, opt[0].lstrip('-'))
    assert hashes(w/'pred') == before

@pytest.mark.parametrize('damage', ['overwritten', 'truncated'])
def test_damaged_checkpoint_weights_are_a_clear_error(trained, tmp_path, capsys, damage):
    w = trained; ck = tmp_path/'ck'; shutil.copytree(w/'out'/'fold0'/'best', ck); before = hashes(w/'pred')
    f = ck/'ema.safetensors'; b = bytearray(f.read_bytes())
    if damage == 'overwritten': b[len(b) // 2:] = bytes(len(b) - len(b) // 2)      # same size, zeros in place of weights
    else: b = b[:len(b) // 2]
    f.write_bytes(bytes(b))
    code, out, err = run(capsys, *predict_args(w, ck, w/'pred'))
    assert code == 2; one_line(err, 'ema.safetensors is damaged')
    assert hashes(w/'pred') == before

def test_non_finite_predictions_fail_naming_the_slides(trained, tmp_path, capsys):
    import torch
    from rna_fm.checkpoint import load_checkpoint, save_checkpoint
    w = trained; before = hashes(w/'pred')
    model, info = load_checkpoint(w/'out'/'fold0'/'best')
    with torch.no_grad(): next(p for n, p in model.named_parameters() if n.endswith('weight') and p.ndim == 2).fill_(float('nan'))
    save_checkpoint(tmp_path/'nan', model, info.normaliser, info.encoder)     # a consistent checkpoint of NaN weights
    code, out, err = run(capsys, *predict_args(w, tmp_path/'nan', w/'pred'))
    assert code == 2; one_line(err, 'NaN or infinite', 'slide')
    assert hashes(w/'pred') == before

def test_predict_checks_every_slide_before_sampling(trained, tmp_path, capsys):
    w = trained; before = hashes(w/'pred')
    d = dict(np.load(w/'feats.npz')); ids = sorted(k for k in d if not k.startswith('_'))
    d[ids[-1]] = d[ids[-1]][:3]                                             # the last slide: wrong K
    np.savez(tmp_path/'f.npz', **d)
    code, out, err = run(capsys, 'predict', w/'out'/'fold0'/'best', w/'pred', '--features', tmp_path/'f.npz', '--n_samples', '4', '--steps', '3')
    assert code == 2; one_line(err, ids[-1])
    assert hashes(w/'pred') == before

def test_train_checks_every_slide_before_the_first_step(trained, tmp_path, capsys):
    w = trained
    d = dict(np.load(w/'feats.npz')); ids = sorted(k for k in d if not k.startswith('_')); gone = ids[7]
    del d[gone]; np.savez(tmp_path/'f.npz', **d)
    code, out, err = run(capsys, 'train', w/'ref.csv', w/'sets.json', tmp_path/'out', '--features', tmp_path/'f.npz',
                         '--model_config', w/'model.json', '--train_config', w/'train.json', *FAST)
    assert code == 2; one_line(err, gone, 'Nothing was trained')
    assert not (tmp_path/'out'/'fold0').exists()
    # the failed run left its split; new split options are refused, naming them; --overwrite makes a new split
    before = hashes(tmp_path/'out')
    code, out, err = run(capsys, 'train', w/'ref.csv', w/'sets.json', tmp_path/'out', '--features', tmp_path/'f.npz',
                         '--model_config', w/'model.json', '--train_config', w/'train.json', '--n_folds', '3', *FAST)
    assert code == 2; one_line(err, '--n_folds 5 (asked: 3)', '--overwrite')
    assert hashes(tmp_path/'out') == before
    code, out, err = run(capsys, 'train', w/'ref.csv', w/'sets.json', tmp_path/'out', '--features', tmp_path/'f.npz',
                         '--model_config', w/'model.json', '--train_config', w/'train.json', '--n_folds', '3', '--overwrite', *FAST)
    assert code == 2 and 'Nothing was trained' in err
    import pandas as pd
    assert pd.read_csv(tmp_path/'out'/'splits.csv').fold.nunique() == 3

def test_resuming_from_a_damaged_last_checkpoint_is_a_clear_error(trained, tmp_path, capsys):
    w = trained; out = tmp_path/'out'; shutil.copytree(w/'out', out)
    for f in ('done.json', 'fold_summary.json'): (out/'fold0'/f).unlink()   # as if killed while training
    f = out/'fold0'/'last'/'model.safetensors'; b = bytearray(f.read_bytes()); b[-100:] = bytes(100); f.write_bytes(bytes(b))
    before = hashes(out)
    code, _, err = run(capsys, 'train', w/'ref.csv', w/'sets.json', out, '--features', w/'feats.npz',
                       '--model_config', w/'model.json', '--train_config', w/'train.json', '--folds', '0', *FAST)
    assert code == 2; one_line(err, 'model.safetensors is damaged', 'delete')
    assert hashes(out) == before

# ---- processes and logs ---------------------------------------------------------------------------------------------
def _children(pid) -> set:
    try: return {int(c) for t in Path(f'/proc/{pid}/task').iterdir() for c in (t/'children').read_text().split()}
    except FileNotFoundError: return set()

def _alive(pid) -> bool:
    try: return Path(f'/proc/{pid}/stat').read_text().split()[2] not in ('Z', 'X')
    except FileNotFoundError: return False

@pytest.mark.skipif(not Path('/proc/self/task').exists(), reason='needs Linux /proc')
def test_tile_workers_die_with_their_parent(slides, tmp_path):
    p = subprocess.Popen([sys.executable, '-m', 'rna_fm.cli', 'tile', str(slides), str(tmp_path/'st'), *TILE, '--workers', '2'],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0, kids = time.time(), set()
    while time.time() - t0 < 60 and len(kids) < 2: kids = _children(p.pid); time.sleep(0.05)
    time.sleep(0.5)
    os.kill(p.pid, signal.SIGKILL); p.wait()
    assert len(kids) >= 2, 'the workers did not start'
    t0 = time.time()
    while time.time() - t0 < 20 and any(_alive(k) for k in kids): time.sleep(0.1)
    left = [k for k in kids if _alive(k)]
    for k in left: os.kill(k, signal.SIGKILL)
    assert not left, f'worker processes {left} outlived their parent'

def test_progress_in_a_log_has_no_carriage_returns(work, tmp_path):
    sl, st = work
    env = {**os.environ, 'RNA_FM_PROGRESS': '1', 'IN_TEST': ''}
    with open(tmp_path/'log', 'w') as log:
        r = subprocess.run([sys.executable, '-m', 'rna_fm.cli', 'embed', str(st), '--encoder', 'texture_stats', '--workers', '0',
                            '--overwrite', '--batch_size', '4', '--chunk_tiles', '4'], stdout=log, stderr=subprocess.STDOUT, env=env)
    text = (tmp_path/'log').read_text()
    assert r.returncode == 0, text
    assert '\r' not in text and '100%' in text, text

@pytest.mark.parametrize('opt', [['--mpp', '100'], ['--workers', '0'], ['--tile_px', '4']])
def test_a_bad_tile_option_is_reported_once(work, capsys, opt):
    sl, st = work; before = hashes(st)
    code, out, err = run(capsys, 'tile', sl, st, *TILE, *opt)
    assert code == 2; one_line(err, opt[0].lstrip('-'))
    assert hashes(st) == before

@pytest.mark.parametrize('opt', [['--batch_size', '0'], ['--dtype', 'float8'], ['--chunk_tiles', '0']])
def test_a_bad_embed_option_is_reported_once(work, capsys, opt):
    sl, st = work; before = hashes(st)
    code, out, err = run(capsys, 'embed', st, '--encoder', 'texture_stats', '--workers', '0', *opt)
    assert code == 2; one_line(err)
    assert hashes(st) == before
