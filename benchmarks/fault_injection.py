"""kill -9 fault injection: every resumable step killed at random moments, resumed, and compared with a clean run.

For each of tile, embed, aggregate, train and predict, on a small cohort (3 synthetic slides; the tiny 40-patient
cohort of the resume tests for train and predict): one clean run gives the reference result; then, `--kills` times,
the step is started from the same inputs, killed with SIGKILL at a random moment of its clean duration, and run again
to the end. A resumed result counts as identical when every file of the result (stores; or the checkpoints' tensors,
the training log without its clock column and the fold's predictions; or the prediction files) equals the clean
run's byte for byte. Then train is killed after its first checkpoint, its `last/` checkpoint is damaged (bytes in
the middle of its weights overwritten), and the rerun must stop with a clear error naming the damaged file; after
deleting `last/`, as the error says, the rerun must end identical to the clean run.

Usage: python benchmarks/fault_injection.py [--kills 20] [--corrupt 5] [--steps tile,embed,aggregate,train,predict] [--seed 0]
Prints a table and writes benchmarks/out/fault_injection.json.
"""
import argparse, hashlib, json, os, random, shutil, signal, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT/'tests'/'_tiny_run.py'
ENV = {**os.environ, 'RNA_FM_PROGRESS': '0', 'OMP_NUM_THREADS': '1'}

def files(root:Path, skip=lambda rel: False) -> dict:
    "SHA-256 of every file under `root` (lock files and what `skip` names left out)."
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob('*'))
            if p.is_file() and not p.name.endswith('.lock') and not skip(str(p.relative_to(root)))}

def tensors(path:Path) -> str:
    "SHA-256 of a safetensors file's tensors (names, dtypes, shapes, values), whatever its header order."
    from safetensors.numpy import load_file
    h = hashlib.sha256()
    for k, v in sorted(load_file(str(path)).items()): h.update(f'{k}|{v.dtype}|{v.shape}|'.encode()); h.update(v.tobytes())
    return h.hexdigest()

def train_result(out:Path) -> dict:
    "What a training run produced: the checkpoints' tensors, the log without its clock, the fold's predictions."
    import pandas as pd
    f = out/'fold0'
    r = {f'{d}/{n}': tensors(f/d/n) for d in ('best', 'last') for n in ('model.safetensors', 'ema.safetensors') if (f/d/n).exists()}
    r['log'] = hashlib.sha256(pd.read_csv(f/'log.csv').drop(columns=['seconds'], errors='ignore').to_csv().encode()).hexdigest()
    r.update(files(f/'test_predictions', skip=lambda rel: rel == 'prediction.json'))
    return r

class Step:
    "One step: how to prepare its inputs in a fresh directory, its command, and its result."
    def __init__(self, name, prepare, args, result): self.name, self.prepare, self.args, self.result = name, prepare, args, result

def steps(base:Path) -> dict:
    "The five steps, reading inputs made once under `base`."
    S, T, st = base/'slides', base/'tiny', ['--target_mpp', '1', '--tile_px', '64']
    ck = lambda w: [str(T/'ref.csv'), str(T/'sets.json'), str(w/'out'), '--features', str(T/'feats.npz'), '--model_config',
                    str(T/'model.json'), '--train_config', str(T/'train.json'), '--folds', '0', '--n_samples', '4', '--solver_steps', '3']
    copy = lambda src: (lambda w: shutil.copytree(base/src, w/'stores'))
    return {
        'tile': Step('tile', lambda w: None, lambda w: ['tile', str(S), str(w/'stores'), *st], lambda w: files(w/'stores')),
        'embed': Step('embed', copy('tiled'), lambda w: ['embed', str(w/'stores'), '--encoder', 'texture_stats', '--workers', '0',
                                                         '--batch_size', '8', '--chunk_tiles', '16'], lambda w: files(w/'stores')),
        'aggregate': Step('aggregate', copy('embedded'), lambda w: ['aggregate', str(w/'stores'), '--encoder', 'texture_stats', '--k', '4',
                                                                    '--device', 'cpu'], lambda w: files(w/'stores')),
        'train': Step('train', lambda w: None, lambda w: ['train', *ck(w)], lambda w: train_result(w/'out')),
        'predict': Step('predict', lambda w: None, lambda w: ['predict', str(base/'trained'/'fold0'/'best'), str(w/'pred'), '--features',
                        str(T/'feats.npz'), '--n_samples', '8', '--steps', '5', '--device', 'cpu'],
                        lambda w: files(w/'pred', skip=lambda rel: rel == 'prediction.json')),
    }

