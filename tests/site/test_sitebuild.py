"""The site build's support package: thin hooks, one cache key, a figure
registry written beside its recipes."""

from __future__ import annotations

import ast
import importlib
import json
import re
from pathlib import Path

import pytest
from mkdocs.config import load_config
from mkdocs.exceptions import PluginError

from sitebuild import cache, figures
from tests.support import ROOT


def test_every_figure_is_at_most_8_inches_wide_with_9_point_text(site):
    """Read from the build's figures.json: the width and the smallest text
    the recipe's own figure reported (tests/site/test_site.py checks that a
    build drawing every figure afresh writes the same file)."""
    from sitebuild.figure_recipes import FIGURES

    meta = json.loads(
        (site / "figures" / "figures.json").read_text(encoding="utf-8")
    )
    assert set(meta) == set(FIGURES)
    for path, figure in meta.items():
        assert figure["width_in"] <= 8, path
        assert figure["smallest_text_pt"] >= 9, path


HOOKS = sorted((ROOT / "hooks").glob("*.py"))


def test_mkdocs_loads_the_hooks_and_calls_the_packages_own_functions():
    """MkDocs loads every file of hooks/ (and nothing else) and finds in
    each the very functions of its sitebuild module: one module object, the
    same for MkDocs and for the tests."""
    hooks = load_config(str(ROOT / "mkdocs.yml"))["hooks"]
    assert sorted(hooks) == [f"hooks/{path.name}" for path in HOOKS]
    assert len(hooks) >= 8
    for name, hook in hooks.items():
        module = importlib.import_module(f"sitebuild.{Path(name).stem}")
        events = [event for event in vars(hook) if event.startswith("on_")]
        assert events, name
        for event in events:
            assert getattr(hook, event) is getattr(module, event), event


@pytest.mark.parametrize("hook", HOOKS, ids=lambda p: p.stem)
def test_a_hook_imports_every_event_function_of_its_module_and_nothing_else(
    hook,
):
    """A hook is a docstring and one import from the sitebuild module of its
    name: every ``on_*`` function that module defines (one left out would
    never run), so that a test and MkDocs see the same function objects."""
    tree = ast.parse(hook.read_text(encoding="utf-8"))
    docstring, statement = tree.body
    assert isinstance(docstring, ast.Expr) and ast.get_docstring(tree)
    assert isinstance(statement, ast.ImportFrom)
    assert statement.module == f"sitebuild.{hook.stem}"
    module = importlib.import_module(statement.module)
    events = {
        name
        for name, value in vars(module).items()
        if name.startswith("on_")
        and callable(value)
        and value.__module__ == module.__name__
    }
    assert {alias.name for alias in statement.names} == events
    assert all(alias.asname is None for alias in statement.names)


def test_nothing_of_the_build_edits_sys_path():
    sources = [*HOOKS, *sorted((ROOT / "sitebuild").glob("*.py"))]
    assert len(sources) > 8
    for source in sources:
        assert "sys.path" not in source.read_text(encoding="utf-8"), source


# --- the cache key --------------------------------------------------------


def test_a_key_changes_with_each_input_and_only_with_it(tmp_path):
    folder = tmp_path / "package"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.py").write_text("a = 1\n")
    (folder / "sub" / "b.bin").write_bytes(b"\x00\x01")
    page = tmp_path / "page.md"
    page.write_text("# A page\n")
    first = cache.key(folder, page, "torch==2.0")
    assert re.fullmatch(r"[0-9a-f]{16}", first)
    assert cache.key(folder, page, "torch==2.0") == first
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"compiled")
    assert cache.key(folder, page, "torch==2.0") == first  # not an input
    keys = {first}
    for change in [
        lambda: (folder / "sub" / "b.bin").write_bytes(b"\x00\x02"),
        lambda: (folder / "sub" / "b.bin").rename(folder / "sub" / "c.bin"),
        lambda: (folder / "d.py").write_text(""),
        lambda: page.write_text("# A page, edited\n"),
    ]:
        change()
        keys.add(cache.key(folder, page, "torch==2.0"))
    keys.add(cache.key(folder, page, "torch==2.1"))
    assert len(keys) == 6  # every change made a new key


def test_inputs_are_kept_apart_and_in_order(tmp_path):
    assert cache.key("ab", "c") != cache.key("a", "bc")
    assert cache.key("a", "b") != cache.key("b", "a")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert cache.key(empty) != cache.key("")


