"""A maintainer's mistake stops ``mkdocs build --strict`` in one line.

Each build test makes one typical mistake in a copy of the project
(mkdocs.yml, docs/, hooks/, sitebuild/, vitlesson/ and overrides/ copied: the
real files are never edited; the copy's own sitebuild and vitlesson are the
ones imported, since the build runs in the copy with it first on sys.path,
and each finds its files beside itself), builds the copy and checks that the
build stops with
exit status 1 and one error line on stderr naming the file and line (or the
value), with no traceback. The mistakes the hooks check before anything is
rendered (in on_config and on_files) build the whole copy, all at once, and
leave nothing in its cache; the ones found only while rendering (a failing
recipe, page block or notebook cell) build a copy cut down to what they
need. How a failing cell's traceback is read is tested directly.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from mkdocs.exceptions import PluginError

from tests.support import ROOT
from tests.support.site_build import forked_builds

COPIED = ["mkdocs.yml", "docs", "hooks", "sitebuild", "vitlesson", "overrides"]


RECIPES = "sitebuild/figure_recipes.py"


NOTEBOOK = "docs/notebooks/flexible-patch-embedding.py"


# MkDocs' line before a page's error, which names the page only.
PAGE_ERROR = re.compile(r"ERROR\s+-\s+Error (reading|building) page '[^']+':$")


def project_copy(folder: Path, names=COPIED) -> Path:
    for name in names:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source,
                folder / name,
                ignore=shutil.ignore_patterns("__pycache__"),
            )
        else:
            shutil.copy2(source, folder / name)
    return folder


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path}: update the test"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(path: Path, pattern: str) -> tuple[int, str]:
    """The first line of ``path`` matching ``pattern``: (number, text)."""
    for number, line in enumerate(
        path.read_text(encoding="utf-8").splitlines(), start=1
    ):
        if re.search(pattern, line):
            return number, line
    raise AssertionError(f"no line of {path} matches {pattern!r}")


def stops_in_one_line(
    done: subprocess.CompletedProcess,
    *expected: str,
    aborted: str = "Aborted with a BuildError!",
):
    """The build failed (exit status 1) with one error line on stderr
    holding every expected piece (beside MkDocs' "Error reading page 'x':"
    and its last line, ``aborted``), no traceback and no colours."""
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output, output
    assert "\x1b[" not in output, output  # no ANSI colours
    errors = [
        line
        for line in done.stderr.splitlines()
        if line.startswith("ERROR") and not PAGE_ERROR.match(line)
    ]
    assert len(errors) == 1, output
    for piece in expected:
        assert piece in errors[0], (piece, output)
    assert aborted in output, output
    return errors[0]


def nothing_rendered(root: Path) -> None:
    """No figure, explorer data, page output or notebook was made: each
    would be in the copy's cache."""
    cache = root / ".cache"
    assert not cache.exists(), sorted(cache.rglob("*"))


# --- mistakes found before anything is rendered -------------------------------


def include_typo(root):
    page = root / "docs/lessons/patches.md"
    number, line = line_of(page, r'^\s*--8<-- "vitlesson/')
    edit(page, line, line.replace(".py", "s.py", 1))
    return f"docs/lessons/patches.md:{number}:", "there is no file"


def include_section_typo(root):
    page = root / "docs/lessons/attention.md"
    number, line = line_of(page, r'^\s*--8<-- "vitlesson/[^"]+:')
    edit(page, line, re.sub(r'"\s*$', 'x"', line))  # a section typo
    return f"docs/lessons/attention.md:{number}:", "section"


# A figure without a recipe cannot be written: its registration is the
# recipe's decorator.


def figure_registered_twice(root):
    first, _ = line_of(root / RECIPES, r'^@figure\("figures/patches.webp"\)')
    edit(
        root / RECIPES,
        '@figure("figures/patch-sizes.webp")',
        '@figure("figures/patches.webp")',
    )
    number, _ = line_of(root / RECIPES, r"^def patch_sizes\(")
    return (
        f"{RECIPES}:{number - 1}:",
        f"registered twice: by 'patch_sizes' and by 'patches' at line {first}",
    )


def figure_wrong_encoding(root):
    edit(
        root / RECIPES,
        '@figure("figures/patches.webp")',
        '@figure("figures/patches.jpg")',
    )
    number, _ = line_of(root / RECIPES, r'^@figure\("figures/patches.jpg"\)')
    return f"{RECIPES}:{number}:", "must end in one of .png, .webp"


