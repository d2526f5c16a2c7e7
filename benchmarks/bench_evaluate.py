"""Time and peak memory of `rna-fm evaluate` at the scale of a real cohort: 1,000 patients x 20,820 genes x 32 samples.

The script writes a synthetic prediction directory on disk with `rna_fm.predict`'s writer (float16 samples in
samples.zarr, the slide and patient tables as Parquet) and a measured expression table (raw TPM, Parquet), then runs
`rna-fm evaluate` on them in a fresh process, as a user would, and reports its wall-clock time, its CPU time (user +
system: less inflated than wall time on a shared machine) and its peak resident memory (the child's own high-water
mark, VmHWM). Targets: < 2 GB peak and < 2 min. As a baseline measured in the same run, it also times reading the
samples once (the least any evaluation of them must do), and prints evaluate's time as a multiple of it. The
prediction is informative for a tenth of the genes, so the scores are not degenerate. Results go to
benchmarks/out/evaluate.json.

Usage: python benchmarks/bench_evaluate.py [--patients 1000] [--genes 20820] [--samples 32] [--work DIR] [--keep]
(the slide and patient tables hold mean, sd, q05 and q95: the tables evaluate reads)
"""
import argparse, json, os, platform, resource, shutil, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent

def make_inputs(work:Path, patients:int, genes:int, samples:int, seed:int=0) -> tuple[Path, Path]:
    "A prediction directory and a raw expression table for `patients` x `genes`, written chunk by chunk (memory stays flat)."
    from rna_fm.evaluate import write_fake_predictions
    rng = np.random.default_rng(seed)
    names = [f'GENE{i:05d}' for i in range(genes)]
    pats = [f'TCGA-{i:04d}' for i in range(patients)]
    slides = [f'{p}-01Z-00-DX1' for p in pats]
    level = rng.uniform(2, 10, genes).astype(np.float32)
    truth = np.maximum(level + rng.normal(size=(patients, genes)), 0).astype(np.float32)   # log2(TPM + 1) >= 0
    signal = np.zeros(genes, np.float32); signal[: genes // 10] = 0.6                  # a tenth of the genes predictable
    mm = np.lib.format.open_memmap(work/'samples.npy', mode='w+', dtype=np.float16, shape=(samples, patients, genes))
    for a in range(0, patients, 50):
        t = truth[a:a + 50]
        mu = level + signal * (t - level)
        mm[:, a:a + 50] = (mu + 0.8 * rng.normal(size=(samples, len(t), genes))).astype(np.float16)
    mm.flush()
    write_fake_predictions(work/'pred', mm, slides, pats, names, batch=200, quantiles=(0.05, 0.95), formats=('parquet',))
    raw = pd.DataFrame(np.exp2(truth) - 1, index=pd.Index(pats, name='patient_id'), columns=names)
    raw.reset_index().to_parquet(work/'expression.parquet')
    pd.DataFrame({'slide_id': slides, 'patient_id': pats}).to_csv(work/'sheet.csv', index=False)
    del mm; (work/'samples.npy').unlink()
    return work/'pred', work/'expression.parquet'

def timed_child(code:str) -> tuple[float, float, float, str]:
    "Run Python `code` in a fresh process: wall seconds, peak RSS in GB, CPU seconds (user + system) of the process, its stdout."
    t0 = time.time()
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env={**os.environ, 'RNA_FM_PROGRESS': '0'})
    dt = time.time() - t0
    if r.returncode: raise RuntimeError(r.stdout[-2000:] + r.stderr[-3000:])
    got = json.loads(r.stdout.strip().splitlines()[-1])
    return dt, got['peak_gb'], got['cpu_s'], r.stdout

