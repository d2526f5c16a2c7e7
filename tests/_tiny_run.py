"""Tiny RNA-FM runs on a synthetic cohort, for the resume and distributed tests (also under torchrun).

Usage: python tests/_tiny_run.py OUT_DIR [MAX_STEPS]        `fit` on one fold of the tiny cohort
       python tests/_tiny_run.py --prepare WORK            write the tiny cohort's inputs for `rna-fm train` in WORK
       python tests/_tiny_run.py --cli OUT_DIR ARGS...     run `rna-fm ARGS...`, which writes to OUT_DIR
       python tests/_tiny_run.py --guard-selftest DIR      try to write in DIR (exits 17 when RANK is not 0)

Every process whose RANK is not 0 runs with a guard on OUT_DIR: a Python audit hook that ends the process with exit
code 17 (and says what it tried) on any attempt to create, open for writing, rename or delete a path inside OUT_DIR.
So a distributed run that finishes proves that only rank 0 wrote there.
"""
import json, os, sys
os.environ.setdefault('RNA_FM_PROGRESS', '0')

GUARD_EXIT = 17
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_PATH_EVENTS = {'os.mkdir', 'os.rename', 'os.remove', 'os.rmdir', 'os.truncate', 'os.link', 'os.symlink', 'os.chmod',
                'os.chown', 'os.utime', 'shutil.rmtree', 'shutil.copyfile', 'shutil.copymode', 'shutil.copystat',
                'shutil.move'}

def guard_writes(root:str):
    "Exit with code 17 on any write into `root` by this process (a Python audit hook; it cannot be removed)."
    root = os.path.realpath(root)
    def inside(p) -> bool:
        if not isinstance(p, (str, bytes, os.PathLike)): return False      # a file descriptor
        p = os.path.realpath(os.fsdecode(p))
        return p == root or p.startswith(root + os.sep)
    def hook(event, args):
        if event == 'open':
            path, mode, flags = args
            writes = (isinstance(mode, str) and any(c in mode for c in 'wax+')) or (isinstance(flags, int) and flags & _WRITE_FLAGS)
            paths = [path] if writes else []
        elif event in _PATH_EVENTS: paths = list(args[:2])
        else: return
        for p in paths:
            if inside(p):
                sys.stderr.write(f"rank {os.environ.get('RANK')} must not write, but did {event} on {os.fsdecode(p)}\n")
                sys.stderr.flush(); os._exit(GUARD_EXIT)
    sys.addaudithook(hook)

def _guard_non_main(out:str):
    if os.environ.get('RANK', '0') != '0': guard_writes(out)

def tiny_cohort():
    from rna_fm.synth import make_cohort
    return make_cohort(n_patients=40, n_genes=60, n_pathways=6, seed=0)

MODEL = dict(hidden=32, depth=2, heads=4, feat_dim=32, n_clusters=16, cond_mlp=64, graph_heads=2, buckets=3)
TRAIN = dict(batch_size=16, eval_every=10, log_every=5, lr=2e-3, val_samples=2, val_steps=3, patience=0, device='cpu')

def fit_main(out:str, max_steps:int=60):
    "`fit` on fold 0 of the tiny cohort."
    import torch
    from rna_fm.features import ArrayFeatures
    from rna_fm.cohort import SlideDataset, load_cohort
    from rna_fm.normalise import fit_normaliser
    from rna_fm.splits import make_splits
    from rna_fm.model import ModelConfig, RNAFM
    from rna_fm.pathways import build_pathway_structure
    from rna_fm.train import TrainConfig, fit
    torch.set_num_threads(1)                          # the same arithmetic in every run, for bit-identical resumes
    coh = tiny_cohort()
    cohort = load_cohort(coh.sample_sheet, coh.expression, logged=False)
    fold = make_splits(cohort, n_folds=5, seed=0)[0]
    norm = fit_normaliser(cohort, fold)
    feats = ArrayFeatures.from_arrays(coh.slides.slide_id, coh.features)
    tr = SlideDataset(fold.slides(cohort, 'train'), feats, cohort, norm)
    va = SlideDataset(fold.slides(cohort, 'val'), feats, cohort, norm)
    st = build_pathway_structure(coh.pathways, norm.genes, min_size=3)
    torch.manual_seed(0)
    print(fit(RNAFM(ModelConfig(**MODEL), st), tr, va, TrainConfig(max_steps=max_steps, **TRAIN), out, norm, 'synthetic'))

def prepare(work:str, max_steps:int=30):
    "The inputs of `rna-fm train` for the tiny cohort: reference table, features, gene sets, model and train configs."
    from pathlib import Path
    from rna_fm.features import ArrayFeatures
    from rna_fm.model import ModelConfig
    from rna_fm.train import TrainConfig
    w = Path(work); w.mkdir(parents=True, exist_ok=True)
    coh = tiny_cohort()
    coh.reference_table().to_csv(w/'ref.csv', index=False)
    ArrayFeatures.from_arrays(coh.slides.slide_id, coh.features).save(w/'feats.npz')
    (w/'sets.json').write_text(json.dumps(coh.pathways))
    ModelConfig(**{k: v for k, v in MODEL.items() if k not in ('feat_dim', 'n_clusters')}).save(w/'model.json')
    TrainConfig(max_steps=max_steps, **TRAIN).save(w/'train.json')

def cli_main(argv:list) -> int:
    "Run `rna-fm` in this process; rank 0 then reports the process group's timeout (seconds) on stdout."
    import torch
    import torch.distributed as dist
    from rna_fm.cli import main
    torch.set_num_threads(1)
    code = main(argv)
    if dist.is_initialized() and dist.get_rank() == 0:
        pg = dist.distributed_c10d._get_default_group()
        print('PG_TIMEOUT', pg._get_backend(torch.device('cpu')).options._timeout.total_seconds(), flush=True)
    return code

if __name__ == '__main__':
    a = sys.argv[1:]
    if a[0] == '--prepare': prepare(a[1])
    elif a[0] == '--cli': _guard_non_main(a[1]); sys.exit(cli_main(a[2:]))
    elif a[0] == '--guard-selftest':
        _guard_non_main(a[1])
        with open(os.path.join(a[1], 'written.txt'), 'w') as f: f.write('rank 0 may write')
    else: _guard_non_main(a[0]); fit_main(a[0], int(a[1]) if len(a) > 1 else 60)
