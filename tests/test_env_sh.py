"""tools/env.sh fails loudly: a failed pip install, an installed distribution whose version is not settings.ini's, and
a Python without ensurepip (Debian without python3-venv) all stop it with a message, and a good environment is only
checked on a re-run. A stand-in interpreter runs the real Python with stand-in packages and a pip that only logs."""
import configparser, os, stat, subprocess, sys, textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def _version() -> str:
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini', encoding='utf-8')
    return cfg['DEFAULT']['version']

def _site(tmp:Path, dist_version:str, torch_version:str='2.13.0+cpu') -> Path:
    "A directory of stand-in packages: rna_fm, torch and nbdev, and the metadata of an installed rna-fm-wsi."
    site = tmp/'site'
    for name, src in (('rna_fm', f'__version__ = {_version()!r}'), ('torch', f'__version__ = {torch_version!r}'), ('nbdev', '')):
        (site/name).mkdir(parents=True, exist_ok=True); (site/name/'__init__.py').write_text(src + '\n')
    info = site/f'rna_fm_wsi-{dist_version}.dist-info'; info.mkdir()
    (info/'METADATA').write_text(f'Metadata-Version: 2.1\nName: rna-fm-wsi\nVersion: {dist_version}\n')
    return site

def _venv(tmp:Path, site:Path, pip_rc:int=0) -> Path:
    "A stand-in virtual environment whose python is the real one on `site`, and whose `pip install` logs and exits `pip_rc`."
    venv = tmp/'venv'; (venv/'bin').mkdir(parents=True); (venv/'pyvenv.cfg').write_text('home = /usr/bin\n')
    py = venv/'bin'/'python'
    py.write_text(textwrap.dedent(f'''\
        #!/usr/bin/env bash
        if [ "$1" = -m ] && [ "$2" = pip ]; then
          if [ "$3" = install ]; then echo "pip $*" >> {tmp}/pip.log; echo "WARNING: Location noise"; echo "ERROR: stand-in pip"; exit {pip_rc}; fi
          exit 0
        fi
        PYTHONPATH={site} exec {sys.executable} "$@"
        '''))
    py.chmod(py.stat().st_mode | stat.S_IXUSR)
    return venv

def _env_sh(venv:Path, **env):
    "Run tools/env.sh on `venv`; a real pip, should one run by mistake, finds nothing to install and fails fast."
    return subprocess.run(['bash', str(ROOT/'tools'/'env.sh')], capture_output=True, text=True, timeout=120,
                          env={**os.environ, 'RNA_FM_VENV': str(venv), 'PIP_NO_INDEX': '1', 'PIP_FIND_LINKS': '', **env})

def test_a_failed_pip_install_fails(tmp_path):
    venv = _venv(tmp_path, _site(tmp_path, _version()), pip_rc=1)
    r = _env_sh(venv)
    assert r.returncode != 0, r.stdout + r.stderr
    assert 'installing rna_fm failed' in r.stderr and 'ERROR: stand-in pip' in r.stdout
    assert 'WARNING: Location' not in r.stdout + r.stderr            # pip's noise is still filtered
    assert not (venv/'.rna_fm_install').exists()

def test_an_installed_version_other_than_settings_fails(tmp_path):
    venv = _venv(tmp_path, _site(tmp_path, '0.0.0.dev1'))
    r = _env_sh(venv)
    assert r.returncode != 0, r.stdout + r.stderr
    assert f'the installed rna-fm-wsi is version 0.0.0.dev1, but settings.ini says {_version()}' in r.stderr

def test_a_good_environment_is_only_checked_when_run_again(tmp_path):
    venv = _venv(tmp_path, _site(tmp_path, _version()))
    r = _env_sh(venv)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (venv/'.rna_fm_install').exists()
    log = (tmp_path/'pip.log').read_text()
    assert 'install -q -e' in log and 'torch' not in log                 # torch 2.13.0 is there: not reinstalled
    r = _env_sh(venv)
    assert r.returncode == 0 and '[setup]' not in r.stdout, r.stdout + r.stderr
    assert (tmp_path/'pip.log').read_text() == log                     # the second run installed nothing

def test_python_without_ensurepip_says_how_to_fix_it(tmp_path):
    "Debian's python3 without the python3-venv package has no ensurepip: say which package to install."
    shadow = tmp_path/'shadow'; shadow.mkdir()
    (shadow/'ensurepip.py').write_text('raise ModuleNotFoundError("No module named \'ensurepip\'")\n')
    py = tmp_path/'python3'
    py.write_text(f'#!/usr/bin/env bash\nPYTHONPATH={shadow} exec {sys.executable} "$@"\n'); py.chmod(0o755)
    venv = tmp_path/'new-venv'
    r = _env_sh(venv, PYTHON=str(py))
    assert r.returncode != 0, r.stdout + r.stderr
    assert 'sudo apt-get install python3-venv' in r.stderr and f'python{sys.version_info[0]}.{sys.version_info[1]}-venv' in r.stderr
    assert not venv.exists()
