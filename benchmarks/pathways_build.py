"""Time `build_pathway_structure` on the 20,820 reference genes against GO Biological Process 2023 (5,407 terms),
and compare it with a plain loop over pathways (memberships by dict lookups, overlaps by pairwise set intersections)
on the same first N pathways, measured in the same run.

Usage: python benchmarks/pathways_build.py [--n_loop N] [--repeats 3]
Prints figures; asserts nothing about time.
"""
import argparse, time
from pathlib import Path
import numpy as np
import pandas as pd
from rna_fm.pathways import build_pathway_structure, read_gmt

ROOT = Path(__file__).resolve().parent.parent

def loop_build(sets:dict, genes:list, min_size:int=5):
    "Baseline: the same structure computed with Python loops over pathways and pairs of pathways."
    idx = {g: i for i, g in enumerate(genes)}
    up = pd.Series(range(len(genes)), index=[g.upper() for g in genes])
    up = up[~up.index.duplicated(keep=False)].to_dict()           # case-insensitive fallback, as in rna_fm
    look = lambda g: idx.get(g, up.get(g.upper()))
    mem = {n: sorted({look(g) for g in m} - {None}) for n, m in sets.items()}
    mem = {n: m for n, m in mem.items() if len(m) >= min_size}
    count = np.zeros(len(genes), int)
    for m in mem.values(): count[m] += 1
    ss = [set(m) for m in mem.values()]
    edges = [(i, j, len(a & b)) for i, a in enumerate(ss) for j, b in enumerate(ss) if i != j and a & b]
    return mem, count, edges

def best(f, repeats:int) -> float:
    "Fastest of `repeats` wall-clock timings of f() in seconds."
    out = []
    for _ in range(repeats):
        t = time.perf_counter(); f(); out.append(time.perf_counter() - t)
    return min(out)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n_loop', type=int, default=0, help='pathways given to the loop baseline (0: all)')
    ap.add_argument('--repeats', type=int, default=3)
    a = ap.parse_args()
    genes = pd.read_csv(ROOT/'data_samples/genesets/gene_list_20820.csv').gene.tolist()
    gmt = ROOT/'data_samples/genesets/GO_Biological_Process_2023.gmt'
    t_read = best(lambda: read_gmt(gmt), a.repeats)
    sets = read_gmt(gmt)
    t_full = best(lambda: build_pathway_structure(sets, genes), a.repeats)
    ps = build_pathway_structure(sets, genes)
    sub = dict(list(sets.items())[:a.n_loop or None])
    t_vec = best(lambda: build_pathway_structure(sub, genes), a.repeats)
    t_loop = best(lambda: loop_build(sub, genes), 1)
    small = build_pathway_structure(sub, genes)
    mem, count, edges = loop_build(sub, genes)
    assert np.array_equal(small.gene_count, count) and small.edges.shape[1] == len(edges)   # same result
    print(f"GO BP 2023: {len(sets)} terms, {sum(map(len, sets.values())):,} memberships; {len(genes):,} genes")
    print(f"  read_gmt:                         {t_read:.3f} s")
    print(f"  build_pathway_structure (all):    {t_full:.3f} s -> {ps.n_pathways} pathways, "
          f"{len(ps.member_gene):,} memberships, {ps.edges.shape[1] // 2:,} overlap edges")
    print(f"{len(sub)} terms ({small.n_pathways} kept): vectorised {t_vec:.3f} s, loop {t_loop:.3f} s, "
          f"ratio loop/vectorised {t_loop / t_vec:.0f}x")

if __name__ == '__main__': main()
