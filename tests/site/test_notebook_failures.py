"""A notebook that fails while the build runs it, in one line
(sitebuild/notebook_failures.py)."""

from nbclient.exceptions import CellExecutionError, CellTimeoutError

from sitebuild.notebook_failures import executed_cell_lines, notebook_failure

SOURCE = (
    "# %% [markdown]\n# A title\n\n"
    "# %%\nx = 1\n\n"
    "# %%\n\n"  # empty: the kernel skips it
    "# %%\ndef f():\n    raise ValueError('in f')\n\n"
    "# %%\nf()\n"
)


def test_each_executed_cell_maps_to_its_source_line(tmp_path):
    path = tmp_path / "nb.py"
    path.write_text(SOURCE)
    assert executed_cell_lines(path) == [4, 9, 13]


def test_a_failure_names_the_source_line_that_raised(tmp_path):
    """The deepest cell frame: the line in f, a cell above the call."""
    path = tmp_path / "nb.py"
    path.write_text(SOURCE)
    error = CellExecutionError(
        "Cell In[3], line 1\n----> 1 f()\nCell In[2], line 2, in f()\n",
        "ValueError",
        "in f",
    )
    assert notebook_failure(path, "docs/nb.py", error) == (
        "docs/nb.py:11: a cell failed while the build ran the notebook: "
        "ValueError: in f"
    )
    timeout = CellTimeoutError("A cell timed out after 60 seconds")
    assert notebook_failure(path, "docs/nb.py", timeout) == (
        "docs/nb.py: the build could not run the notebook: "
        "CellTimeoutError: A cell timed out after 60 seconds"
    )
