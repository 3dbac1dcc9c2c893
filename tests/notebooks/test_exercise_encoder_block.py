"""Part 5's exercise as a learner meets it: the notebook downloaded from the
built site, a block typed into its TODO cell, run top to bottom in a
Jupyter kernel ("Run all")."""

import pytest

from tests.support.notebooks import (
    check_the_two_downloads,
    downloaded,
    run_all,
    stdout,
    typed_in,
)

EXERCISE = "notebooks/encoder-block"
TASKS = ["EncoderBlock"]  # what the TODO cell defines

# A right block that is not the published one: fused attention, PyTorch's
# default LayerNorm eps, nn.GELU.
FUSED = """class EncoderBlock(nn.Module):
    def __init__(self, dim, heads, mlp_ratio=4.0):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.fc1 = nn.Linear(dim, int(dim * mlp_ratio))
        self.fc2 = nn.Linear(int(dim * mlp_ratio), dim)
        self.act = nn.GELU()

    def forward(self, x):
        B, T, D = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(B, T, 3, self.heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, D))
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))
"""
# The classic mistake: post-norm, the original Transformer's arrangement.
POST_NORM = """class EncoderBlock(nn.Module):
    def __init__(self, dim, heads, mlp_ratio=4.0):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.fc1 = nn.Linear(dim, int(dim * mlp_ratio))
        self.fc2 = nn.Linear(int(dim * mlp_ratio), dim)

    def forward(self, x):
        B, T, D = x.shape
        qkv = self.qkv(x).reshape(B, T, 3, self.heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        y = self.proj(y.transpose(1, 2).reshape(B, T, D))
        x = self.norm1(x + y)
        return self.norm2(x + self.fc2(F.gelu(self.fc1(x))))
"""

STOPPED = ("learner, untouched", "learner, post-norm")


@pytest.fixture(scope="module")
def executed(site) -> dict:
    """The downloaded notebooks, each run once in one kernel:

    * "solutions": the solutions notebook, as downloaded;
    * "learner, right": a right block other than the published one;
    * "learner, untouched": the exercise as downloaded;
    * "learner, post-norm": the classic mistake.
    The last two stop at the check; their error is kept under "errors"."""
    exercise = downloaded(site, EXERCISE)
    return run_all(
        {
            "solutions": downloaded(site, EXERCISE, "solutions"),
            "learner, right": typed_in(
                exercise, {"EncoderBlock": FUSED}, TASKS
            ),
            "learner, untouched": exercise,
            "learner, post-norm": typed_in(
                exercise, {"EncoderBlock": POST_NORM}, TASKS
            ),
        },
        STOPPED,
    )


def test_the_download_has_no_solution_and_the_solutions_no_todo(site):
    check_the_two_downloads(site, EXERCISE, TASKS)


def test_the_exercise_page_runs_the_complete_solution(site):
    html = (site / EXERCISE / "index.html").read_text(encoding="utf-8")
    assert html.count("✓ EncoderBlock") == 2


def test_part_5_offers_the_exercise(site):
    html = (site / "lessons/vit-encoder/index.html").read_text(
        encoding="utf-8"
    )
    assert 'href="../../notebooks/encoder-block/"' in html


def test_right_blocks_pass_the_check(executed):
    for label in ("solutions", "learner, right"):
        printed = "".join(stdout(executed[label]))  # errors fail the fixture
        assert printed.count("✓ EncoderBlock") == 2, label


def test_an_untouched_exercise_stops_and_says_so(executed):
    error = executed["errors"]["learner, untouched"]
    assert error.ename == "ExerciseError"
    assert "EncoderBlock is not written yet" in error.evalue
    assert "TODO cell" in error.evalue
    assert not any("✓" in text for text in stdout(executed[STOPPED[0]]))


def test_a_post_norm_block_is_named_and_nothing_passes(executed):
    error = executed["errors"]["learner, post-norm"]
    assert error.ename == "ExerciseError"
    assert "the block is post-norm" in error.evalue
    assert "exercises.check_encoder_block(EncoderBlock)" in str(error)
    assert not any("✓" in text for text in stdout(executed[STOPPED[1]]))
