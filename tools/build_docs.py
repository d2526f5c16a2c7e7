"""Build the documentation website offline, where Quarto is not available.

nbdev processes the notebooks exactly as for `nbdev_docs` (`show_doc` signatures and docments tables, doc links,
hidden cells removed), then nbconvert renders each processed notebook to HTML with the site's sidebar
(nbs/sidebar.yml: Tutorials, API, Explanations). Output: _site_offline/ (not tracked).
Usage: python tools/build_docs.py [--out DIR]
"""
import argparse, html, json, re, shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_DIRECTIVE = re.compile(r'^\s*#\s*\|\s*(.*)$')

def process_notebooks() -> Path:
    "Run nbdev's processing of nbs/ into _proc/ (what `nbdev_proc_nbs` does, without looking for Quarto)."
    import nbdev.doclinks
    from nbdev.quarto import refresh_quarto_yml
    from nbdev.serve import proc_nbs
    refresh_quarto_yml()
    nbdev.doclinks._build_modidx()
    return proc_nbs(n_workers=0, force=True)

def _frontmatter(nb) -> dict:
    "Title and description from the processed notebook's raw frontmatter cell (and drop that cell)."
    import yaml
    if nb.cells and nb.cells[0].cell_type == 'raw' and nb.cells[0].source.startswith('---'):
        meta = yaml.safe_load(nb.cells.pop(0).source.strip().strip('-')) or {}
        return meta
    return {}

def _prepare(nb):
    "Honour Quarto cell options nbconvert does not know: `echo: false` hides the input, `output: false` the output."
    for c in nb.cells:
        if c.cell_type != 'code': continue
        for o in c.get('outputs', []):   # Quarto link attributes mean nothing to nbconvert
            md = o.get('data', {}).get('text/markdown')
            if md: o['data']['text/markdown'] = re.sub(r'\{target="_blank"[^}]*\}', '', md)
        lines = c.source.splitlines()
        opts = [m.group(1).strip() for m in map(_DIRECTIVE.match, lines) if m]
        c.source = '\n'.join(l for l in lines if not _DIRECTIVE.match(l)).strip('\n')
        tags = set(c.metadata.get('tags', []))
        if any(o.replace(' ', '') == 'echo:false' for o in opts) or not c.source: tags.add('remove_input')
        if any(o.replace(' ', '') == 'output:false' for o in opts): tags.add('remove_output')
        c.metadata['tags'] = sorted(tags)
    return nb

def _sidebar(rel_to:Path, titles:dict) -> str:
    "The sidebar of nbs/sidebar.yml as HTML links relative to page `rel_to`, labelled with the pages' titles."
    import yaml, os
    items = yaml.safe_load((ROOT/'nbs'/'sidebar.yml').read_text())['website']['sidebar']['contents']
    def link(p):
        target = Path(p).with_suffix('.html')
        href = os.path.relpath(target, rel_to.parent)
        return f'<li><a href="{html.escape(href)}">{html.escape(titles.get(p, Path(p).stem))}</a></li>'
    out = ['<nav id="rnafm-sidebar"><ul>']
    for it in items:
        if isinstance(it, str): out.append(link(it))
        else:
            out.append(f'<li class="section">{html.escape(it["section"])}<ul>')
            out += [link(p) for p in it['contents']]
            out.append('</ul></li>')
    return '\n'.join(out + ['</ul></nav>'])

_STYLE = '''<style>
#rnafm-sidebar{position:fixed;top:0;left:0;width:210px;height:100%;overflow:auto;padding:12px;
  background:#f6f7f9;border-right:1px solid #ddd;font:14px sans-serif}
#rnafm-sidebar ul{list-style:none;padding-left:10px;margin:2px 0}#rnafm-sidebar .section{font-weight:bold;margin-top:8px}
#rnafm-sidebar .section li{font-weight:normal}body{margin-left:240px!important}
.rnafm-title h1{margin-bottom:0}.rnafm-title p{font-style:italic;opacity:.75;font-size:120%}
</style>'''
# Marks the page with how many of its images decoded, so a headless browser check can read it from the DOM.
_CHECK = '''<script>window.addEventListener('load',function(){var im=[].slice.call(document.images);
document.body.setAttribute('data-images-total',im.length);
document.body.setAttribute('data-images-ok',im.filter(function(i){return i.complete&&i.naturalWidth>0}).length);});</script>'''

def render(proc:Path, out:Path) -> list:
    "Render every processed notebook under `proc` to HTML under `out`; return the pages written."
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    exp = HTMLExporter(template_name='lab', exclude_input_prompt=True, exclude_output_prompt=True)
    trp = TagRemovePreprocessor(remove_input_tags={'remove_input'}, remove_all_outputs_tags={'remove_output'})
    exp.register_preprocessor(trp, enabled=True)
    pages, files = [], sorted(proc.rglob('*.ipynb'))
    titles = {f.relative_to(proc).as_posix(): str(_frontmatter(nbformat.read(f, as_version=4)).get('title', f.stem)) for f in files}
    for nbf in files:
        rel = nbf.relative_to(proc)
        nb = nbformat.read(nbf, as_version=4)
        meta = _frontmatter(nb)
        body, _ = exp.from_notebook_node(_prepare(nb))
        name = meta.get('output-file', rel.with_suffix('.html').name)
        page = rel.parent/name
        title = meta.get('title', rel.stem)
        head = f'<div class="rnafm-title"><h1>{html.escape(str(title))}</h1><p>{html.escape(str(meta.get("description", "")))}</p></div>'
        body = body.replace('</head>', _STYLE + _CHECK + '</head>', 1)
        body = re.sub(r'(<body[^>]*>)', lambda m: m.group(1) + _sidebar(page, titles) + head, body, count=1)
        (out/page).parent.mkdir(parents=True, exist_ok=True)
        (out/page).write_text(body, encoding='utf-8')
        pages.append(page.as_posix())
    return pages

def _fix_sidebar_names(out:Path, pages:list):
    "nbdev names a module's page after its module (00_core.ipynb -> core.html): point sidebar links at real pages."
    import os
    stems = {re.sub(r'^\d+[a-z]?_', '', Path(p).stem): p for p in pages}
    for p in pages:
        f = out/p
        txt = f.read_text(encoding='utf-8')
        def fix(m):
            href = m.group(1); target = (f.parent/href).resolve()
            if target.exists(): return m.group(0)
            key = re.sub(r'^\d+[a-z]?_', '', Path(href).stem)
            if key in stems: return f'<a href="{os.path.relpath(out/stems[key], f.parent)}">'
            return m.group(0)
        f.write_text(re.sub(r'<a href="([^"]+\.html)">', fix, txt), encoding='utf-8')

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default=str(ROOT/'_site_offline'))
    a = ap.parse_args()
    out = Path(a.out)
    if out.exists(): shutil.rmtree(out)
    out.mkdir(parents=True)
    proc = process_notebooks()
    pages = render(proc, out)
    _fix_sidebar_names(out, pages)
    for f in ('styles.css',): shutil.copy(proc/f, out/f)
    (out/'pages.json').write_text(json.dumps(pages, indent=1))
    print(f'{len(pages)} pages in {out}')

if __name__ == '__main__': main()
