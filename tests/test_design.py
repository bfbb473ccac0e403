"""The map in DESIGN.md, held: the folders are the architecture. pipelines/ holds only `__init__.py`, `checks.py` and
sub-packages, each on a floor that imports only the floors below it; the library never imports gradio and holds no
page; no module of pipelines/ or ui/ imports one that imports it back (directly or through a chain, function-level
imports included); app.py is the entry point only; adding a tab is one module and one line in the tab list; no
function is over 80 lines and no library or page module over 500."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("pipelines", "ui")

# Data flows one way: each sub-package imports only those on a lower floor (and `checks`, the floor below all).
FLOORS = {
    "checks": 0,
    "pictures": 0,
    "data": 1,
    "ddpm": 2,
    "exact": 3,
    "training": 3,
    "hub": 3,
    "evaluation": 4,
    "toy2d": 4,
    "transition": 5,
}
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 500, 80
SIZE_CHECKED = ("pipelines", "ui", "bench", "app.py", "train.py")


def modules() -> dict[str, Path]:
    """Every module of pipelines/ and ui/, sub-packages included, by dotted name."""
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
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


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, set(known)) for name, path in known.items()}


def test_no_import_cycle_in_the_library_or_the_page():
    graph = import_graph()
    assert "pipelines.ddpm.pipeline" in graph["pipelines.hub.loading"]  # the parser sees real imports
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


def test_the_library_top_level_holds_only_the_public_names_the_checks_and_sub_packages():
    entries = {p.name for p in (REPO / "pipelines").iterdir() if p.name != "__pycache__"}
    files = {name for name in entries if not (REPO / "pipelines" / name).is_dir()}
    assert files == {"__init__.py", "checks.py"}
    packages = {name for name in entries if (REPO / "pipelines" / name).is_dir()}
    assert packages == set(FLOORS) - {"checks"}
    for package in packages:
        assert (REPO / "pipelines" / package / "__init__.py").is_file(), package


def test_each_sub_package_imports_only_lower_floors():
    """Nothing imports back up a floor: data → ddpm → exact/training/hub → evaluation/toy2d → transition."""
    upward = []
    for name, targets in import_graph().items():
        parts = name.split(".")
        if parts[0] != "pipelines" or len(parts) < 2:
            continue
        for target in targets:
            if not target.startswith("pipelines.") or target.split(".")[1] == parts[1]:
                continue
            if FLOORS[target.split(".")[1]] >= FLOORS[parts[1]]:
                upward.append(f"{name} -> {target}")
    assert not upward, upward


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

    tab_modules = {path.stem for path in (REPO / "ui" / "tabs").glob("*.py")} - {"__init__"}
    assert {cls.__module__.rsplit(".", 1)[1] for cls in ui.TABS} == tab_modules
    text_modules = {path.stem for path in (REPO / "ui" / "text").glob("*.py")} - {"__init__", "page"}
    assert text_modules == tab_modules  # one text module per tab
    for cls in ui.TABS:
        assert isinstance(cls.title, str) and callable(cls.layout)


def _checked_files() -> list[Path]:
    files = []
    for entry in SIZE_CHECKED:
        path = REPO / entry
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


def test_modules_and_functions_stay_readable():
    """One concept per file: no module of pipelines/ or ui/ over 500 lines; no function over 80 lines in pipelines/,
    ui/, bench/, app.py or train.py (a long layout becomes a few named sections)."""
    long = []
    for path in _checked_files():
        rel = path.relative_to(REPO).as_posix()
        source = path.read_text(encoding="utf-8")
        if rel.split("/")[0] in PACKAGES and len(source.splitlines()) > MAX_MODULE_LINES:
            long.append(f"{rel}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{rel}:{node.lineno} {node.name}: {length} lines")
    assert not long, long


def test_the_installable_package_carries_every_sub_package():
    """`pip install .` ships what pyproject.toml's package finder includes: the library and all its sub-packages."""
    import tomllib
    from setuptools import find_packages

    include = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    found = set(find_packages(where=str(REPO), include=include))
    assert found == {"pipelines"} | {f"pipelines.{name}" for name in FLOORS if name != "checks"}
