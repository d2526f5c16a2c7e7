"""Package metadata for rna_fm, read from settings.ini (the nbdev 2 layout)."""
from configparser import ConfigParser
from pathlib import Path
import setuptools

here = Path(__file__).parent
cfg = ConfigParser(delimiters=['='])
cfg.read(here/'settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']

licenses = {'apache2': ('Apache Software License 2.0', 'OSI Approved :: Apache Software License')}
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable',
            '6 - Mature', '7 - Inactive']
py_versions = '3.11 3.12 3.13'.split()
min_python = cfg['min_python']
lic = licenses[cfg['license']]

def reqs(key): return cfg.get(key, '').split()

extras = {'dev': reqs('dev_requirements'), 'timm': reqs('timm_requirements'),
          'transformers': reqs('transformers_requirements'), 'parquet': reqs('parquet_requirements'),
          'anndata': reqs('anndata_requirements')}
extras['all'] = sorted(set(extras['timm'] + extras['transformers'] + extras['parquet'] + extras['anndata']))

setuptools.setup(
    name=cfg['dist_name'],
    version=cfg['version'],
    description=cfg['description'],
    long_description=(here/'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    author=cfg['author'], author_email=cfg['author_email'],
    license=lic[0],
    url=cfg['git_url'],
    keywords=cfg['keywords'],
    classifiers=[
        'Development Status :: ' + statuses[int(cfg['status'])],
        'Intended Audience :: ' + cfg['audience'],
        'License :: ' + lic[1],
        'Natural Language :: ' + cfg['language'],
        'Topic :: Scientific/Engineering :: Bio-Informatics',
    ] + ['Programming Language :: Python :: ' + v for v in py_versions[py_versions.index(min_python):]],
    packages=setuptools.find_packages(include=[cfg['lib_name'], cfg['lib_name'] + '.*']),
    include_package_data=True,
    package_data={cfg['lib_name']: ['data/*.gmt', 'data/README.md']},   # data the installed package needs (demo)
    install_requires=reqs('requirements'),
    extras_require=extras,
    python_requires='>=' + min_python,
    zip_safe=False,
    entry_points={
        'console_scripts': cfg['console_scripts'].split(),
        'nbdev': [f"{cfg['lib_name']}={cfg['lib_name']}._modidx:d"],
    },
)
