"""Train a tiny RNA-FM model on a synthetic cohort (used by the resume and distributed tests).

Usage: python tests/_tiny_run.py OUT_DIR [MAX_STEPS]   (also under torchrun)
"""
import os, sys
os.environ.setdefault('RNA_FM_PROGRESS', '0')
import torch
from rna_fm.cohort import ArrayFeatures, SlideDataset, fit_normaliser, load_cohort, make_splits
from rna_fm.model import ModelConfig, RNAFM
from rna_fm.pathways import build_pathway_structure
from rna_fm.synth import make_cohort
from rna_fm.train import TrainConfig, fit

def main(out:str, max_steps:int=60):
    torch.set_num_threads(1)                          # the same arithmetic in every run, for bit-identical resumes
    coh = make_cohort(n_patients=40, n_genes=60, n_pathways=6, seed=0)
    cohort = load_cohort(coh.sample_sheet, coh.expression, logged=False)
    fold = make_splits(cohort, n_folds=5, seed=0)[0]
    norm = fit_normaliser(cohort, fold)
    feats = ArrayFeatures.from_arrays(coh.slides.slide_id, coh.features)
    tr = SlideDataset(fold.slides(cohort, 'train'), feats, cohort, norm)
    va = SlideDataset(fold.slides(cohort, 'val'), feats, cohort, norm)
    st = build_pathway_structure(coh.pathways, norm.genes, min_size=3)
    mcfg = ModelConfig(hidden=32, depth=2, heads=4, feat_dim=32, n_clusters=16, cond_mlp=64, graph_heads=2, buckets=3)
    cfg = TrainConfig(batch_size=16, max_steps=max_steps, eval_every=10, log_every=5, lr=2e-3, val_samples=2, val_steps=3,
                      patience=0, device='cpu')
    torch.manual_seed(0)
    print(fit(RNAFM(mcfg, st), tr, va, cfg, out, norm, 'synthetic'))

if __name__ == '__main__': main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 60)
