"""The build redoes only what changed: each figure, page and notebook is
keyed on the code it runs and what that code reaches, in both directions (an
edit to what a result uses invalidates it; an edit elsewhere does not)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from mkdocs.config import load_config

from sitebuild import cache, figures, lesson_code, page_outputs
from tests.support import ROOT


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A checkout of its own: a package ``vitlesson`` of four modules (``a``
    imports ``b`` from a function, ``b`` imports ``.c`` relatively, ``d``
    stands alone and reads the shipped weights), and ``docs/data``."""
    package = tmp_path / "vitlesson"
    (package / "sub").mkdir(parents=True)
    (package / "weights").mkdir()
    (tmp_path / "docs" / "data").mkdir(parents=True)
    files = {
        "vitlesson/__init__.py": "",
        "vitlesson/a.py": "def f():\n    from vitlesson.sub import b\n",
        "vitlesson/sub/__init__.py": "",
        "vitlesson/sub/b.py": "from .c import value\n",
        "vitlesson/sub/c.py": "value = 1\n",
        "vitlesson/d.py": 'PATH = "weights/model.pt"\n',
        "vitlesson/weights/model.pt": "weights",
        "docs/data/bench.json": "{}",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.setattr(cache, "ROOT", tmp_path)
    monkeypatch.setattr(cache, "PACKAGE", package)
    monkeypatch.setattr(cache, "DATA", (package, tmp_path / "docs" / "data"))
    return tmp_path


def names(inputs, root) -> list[str]:
    """The modules whose source an input list holds, and its data files."""
    modules = {item.split("\n")[0] for item in inputs if isinstance(item, str)}
    files = [
        item.relative_to(root).as_posix()
        for item in inputs
        if not isinstance(item, str)
    ]
    return [*sorted(modules), *files]


def edit(path, text: str) -> None:
    """Change a file's bytes (the key reads them) and its size (the parse
    cache is renewed by modification time and size)."""
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def test_imports_are_followed_through_functions_and_relative_imports(tree):
    assert names(
        cache.code_inputs("from vitlesson.a import f\nf()"), tree
    ) == [
        "vitlesson",
        "vitlesson.a",
        "vitlesson.sub",
        "vitlesson.sub.b",
        "vitlesson.sub.c",
    ]
    assert names(
        cache.code_inputs("from vitlesson import d\nd.PATH"), tree
    ) == [
        "vitlesson",
        "vitlesson.d",
        "vitlesson/weights/model.pt",  # named by d
    ]
    assert cache.code_inputs("import numpy\nprint(1)") == []


def test_only_the_definitions_code_uses_count(tree):
    """An edit to a function nobody uses, or a new function, changes
    nothing; an edit to one that is used, or to what runs on import, does."""
    (tree / "vitlesson" / "e.py").write_text(
        "def used():\n    return 1\n\n\ndef unused():\n    return 2\n"
    )
    code = "from vitlesson.e import used\nprint(used())"
    first = cache.key(*cache.code_inputs(code))
    edit(tree / "vitlesson" / "e.py", "\n\ndef new():\n    return 3\n")
    text = (tree / "vitlesson" / "e.py").read_text()
    (tree / "vitlesson" / "e.py").write_text(text.replace("2", "22"))
    assert cache.key(*cache.code_inputs(code)) == first
    (tree / "vitlesson" / "e.py").write_text(text.replace("1", "11"))
    second = cache.key(*cache.code_inputs(code))
    assert second != first
    edit(tree / "vitlesson" / "e.py", "\nprint('imported')\n")
    assert cache.key(*cache.code_inputs(code)) != second


def test_a_name_from_a_star_import_is_followed(tree):
    (tree / "vitlesson" / "e.py").write_text(
        "from vitlesson.sub.c import *\n\n\ndef g():\n    return value\n"
    )
    code = "from vitlesson.e import g\nprint(g())"
    first = cache.key(*cache.code_inputs(code))
    (tree / "vitlesson" / "sub" / "c.py").write_text("value = 22\n")
    assert cache.key(*cache.code_inputs(code)) != first


def test_data_is_named_by_the_code_itself_too(tree):
    code = 'open("docs/data/bench.json")'
    assert names(cache.code_inputs(code), tree) == ["docs/data/bench.json"]


def test_an_import_that_cannot_be_followed_counts_the_whole_package(tree):
    found = names(cache.code_inputs("import vitlesson.moved_away"), tree)
    assert "vitlesson.sub.c" in found and "vitlesson.d" in found
    found = names(cache.code_inputs("print("), tree)
    assert "vitlesson.sub.c" in found


# --- a page's outputs ------------------------------------------------------


def markdown_config(root, **snippets):
    return {
        "markdown_extensions": ["pymdownx.snippets"],
        "mdx_configs": {
            "pymdownx.snippets": {
                "base_path": [str(root)],
                "check_paths": True,
                **snippets,
            }
        },
    }


PAGE = """# A page

Some prose.

```python
from vitlesson.a import f
print(f)
```
"""


def test_a_page_is_keyed_on_its_code_and_the_modules_it_reaches(
    tree, monkeypatch
):
    monkeypatch.setattr(page_outputs, "ROOT", tree)
    config = markdown_config(tree)
    first = page_outputs.cache_key(PAGE, config)
    prose = PAGE.replace("Some prose.", "Other prose, and a new heading.")
    assert page_outputs.cache_key(prose + "\n## More\n", config) == first
    edit(tree / "vitlesson" / "d.py", "print('d')  # not reached\n")
    (tree / "vitlesson" / "e.py").write_text("x = 1\n")  # a new module
    (tree / "docs" / "data" / "bench.json").write_text("[]")
    assert page_outputs.cache_key(PAGE, config) == first
    edit(tree / "vitlesson" / "sub" / "c.py", "value = 2\n")  # reached
    second = page_outputs.cache_key(PAGE, config)
    assert second != first
    code = PAGE.replace("print(f)", "print(f, 1)")
    assert page_outputs.cache_key(code, config) not in (first, second)
    other = markdown_config(tree, dedent_subsections=True)
    assert page_outputs.cache_key(PAGE, other) != second


def test_an_included_section_counts_with_the_module_it_runs_in(
    tree, monkeypatch
):
    monkeypatch.setattr(page_outputs, "ROOT", tree)
    edit(
        tree / "vitlesson" / "a.py",
        "# --8<-- [start:g]\ndef g():\n    return 1\n# --8<-- [end:g]\n",
    )
    page = '```python\n--8<-- "vitlesson/a.py:g"\nprint(g())\n```\n'
    config = markdown_config(tree)
    first = page_outputs.cache_key(page, config)
    edit(tree / "vitlesson" / "sub" / "b.py", "print('b')  # a uses b\n")
    assert page_outputs.cache_key(page, config) != first


def test_navigation_and_site_settings_are_not_part_of_a_pages_key():
    """mkdocs.yml's nav, name and theme change no page's code; its
    pymdownx.snippets settings can."""
    page = (ROOT / "docs" / "lessons" / "patches.md").read_text("utf-8")
    mkdocs_yml = str(ROOT / "mkdocs.yml")
    config = load_config(mkdocs_yml, plugins=[])
    key = page_outputs.cache_key(page, config)
    other = load_config(
        mkdocs_yml,
        plugins=[],
        site_name="Another name",
        nav=[{"Home": "index.md"}, {"New": "lessons/new.md"}],
        use_directory_urls=False,
    )
    assert page_outputs.cache_key(page, other) == key
    config["mdx_configs"]["pymdownx.snippets"]["dedent_subsections"] = True
    assert page_outputs.cache_key(page, config) != key


def test_every_page_of_the_site_has_a_key_from_its_text_alone():
    """The tests look a page's outputs up from the page's text: every page
    of the site gets its key without a build."""
    for page in sorted((ROOT / "docs").rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        if lesson_code.count_python_fences(text):
            assert len(page_outputs.cache_key(text)) == cache.LENGTH


# --- a figure ---------------------------------------------------------------

RECIPES = """
import json
from vitlesson.a import f
from vitlesson import d

DPI = 150


def figure(path):
    return lambda recipe: recipe


@figure("figures/one.png")
def one():
    return f()


@figure("figures/two.png")
def two():
    return json.loads(d.PATH)


def render(path):
    return DPI
"""


def figure_keys(tree, monkeypatch, source: str) -> dict[str, str]:
    recipes = tree / "figure_recipes.py"
    recipes.write_text(textwrap.dedent(source), encoding="utf-8")
    monkeypatch.setattr(figures, "RECIPES", recipes)
    return figures.figure_keys(figures.registered())


def test_an_edit_to_a_module_redraws_only_the_figures_that_reach_it(
    tree, monkeypatch
):
    (tree / "sitebuild").mkdir()
    (tree / "sitebuild" / "__init__.py").write_text("")
    first = figure_keys(tree, monkeypatch, RECIPES)
    assert list(first) == ["figures/one.png", "figures/two.png"]
    edit(tree / "vitlesson" / "sub" / "c.py", "print('c')  # one reaches c\n")
    second = figure_keys(tree, monkeypatch, RECIPES)
    assert second["figures/one.png"] != first["figures/one.png"]
    assert second["figures/two.png"] == first["figures/two.png"]
    (tree / "vitlesson" / "weights" / "model.pt").write_text("retrained")
    third = figure_keys(tree, monkeypatch, RECIPES)
    assert third["figures/one.png"] == second["figures/one.png"]
    assert third["figures/two.png"] != second["figures/two.png"]


def test_a_new_recipe_draws_itself_alone_and_shared_code_redraws_all(
    tree, monkeypatch
):
    (tree / "sitebuild").mkdir()
    (tree / "sitebuild" / "__init__.py").write_text("")
    first = figure_keys(tree, monkeypatch, RECIPES)
    added = (
        RECIPES.replace(
            "from vitlesson import d\n",
            "from vitlesson import d\nfrom vitlesson.sub.c import value\n",
        )
        + '\n\n@figure("figures/three.png")\ndef three():\n    return value\n'
    )
    second = figure_keys(tree, monkeypatch, added)
    assert {path: second[path] for path in first} == first
    edited = RECIPES.replace("return f()", "return f() or 1")
    third = figure_keys(tree, monkeypatch, edited)
    assert third["figures/one.png"] != first["figures/one.png"]
    assert third["figures/two.png"] == first["figures/two.png"]
    shared = figure_keys(tree, monkeypatch, RECIPES.replace("150", "300"))
    assert all(shared[path] != first[path] for path in first)


def test_the_real_recipes_each_have_a_key_of_their_own():
    keys = figures.figure_keys(figures.registered())
    assert len(set(keys.values())) == len(keys) >= 17


# --- a warm build does not load torch --------------------------------------

WARM = """
import sys
from mkdocs.config import load_config
from sitebuild import explorers, figures, page_outputs
config = load_config("mkdocs.yml")  # loads every hook of hooks/
figures.figure_keys(figures.registered())
explorers.cache_key()
config.plugins.on_config(config)
for page in sorted(__import__("pathlib").Path("docs").rglob("*.md")):
    page_outputs.cache_key(page.read_text(encoding="utf-8"), config)
import json
print(json.dumps([n for n in ("torch", "matplotlib") if n in sys.modules]))
"""


@pytest.mark.slow  # a Python start that loads mkdocs and its plugins
def test_the_hooks_and_every_cache_key_of_a_warm_build_leave_torch_out():
    """What a warm build does before it finds its results cached (loading
    the hooks, reading the recipes, computing every key) imports neither
    torch nor matplotlib: seconds saved on every build."""
    done = subprocess.run(
        [sys.executable, "-c", WARM],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


@pytest.mark.slow  # imports torch
def test_the_build_reads_the_benchmark_the_command_records():
    from sitebuild import benchmarks
    from vitlesson.tools import bench

    assert benchmarks.RECORDED == bench.RECORDED
