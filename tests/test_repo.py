"""Repository-level checks that CI relies on: notebooks and package in step, README generated from
nbs/index.ipynb, and the documentation building offline and rendering in a real headless browser."""
import html, os, re, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

def _git_files(root:Path) -> list:
    "Tracked and untracked (not ignored) files of the working tree."
    out = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard', '-z'], cwd=root, capture_output=True, check=True)
    return [f for f in out.stdout.decode().split('\0') if f and (root/f).exists()]

def _snapshot(root:Path) -> dict:
    "Path -> bytes of every tracked or untracked file (what `nbdev_export`/`nbdev_clean` might change)."
    return {f: (root/f).read_bytes() for f in _git_files(root)}

def test_notebooks_and_package_in_step(tmp_path):
    "`nbdev_export` and `nbdev_clean` change nothing: the package is exported from the notebooks, which are clean."
    copy = tmp_path/'repo'
    for f in _git_files(ROOT):
        (copy/f).parent.mkdir(parents=True, exist_ok=True)
        if (ROOT/f).is_symlink(): os.symlink(os.readlink(ROOT/f), copy/f)
        else: shutil.copy2(ROOT/f, copy/f)
    subprocess.run(['git', 'init', '-q'], cwd=copy, check=True)
    shutil.copy2(ROOT/'.gitignore', copy/'.gitignore')
    before = _snapshot(copy)
    for cmd in ('nbdev_export', 'nbdev_clean'):
        r = subprocess.run([str(BIN/cmd)], cwd=copy, capture_output=True, text=True)
        assert r.returncode == 0, f'{cmd} failed:\n{r.stdout}\n{r.stderr}'
    after = _snapshot(copy)
    changed = sorted(f for f in set(before) | set(after) if before.get(f) != after.get(f))
    assert not changed, (f'`nbdev_export`/`nbdev_clean` would change {changed}: run them and commit the notebook '
                         'together with its exported module')

def test_import_cells_hold_imports_only():
    "nbdev's docs build runs every cell holding an import on its own: such a cell must not hold other code."
    import ast, json
    bad = []
    for nb in sorted((ROOT/'nbs').rglob('*.ipynb')):
        if any(p.startswith(('.', '_')) for p in nb.relative_to(ROOT/'nbs').parts): continue
        for i, c in enumerate(json.loads(nb.read_text())['cells']):
            src = ''.join(c['source'])
            if c['cell_type'] != 'code' or 'nbdev_export(' in src or 'eval: false' in src: continue
            try: body = ast.parse('\n'.join(l for l in src.splitlines() if not l.lstrip().startswith(('%', '!')))).body
            except SyntaxError: continue
            body = [n for n in body if not (isinstance(n, ast.ImportFrom) and n.module == '__future__')]
            imports = [n for n in body if isinstance(n, (ast.Import, ast.ImportFrom))]
            if imports and len(imports) != len(body): bad.append(f'{nb.relative_to(ROOT)} cell {i}')
    assert not bad, f'cells mixing imports with other code (move the imports to the import cell): {bad}'

def test_sidebar_lists_every_notebook():
    "nbs/sidebar.yml is what tools/sidebar.py writes from the notebooks present."
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'sidebar.py'), '--check'], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

def test_readme_matches_index():
    "README.md is what tools/make_readme.py generates from nbs/index.ipynb."
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'make_readme.py'), '--check'], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

def _chromium():
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        if shutil.which(name): return shutil.which(name)

CHROME_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                '--disable-background-networking', '--disable-component-update', '--disable-sync',
                '--hide-scrollbars', '--virtual-time-budget=5000']

