"""The evaluation report renders in headless Chromium as a user would open it: offline, every figure decoded, not blank."""
import os, re, subprocess, sys
from pathlib import Path
import numpy as np
import pandas as pd
import pytest

CHROME_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                '--disable-background-networking', '--disable-component-update', '--disable-sync',
                '--hide-scrollbars', '--virtual-time-budget=5000']

def _chromium():
    import shutil
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        if shutil.which(name): return shutil.which(name)

def test_report_renders_offline_in_chromium(tmp_path):
    "Two evaluated runs -> report.html: both runs' rows, every embedded image decoded, and a non-blank screenshot."
    from rna_fm.evaluate import evaluate, write_fake_predictions
    from rna_fm.report import report
    rng = np.random.default_rng(0)
    genes, pats = [f'G{i}' for i in range(8)], [f'P{i}' for i in range(40)]
    truth = pd.DataFrame(rng.normal(5, 1, (40, 8)), index=pats, columns=genes)
    write_fake_predictions(tmp_path/'runs'/'flow', 5 + 0.8 * (truth.to_numpy() - 5) + 0.6 * rng.normal(size=(16, 40, 8)),
                           pats, pats, genes, model='rna-fm')
    write_fake_predictions(tmp_path/'runs'/'mean', 5 + rng.normal(size=(16, 40, 8)), pats, pats, genes, model='mean')
    evaluate([tmp_path/'runs'/'flow', tmp_path/'runs'/'mean'], (2**truth - 1).rename_axis('patient_id').reset_index(),
             tmp_path/'eval', gene_sets={'A': genes[:4], 'B': genes[4:]})
    page = report([tmp_path/'eval'], tmp_path/'report')
    chrome = _chromium()
    if chrome is None:
        if os.environ.get('RNA_FM_REQUIRE_BROWSER'): pytest.fail('chromium is required (RNA_FM_REQUIRE_BROWSER) but not installed')
        pytest.skip('chromium not installed (CI installs it; locally: apt-get install chromium)')
    flags = CHROME_FLAGS + [f'--user-data-dir={tmp_path/"profile"}']
    dom = subprocess.run([chrome, *flags, '--dump-dom', page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    text = re.sub(r'\s+', ' ', re.sub(r'<[^>]+>', ' ', dom))
    assert 'Model comparison (patient level)' in text and 'rna-fm' in text and 'mean' in text, 'comparison table missing'
    assert 'pearson_r_mean: best rna-fm' in text, 'verdict missing'
    total = int(re.search(r'data-images-total="(\d+)"', dom).group(1))
    ok = int(re.search(r'data-images-ok="(\d+)"', dom).group(1))
    assert total == 5 and ok == total, f'{ok} of {total} images rendered'
    shot = tmp_path/'report.png'
    subprocess.run([chrome, *flags, '--window-size=1200,2000', f'--screenshot={shot}', page.as_uri()], capture_output=True, timeout=120)
    from PIL import Image
    img = np.asarray(Image.open(shot).convert('L'), float)
    assert img.std() > 10, 'the screenshot is blank'