# Peak memory is the process's own high-water mark (VmHWM): ru_maxrss would also count the parent's memory at the fork
# that started it (Linux keeps the larger of the two across exec), and this script holds the inputs it drew.
PEAK = ("import resource, json, re; u = resource.getrusage(resource.RUSAGE_SELF)\n"
        "try: hwm = int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) / 2**20\n"
        "except (OSError, AttributeError): hwm = u.ru_maxrss / 2**20\n"
        "print(json.dumps({'peak_gb': hwm, 'cpu_s': u.ru_utime + u.ru_stime}))")

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--patients', type=int, default=1000); ap.add_argument('--genes', type=int, default=20820)
    ap.add_argument('--samples', type=int, default=32); ap.add_argument('--work', default=None)
    ap.add_argument('--keep', action='store_true', help='keep the generated inputs (a later run with the same --work reuses them)')
    ap.add_argument('--out', default=str(ROOT/'benchmarks'/'out'/'evaluate.json'))
    a = ap.parse_args()
    work = Path(a.work or tempfile.mkdtemp(prefix='bench_evaluate_')); work.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.time()
        if (work/'pred'/'prediction.json').exists() and (work/'expression.parquet').exists():   # inputs of an earlier --keep run
            pred, expr = work/'pred', work/'expression.parquet'
        else: pred, expr = make_inputs(work, a.patients, a.genes, a.samples)
        t_make = time.time() - t0
        read_code = (f"import zarr, numpy as np\nfrom zarr.storage import LocalStore\n"
                     f"a = zarr.open_group(LocalStore('{pred}/samples.zarr'), mode='r')['samples']\n"
                     f"s = 0.0\nfor i in range(0, a.shape[1], 32): s += float(a[:, i:i + 32].astype(np.float32).sum())\n" + PEAK)
        t_read, peak_read, cpu_read, _ = timed_child(read_code)
        ev_code = (f"from rna_fm.cli import main\nimport sys\n"
                   f"rc = main(['evaluate', '{pred}', '--expression', '{expr}', '--sample_sheet', '{work}/sheet.csv', '--out', '{work}/eval'])\n"
                   f"assert rc == 0\n" + PEAK)
        t_ev, peak_ev, cpu_ev, out = timed_child(ev_code)
        summ = pd.read_csv(work/'eval'/'summary.csv')
        row = summ[(summ.level == 'patient') & (summ.group == 'pooled')].iloc[0]
        res = {'patients': a.patients, 'genes': a.genes, 'samples': a.samples,
               'samples_on_disk_gb': round(sum(f.stat().st_size for f in (pred/'samples.zarr').rglob('*') if f.is_file()) / 2**30, 2),
               'evaluate_seconds': round(t_ev, 1), 'evaluate_cpu_seconds': round(cpu_ev, 1), 'evaluate_peak_gb': round(peak_ev, 2),
               'read_samples_seconds': round(t_read, 1), 'read_samples_cpu_seconds': round(cpu_read, 1),
               'read_samples_peak_gb': round(peak_read, 2),
               'evaluate_over_reading': round(t_ev / t_read, 2), 'make_inputs_seconds': round(t_make, 1),
               'targets': {'peak_gb': 2.0, 'seconds': 120},
               'met': {'peak': peak_ev < 2.0, 'time': t_ev < 120},
               'scores': {k: round(float(row[k]), 4) for k in ('pearson_r_mean', 'spearman_r_mean', 'crps_mean', 'coverage_90',
                                                                'pcc_T200_test_ranked', 'energy_score_mean')},
               'machine': {'cpus': os.cpu_count(), 'python': platform.python_version(), 'load_average_1min': round(os.getloadavg()[0], 1),
                           'note': 'wall time is inflated on a shared machine; the CPU time (user + system) of the process is less so'}}
        Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text(json.dumps(res, indent=1))
        print(f"evaluate on {a.patients} patients x {a.genes} genes x {a.samples} samples: {res['evaluate_seconds']} s wall, "
              f"{res['evaluate_cpu_seconds']} s CPU (user + system), peak {res['evaluate_peak_gb']} GB "
              f"(targets < 120 s, < 2 GB: {'met' if all(res['met'].values()) else 'NOT met'}; load average {res['machine']['load_average_1min']})")
        print(f"reading the samples once: {res['read_samples_seconds']} s wall, {res['read_samples_cpu_seconds']} s CPU "
              f"(peak {res['read_samples_peak_gb']} GB); evaluate = {res['evaluate_over_reading']}x that (wall)")
        print(f"scores: {res['scores']}")
        print(f"-> {a.out}")
    finally:
        if not a.keep: shutil.rmtree(work, ignore_errors=True)

if __name__ == '__main__': main()
