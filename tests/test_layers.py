"""Imports run downward only: no module of hf_sftprep imports from a layer above its own.

Every module is parsed with ``ast`` (nothing is imported), each ``import`` / ``from ... import`` is
resolved to the module file it names, and the two files' layers are compared.
"""

from __future__ import annotations

import ast
from pathlib import Path

import hf_sftprep

PACKAGE = Path(hf_sftprep.__file__).parent

# bottom to top; a module may import from its own layer and the ones before it
LAYERS = ("leaves", "records", "templates", "tokens", "datasets", "train", "cli")
# modules outside a layer's folder, and the layer each belongs to
ROOT_MODULES = {
    "errors.py": "leaves",
    "options.py": "leaves",
    "_version.py": "leaves",
    "sources.py": "datasets",  # read by datasets/recipe.py, datasets/mixture.py and the CLI
    "__main__.py": "cli",
}
# the demo and the template tables run on the offline tokenizers, so they are the library's only
# modules that may import hf_sftprep.testing
TESTING_IMPORTERS = {"cli/demo.py", "cli/templates.py"}
# Known upward imports, each to be removed when fixed (the test below fails on an entry that no longer
# occurs). None: the character spans moved to templates/spans.py and the shape check to datasets/verify.py.
KNOWN_UPWARD: set[tuple[str, str]] = set()


def _name(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _module_file(dotted: list[str]) -> str | None:
    """The file (relative to the package) that ``hf_sftprep.<dotted>`` names, or None if there is none."""
    base = PACKAGE.joinpath(*dotted)
    if (base / "__init__.py").is_file():
        return _name(base / "__init__.py")
    if base.with_suffix(".py").is_file():
        return _name(base.with_suffix(".py"))
    return None


def _targets(path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The package files an import statement in ``path`` loads (imports of other packages give none)."""
    if isinstance(node, ast.Import):
        names = [a.name.split(".") for a in node.names]
        return [t for n in names if n[0] == "hf_sftprep" for t in [_module_file(n[1:])] if t]
    if node.level:
        here = path.relative_to(PACKAGE).parent.parts
        base = list(here[: len(here) - node.level + 1]) + (node.module.split(".") if node.module else [])
    elif node.module and node.module.split(".")[0] == "hf_sftprep":
        base = node.module.split(".")[1:]
    else:
        return []
    # ``from pkg import name`` loads pkg/name.py where that exists, else pkg/__init__.py
    out = []
    for alias in node.names:
        out.append(_module_file([*base, alias.name]) or _module_file(base))
    return [t for t in out if t]


def _edges() -> set[tuple[str, str]]:
    edges = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges.update((_name(path), t) for t in _targets(path, node) if t != _name(path))
    return edges


def _layer(name: str) -> str:
    top = name.split("/")[0]
    return ROOT_MODULES.get(name, top)


EDGES = _edges()


def test_the_import_graph_is_read():
    assert ("datasets/mixture.py", "records/detect.py") in EDGES
    assert ("cli/main.py", "options.py") in EDGES
    assert ("cli/demo.py", "testing/offline.py") in EDGES
    assert ("records/openai.py", "errors.py") in EDGES
    assert all(name.endswith(".py") for edge in EDGES for name in edge)
    layers = {_layer(name) for edge in EDGES for name in edge}
    assert layers == {*LAYERS, "testing", "__init__.py"}


def test_imports_run_downward():
    upward = sorted(
        (src, dst) for src, dst in EDGES
        if _layer(src) in LAYERS and _layer(dst) in LAYERS and LAYERS.index(_layer(dst)) > LAYERS.index(_layer(src))
    )
    assert [e for e in upward if e not in KNOWN_UPWARD] == []
    # an exception that no longer occurs must leave the list
    assert sorted(KNOWN_UPWARD - set(upward)) == []


def test_only_the_demo_and_the_template_tables_import_testing():
    importers = {src for src, dst in EDGES if _layer(dst) == "testing" and _layer(src) != "testing"}
    assert importers == TESTING_IMPORTERS


def test_nothing_inside_imports_the_package_root():
    assert sorted(src for src, dst in EDGES if dst == "__init__.py") == []


def _bound_names(init: Path) -> set[str]:
    """The names an ``__init__.py`` binds by import, plus those its ``__all__`` lists."""
    names = set()
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            names.update(ast.literal_eval(node.value))
    return names


def test_no_subpackage_reexport_hides_a_module():
    # `from hf_sftprep.datasets import pack as pack_module` and monkeypatch.setattr("hf_sftprep.datasets.
    # prepare.__version__", ...) need the attribute to stay the module, not a function of the same name
    clashes = {}
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        modules = {p.stem for p in init.parent.glob("*.py")}
        modules |= {p.parent.name for p in init.parent.glob("*/__init__.py")}
        if hidden := sorted(_bound_names(init) & (modules - {"__init__"})):
            clashes[_name(init)] = hidden
    assert clashes == {}
