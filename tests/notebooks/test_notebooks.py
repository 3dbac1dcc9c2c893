"""Notebooks: executed end to end, downloadable from their pages, and light to load.

The exercise is tested as a learner meets it: the notebook downloaded from its page,
with code typed into its TODO cells, run top to bottom in a Jupyter kernel."""

import asyncio
import importlib.util
import json
import re
import time

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.support import ROOT
from tests.support.notebooks import (
    defines,
    downloaded_notebook,
    stdout,
    typed_in,
)

EXERCISE = "notebooks/flexible-patch-embedding"


NOTEBOOK_PAGES = [EXERCISE]


LESSON_PAGES = [
    "lessons/patches",
    "lessons/attention",
    "lessons/positions-and-cls",
    "lessons/vit-encoder",
    "lessons/dino-connection",
    "lessons/learned-positions",
    "lessons/dino-in-miniature",
    "lessons/what-dino-learned",
]


DOWNLOADED = NOTEBOOK_PAGES + [
    "lessons/vit-encoder"
]  # the exercise, and a page with a method shown alone;


# every page's code also runs through Sybil
TASKS = [
    "manual_patching",
    "FlexiblePatchEmbedding",
    "configuration_table",
]  # what the TODO cells define


# What learners type into the first TODO cell. The classic mistake: each patch flattened
# channels-last, (P, P, C), where a Conv2d weight flattens (C, P, P).
CHANNELS_LAST = """def manual_patching(images, patch_size):
    B, C, H, W = images.shape
    P = patch_size
    x = images.reshape(B, C, H // P, P, W // P, P)
    x = x.permute(0, 2, 4, 3, 5, 1)  # (B, H/P, W/P, P, P, C)
    return x.reshape(B, (H // P) * (W // P), P * P * C)
"""


# The package's own function called from the first TODO cell: refused.
PACKAGE_PATCHIFY = """def manual_patching(images, patch_size):
    from vitlesson import patchify
    return patchify(images, patch_size)
"""


# A right answer that is not the published solution: unfold flattens each patch as (C, P, P).
UNFOLD = """def manual_patching(images, patch_size):
    patches = nn.functional.unfold(images, patch_size, stride=patch_size)
    return patches.transpose(1, 2)  # (B, C*P*P, N) -> (B, N, C*P*P)
"""


# The notebooks that stop at a check, as "Run all" does.
STOPPED = (
    "learner, channels-last",
    "learner, untouched",
    "learner, package's patchify",
)


# Run before each notebook in the shared kernel: an empty namespace.
RESET = nbformat.v4.new_notebook(
    cells=[nbformat.v4.new_code_cell("%reset -f")]
)