def figure_name_not_written_out(root):
    edit(
        root / RECIPES,
        '@figure("figures/patches.webp")',
        '@figure(f"figures/{NAME}.webp")',
    )
    number, _ = line_of(root / RECIPES, r"^@figure\(f")
    return f"{RECIPES}:{number}:", "its file name written out"


def figure_not_registered(root):
    page = root / "docs/lessons/vit-encoder.md"
    number, line = line_of(page, r"\]\(\.\./figures/")
    edit(page, line, re.sub(r"figures/[\w.-]+", "figures/missing.png", line))
    return f"docs/lessons/vit-encoder.md:{number}:", "figures/missing.png"


def figure_also_in_docs(root):
    (root / "docs/figures").mkdir()
    (root / "docs/figures/patches.webp").write_bytes(b"RIFF")
    return "docs/figures/patches.webp", "remove one"


def quiz_option_typo(root):
    page = root / "docs/lessons/attention.md"
    text = page.read_text(encoding="utf-8")
    quiz = re.search(r"^```quiz\n.*?^```$", text, re.M | re.S)
    option = text.index("\n- [ ] ", quiz.start()) + 1
    number = text.count("\n", 0, option) + 1
    edit(page, quiz[0], quiz[0].replace("\n- [ ] ", "\n- [] ", 1))
    return f"docs/lessons/attention.md:{number}:", "cannot read the quiz line"


def quiz_indented(root):
    page = root / "docs/lessons/attention.md"
    text = page.read_text(encoding="utf-8")
    quiz = re.search(r"^```quiz\n.*?^```$", text, re.M | re.S).group(0)
    fence, _ = line_of(page, r"^```quiz")
    edit(page, quiz, "\n".join("    " + line for line in quiz.split("\n")))
    return f"docs/lessons/attention.md:{fence}:", "quiz fence"


def glossary_without_colon(root):
    glossary = root / "docs/includes/glossary.md"
    number, line = line_of(glossary, r"^\*\[ViT\]:")
    edit(glossary, line, line.replace("]:", "]", 1))
    return f"docs/includes/glossary.md:{number}:", "*[term]: definition"


def glossary_twice(root):
    glossary = root / "docs/includes/glossary.md"
    number, line = line_of(glossary, r"^\*\[CLS\]:")
    total = len(glossary.read_text(encoding="utf-8").splitlines())
    with glossary.open("a", encoding="utf-8") as file:
        file.write(line + "\n")
    return f"docs/includes/glossary.md:{total + 1}:", "defined twice"


def unknown_bench_value(root):
    page = root / "docs/performance.md"
    number, line = line_of(page, r"\{\{ bench\.\w+ \}\}")
    name = re.search(r"\{\{ bench\.(\w+) \}\}", line)[1]
    edit(page, f"{{{{ bench.{name} }}}}", f"{{{{ bench.{name}x }}}}")
    return f"docs/performance.md:{number}:", f"bench.{name}x"


def bench_results_cut_short(root):
    results = root / "docs/data/bench.json"
    results.write_text(results.read_text(encoding="utf-8")[:200])
    return "docs/data/bench.json: not valid JSON"


def nav_names_a_missing_file(root):
    edit(
        root / "mkdocs.yml",
        ": notebooks/flexible-patch-embedding.py",
        ": notebooks/flexible-patch-embeding.py",
    )
    return "mkdocs.yml", "notebooks/flexible-patch-embeding.py"


MISTAKES = [
    include_typo,
    include_section_typo,
    figure_registered_twice,
    figure_wrong_encoding,
    figure_name_not_written_out,
    figure_not_registered,
    figure_also_in_docs,
    quiz_option_typo,
    quiz_indented,
    glossary_without_colon,
    glossary_twice,
    unknown_bench_value,
    bench_results_cut_short,
    nav_names_a_missing_file,
]


# --- mistakes whose one line names the file and line where they are ----------
# Each makes its mistake in a copy of the project and gives the copy, the
# whole line the build must stop with, and MkDocs' last line.


