"""DESIGN's rules, enforced on the code as it is: what may import what, no circles, no private
names across modules, every registered experiment reachable from the CLI, no page file shadowing a
standard-library module."""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HUBCORE = ROOT / "hubcore"
PAGES = ROOT / "pages"
APP = ROOT / "app"


def _py(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(absolute module, imported names, line) for every import in `path` (relative resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = _module(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((mod, [a.name for a in node.names], node.lineno))
    return out


def test_hubcore_never_imports_streamlit_or_altair():
    bad = [f"{p.relative_to(ROOT)}:{line} imports {mod}" for p in _py(HUBCORE)
           for mod, _, line in _imports(p) if mod.split(".")[0] in ("streamlit", "altair")]
    assert not bad, "\n".join(bad)


ALLOWED_FOR_PAGES = ("hubcore.experiments", "hubcore.data", "hubcore.errors", "app")


def test_pages_import_only_experiments_data_errors_and_app_helpers():
    bad = []
    for p in _py(PAGES):
        for mod, _, line in _imports(p):
            if mod.startswith(("hubcore", "app")) and not mod.startswith(ALLOWED_FOR_PAGES):
                bad.append(f"{p.relative_to(ROOT)}:{line} imports {mod}")
    assert not bad, "pages are thin: widgets -> one experiment -> charts\n" + "\n".join(bad)


def test_no_module_imports_another_modules_private_names():
    bad = []
    for p in _py(HUBCORE) + _py(APP) + _py(PAGES):
        me = _module(p)
        for mod, names, line in _imports(p):
            if not mod.startswith(("hubcore", "app")) or mod == me:
                continue
            for name in names:
                if name.startswith("_") and not name.startswith("__"):
                    bad.append(f"{p.relative_to(ROOT)}:{line} imports {mod}.{name}")
    assert not bad, "\n".join(bad)


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in _py(HUBCORE) + _py(APP)}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for mod, names, _ in _imports(path):
            for target in [mod] + [f"{mod}.{n}" for n in names]:
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles():
    # a package's __init__ re-exporting its own modules is not a circle between modules
    graph = {k: {t for t in v if not (t == k.rpartition(".")[0])} for k, v in _graph().items()}
    cycles = _cycles(graph)
    assert not cycles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_page_file_shadows_a_standard_library_module():
    shadowing = [p.name for p in PAGES.glob("*.py") if p.stem in sys.stdlib_module_names]
    assert not shadowing, f"page files named like standard-library modules: {shadowing}"


def test_every_registered_experiment_has_a_cli_command():
    from hubcore.cli import build_parser
    from hubcore.experiments.registry import load_all

    parser = build_parser()
    missing = []
    for exp in load_all().values():
        try:
            parser.parse_args([*exp.command, "--help"])
        except SystemExit as stop:
            if stop.code != 0:
                missing.append(exp.name)
    assert not missing, f"registered experiments without a CLI command: {missing}"


def test_every_page_computation_is_registered():
    """Pages call experiments only through registered functions (the registry is the CLI)."""
    from hubcore.experiments.registry import load_all

    registered = {e.func.__name__ for e in load_all().values()}
    bad = []
    for p in _py(PAGES):
        src = p.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("run_experiment", "cached_run"):
                fn = node.args[0] if node.args else None
                name = getattr(fn, "id", None) or getattr(fn, "attr", None)
                if name == "func":  # EXP.func: a registry entry's own function
                    continue
                if name and name not in registered:
                    bad.append(f"{p.name}: {name}")
    assert not bad, "page computations without a registry entry (and so without a CLI command):\n" + "\n".join(bad)


@pytest.mark.parametrize("folder", ["hubcore", "app", "pages"])
def test_modules_have_docstrings(folder):
    missing = [str(p.relative_to(ROOT)) for p in _py(ROOT / folder)
               if p.stat().st_size > 0 and ast.get_docstring(ast.parse(p.read_text(encoding="utf-8"))) is None]
    assert not missing, f"modules without a docstring saying why they exist: {missing}"


def test_cli_help_shows_percent_signs_once(capsys):
    """argparse %-formats option and subcommand help but not descriptions: a text with "95%" must
    print as "95%" everywhere (it printed "95%%" in the checkup's description)."""
    from hubcore.cli import build_parser
    from hubcore.experiments.registry import load_all

    parser = build_parser()
    for args in ([], *([*exp.command] for exp in load_all().values())):
        try:
            parser.parse_args([*args, "--help"])
        except SystemExit:
            pass
    out = capsys.readouterr().out
    assert "95%" in out and "%%" not in out
