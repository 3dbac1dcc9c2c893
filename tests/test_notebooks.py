"""Notebooks: executed end to end, downloadable from their pages, and light to load."""

import asyncio
import json
import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT

NOTEBOOK_PAGES = ["notebooks/flexible-patch-embedding"]
LESSON_PAGES = ["lessons/patches", "lessons/attention", "lessons/positions-and-cls", "lessons/vit-encoder",
                "lessons/dino-connection", "lessons/learned-positions", "lessons/dino-in-miniature",
                "lessons/what-dino-learned"]
DOWNLOADED = NOTEBOOK_PAGES + ["lessons/vit-encoder"]  # the exercise, and a page with a method shown alone;
# every page's code also runs through Sybil


def downloaded_notebook(site, page: str) -> Path:
    html = (site / page / "index.html").read_text(encoding="utf-8")
    link = re.search(r'<a class="md-button vl-download" href="([^"]+)" download', html)
    assert link, f"{page} has no download link"
    return (site / page / link.group(1)).resolve()


@pytest.fixture(scope="module")
def executed(site) -> dict[str, nbformat.NotebookNode]:
    """The downloaded notebooks, each run end to end in its own Jupyter kernel, side by side."""
    notebooks = {page: nbformat.read(downloaded_notebook(site, page), as_version=4) for page in DOWNLOADED}

    async def run(page, notebook):
        start = time.perf_counter()
        client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}})
        await client.async_execute()
        print(f"{page}: executed in {time.perf_counter() - start:.1f} s")

    async def run_all():
        await asyncio.gather(*(run(page, notebook) for page, notebook in notebooks.items()))

    asyncio.run(run_all())
    return notebooks


@pytest.mark.parametrize("page", DOWNLOADED)
def test_downloaded_notebook_is_shipped_clean(site, page):
    path = downloaded_notebook(site, page)
    assert path.is_file() and path.suffix == ".ipynb"
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert not any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")


@pytest.mark.parametrize("page", DOWNLOADED)
def test_downloaded_notebook_runs(executed, page):
    notebook = executed[page]  # an error in any cell has already failed the fixture
    printed = ["".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == "stdout")
               for cell in notebook.cells if cell.cell_type == "code"]
    if page in NOTEBOOK_PAGES:  # the exercise, as shipped with its solutions, passes its own checks
        outputs = "".join(printed)
        assert outputs.count("✓ manual_patching") == 4 and outputs.count("✓ FlexiblePatchEmbedding") == 4
        assert outputs.count("✓ 224/") == 3 and outputs.count("✓ 384/16") == 1  # the configuration table
        tags = [cell.metadata.get("tags", []) for cell in notebook.cells]
        assert tags.count(["exercise"]) == tags.count(["solution"]) == 3
    else:  # a lesson page: the notebook prints exactly what the page shows under each block
        from hooks import page_outputs

        shown = page_outputs.cached((ROOT / "docs" / f"{page}.md").read_text(encoding="utf-8"))
        assert shown is not None and printed == shown


@pytest.mark.parametrize("page", LESSON_PAGES)
def test_every_lesson_notebook_is_valid_python(site, page):
    notebook = nbformat.read(site / "downloads" / f"{page.split('/')[1]}.ipynb", as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            source = "\n".join(line for line in cell.source.splitlines() if not line.startswith("%"))
            compile(source, f"{page} cell {cell.id}", "exec")


def test_lesson_notebook_mirrors_the_page(site):
    notebook = json.loads((site / "downloads" / "patches.ipynb").read_text(encoding="utf-8"))
    page = (ROOT / "docs" / "lessons" / "patches.md").read_text(encoding="utf-8")
    code_cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert len(code_cells) == len(re.findall(r"^[ \t]*```python", page, re.MULTILINE))
    included = [cell for cell in code_cells if "from vitlesson.patching import *" in "".join(cell["source"])]
    assert any("class PatchEmbedding(nn.Module):" in "".join(cell["source"]) for cell in included)
    images = [name for cell in notebook["cells"] for name in cell.get("attachments", {})]
    assert sorted(images) == ["patch-sizes.webp", "patches.webp", "patchify-axes.png", "vit-pipeline.png"]
    text = "".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown")
    assert "!!!" not in text and "???" not in text and "--8<--" not in text and ".md)" not in text


@pytest.mark.parametrize("page", NOTEBOOK_PAGES)
def test_notebook_pages_are_light(site, page):
    html = (site / page / "index.html").read_text(encoding="utf-8")
    size_kb = len(html.encode()) / 1024
    print(f"{page}: {size_kb:.0f} KB")
    assert size_kb <= 300
    assert "<style" not in html and "mathjax" not in html.lower() and "cdnjs" not in html
    sheet = re.search(r'<link rel="stylesheet" href="([^"]+notebook-[0-9a-f]+\.css)">', html)
    css = (site / page / sheet.group(1)).resolve().stat().st_size
    print(f"notebook stylesheet: {css / 1024:.0f} KB (JupyterLab's whole stylesheet is about 575 KB)")
    assert 20_000 < css < 200_000  # the rules this page uses, served once as a file
    assert "jp-InputPrompt" not in html  # no "In [n]:" column
    assert html.count("celltag_solution") >= 3 and html.count("celltag_exercise") >= 3
    assert "Traceback" not in html and "NotImplementedError: write" not in html


def test_stderr_outputs_never_reach_a_notebook_page(site):
    from hooks.notebooks import without_stderr

    child = '<div class="jp-OutputArea-child">{}</div>'
    stdout = child.format('<div class="jp-RenderedText" data-mime-type="application/vnd.jupyter.stdout"><pre>42</pre></div>')
    stderr = child.format('<div data-mime-type="application/vnd.jupyter.stderr"><div><pre>No CUDA runtime</pre></div></div>')
    page = f"<main>{stdout}{stderr}<p>after</p></main>"
    assert without_stderr(page) == f"<main>{stdout}<p>after</p></main>"
    for built in site.rglob("*.html"):
        assert "application/vnd.jupyter.stderr" not in built.read_text(encoding="utf-8"), built