def link_to_a_missing_page(folder: Path):
    root = project_copy(folder)
    page = root / "docs/lessons/patches.md"
    number, line = line_of(page, r"\[part 2\]\(attention\.md\)")
    edit(page, line, line.replace("(attention.md)", "(atention.md)"))
    return root, (
        f"docs/lessons/patches.md:{number}: the link 'atention.md' names "
        "docs/lessons/atention.md, which is not a page of the site; did you "
        "mean 'attention.md'?"
    )


def link_to_a_missing_anchor(folder: Path):
    root = project_copy(folder)
    page = root / "docs/lessons/patches.md"
    number, line = line_of(page, r"going-further\.md#unpatchify\)")
    edit(page, line, line.replace("#unpatchify)", "#unpatchfy)"))
    return root, (
        f"docs/lessons/patches.md:{number}: the link "
        "'../appendix/going-further.md#unpatchfy' names the anchor "
        "#unpatchfy, which docs/appendix/going-further.md does not "
        "have; did you mean '#unpatchify'?"
    )


def plugin_misspelt(folder: Path):
    root = project_copy(folder)
    number, line = line_of(root / "mkdocs.yml", r"^  - glightbox:$")
    edit(root / "mkdocs.yml", line, line.replace("glightbox", "glightbx"))
    return root, (
        f"mkdocs.yml:{number}: plugins: no plugin named 'glightbx' is "
        "installed; did you mean 'glightbox'?"
    )


def end_marker_deleted(folder: Path):
    root = project_copy(folder)
    source = root / "vitlesson/patching.py"
    start, _ = line_of(source, r"# --8<-- \[start:patchify\]$")
    edit(source, "# --8<-- [end:patchify]\n", "")
    include, _ = line_of(
        root / "docs/lessons/patches.md", r'"vitlesson/patching.py:patchify"'
    )
    return root, (
        f"vitlesson/patching.py:{start}: section 'patchify' starts here, and "
        "no '# --8<-- [end:patchify]' line follows (markers in "
        "vitlesson/patching.py: patch_embedding, patch_projection, patchify, "
        f"unpatchify); docs/lessons/patches.md:{include} includes it"
    )


NAMED_MISTAKES = [
    link_to_a_missing_page,
    link_to_a_missing_anchor,
    plugin_misspelt,
    end_marker_deleted,
]


def link_judged_while_rendering(folder: Path):
    """A link to a file that is not a page (here a notebook) is MkDocs' to
    judge while it renders: its warning gets the page's line."""
    root = tiny_copy(folder, "page.md", "hooks/links.py")
    (root / "docs/page.md").write_text(
        "# A page\n\nProse.\n\nSee [the exercise](exercise.py).\n",
        encoding="utf-8",
    )
    return root, (
        "docs/page.md:5: Doc file 'page.md' contains a link 'exercise.py', "
        "but the target is not found among documentation files."
    )


def built(prepared: dict) -> dict:
    """Build every copy of ``prepared`` (name -> (copy, expected pieces of
    its error line)), one forked build after another: name -> (the build,
    the copy, the expected pieces)."""
    done = forked_builds(
        [
            (root, root / "site", {}, root / "build")
            for root, _ in prepared.values()
        ]
    )
    return {
        name: (build, root, expected)
        for (name, (root, expected)), build in zip(
            prepared.items(), done, strict=True
        )
    }


@pytest.fixture(scope="module")
def early_builds(tmp_path_factory):
    """Every mistake of :data:`MISTAKES` and :data:`NAMED_MISTAKES` in its
    own copy, all built at once: name -> (the build, the copy, the pieces
    of its error line, or the whole line)."""
    return built(
        {
            **{
                mistake.__name__: (
                    root := project_copy(
                        tmp_path_factory.mktemp(mistake.__name__)
                    ),
                    mistake(root),
                )
                for mistake in MISTAKES
            },
            **{
                mistake.__name__: mistake(
                    tmp_path_factory.mktemp(mistake.__name__)
                )
                for mistake in [*NAMED_MISTAKES, link_judged_while_rendering]
            },
        }
    )


@pytest.mark.site
@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.__name__)
def test_a_mistake_stops_the_build_in_one_line_before_rendering(
    early_builds, mistake
):
    done, root, expected = early_builds[mistake.__name__]
    stops_in_one_line(done, *expected)
    nothing_rendered(root)