def test_the_inputs_of_package_code_are_its_modules_and_their_data():
    """A figure that loads the trained tiny ViT depends on the module that
    loads it, the packages it sits in, and the shipped weights it reads."""
    inputs = cache.code_inputs(
        "from vitlesson.lab.train import load_trained\nload_trained()"
    )
    modules = {item.split("\n")[0] for item in inputs if isinstance(item, str)}
    files = {
        item.relative_to(ROOT).as_posix()
        for item in inputs
        if not isinstance(item, str)
    }
    assert {"vitlesson", "vitlesson.lab", "vitlesson.lab.train"} <= modules
    assert "vitlesson.figures.plots" not in modules
    assert "vitlesson/weights/tiny-shapes.pt" in files
    assert "docs/data/bench.json" not in files
    assert cache.versions("numpy")[0].startswith("numpy==")


# --- the figure registry --------------------------------------------------


def registrations(tmp_path, monkeypatch, source: str):
    recipes = tmp_path / "figure_recipes.py"
    recipes.write_text(source, encoding="utf-8")
    monkeypatch.setattr(figures, "RECIPES", recipes)
    return figures.registered()


def test_a_registration_is_read_from_the_source_with_its_line(
    tmp_path, monkeypatch
):
    found = registrations(
        tmp_path,
        monkeypatch,
        'import x\n\n\n@figure("figures/a.png")\ndef a():\n    return x\n\n\n'
        'def helper():\n    pass\n\n\n@other\n@figure("figures/b.webp")\n'
        "def b():\n    pass\n",
    )
    assert found == {
        "figures/a.png": figures.Registration("a", 4),
        "figures/b.webp": figures.Registration("b", 14),
    }


@pytest.mark.parametrize(
    "decorator, message",
    [
        (
            '@figure("figures/a.jpg")',
            "figure_recipes.py:4: the figure figures/a.jpg must end in one "
            "of .png, .webp (its encoding), got '.jpg'",
        ),
        (
            '@figure("figures/a")',
            "figure_recipes.py:4: the figure figures/a must end in one of "
            ".png, .webp (its encoding), got 'no ending'",
        ),
        (
            "@figure(NAME)",
            "figure_recipes.py:4: a figure is registered as "
            '@figure("figures/<name>.png"), its file name written out, got '
            "@figure(NAME)",
        ),
        (
            "@figure",
            "its file name written out, got @figure",
        ),
        (
            '@figure("figures/a.png", dpi=300)',
            "its file name written out, got @figure('figures/a.png', dpi=300)",
        ),
        (
            '@figure("figures/first.png")',
            "figure_recipes.py:4: the figure figures/first.png is registered "
            "twice: by 'a' and by 'first' at line 1",
        ),
    ],
)
def test_a_registration_the_build_cannot_read_stops_it_naming_its_line(
    tmp_path, monkeypatch, decorator, message
):
    source = (
        '@figure("figures/first.png")\ndef first():\n    pass\n'
        f"{decorator}\ndef a():\n    pass\n"
    )
    with pytest.raises(PluginError) as raised:
        registrations(tmp_path, monkeypatch, source)
    assert message in str(raised.value)
    assert str(raised.value).startswith("sitebuild/figure_recipes.py:4: ")


def test_the_registry_the_build_reads_is_the_one_the_recipes_fill():
    from sitebuild import figure_recipes

    read = figures.registered()
    assert len(read) >= 17
    assert list(read) == list(figure_recipes.FIGURES)
    for path, recipe in figure_recipes.FIGURES.items():
        assert read[path].recipe == recipe.__name__, path
        assert Path(recipe.__code__.co_filename) == figures.RECIPES


@pytest.mark.slow  # imports torch, matplotlib and the package's plots
def test_a_figure_recipe_runs_on_one_torch_thread(monkeypatch):
    """Figure bytes do not depend on the machine's cores."""
    import matplotlib.figure
    import torch

    from sitebuild import figure_recipes

    seen = []

    def recipe():
        seen.append(torch.get_num_threads())
        figure = matplotlib.figure.Figure(figsize=(2, 1))
        figure.text(0.5, 0.5, "one thread", fontsize=10)
        return figure

    monkeypatch.setitem(figure_recipes.FIGURES, "figures/patches.webp", recipe)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        figure_recipes.render("figures/patches.webp")
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