def test_docs_build_and_render(tmp_path):
    "The docs build offline, and a page shows its signatures, docs and a figure in headless Chromium."
    out = tmp_path/'site'
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py'), '--out', str(out)], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    for page in ('index.html', 'core.html', 'synth.html', 'tutorials/synthetic_data.html', 'explanations/pipeline.html'):
        assert (out/page).exists(), f'{page} was not built'
    chrome = _chromium()
    if chrome is None:
        if os.environ.get('RNA_FM_REQUIRE_BROWSER'): pytest.fail('chromium is required (RNA_FM_REQUIRE_BROWSER) but not installed')
        pytest.skip('chromium not installed (CI installs it; locally: apt-get install chromium)')
    page = out/'synth.html'
    flags = CHROME_FLAGS + [f'--user-data-dir={tmp_path/"profile"}']
    dom = subprocess.run([chrome, *flags, '--dump-dom', page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    text = re.sub(r'\s+', ' ', html.unescape(re.sub(r'<[^>]+>', '', dom)))
    # the signature of make_slide with its docments, its docstring, the sidebar, and every figure decoded
    assert 'def make_slide( path, # where to write the TIFF' in text, 'show_doc signature missing'
    assert 'spec:SlideSpec | None=None, # what to draw' in text, 'documented parameter missing'
    assert 'Draw a synthetic H&E-like slide with known truth' in text, 'docstring missing'
    assert re.search(r'Tutorials.*Synthetic data with known truth.*API.*Core.*Explanations.*How rna_fm works', text), 'sidebar missing'
    total = int(re.search(r'data-images-total="(\d+)"', dom).group(1))
    ok = int(re.search(r'data-images-ok="(\d+)"', dom).group(1))
    assert total >= 2 and ok == total, f'{ok} of {total} images rendered'
    shot = tmp_path/'synth.png'
    subprocess.run([chrome, *flags, '--window-size=1280,1800', f'--screenshot={shot}', page.as_uri()],
                   capture_output=True, timeout=120)
    from PIL import Image
    import numpy as np
    img = np.asarray(Image.open(shot).convert('L'), float)
    assert img.std() > 10, 'the screenshot is blank'
    keep = ROOT/'_site_offline'
    keep.mkdir(exist_ok=True); shutil.copy(shot, keep/'synth_screenshot.png')

def _settings() -> dict:
    import configparser
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini', encoding='utf-8')
    return dict(cfg['DEFAULT'])

def test_min_python_is_what_the_requirements_need_and_what_the_readme_says():
    "settings.ini's min_python admits every installed runtime requirement, and the README states that version."
    from importlib.metadata import PackageNotFoundError, metadata
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    s = _settings(); minpy = s['min_python']
    too_new = []
    for req in s['requirements'].split():
        name = Requirement(req).name
        try: rp = metadata(name).get('Requires-Python')
        except PackageNotFoundError: continue
        if rp and not SpecifierSet(rp).contains(minpy): too_new.append(f'{name} needs Python {rp}')
    assert not too_new, f'settings.ini says min_python = {minpy}, but {too_new}: raise min_python'
    assert f'Python {minpy} or later' in (ROOT/'README.md').read_text(), 'README (nbs/index.ipynb) states another Python version'
    assert tuple(map(int, minpy.split('.'))) <= sys.version_info[:2], f'this Python {sys.version} is older than min_python'

def test_data_samples_readme_lists_every_file_with_its_size_and_hash():
    "data_samples/README.md's tables give each shipped file's exact byte size and sha256 prefix, and list every file."
    import hashlib
    ds, section, listed, wrong = ROOT/'data_samples', None, set(), []
    for line in (ds/'README.md').read_text().splitlines():
        if m := re.match(r'## `([^`]+)/`', line): section = m[1]
        m = re.match(r'\| `([^`]+)` \| ([\d,]+) \| `([0-9a-f]+)` \|', line)
        if not m: continue
        rel = f'{section}/{m[1]}'; f = ds/rel; listed.add(rel)
        if not f.is_file(): wrong.append(f'{rel}: listed but missing'); continue
        size, sha = f.stat().st_size, hashlib.sha256(f.read_bytes()).hexdigest()
        if int(m[2].replace(',', '')) != size: wrong.append(f'{rel}: README says {m[2]} bytes, the file has {size:,}')
        if not sha.startswith(m[3]) or len(m[3]) < 16: wrong.append(f'{rel}: README says sha256 {m[3]}, the file has {sha[:16]}')
    shipped = {p.relative_to(ds).as_posix() for p in ds.rglob('*') if p.is_file() and p.name != 'README.md'}
    wrong += [f'{rel}: shipped but not listed' for rel in sorted(shipped - listed)]
    assert listed and not wrong, f'data_samples/README.md is out of date: {wrong}'

def test_notebooks_open_and_close_as_style_says():
    "Every notebook opens with `# Title` and `> summary`, then a hidden fastcore.test/showdoc import cell, and ends with nbdev_export."
    import json
    bad = []
    for nb in sorted((ROOT/'nbs').rglob('*.ipynb')):
        if any(p.startswith(('.', '_')) for p in nb.relative_to(ROOT/'nbs').parts): continue
        cells = json.loads(nb.read_text())['cells']
        src = [''.join(c['source']) for c in cells]
        name = nb.relative_to(ROOT).as_posix()
        if not (cells[0]['cell_type'] == 'markdown' and src[0].startswith('# ') and '\n> ' in src[0]):
            bad.append(f'{name}: does not open with a `# Title` and `> summary` markdown cell')
        if not any(s.startswith('#| hide') and 'from fastcore.test import *' in s and 'from nbdev.showdoc import *' in s
                   for s in src[:6]):
            bad.append(f'{name}: no `#| hide` cell importing fastcore.test and nbdev.showdoc near the top')
        if not (cells[-1]['cell_type'] == 'code' and src[-1].startswith('#| hide') and 'nbdev.nbdev_export()' in src[-1]):
            bad.append(f'{name}: does not end with a `#| hide` cell running `import nbdev; nbdev.nbdev_export()`')
    assert not bad, '\n'.join(bad)

def test_runtime_does_not_pin_fastcore_below_2():
    "Users may have fastcore 2: the runtime requirements do not cap it, and no module uses fastcore.script (whose flag spelling changed in 2)."
    import configparser
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini', encoding='utf-8')
    fc = [r for r in cfg['DEFAULT']['requirements'].split() if r.startswith('fastcore')]
    assert fc and '<' not in fc[0], f'settings.ini requirements cap fastcore: {fc}'
    users = [p.name for p in (ROOT/'rna_fm').glob('*.py') if 'fastcore.script' in p.read_text()]
    assert not users, f'these modules import fastcore.script (build parsers with rna_fm.config.command_parser): {users}'