@pytest.mark.site
@pytest.mark.parametrize("mistake", NAMED_MISTAKES, ids=lambda m: m.__name__)
def test_a_mistake_is_one_line_naming_its_file_and_line(early_builds, mistake):
    """A broken link, a misspelt plugin and a deleted section marker stop
    the build before anything is rendered, in the one line expected."""
    done, root, expected = early_builds[mistake.__name__]
    aborted = (
        "Aborted with a configuration error!"
        if mistake is plugin_misspelt
        else "Aborted with a BuildError!"
    )
    line = stops_in_one_line(done, expected, aborted=aborted)
    assert line == f"ERROR   -  {expected}", done.stderr
    nothing_rendered(root)


@pytest.mark.site
def test_mkdocs_link_warnings_name_the_page_line(early_builds):
    done, _, expected = early_builds["link_judged_while_rendering"]
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    warnings = [
        line for line in done.stderr.splitlines() if line.startswith("WARN")
    ]
    assert warnings == [f"WARNING -  {expected}"], output
    assert "Aborted with 1 warnings in strict mode!" in output, output


def test_a_config_error_is_given_its_line_of_mkdocs_yml(monkeypatch, tmp_path):
    """Any setting MkDocs refuses gets its line; a plugin name that is
    like no installed one lists the installed ones."""
    from sitebuild import config_lines

    monkeypatch.chdir(tmp_path)
    Path("mkdocs.yml").write_text(
        "site_name: A site\ntheme:\n  name: materail\nplugins:\n"
        "  - search\n  - zzqx:\n      enabled: true\n",
        encoding="utf-8",
    )
    theme = "Config value 'theme': Unrecognised theme name: 'materail'."
    assert config_lines.with_line(theme, Path("mkdocs.yml")) == (
        f"mkdocs.yml:2: {theme}"
    )
    plugin = "Config value 'plugins': The \"zzqx\" plugin is not installed"
    line = config_lines.with_line(plugin, Path("mkdocs.yml"))
    assert line.startswith(
        "mkdocs.yml:6: plugins: no plugin named 'zzqx' is installed; "
        "installed: "
    ), line
    assert {"search", "glightbox", "mkdocs-jupyter"} <= set(
        line.split("installed: ")[1].split(", ")
    ), line


# --- mistakes found while rendering: copies cut down to what they need --------

TINY = """\
site_name: A maintainer's mistake
nav: [{nav}]
markdown_extensions:
  - pymdownx.superfences
  - pymdownx.snippets:
      base_path: .
      check_paths: true
{plugins}hooks: [{hooks}]
"""


def tiny_copy(folder: Path, nav: str, hooks: str, plugins: str = "") -> Path:
    """A project with only the page ``nav`` and the hooks it needs."""
    project_copy(folder, ["hooks", "sitebuild", "vitlesson"])
    (folder / "docs/data").mkdir(parents=True)
    shutil.copy2(ROOT / "docs/data/bench.json", folder / "docs/data")
    (folder / "mkdocs.yml").write_text(
        TINY.format(nav=nav, hooks=hooks, plugins=plugins), encoding="utf-8"
    )
    return folder


def page_block_fails(folder: Path):
    root = tiny_copy(folder, "page.md", "hooks/page_outputs.py")
    (root / "docs/page.md").write_text(
        "# A page\n\n```python\nwidth = 16\nprint(width)\n```\n\n"
        "Prose.\n\n```python\nheads = 0\nprint(width // heads)\n```\n",
        encoding="utf-8",
    )
    return root, (
        "docs/page.md:12: a python block failed",
        "ZeroDivisionError: integer division or modulo by zero",
    )


def recipe_fails(folder: Path):
    root = project_copy(folder)
    number, line = line_of(root / RECIPES, r"return patches_figure\(")
    edit(root / RECIPES, line, line.replace("patch_size=", "patch_sizes="))
    return root, (
        f"{RECIPES}:{number}: the recipe 'patches' of "
        "figures/patches.webp failed: TypeError",
        "patch_sizes",
    )


def exercise_cell_fails(folder: Path):
    root = tiny_copy(
        folder,
        "notebooks/flexible-patch-embedding.py",
        "hooks/notebooks.py",
        "plugins:\n  - mkdocs-jupyter:\n      include: ['notebooks/*.py']\n"
        "      execute: true\n      allow_errors: false\n",
    )
    notebook = root / NOTEBOOK
    notebook.parent.mkdir(parents=True)
    shutil.copy2(ROOT / NOTEBOOK, notebook)
    # The solution of task 1 permutes five axes of six.
    number, line = line_of(notebook, r"x = x\.permute\(0, 2, 4, 1, 3, 5\)")
    edit(notebook, line, line.replace(", 5)", ")"))
    check, _ = line_of(notebook, r"^exercises\.check_manual_patching\(")
    return root, (
        f"{NOTEBOOK}:{check}: a cell failed while the build ran the notebook",
        f"(raised at line {number})",
        "manual_patching",
    )