@pytest.fixture(scope="module")
def executed(site) -> dict[str, nbformat.NotebookNode]:
    """The downloaded notebooks, each run top to bottom, as "Run all" does.

    They run one after another in one Jupyter kernel whose namespace is
    emptied before each (``%reset -f``): nothing a notebook defined is seen
    by the next, and the modules it imported stay imported, so torch is
    loaded once instead of five times (about 2 s of CPU each).

    * "lessons/vit-encoder": as downloaded;
    * "solutions": the exercise's solutions notebook, as downloaded;
    * "learner, right": the exercise as downloaded, a right manual_patching typed into
      its TODO cell (not the published one) and the published solutions into the others;
    * "learner, channels-last": the classic mistake in the first TODO cell;
    * "learner, untouched": the exercise as downloaded, run as it comes;
    * "learner, package's patchify": the package's function called from the
      first TODO cell.
    The last three stop at a check, as "Run all" does; their error is kept under "errors"."""
    exercise = nbformat.read(downloaded_notebook(site, EXERCISE), as_version=4)
    solutions = nbformat.read(
        downloaded_notebook(site, EXERCISE, "solutions"), as_version=4
    )
    published = {
        defines(cell): cell.source
        for cell in solutions.cells
        if defines(cell) in TASKS
    }
    notebooks = {
        "lessons/vit-encoder": nbformat.read(
            downloaded_notebook(site, "lessons/vit-encoder"), as_version=4
        ),
        "solutions": solutions,
        "learner, right": typed_in(
            exercise, {**published, "manual_patching": UNFOLD}, TASKS
        ),
        "learner, channels-last": typed_in(
            exercise, {"manual_patching": CHANNELS_LAST}, TASKS
        ),
        "learner, untouched": exercise,
        "learner, package's patchify": typed_in(
            exercise, {"manual_patching": PACKAGE_PATCHIFY}, TASKS
        ),
    }
    errors = {}

    async def execute(notebook, km, kc) -> None:
        client = NotebookClient(
            notebook, km=km, timeout=600, kernel_name="python3"
        )
        client.kc = kc  # the shared kernel's client: none is started
        await client.async_execute()

    async def run_all():
        km = AsyncKernelManager(kernel_name="python3")
        await km.start_kernel(cwd=str(ROOT))
        kc = km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=120)
        try:
            for label, notebook in notebooks.items():
                start = time.perf_counter()
                await execute(RESET, km, kc)
                try:
                    await execute(notebook, km, kc)
                except CellExecutionError as error:
                    if label in STOPPED:
                        errors[label] = error
                    else:
                        raise
                print(
                    f"{label}: executed in {time.perf_counter() - start:.1f} s"
                )
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)

    asyncio.run(run_all())
    return {**notebooks, "errors": errors}


@pytest.mark.parametrize("page", DOWNLOADED)
def test_downloaded_notebook_is_shipped_clean(site, page):
    path = downloaded_notebook(site, page)
    assert path.is_file() and path.suffix == ".ipynb"
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert not any(
        cell.get("outputs")
        for cell in notebook.cells
        if cell.cell_type == "code"
    )


def test_the_downloaded_exercise_has_no_solution_to_shadow_the_learners_code(
    site,
):
    """Each task is defined once, in its TODO cell: nothing after it can replace what the learner wrote."""
    exercise = nbformat.read(downloaded_notebook(site, EXERCISE), as_version=4)
    defined = [defines(cell) for cell in exercise.cells if defines(cell)]
    assert sorted(defined) == sorted(TASKS)
    for cell in exercise.cells:
        assert "solution" not in cell.metadata.get("tags", [])
        if defines(cell):
            assert (
                cell.metadata["tags"] == ["exercise"]
                and "raise NotImplementedError" in cell.source
            )
    solutions = nbformat.read(
        downloaded_notebook(site, EXERCISE, "solutions"), as_version=4
    )
    defined = [defines(cell) for cell in solutions.cells if defines(cell)]
    assert sorted(defined) == sorted(
        TASKS
    )  # one solution per task, and no TODO cell beside it
    assert not any(
        "NotImplementedError" in cell.source for cell in solutions.cells
    )
    # Everything else is the same notebook, in the same order.
    rest = [
        [
            cell.source
            for cell in notebook.cells[1:]
            if not defines(cell) and cell.id != "markdown-solutions"
        ]
        for notebook in (exercise, solutions)
    ]
    assert rest[0] == rest[1]


def test_the_exercise_page_still_runs_the_complete_solution(site):
    html = (site / EXERCISE / "index.html").read_text(encoding="utf-8")
    assert (
        html.count("✓ manual_patching") == 5
        and html.count("✓ FlexiblePatchEmbedding") == 5
    )  # the lesson's four configurations, then the settings drawn


def test_a_learners_right_answers_pass_every_check(executed):
    for label in ("learner, right", "solutions"):
        outputs = "".join(
            stdout(executed[label])
        )  # an error in any cell has already failed the fixture
        assert (
            outputs.count("✓ manual_patching") == 5
            and outputs.count("✓ FlexiblePatchEmbedding") == 5
        )
        assert (
            outputs.count("✓ 224/") == 3 and outputs.count("✓ 384/16") == 1
        )  # the configuration table
        assert (
            "patch embedding" in outputs
        )  # the benchmark table, run on the learner's class


