"""The package layout of DESIGN section 3, checked on the source text (no vstm module is run).

An arrow A -> B means a module of A imports a module of B. A and B are top-level parts of vstm
(``vstm.nn``, ``vstm.viz``, ...; ``vstm`` alone is the package's ``__init__``). Imports at
module level run when A is imported; imports inside a function run when it is called (lazy).

- At import time the arrows form no cycle.
- Counting lazy imports too, they form no cycle once the documented exceptions below are taken
  out; each exception names the change that removes it, and the test fails when an exception
  no longer exists, so that the list only shrinks.
- ``vstm.nn`` (the paper's boxes) imports nothing from the layers above it.
- ``vstm.ops`` (the fast kernels behind the boxes) is the bottom layer: it imports nothing from
  vstm but its errors and type checks, so ``vstm.nn`` may import it and never the reverse.
- ``vstm.cli`` (the command line) is the top: nothing but ``vstm/__main__.py`` imports it, and
  argparse is imported nowhere else.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "vstm"

KNOWN_LAZY_EXCEPTIONS: dict[tuple[str, str], str] = {
    # (importer, imported): the change that removes the arrow
}

NN_MUST_NOT_IMPORT = (
    "vstm.train",
    "vstm.cli",
    "vstm.eval",
    "vstm.inference",
    "vstm.data",
    "vstm.models",
    "vstm.experiments",
)

OPS_MAY_IMPORT = ("vstm.errors", "vstm.typecheck")


@dataclass(frozen=True)
class Import:
    importer: str  # module, e.g. vstm.train.loop
    imported: str  # module, e.g. vstm.models.registry (or vstm for the package itself)
    where: str  # path:line
    lazy: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def top(module: str) -> str:
    """vstm.train.loop -> vstm.train; vstm -> vstm; vstm.cli.train -> vstm.cli."""
    return ".".join(module.split(".")[:2])


def _is_type_checking(test: ast.expr) -> bool:
    return "TYPE_CHECKING" in ast.unparse(test)


def _imports_of(path: Path) -> list[Import]:
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []

    def add(target: str, node: ast.stmt, lazy: bool) -> None:
        if target == "vstm" or target.startswith("vstm."):
            found.append(Import(name, target, f"{path.relative_to(SRC)}:{node.lineno}", lazy))

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, True)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.orelse:  # the TYPE_CHECKING body never runs
                    visit(ast.Module(body=[stmt], type_ignores=[]), lazy)
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name, child, lazy)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    module = ".".join(base + ([child.module] if child.module else []))
                else:
                    module = child.module or ""
                for alias in child.names:
                    sub = f"{module}.{alias.name}"
                    add(sub if sub in MODULES else module, child, lazy)
            else:
                visit(child, lazy)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


IMPORTS = [imp for p in MODULES.values() for imp in _imports_of(p)]


def _arrows(lazy: bool) -> dict[tuple[str, str], list[str]]:
    """{(A, B): [path:line, ...]} between different top-level parts."""
    arrows: dict[tuple[str, str], list[str]] = defaultdict(list)
    for imp in IMPORTS:
        a, b = top(imp.importer), top(imp.imported)
        if a != b and (lazy or not imp.lazy):
            arrows[a, b].append(imp.where)
    return arrows


def _cycles(edges) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(set(graph) | {b for bs in graph.values() for b in bs}):
        if v not in index:
            strong(v)
    return out


def _describe(cycles, arrows) -> str:
    lines = []
    for comp in cycles:
        lines.append(" <-> ".join(comp) + ":")
        for (a, b), where in sorted(arrows.items()):
            if a in comp and b in comp:
                lines.append(f"  {a} -> {b}: {', '.join(list(dict.fromkeys(where))[:3])}")
    return "\n".join(lines)


def test_the_walk_sees_the_package():
    # a guard for the checks below: they pass trivially if nothing is found
    assert {"vstm.nn", "vstm.models", "vstm.train", "vstm.cli"} <= {top(m) for m in MODULES}
    arrows = _arrows(lazy=False)
    assert ("vstm.models", "vstm.nn") in arrows and ("vstm.train", "vstm.models") in arrows
    assert ("vstm.nn", "vstm.ops") in arrows
    assert ("vstm.cli", "vstm.inference") in _arrows(lazy=True)  # vstm/cli/predict.py
    assert _cycles([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]) == [["a", "b", "c"]]


def test_no_cycle_between_top_level_parts_at_import_time():
    arrows = _arrows(lazy=False)
    cycles = _cycles(arrows)
    assert not cycles, "import cycles at module level:\n" + _describe(cycles, arrows)


def test_no_cycle_counting_lazy_imports_but_the_documented_exceptions():
    arrows = _arrows(lazy=True)
    stale = sorted(set(KNOWN_LAZY_EXCEPTIONS) - set(arrows))
    assert not stale, f"these arrows are gone: delete them from KNOWN_LAZY_EXCEPTIONS: {stale}"
    rest = {k: v for k, v in arrows.items() if k not in KNOWN_LAZY_EXCEPTIONS}
    cycles = _cycles(rest)
    assert not cycles, "import cycles through lazy imports:\n" + _describe(cycles, rest)


def test_each_documented_exception_closes_a_cycle():
    # an exception that is not on a cycle is not needed: the arrow may stay, but unlisted
    arrows = _arrows(lazy=True)
    cycles = _cycles(arrows)
    for a, b in KNOWN_LAZY_EXCEPTIONS:
        assert any(a in comp and b in comp for comp in cycles), (a, b)


def test_nn_imports_nothing_from_the_layers_above():
    bad = [
        f"{imp.where}: {imp.imported}"
        for imp in IMPORTS
        if top(imp.importer) == "vstm.nn" and top(imp.imported) in NN_MUST_NOT_IMPORT
    ]
    assert not bad, "vstm.nn (the paper's boxes) imports from above it:\n" + "\n".join(bad)


def test_ops_imports_nothing_from_vstm_but_errors_and_type_checks():
    bad = [
        f"{imp.where}: {imp.imported}"
        for imp in IMPORTS
        if top(imp.importer) == "vstm.ops"
        and top(imp.imported) not in ("vstm.ops", *OPS_MAY_IMPORT)
    ]
    assert not bad, "vstm.ops (the kernels at the bottom) imports from vstm:\n" + "\n".join(bad)


def test_nn_may_import_ops_but_ops_never_nn():
    arrows = _arrows(lazy=True)
    assert ("vstm.nn", "vstm.ops") in arrows
    assert ("vstm.ops", "vstm.nn") not in arrows, arrows["vstm.ops", "vstm.nn"]


def test_nothing_but_main_imports_the_command_line():
    # the library never calls its own command line; ``python -m vstm`` (vstm/__main__.py) does
    bad = [
        f"{imp.where}: {imp.imported}"
        for imp in IMPORTS
        if top(imp.imported) == "vstm.cli"
        and top(imp.importer) != "vstm.cli"
        and imp.importer != "vstm.__main__"
    ]
    assert not bad, "the library imports vstm.cli:\n" + "\n".join(bad)
    assert any(imp.importer == "vstm.__main__" for imp in IMPORTS)  # the walk sees it


def test_argparse_is_imported_only_by_the_command_line():
    # flags are parsed in vstm.cli and turned into calls; the library takes plain arguments
    bad = []
    for name, path in MODULES.items():
        if top(name) == "vstm.cli":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            if any(n == "argparse" or n.startswith("argparse.") for n in names):
                bad.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not bad, "argparse outside vstm.cli:\n" + "\n".join(bad)


# vstm's own public API gathers names from its parts (DESIGN section 4)
AGGREGATORS = {"vstm"}


@pytest.mark.parametrize(
    "name", sorted(m for m in MODULES if m == top(m) and m not in AGGREGATORS | {"vstm.__main__"})
)
def test_public_names_are_defined_in_their_own_part(name):
    # one home per name: a part does not re-export another part's functions or classes
    module = importlib.import_module(name)
    foreign = []
    for attr in getattr(module, "__all__", []):
        obj = getattr(module, attr)
        home = getattr(obj, "__module__", None)
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and home and top(home) != name:
            foreign.append(f"{attr} (from {home})")
    assert not foreign, f"{name} re-exports: {', '.join(foreign)}"


VIZ_MUST_NOT_IMPORT = (
    "vstm.experiments",
    "vstm.train",
    "vstm.cli",
    "vstm.eval",
    "vstm.inference",
    "vstm.models",
)


def test_viz_draws_what_it_is_given():
    # figures take tensors and rows; the experiments load checkpoints and logs and pass them in
    bad = [
        f"{imp.where}: {imp.imported}"
        for imp in IMPORTS
        if top(imp.importer) == "vstm.viz" and top(imp.imported) in VIZ_MUST_NOT_IMPORT
    ]
    assert not bad, "vstm.viz imports from the layers that call it:\n" + "\n".join(bad)


EVAL_MUST_NOT_IMPORT = ("vstm.experiments", "vstm.cli")


def test_eval_sits_below_the_experiments_and_the_command_line():
    # evaluation scores what it is given (models, data, metrics; checkpoints through
    # vstm.train.checkpoint); the experiments and the command line call it, never the reverse
    bad = [
        f"{imp.where}: {imp.imported}"
        for imp in IMPORTS
        if top(imp.importer) == "vstm.eval" and top(imp.imported) in EVAL_MUST_NOT_IMPORT
    ]
    bad += [
        f"{imp.where}: {imp.imported}"
        for imp in IMPORTS
        if top(imp.importer) in ("vstm.train", "vstm.viz") and top(imp.imported) == "vstm.eval"
    ]
    assert not bad, "vstm.eval is imported from below or imports from above:\n" + "\n".join(bad)


# Old import paths that only forward to the new home of what they held, kept while code this
# layout's change could not edit still imports them: old path -> (new home, who may use it).
# The test fails once nothing imports an old path, so that the forwarding is then deleted.
def test_markdown_reports_only_format():
    # vstm.experiments.markdown turns results dicts into text: no vstm module, no torch
    path = MODULES["vstm.experiments.markdown"]
    bad = [imp.where for imp in IMPORTS if imp.importer == "vstm.experiments.markdown"]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        bad += [
            f"{path.relative_to(SRC)}:{node.lineno}" for n in names if n.split(".")[0] == "torch"
        ]
    assert not bad, (
        "vstm.experiments.markdown imports more than the standard library:\n" + "\n".join(bad)
    )


MAX_MODULE_LINES = 600
"""Issue 26: a module longer than this is split along the steps it performs."""


def test_no_module_is_over_the_line_limit():
    sizes = {
        p.relative_to(SRC).as_posix(): len(p.read_text().splitlines()) for p in SRC.rglob("*.py")
    }
    assert len(sizes) > 50  # the walk found the package
    over = {k: n for k, n in sorted(sizes.items()) if n > MAX_MODULE_LINES}
    assert not over, f"modules over {MAX_MODULE_LINES} lines (split them): {over}"


FUNCTION_IMPORT_ALLOWED = {
    # (module, imported): why it stays inside a function
    ("vstm", "vstm.models.checkpoint"): "`import vstm` stays light: load_checkpoint on use",
    ("vstm.models.registry", "vstm.models.pretrained"): "pretrained builds through the registry",
    ("vstm.models.pretrained", "vstm.models.registry"): "the other half of that circle",
}
"""Issue 26: vstm's own imports sit at the top of a module, except in ``vstm.cli`` (each command
imports what it runs) and these."""


def _function_level_imports() -> list[tuple[str, str, int]]:
    found = []
    for module, path in MODULES.items():
        if top(module) == "vstm.cli" or module == "vstm.__main__":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                names = []
                if isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module or ""]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                found += [(module, n, node.lineno) for n in names if n.split(".")[0] == "vstm"]
    return found


def test_vstm_imports_sit_at_the_top_of_modules():
    found = _function_level_imports()
    assert ("vstm", "vstm.models.checkpoint") in {(m, n) for m, n, _ in found}  # the walk works
    bad = [
        f"{m}:{line} imports {n}" for m, n, line in found if (m, n) not in FUNCTION_IMPORT_ALLOWED
    ]
    assert not bad, "move these imports to the top of their module:\n" + "\n".join(bad)


def test_no_branch_on_a_model_name_outside_models():
    # models/ owns what a model is: elsewhere, ask the registry (model_facts, facts_of)
    from vstm.models import model_names

    names = set(model_names())
    bad = []
    for module, path in MODULES.items():
        if top(module) == "vstm.models":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Compare):
                continue
            operands = [node.left, *node.comparators]
            for op in operands:
                elts = op.elts if isinstance(op, (ast.Tuple, ast.List, ast.Set)) else [op]
                hits = [e.value for e in elts if isinstance(e, ast.Constant) and e.value in names]
                bad += [f"{module}:{node.lineno} compares with {h!r}" for h in hits]
    assert not bad, "branches on model names outside vstm.models:\n" + "\n".join(bad)
