"""One home per setting (issue 13): every default, allowed-value list and help text of a setting is written once, on
its config field. This walks every config class, the source of every module (AST) and the parser of every command."""
import ast, dataclasses, importlib, pkgutil, typing
from pathlib import Path
import pytest
import rna_fm
from rna_fm.cli import COMMANDS, _load
from rna_fm.config import Option, choices, command_parser, field_default, field_help
from rna_fm.core import JSONConfig, RNAFMError

PKG = Path(rna_fm.__file__).parent
MODULES = sorted(m.name for m in pkgutil.iter_modules([str(PKG)]) if not m.name.startswith('_'))
# Conventions rather than settings of one step: every function taking a seed or a device defaults to these.
CONVENTIONS = {('seed', 0), ('device', 'auto')}

def config_classes() -> list[type]:
    "Every configuration dataclass of rna_fm: the JSONConfig subclasses named *Config."
    for m in MODULES: importlib.import_module(f'rna_fm.{m}')
    seen, todo = [], [JSONConfig]
    while todo:
        for c in todo.pop().__subclasses__():
            todo.append(c)
            if c.__name__.endswith('Config') and c.__module__.startswith('rna_fm.') and c not in seen: seen.append(c)
    return sorted(seen, key=lambda c: (c.__module__, c.__name__))

CONFIGS = config_classes()

def fields(cls): return [f for f in dataclasses.fields(cls) if f.init]

def test_the_walk_finds_the_configs():
    names = {c.__name__ for c in CONFIGS}
    assert {'TilingConfig', 'TissueConfig', 'ModelConfig', 'TrainConfig', 'PredictConfig', 'BaselineConfig', 'MapConfig'} <= names, names

@pytest.mark.parametrize('cls', CONFIGS, ids=lambda c: c.__name__)
def test_every_field_has_its_help_and_its_allowed_values_are_checked(cls):
    helps = field_help(cls)
    assert not [f.name for f in fields(cls) if not helps.get(f.name)], f"{cls.__name__}: fields without a help comment"
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        c = choices(hints[f.name])
        if c is None: continue
        bad = 'not-a-choice' if isinstance(c[0], str) else -12345
        with pytest.raises(RNAFMError, match=f.name): cls.from_dict({**cls().to_dict(), f.name: [bad] if typing.get_origin(hints[f.name]) is tuple else bad})

def registry() -> dict:
    "field name -> [(class, default)] over every config class."
    reg = {}
    for cls in CONFIGS:
        for f in fields(cls): reg.setdefault(f.name, []).append((cls, field_default(cls, f.name)))
    return reg

def _literal(node):
    try: return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError): return ast.literal_eval  # a sentinel no default equals

def restated_defaults() -> list[str]:
    """Function parameters that restate a config field's default under the field's name (AST walk of rna_fm/*.py): in a
    command (`*_cmd`) any config's field, elsewhere the fields of the configs the module defines or imports."""
    reg, found = registry(), []
    for m in MODULES:
        mod = importlib.import_module(f'rna_fm.{m}')
        known = {c for c in CONFIGS if getattr(mod, c.__name__, None) is c}
        tree = ast.parse((PKG/f'{m}.py').read_text())
        for fn in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
            a = fn.args
            pos = a.posonlyargs + a.args
            pairs = list(zip(pos[len(pos) - len(a.defaults):], a.defaults)) + [(p, d) for p, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None]
            for p, d in pairs:
                v = _literal(d)
                if v is None or (p.arg, v) in CONVENTIONS: continue
                for cls, default in reg.get(p.arg, []):
                    if (cls in known or fn.name.endswith('_cmd')) and type(v) is type(default) and v == default:
                        found.append(f"{m}.py:{d.lineno} {fn.name}({p.arg}={v!r}) restates {cls.__name__}.{p.arg}")
    return found

def test_no_function_restates_a_config_default():
    found = restated_defaults()
    assert not found, f"{len(found)} restated default(s):\n" + '\n'.join(found)

def allowed_value_lists() -> list[str]:
    "Tuples, lists or sets of string literals that spell out a Literal's allowed values outside its annotation."
    lits = {frozenset(c) for cls in CONFIGS for t in typing.get_type_hints(cls).values() if (c := choices(t)) and len(c) > 1}
    found = []
    for m in MODULES:
        tree = ast.parse((PKG/f'{m}.py').read_text())
        inside = {id(n) for s in ast.walk(tree) if isinstance(s, ast.Subscript) and getattr(s.value, 'id', None) == 'Literal'
                  for n in ast.walk(s)}
        for n in ast.walk(tree):
            if isinstance(n, (ast.Tuple, ast.List, ast.Set)) and id(n) not in inside and len(n.elts) > 1 and \
               all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in n.elts) and \
               frozenset(e.value for e in n.elts) in lits:
                found.append(f"{m}.py:{n.lineno} {ast.unparse(n)}")
    return found

def literal_lists() -> list[str]:
    "Literal[...] annotations of two or more strings written out more than once (define it once, import it)."
    seen, found = {}, []
    for m in MODULES:
        for s in ast.walk(ast.parse((PKG/f'{m}.py').read_text())):
            if isinstance(s, ast.Subscript) and getattr(s.value, 'id', None) == 'Literal' and isinstance(s.slice, ast.Tuple) and \
               all(isinstance(e, ast.Constant) for e in s.slice.elts):
                key = frozenset(e.value for e in s.slice.elts)
                if key in seen: found.append(f"{m}.py:{s.lineno} {ast.unparse(s)} (also {seen[key]})")
                seen.setdefault(key, f"{m}.py:{s.lineno}")
    return found

def test_allowed_values_are_listed_once():
    found = allowed_value_lists() + literal_lists()
    assert not found, "allowed values written again (check them with rna_fm.config.check_choices):\n" + '\n'.join(found)

def test_no_two_configs_share_a_help_line():
    seen, dup = {}, []
    for cls in CONFIGS:
        for name, h in field_help(cls).items():
            if (name, h) in seen: dup.append(f"{seen[name, h]}.{name} and {cls.__name__}.{name}: {h!r}")
            seen.setdefault((name, h), cls.__name__)
    assert not dup, '\n'.join(dup)

@pytest.mark.parametrize('name', list(COMMANDS))
def test_command_options_come_from_their_fields(name):
    fn = _load(name)
    parser = command_parser(fn, f'rna-fm {name}')
    generated = {o.name: o for o in getattr(fn, 'options', ())}
    exposed = {t[1] for o in generated.values() for t in o.targets}
    reg = registry()
    for act in parser._actions:
        opt = act.dest
        if opt in generated:
            assert act.help == generated[opt].help and act.default is None, (name, opt)
            continue
        # an option of the command itself must not re-declare a field of the settings the command takes: named after
        # one (a positional such as `rna-fm baseline NAME`), it has that field's help and no default of its own
        for cls in [cls for cls, _ in reg.get(opt, []) if cls in exposed]:
            assert act.help == field_help(cls)[opt] and act.default is None, \
                f"rna-fm {name} --{opt} re-declares {cls.__name__}.{opt}: take it with config_options"
