"""The outputs shown under the code blocks: placed right, escaped, and checked."""

import pytest

from conftest import DOCS_SYBIL
from sitebuild import page_outputs
from sitebuild.lesson_code import python_fences, run_fence
from tests.support import ROOT
from tests.support.markdown_fences import (
    OutputMismatch,
    evaluate,
    preprocessor,
)

PAGES = sorted((ROOT / "docs").rglob("*.md"))


class FakePage:
    class file:
        src_uri = "lessons/example.md"


@pytest.mark.slow
def test_output_goes_under_its_block_with_the_block_indentation(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(page_outputs, "CACHE", tmp_path)
    from mkdocs.config import load_config

    config = load_config(str(ROOT / "mkdocs.yml"))
    markdown = (
        "Text\n\n```python\nprint('a < b')\n```\n\n"
        "??? note\n    ```python\n    print(1)\n    print(2)\n    ```\n\n"
        "```python\nx = 1\n```\n"
    )
    shown = page_outputs.on_page_markdown(markdown, FakePage, config, None)
    assert (
        '```\n\n<div class="result" markdown="0"><pre><code>a &lt; b</code></pre></div>\n'
        in shown
    )
    # inside the admonition: a fence of class result, indented like the
    # block (raw HTML there would become a paragraph)
    assert "    ``` {.text .result}\n    1\n    2\n    ```\n" in shown
    assert (
        shown.count('class="result"') + shown.count("{.text .result}") == 2
    )  # the block that prints nothing gets no box
    assert page_outputs.cached(markdown) == ["a < b\n", "1\n2\n", ""]


def test_a_block_that_prints_something_else_than_the_page_shows_fails(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(page_outputs, "CACHE", tmp_path)
    text = "```python\nprint(6 * 7)\n```\n"
    fence = python_fences(text, "page.md", ROOT, preprocessor())[0]

    class Document:
        pass

    class Example:
        parsed = (0, 1, fence)
        namespace: dict = {}
        document = Document()

    Example.document.text = text
    page_outputs.store(text, ["42\n"])
    evaluate(Example)  # agrees with what the page shows
    page_outputs.store(text, ["41\n"])
    Example.namespace = {}
    with pytest.raises(
        OutputMismatch, match="block 1 printed:\n42\n\nbut the site shows:\n41"
    ):
        evaluate(Example)


@pytest.mark.parametrize(
    "page", PAGES, ids=lambda p: p.relative_to(ROOT / "docs").as_posix()
)
def test_every_page_block_asserts_or_has_its_output_checked(page):
    """A block on a page either asserts what it shows, or prints it (and the Sybil run compares
    the printout with the output the site shows), or is the package's own source."""
    unchecked = []
    for index, fence in enumerate(
        python_fences(
            page.read_text(encoding="utf-8"), str(page), ROOT, preprocessor()
        )
    ):
        page_code = "".join(
            s.source for s in fence.segments if s.module is None
        )
        if not page_code.strip():
            continue  # package source shown verbatim: the unit tests run it
        if "assert " not in page_code and "print(" not in page_code:
            unchecked.append(
                f"block {index + 1}: {page_code.strip().splitlines()[0]}"
            )
    assert unchecked == []


def test_sybil_collects_every_page():
    assert all(DOCS_SYBIL.should_parse(page) for page in PAGES)


@pytest.fixture
def snippet_file():
    path = ROOT / ".cache" / "test-snippet.py"
    path.parent.mkdir(exist_ok=True)
    yield path
    path.unlink(missing_ok=True)


@pytest.mark.parametrize(
    "source,target,message",
    [
        (
            "# --8<-- [start:one]\nx = 1\n# --8<-- [end:onee]\n",
            "one",
            ".cache/test-snippet.py:1: section 'one' starts here, and no '# --8<-- [end:one]' line follows "
            "(markers in .cache/test-snippet.py: one, onee); docs/page.md:2 includes it",
        ),
        (
            "# --8<-- [start:one]\nx = 1\n# --8<-- [end:one]\n",
            "two",
            "docs/page.md:2: --8<-- \".cache/test-snippet.py:two\": section 'two' of .cache/test-snippet.py needs one "
            "'# --8<-- [start:two]' line and one '# --8<-- [end:two]' line after it; found 0 start and 0 end marker(s). "
            "Sections in .cache/test-snippet.py: one",
        ),
    ],
)
def test_include_mistakes_name_the_page_line_section_and_file(
    snippet_file, source, target, message
):
    from sitebuild.lesson_code import IncludeError

    snippet_file.write_text(source, encoding="utf-8")
    page = f'```python\n--8<-- ".cache/test-snippet.py:{target}"\n```\n'
    with pytest.raises(IncludeError) as error:
        python_fences(page, "docs/page.md", ROOT, preprocessor())
    assert str(error.value) == message


def test_include_of_a_missing_file_is_named():
    from sitebuild.lesson_code import IncludeError

    with pytest.raises(
        IncludeError,
        match='^docs/page.md:2: --8<-- "vitlesson/nope.py:x": there is no file',
    ):
        python_fences(
            '```python\n--8<-- "vitlesson/nope.py:x"\n```\n',
            "docs/page.md",
            ROOT,
            preprocessor(),
        )


def test_page_code_runs_on_one_torch_thread_and_gives_the_count_back():
    """The build and the tests print the same numbers on any machine: a
    sum split over threads adds in another order (a trained loss printed
    0.245 on one thread and 0.240 on two)."""
    import torch

    text = "```python\nimport torch\nprint(torch.get_num_threads())\n```\n"
    fence = python_fences(text, "page.md", ROOT, preprocessor())[0]
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert run_fence(fence, {}) == "1\n"
        assert torch.get_num_threads() == 2
        failing = "```python\nraise ValueError('the page')\n```\n"
        with pytest.raises(ValueError, match="the page"):
            run_fence(
                python_fences(failing, "p.md", ROOT, preprocessor())[0], {}
            )
        assert torch.get_num_threads() == 2  # given back after a failure too
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("indent", ["", "    "])
def test_an_output_follows_its_block_at_the_top_and_inside_a_fold(indent):
    """Inside a fold, raw HTML would become a paragraph (an empty <p>
    between the code and its output) and the glossary's abbreviations
    would reach into the printed text; the output stays a block of its
    own, verbatim, right after the code."""
    import markdown

    code = f'{indent}```python\n{indent}print("batch: ```")\n{indent}```'
    page = (
        ('??? note "folded"\n' if indent else "")
        + code
        + "\n\n"
        + page_outputs.output_block("batch: ```\n<b>", indent)
        + "\n\n*[batch]: a group of images\n"
    )
    extensions = [
        "abbr",
        "admonition",
        "md_in_html",
        "pymdownx.details",
        "pymdownx.highlight",
        "pymdownx.superfences",
    ]
    rendered = markdown.markdown(page, extensions=extensions)
    after_code = rendered.split("</code></pre></div>", 1)[1].lstrip()
    assert after_code.startswith('<div class="result')
    assert "<abbr" not in rendered and "<p></p>" not in rendered
    assert "batch: ```\n&lt;b&gt;" in rendered.replace("&#10;", "\n")