def start(args:list, w:Path) -> subprocess.Popen:
    "`rna-fm args` in a new process with one torch thread (bit-identical arithmetic from run to run)."
    return subprocess.Popen([sys.executable, str(TINY), '--cli', str(w), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=ENV, cwd=w)

def finish(args:list, w:Path) -> tuple[int, str]:
    p = start(args, w); _, err = p.communicate(timeout=1800)
    return p.returncode, err.decode()

def make_inputs(base:Path):
    "Three synthetic slides, their stores tiled and embedded, the tiny cohort's training inputs and a trained fold."
    from rna_fm.synth import make_slide
    (base/'slides').mkdir(parents=True)
    for i in range(3): make_slide(base/'slides'/f'S{i}.svs', width=2048, height=1536, downsamples=(1, 4), seed=i)
    subprocess.run([sys.executable, str(TINY), '--prepare', str(base/'tiny')], check=True, env=ENV)
    st = steps(base)
    for name, dst in (('tile', 'tiled'), ('embed', 'embedded')):
        w = base/f'_{name}'; w.mkdir(); st[name].prepare(w)
        code, err = finish(st[name].args(w), w); assert code == 0, err
        shutil.copytree(w/'stores', base/dst)
    w = base/'_train'; w.mkdir()
    code, err = finish(st['train'].args(w), w); assert code == 0, err
    shutil.copytree(w/'out', base/'trained')

def fresh(base:Path) -> Path:
    "The directory every run works in (one path for all: results that record paths compare equal)."
    w = base/'run'; shutil.rmtree(w, ignore_errors=True); w.mkdir()
    return w

def clean_run(step:Step, base:Path) -> tuple[dict, float]:
    w = fresh(base); step.prepare(w)
    t0 = time.time(); code, err = finish(step.args(w), w); secs = time.time() - t0
    assert code == 0, err
    return step.result(w), secs

def killed_and_resumed(step:Step, base:Path, at:float, corrupt:bool=False) -> dict:
    "Start the step, SIGKILL it after `at` s, optionally damage its last/ checkpoint, resume; what happened."
    w = fresh(base); step.prepare(w)
    p = start(step.args(w), w)
    if corrupt:                                                  # wait for a first checkpoint, then a random moment more
        t0 = time.time()
        while not (w/'out'/'fold0'/'last'/'trainer_state.json').exists() and p.poll() is None and time.time() - t0 < 600: time.sleep(0.05)
    time.sleep(at)
    alive = p.poll() is None
    if alive: p.send_signal(signal.SIGKILL)
    p.communicate()
    rec = {'at': round(at, 2), 'killed_mid_run': alive}
    if corrupt:
        f = w/'out'/'fold0'/'last'/'model.safetensors'
        done = (w/'out'/'fold0'/'done.json').exists()            # training over: a rerun never reads last/ again
        rec['damaged'] = f.exists() and not done
        if rec['damaged']:
            b = bytearray(f.read_bytes()); n = len(b) // 2; b[n:n + 64] = bytes(64); f.write_bytes(bytes(b))
            code, err = finish(step.args(w), w)
            rec['clear_error'] = code == 2 and 'model.safetensors is damaged' in err and len(err.strip().splitlines()) == 1
            rec['error'] = err.strip()[-300:]
            shutil.rmtree(w/'out'/'fold0'/'last')                # as the error says
        else: shutil.rmtree(w/'out', ignore_errors=True); return rec   # killed after training: not a damaged-resume trial
    code, err = finish(step.args(w), w)
    rec['resume_exit'] = code
    rec['identical'] = code == 0 and step.result(w) == REF[step.name]
    if code != 0: rec['error_resume'] = err.strip()[-300:]
    return rec

REF = {}

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--kills', type=int, default=20); ap.add_argument('--corrupt', type=int, default=5)
    ap.add_argument('--steps', default='tile,embed,aggregate,train,predict'); ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    rng, base, t_all = random.Random(a.seed), Path(tempfile.mkdtemp(prefix='rna_fm_faults_')), time.time()
    try:
        make_inputs(base); st = steps(base); out = {'kills_per_step': a.kills, 'steps': {}}
        print(f"{'step':<10} {'clean s':>8} {'killed mid-run':>15} {'resumed identical':>18}")
        for name in a.steps.split(','):
            REF[name], secs = clean_run(st[name], base)
            recs = [killed_and_resumed(st[name], base, rng.uniform(0, secs)) for _ in range(a.kills)]
            same, mid = sum(r['identical'] for r in recs), sum(r['killed_mid_run'] for r in recs)
            out['steps'][name] = {'clean_seconds': round(secs, 1), 'kills': len(recs), 'killed_mid_run': mid, 'identical': same, 'trials': recs}
            print(f"{name:<10} {secs:>8.1f} {mid:>12}/{len(recs):<2} {same:>15}/{len(recs):<2}", flush=True)
        if 'train' in a.steps.split(',') and a.corrupt:
            recs = [killed_and_resumed(st['train'], base, rng.uniform(0, 1.0), corrupt=True) for _ in range(a.corrupt)]
            dmg = [r for r in recs if r.get('damaged')]
            out['train_damaged_last'] = {'trials': recs, 'damaged': len(dmg), 'clear_error': sum(r['clear_error'] for r in dmg),
                                         'identical_after_deleting_last': sum(r['identical'] for r in dmg)}
            print(f"train, last/ damaged after the kill: {sum(r['clear_error'] for r in dmg)}/{len(dmg)} clear one-line errors, "
                  f"{sum(r['identical'] for r in dmg)}/{len(dmg)} identical to the clean run after deleting last/ as told")
        total = sum(s['identical'] for s in out['steps'].values()); n = sum(s['kills'] for s in out['steps'].values())
        out.update(identical=total, runs=n, seconds=round(time.time() - t_all))
        print(f"{total} of {n} resumed results identical to a clean run ({time.time() - t_all:.0f} s; machine shared with other jobs)")
        (ROOT/'benchmarks'/'out').mkdir(exist_ok=True)
        (ROOT/'benchmarks'/'out'/'fault_injection.json').write_text(json.dumps(out, indent=1))
    finally: shutil.rmtree(base, ignore_errors=True)

if __name__ == '__main__': main()
