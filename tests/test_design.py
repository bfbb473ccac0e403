"""The map in DESIGN.md, held: the library never imports gradio and holds no page; no module of pipelines/ or ui/
imports one that imports it back (directly or through a chain, function-level imports included); app.py is the
entry point only; adding a tab is one module and one line in the tab list."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("pipelines", "ui")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            found[name] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `name` imports anywhere in its file (top level or inside functions)."""
    package = name if path.stem == "__init__" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parent + ([base] if base else []))
            for alias in node.names:  # `from pkg import module` imports the module
                out.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in out if m in known and m != name}


def test_no_import_cycle_in_the_library_or_the_page():
    known = modules()
    graph = {name: imports_of(name, path, set(known)) for name, path in known.items()}
    assert graph["pipelines.hub"] >= {"pipelines.pipeline_ddpm_posterior"}  # the parser sees real imports
    cycles = []

    def visit(node, stack):
        if node in stack:
            cycles.append(stack[stack.index(node) :] + [node])
            return
        for nxt in sorted(graph[node]):
            visit(nxt, stack + [node])

    for start in graph:
        visit(start, [])
    assert not cycles, f"import cycles: {sorted({' -> '.join(c) for c in cycles})}"


def test_the_library_never_imports_gradio():
    for name, path in modules().items():
        if name.startswith("pipelines"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = {
                alias.name.split(".")[0]
                for node in ast.walk(tree)
                if isinstance(node, ast.Import)
                for alias in node.names
            }
            names |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
            assert "gradio" not in names and "ui" not in names, name


def test_app_py_is_the_entry_point_only():
    assert len((REPO / "app.py").read_text(encoding="utf-8").splitlines()) <= 250
    tree = ast.parse((REPO / "app.py").read_text(encoding="utf-8"))
    classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
    assert classes == ["ModelError"], classes  # no tab, no store, no context here


def test_every_tab_module_is_in_the_tab_list():
    import ui

    tab_modules = {path.stem for path in (REPO / "ui").glob("tab_*.py")}
    assert {cls.__module__.rsplit(".", 1)[1] for cls in ui.TABS} == tab_modules
    for cls in ui.TABS:
        assert isinstance(cls.title, str) and callable(cls.layout)


MAX_MODULE_LINES, MAX_FUNCTION_LINES = 700, 80


def test_library_modules_and_functions_stay_readable():
    """One concept per file: no module of pipelines/ over 700 lines, no function over 80."""
    long = []
    for name, path in modules().items():
        if not name.startswith("pipelines"):
            continue
        source = path.read_text(encoding="utf-8")
        if len(source.splitlines()) > MAX_MODULE_LINES:
            long.append(f"{name}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {length} lines")
    assert not long, long
