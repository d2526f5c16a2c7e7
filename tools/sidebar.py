"""Write nbs/sidebar.yml from the notebooks present: the index, then Tutorials (nbs/tutorials/), API (the numbered
module notebooks, in order) and Explanations (nbs/explanations/). With --check, exit 1 if the file is out of date.
Usage: python tools/sidebar.py [--check]
"""
import sys
from pathlib import Path

NBS = Path(__file__).resolve().parent.parent/'nbs'

def sidebar_text() -> str:
    "The YAML of the site's sidebar."
    def entries(paths): return ''.join(f'          - {p.relative_to(NBS).as_posix()}\n' for p in paths)
    sections = [('Tutorials', sorted((NBS/'tutorials').glob('*.ipynb'))),
                ('API', sorted(p for p in NBS.glob('[0-9]*.ipynb'))),
                ('Explanations', sorted((NBS/'explanations').glob('*.ipynb')))]
    out = 'website:\n  sidebar:\n    contents:\n      - index.ipynb\n'
    for name, paths in sections:
        if paths: out += f'      - section: {name}\n        contents:\n' + entries(paths)
    return out

if __name__ == '__main__':
    f = NBS/'sidebar.yml'
    if '--check' in sys.argv:
        if f.read_text() != sidebar_text(): sys.exit('nbs/sidebar.yml is out of date: run `python tools/sidebar.py`')
        print('nbs/sidebar.yml is up to date')
    else: f.write_text(sidebar_text()); print('wrote nbs/sidebar.yml')