RENDERING_MISTAKES = [page_block_fails, recipe_fails, exercise_cell_fails]


@pytest.fixture(scope="module")
def rendering_builds(tmp_path_factory):
    """Every mistake of :data:`RENDERING_MISTAKES` in its own copy (cut down
    to what it needs where it can be), all built at once."""
    return built(
        {
            mistake.__name__: mistake(
                tmp_path_factory.mktemp(mistake.__name__)
            )
            for mistake in RENDERING_MISTAKES
        }
    )


@pytest.mark.site
@pytest.mark.slow
@pytest.mark.parametrize(
    "mistake", RENDERING_MISTAKES, ids=lambda m: m.__name__
)
def test_a_mistake_found_while_rendering_names_its_line(
    rendering_builds, mistake
):
    done, _, expected = rendering_builds[mistake.__name__]
    stops_in_one_line(done, *expected)


@pytest.mark.slow  # imports torch, matplotlib and the package's plots
def test_a_recipe_that_returns_nothing_is_named(monkeypatch):
    from sitebuild import figure_recipes, figures

    path = "figures/patches.webp"
    number, _ = line_of(ROOT / RECIPES, rf'^@figure\("{path}"\)')
    monkeypatch.setitem(figure_recipes.FIGURES, path, lambda: None)
    with pytest.raises(PluginError) as raised:
        figures.render(path, figures.registered()[path])
    assert str(raised.value) == (
        f"{RECIPES}:{number}: the recipe 'patches' of "
        "figures/patches.webp failed: TypeError: expected the recipe to "
        "return a matplotlib Figure, got NoneType"
    )


# --- how a failing cell is read ----------------------------------------------


def test_each_executed_cell_starts_on_the_line_after_its_marker():
    import jupytext

    from sitebuild import notebooks

    path = ROOT / NOTEBOOK
    source = path.read_text(encoding="utf-8").splitlines()
    cells = [
        cell
        for cell in jupytext.read(path).cells
        if cell.cell_type == "code" and cell.source.strip()
    ]
    starts = notebooks.executed_cell_lines(path)
    assert len(starts) == len(cells) > 3
    for start, cell in zip(starts, cells, strict=True):
        assert source[start - 1].startswith("# %%")
        for offset, line in enumerate(cell.source.splitlines(), start=1):
            assert source[start - 1 + offset] in (line, f"# {line}")


def test_a_chained_cell_error_names_the_failing_and_the_raising_line():
    from nbclient.exceptions import CellExecutionError

    from sitebuild import notebooks

    path = ROOT / NOTEBOOK
    starts = notebooks.executed_cell_lines(path)
    red, green, reset = "\x1b[0;31m", "\x1b[0;32m", "\x1b[0m"
    traceback = (
        f"{red}RuntimeError{reset}  Traceback (most recent call last)\n"
        f"Cell {green}In[4], line 1{reset}\n"
        f"Cell {green}In[3], line 6{reset}, in manual_patching\n"
        "RuntimeError: permute: wrong number of dims\n\n"
        "The above exception was the direct cause of the following "
        "exception:\n\n"
        f"Cell {green}In[4], line 1{reset}\n"
        "File vitlesson/exercises.py:85, in check_manual_patching\n"
    )
    error = CellExecutionError(
        traceback, "ExerciseError", f"manual_patching raised\n{red}x{reset}"
    )
    assert notebooks.notebook_failure(path, "nb.py", error) == (
        f"nb.py:{starts[3] + 1}: a cell failed while the build ran the "
        f"notebook: ExerciseError: manual_patching raised x (raised at line "
        f"{starts[2] + 6})"
    )
    bare = CellExecutionError("", "KeyboardInterrupt", "")
    assert notebooks.notebook_failure(path, "nb.py", bare) == (
        "nb.py: a cell failed while the build ran the notebook: "
        "KeyboardInterrupt: "
    )