def test_a_channels_last_patching_is_named_and_nothing_passes(executed):
    error = executed["errors"]["learner, channels-last"]
    assert error.ename == "ExerciseError"
    assert (
        "flattened channels-last, as (P, P, C)" in error.evalue
        and "patch size 8" in error.evalue
    )
    assert "exercises.check_manual_patching(manual_patching)" in str(
        error
    )  # it stopped at the first check
    assert not any(
        "✓" in text for text in stdout(executed["learner, channels-last"])
    )


def test_an_untouched_exercise_stops_at_the_first_task_and_says_so(executed):
    error = executed["errors"]["learner, untouched"]
    assert error.ename == "ExerciseError"
    assert (
        "manual_patching is not written yet" in error.evalue
        and "TODO cell" in error.evalue
    )
    assert not any(
        "✓" in text for text in stdout(executed["learner, untouched"])
    )


def test_the_packages_own_patchify_cannot_stand_in_for_the_learners(
    executed,
):
    error = executed["errors"]["learner, package's patchify"]
    assert error.ename == "ExerciseError"
    assert (
        "your code called vitlesson.patchify, the package's solution: "
        "write it yourself" in error.evalue
    )
    assert not any(
        "✓" in text for text in stdout(executed["learner, package's patchify"])
    )


def test_the_install_cell_does_nothing_where_vitlesson_imports(executed):
    for label in ("lessons/vit-encoder", "solutions", "learner, right"):
        first = executed[label].cells[0]
        assert (
            first.id == "code-install"
            and 'find_spec("vitlesson") is None' in first.source
        )
        assert first.outputs == []


def test_without_a_repository_the_install_cell_says_how_to_get_the_code(
    site, monkeypatch
):
    cell = nbformat.read(
        site / "downloads" / "patches.ipynb", as_version=4
    ).cells[0]
    assert (
        cell.id == "code-install" and "%pip" not in cell.source
    )  # nowhere to install from
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None
    )  # as where vitlesson is missing
    with pytest.raises(
        ModuleNotFoundError,
        match="clone the course repository, run `make serve`",
    ):
        exec(TransformerManager().transform_cell(cell.source), {})


def test_downloaded_lesson_notebook_runs(executed):
    from sitebuild import page_outputs

    printed = stdout(executed["lessons/vit-encoder"])[
        1:
    ]  # after the install cell
    shown = page_outputs.cached(
        (ROOT / "docs" / "lessons" / "vit-encoder.md").read_text(
            encoding="utf-8"
        )
    )
    assert (
        shown is not None and printed == shown
    )  # the notebook prints exactly what the page shows


SITE_RELATIVE_LINK = re.compile(
    r"(?<!!)\[[^\]]*\]\((?![a-z][\w+.-]*:|#)([^)\s]+)\)|href=\"(?![a-z][\w+.-]*:|#)([^\"]*)\""
)


def test_no_site_relative_links_in_downloaded_notebooks(site):
    """Site-relative links (../../lessons/patches/) lead nowhere in Jupyter or Colab."""
    notebooks = sorted((site / "downloads").glob("*.ipynb"))
    exercises = list((ROOT / "docs" / "notebooks").glob("*.py"))
    # every lesson, every exercise and its solutions
    assert len(notebooks) == len(LESSON_PAGES) + 2 * len(exercises)
    for path in notebooks:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                assert not SITE_RELATIVE_LINK.findall(cell.source), (
                    path.name,
                    SITE_RELATIVE_LINK.findall(cell.source),
                )
    assert SITE_RELATIVE_LINK.search(
        "[part 1](../../lessons/patches/)"
    )  # the pattern finds what it must
    assert not SITE_RELATIVE_LINK.search(
        "[part 1](https://example.org/lessons/patches/) [up](#top)"
    )


