"""Part 2's exercise as a learner meets it: the notebook downloaded from the
built site, answers typed into its TODO cells, run top to bottom in a
Jupyter kernel ("Run all")."""

import re

import pytest

from tests.support.notebooks import (
    check_the_two_downloads,
    downloaded,
    printed,
    run_all,
    typed_in,
)

EXERCISE = "notebooks/attention-by-hand"
TASKS = ["attention", "split_heads", "merge_heads"]  # the TODO cells' names

# Right answers that are not the published ones.
EINSUM = """def attention(q, k, v):
    scores = torch.einsum("...id,...jd->...ij", q, k) * q.shape[-1] ** -0.5
    weights = torch.softmax(scores, dim=-1)
    return torch.einsum("...ij,...jd->...id", weights, v), weights
"""
CHUNKS = """def split_heads(x, heads):
    return torch.stack(x.chunk(heads, dim=-1), dim=1)
"""
CAT = """def merge_heads(x):
    return torch.cat(x.unbind(1), dim=-1)
"""
# The classic mistake: the softmax over the queries.
OVER_THE_QUERIES = """def attention(q, k, v):
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    weights = scores.softmax(dim=-2)
    return weights @ v, weights
"""
# PyTorch's fused attention for the output: refused while checking.
FUSED = """def attention(q, k, v):
    weights = (q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5).softmax(-1)
    return F.scaled_dot_product_attention(q, k, v), weights
"""

STOPPED = (
    "learner, untouched",
    "learner, softmax over the queries",
    "learner, torch's fused attention",
)


@pytest.fixture(scope="module")
def executed(site) -> dict:
    """The downloaded notebooks, each run once, one after another in one
    kernel whose namespace is emptied before each:

    * "solutions": the solutions notebook, as downloaded;
    * "learner, right": the exercise with right answers other than the
      published ones typed in (einsum, chunk and stack, cat);
    * "learner, untouched": the exercise as downloaded;
    * "learner, softmax over the queries": the classic mistake;
    * "learner, torch's fused attention": F.scaled_dot_product_attention
      for the output.
    The last three stop at a check; their error is kept under "errors"."""
    exercise = downloaded(site, EXERCISE)
    return run_all(
        {
            "solutions": downloaded(site, EXERCISE, "solutions"),
            "learner, right": typed_in(
                exercise,
                {
                    "attention": EINSUM,
                    "split_heads": CHUNKS,
                    "merge_heads": CAT,
                },
                TASKS,
            ),
            "learner, untouched": exercise,
            "learner, softmax over the queries": typed_in(
                exercise, {"attention": OVER_THE_QUERIES}, TASKS
            ),
            "learner, torch's fused attention": typed_in(
                exercise, {"attention": FUSED}, TASKS
            ),
        },
        STOPPED,
    )


def test_the_download_has_no_solution_and_the_solutions_no_todo(site):
    check_the_two_downloads(site, EXERCISE, TASKS)


def test_the_exercise_page_runs_the_complete_solution(site):
    html = (site / EXERCISE / "index.html").read_text(encoding="utf-8")
    assert html.count("✓ attention") == 3
    assert html.count("✓ split_heads") == 2


def test_part_2_offers_the_exercise(site):
    html = (site / "lessons/attention/index.html").read_text(encoding="utf-8")
    assert "attention by hand" in html
    assert 'href="../../notebooks/attention-by-hand/"' in html


def test_right_answers_pass_and_rebuild_the_packages_attention(executed):
    for label in ("solutions", "learner, right"):
        out = printed(executed[label])  # errors fail the run
        assert out.count("✓ attention") == 3, label
        assert out.count("✓ split_heads") == 2, label
        gaps = re.findall(r"largest difference (\S+)", out)
        assert len(gaps) == 3 and all(float(g) < 1e-5 for g in gaps), gaps


def test_an_untouched_exercise_stops_at_the_first_task_and_says_so(executed):
    error = executed["errors"]["learner, untouched"]
    assert error.ename == "ExerciseError"
    assert "attention is not written yet" in error.evalue
    assert "TODO cell" in error.evalue
    assert "✓" not in printed(executed[STOPPED[0]])


def test_a_softmax_over_the_queries_is_named_and_nothing_passes(executed):
    error = executed["errors"]["learner, softmax over the queries"]
    assert error.ename == "ExerciseError"
    assert "the softmax is over the queries (dim -2)" in error.evalue
    assert "exercises.check_attention(attention)" in str(error)
    assert "✓" not in printed(executed[STOPPED[1]])


def test_torchs_fused_attention_is_refused_while_checking(executed):
    error = executed["errors"]["learner, torch's fused attention"]
    assert error.ename == "ExerciseError"
    assert "PyTorch's fused attention: in this exercise you write" in (
        error.evalue
    )
