"""A lesson page or an exercise source as notebooks
(sitebuild/notebook_convert.py)."""

import json

from sitebuild.lesson_code import Fence, Segment
from sitebuild.notebook_convert import (
    code_cell,
    markdown_cell,
    source_to_notebooks,
)


def test_package_code_is_shown_with_the_import_it_runs_with():
    fence = Fence(
        0,
        1,
        [
            Segment("x = 1\n", "page.md", 3),
            Segment(
                "def f():\n    return 1\n", "vitlesson/a.py", 5, "vitlesson.a"
            ),
            Segment(
                "    def g(self):\n        pass\n",
                "vitlesson/a.py",
                9,
                "vitlesson.a",
            ),
        ],
    )
    source = code_cell(fence, 4).source
    assert source.startswith("x = 1\n# vitlesson.a: the package's source")
    assert "from vitlesson.a import *  # noqa: F403\n\ndef f():" in source
    assert "# vitlesson.a: part of a class, shown on the page" in source
    assert "#     def g(self):" in source  # shown, commented out
    assert code_cell(fence, 4).id == "code-4"


EXERCISE = """# %% [markdown]
# Write `double`; see [part 1](../../lessons/patches/).

# %% tags=["exercise"]
def double(x):
    ...  # your code here

# %% tags=["solution"]
def double(x):
    return 2 * x

# %%
assert double(2) == 4
"""


def test_the_learners_copy_has_no_solution_and_the_solutions_no_todo(
    tmp_path,
):
    path = tmp_path / "double.py"
    path.write_text(EXERCISE)
    config = {"site_url": "https://e.org/", "repo_url": ""}
    notebooks = source_to_notebooks(path, "notebooks/double.py", config)
    assert list(notebooks) == ["double.ipynb", "double-solutions.ipynb"]
    learner, solutions = (
        "".join(cell["source"] for cell in json.loads(text)["cells"])
        for text in notebooks.values()
    )
    assert "your code here" in learner and "return 2 * x" not in learner
    assert "your code here" not in solutions and "return 2 * x" in solutions
    assert "(https://e.org/lessons/patches/)" in learner


def test_a_link_whose_text_spans_two_lines_points_at_the_site():
    text = "See [Going\nfurther](../appendix/more.md#x).\n\n```python\n[a](b)\n```"
    cell = markdown_cell(text, "lessons/page.md", None, "https://e.org/", 0)
    assert "[Going\nfurther](https://e.org/appendix/more/#x)" in cell.source
    assert "[a](b)" in cell.source  # code is left as it is