@pytest.mark.parametrize("page", LESSON_PAGES)
def test_every_lesson_notebook_is_valid_python(site, page):
    notebook = nbformat.read(
        site / "downloads" / f"{page.split('/')[1]}.ipynb", as_version=4
    )
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if (
            cell.cell_type == "code"
        ):  # as IPython runs it: %magics become calls
            compile(
                TransformerManager().transform_cell(cell.source),
                f"{page} cell {cell.id}",
                "exec",
            )


def test_lesson_notebook_mirrors_the_page(site):
    notebook = json.loads(
        (site / "downloads" / "patches.ipynb").read_text(encoding="utf-8")
    )
    page = (ROOT / "docs" / "lessons" / "patches.md").read_text(
        encoding="utf-8"
    )
    assert (
        notebook["cells"][0]["id"] == "code-install"
    )  # first code cell: the package where it is missing
    code_cells = [
        cell for cell in notebook["cells"][2:] if cell["cell_type"] == "code"
    ]
    assert len(code_cells) == len(
        re.findall(r"^[ \t]*```python", page, re.MULTILINE)
    )
    included = [
        cell
        for cell in code_cells
        if "from vitlesson.patching import *" in "".join(cell["source"])
    ]
    assert any(
        "def patchify(images" in "".join(cell["source"]) for cell in included
    )
    images = [
        name
        for cell in notebook["cells"]
        for name in cell.get("attachments", {})
    ]
    assert sorted(images) == [
        "patch-sizes.webp",
        "patches.webp",
        "patchify-axes.png",
        "vit-pipeline.png",
    ]
    text = "".join(
        "".join(cell["source"])
        for cell in notebook["cells"]
        if cell["cell_type"] == "markdown"
    )
    assert (
        "!!!" not in text
        and "???" not in text
        and "--8<--" not in text
        and ".md)" not in text
    )


@pytest.mark.parametrize("page", NOTEBOOK_PAGES)
def test_notebook_pages_are_light(site, page):
    html = (site / page / "index.html").read_text(encoding="utf-8")
    size_kb = len(html.encode()) / 1024
    print(f"{page}: {size_kb:.0f} KB")
    assert size_kb <= 300
    assert (
        "<style" not in html
        and "mathjax" not in html.lower()
        and "cdnjs" not in html
    )
    sheet = re.search(
        r'<link rel="stylesheet" href="([^"]+notebook-[0-9a-f]+\.css)">', html
    )
    css = (site / page / sheet.group(1)).resolve().stat().st_size
    print(
        f"notebook stylesheet: {css / 1024:.0f} KB (JupyterLab's whole stylesheet is about 575 KB)"
    )
    assert (
        20_000 < css < 200_000
    )  # the rules this page uses, served once as a file
    assert "jp-InputPrompt" not in html  # no "In [n]:" column
    assert (
        html.count("celltag_solution") >= 3
        and html.count("celltag_exercise") >= 3
    )
    assert "Traceback" not in html and "NotImplementedError: write" not in html


def test_stderr_outputs_never_reach_a_notebook_page(site):
    from sitebuild.notebooks import without_stderr

    child = '<div class="jp-OutputArea-child">{}</div>'
    stdout = child.format(
        '<div class="jp-RenderedText" data-mime-type="application/vnd.jupyter.stdout"><pre>42</pre></div>'
    )
    stderr = child.format(
        '<div data-mime-type="application/vnd.jupyter.stderr"><div><pre>No CUDA runtime</pre></div></div>'
    )
    page = f"<main>{stdout}{stderr}<p>after</p></main>"
    assert without_stderr(page) == f"<main>{stdout}<p>after</p></main>"
    for built in site.rglob("*.html"):
        assert "application/vnd.jupyter.stderr" not in built.read_text(
            encoding="utf-8"
        ), built
