"""The README's promises: the Space header, the two commands, the map of the modules (checked against the tree),
the docs pages it links to, and the denoise example (docs/library.md) runs as written."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
LIBRARY_DOC = ROOT / "docs" / "library.md"  # the Python API page, with the denoise example
MAPPED = ("pipelines", "ui")  # every module under these (sub-packages included, __init__.py excepted) is on the map


def test_space_header_matches_the_pinned_gradio():
    header = README.split("---")[1]
    fields = dict(line.split(":", 1) for line in header.strip().splitlines())
    assert fields["sdk"].strip() == "gradio" and fields["app_file"].strip() == "app.py"
    pinned = re.search(r"^gradio==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert fields["sdk_version"].strip() == pinned


def test_the_two_commands_come_first_and_ci_runs_the_test_command():
    body = README.split("---", 2)[2]
    first_block = re.search(r"```bash\n(.*?)```", body, re.S).group(1).strip().splitlines()
    assert first_block[0].startswith("pip install -r requirements.txt && python app.py")
    assert first_block[1].startswith("bash scripts/test.sh")
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^torch==2\.13\.0$", (ROOT / "requirements.txt").read_text(), re.M)


def test_the_inner_loop_command_uses_the_registered_markers():
    command = re.search(r'`(python -m pytest -m "([^"`]+)")`', README)
    assert command, "the README states the inner-loop test command"
    markers = set(re.findall(r"not (\w+)", command.group(2)))
    registered = set(re.findall(r"^    (\w+):", (ROOT / "pytest.ini").read_text(), re.M))
    assert markers == {"server", "browser", "slow"} and markers <= registered


def test_the_tab_table_names_every_tab_by_its_title():
    titles = [re.search(r'^    title = "(.+)"$', p.read_text(), re.M) for p in sorted((ROOT / "ui/tabs").glob("*.py"))]
    titles = {m.group(1) for m in titles if m}
    table = set(re.findall(r"^\| \*\*(.+?)\*\* \|", README, re.M))
    assert titles and table == titles, f"README's tab table {sorted(table)} != ui/tabs titles {sorted(titles)}"


# ------------------------------------------------------------------------------------------------ the map
def map_paths(text: str) -> list[str]:
    """The paths the README's map names, in order: the ```text block after `<!-- map -->`, one entry a line,
    `name` then two or more spaces and what it holds; a name ending in / is a folder whose entries are indented two
    spaces deeper; a line that starts with spaces only continues the one above."""
    match = re.search(r"<!-- map -->\n```text\n(.*?)```", text, re.S)
    assert match, "README has no map (<!-- map --> then a ```text block)"
    paths, folders = [], []  # folders: [(indent, "pipelines/ddpm/")]
    for line in match.group(1).splitlines():
        entry = re.match(r"^( *)(\S+)(?: {2,}|$)", line)
        if not entry:
            continue
        indent, name = len(entry.group(1)), entry.group(2)
        if indent % 2 or indent > (folders[-1][0] + 2 if folders else 0):
            continue  # a continuation line
        while folders and folders[-1][0] >= indent:
            folders.pop()
        path = (folders[-1][1] if folders else "") + name
        paths.append(path)
        if name.endswith("/"):
            folders.append((indent, path))
    return paths


def modules_in_the_tree() -> set[str]:
    return {
        p.relative_to(ROOT).as_posix()
        for folder in MAPPED
        for p in (ROOT / folder).rglob("*.py")
        if p.name != "__init__.py" and "__pycache__" not in p.parts
    }


def test_the_map_parser_reads_nesting_and_continuations():
    text = (
        "<!-- map -->\n```text\napp.py        the app\npipelines/    lib\n  checks.py   checks\n  ddpm/       how\n"
        "    pipeline.py   the loop\n                it continues here\n  pictures/   drawing\n    images.py   grids\n"
        "models/       shipped\n              the models\n```\n"
    )
    assert map_paths(text) == [
        "app.py",
        "pipelines/",
        "pipelines/checks.py",
        "pipelines/ddpm/",
        "pipelines/ddpm/pipeline.py",
        "pipelines/pictures/",
        "pipelines/pictures/images.py",
        "models/",
    ]


def test_the_map_names_every_module_and_only_modules_that_exist():
    named = map_paths(README)
    assert len(named) == len(set(named)), f"named twice: {sorted({p for p in named if named.count(p) > 1})}"
    mapped = {p for p in named if p.endswith(".py") and p.split("/")[0] in MAPPED}
    missing, extra = sorted(modules_in_the_tree() - mapped), sorted(mapped - modules_in_the_tree())
    gone = sorted(p for p in named if p not in mapped and not (ROOT / p).exists())
    assert not (missing or extra or gone), (
        "the README's map (<!-- map --> block) and the tree differ:\n"
        + "".join(f"  missing from the map: {p}\n" for p in missing)
        + "".join(f"  on the map but not in the tree: {p}\n" for p in extra + gone)
    )


def test_every_sub_package_is_a_folder_on_the_map():
    named = set(map_paths(README))
    packages = {
        p.parent.relative_to(ROOT).as_posix() + "/"
        for folder in MAPPED
        for p in (ROOT / folder).rglob("__init__.py")
        if p.parent != ROOT / folder
    }
    assert packages - named == set(), f"sub-packages missing from the map: {sorted(packages - named)}"


# ------------------------------------------------------------------------------------------------ the docs
def test_every_docs_page_is_linked_and_every_link_resolves():
    links = set(re.findall(r"\]\((docs/[^)#\s]+)", README))
    pages = {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md")}
    assert pages - links == set(), f"docs pages the README does not link: {sorted(pages - links)}"
    assert all((ROOT / link).is_file() for link in links), sorted(p for p in links if not (ROOT / p).is_file())


def test_the_docs_pages_links_resolve():
    for page in (ROOT / "docs").glob("*.md"):
        text = page.read_text()
        for link in re.findall(r"\]\(([^)#\s]+)(?:#[^)\s]*)?\)", text):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", link):
                assert (page.parent / link).exists(), f"{page.name}: a link to {link}, which does not exist"


def test_the_docs_name_no_module_of_the_old_flat_layout():
    old = (
        r"scheduling_ddpm_posterior|pipeline_ddpm_posterior|pipelines/exact_posterior|analytic_variance\.py|"
        r"training_data\.py|hub_card|hub_errors|visualize\w*\.py|step_costs\.py|ui/text\.py|(?<![\w/])tab_\w+\.py"
    )
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        found = re.findall(old, page.read_text())
        assert not found, f"{page.name} names modules that moved: {sorted(set(found))}"


def test_denoise_example_runs(tmp_path):
    code = re.search(r"<!-- denoise-example -->\n```python\n(.*?)```", LIBRARY_DOC.read_text(), re.S).group(1)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("step")]
    assert len(lines) == 20
    assert lines[0].startswith("step  1/20  t= 950") and lines[-1].startswith("step 20/20  t=   0")


def test_local_posterior_example_runs():
    code = re.search(r"<!-- local-example -->\n```python\n(.*?)```", LIBRARY_DOC.read_text(), re.S).group(1)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "x0_hat (2, 1, 32, 32) samples (2, 1, 32, 32)" in result.stdout
