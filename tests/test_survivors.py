"""Behaviours that `make mutation` found untested: messages, flags, devices.

Each test pins something a learner or caller can see that no other test
checked: a surviving mutant of the named module changed it unnoticed.
"""

import re
import warnings

import pytest
import torch
import torch.nn as nn

from vitlesson import _validation as check
from vitlesson.exercises import ExerciseError, check_flexible_patch_embedding
from vitlesson.patching import (
    FlexiblePatchEmbedding,
    PatchEmbedding,
    patch_config,
)
from vitlesson.position import (
    PositionalEmbedding,
    neighbour_similarity,
    principal_component_maps,
    sincos_2d_position_embedding,
)
from vitlesson.vit import (
    Attention,
    DropPath,
    VisionTransformer,
    attention_rollout,
)


@pytest.fixture
def warnings_are_errors():
    """Every warning raises, even torch's once-per-process ones."""
    always = torch.is_warn_always_enabled()
    torch.set_warn_always(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            yield
    finally:
        torch.set_warn_always(always)


# --- position ----------------------------------------------------------------


def test_position_table_too_large_is_named():
    with pytest.raises(
        ValueError, match=r"^A position table of \(1, 1000000000001, 16\) "
    ):
        PositionalEmbedding(10**12, 16)


def test_sincos_table_warns_nothing(warnings_are_errors):
    table = sincos_2d_position_embedding(3, 8)
    assert table.shape == (9, 8)


def test_neighbour_similarity_warns_nothing(warnings_are_errors):
    torch.manual_seed(0)
    near, far = neighbour_similarity(torch.randn(16, 8), 4, far=3)
    assert -1 <= far <= 1 and -1 <= near <= 1


def test_meta_embedding_is_refused_by_its_name():
    with pytest.raises(ValueError, match=r"^embedding is on the meta device"):
        principal_component_maps(torch.empty(4, 8, device="meta"), 2)


def test_too_many_components_message():
    expected = (
        "k must be at most min(positions, width) = 4 for a (4, 8) table, got 5"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        principal_component_maps(torch.randn(4, 8), 2, k=5)


def test_far_must_be_a_number_named_far():
    with pytest.raises(TypeError, match=r"^far must be a number"):
        neighbour_similarity(torch.randn(16, 8), 4, far="4")


@pytest.mark.parametrize("far", [0.5, -2])
def test_far_below_one_cell_is_refused(far):
    with pytest.raises(ValueError, match=r"^far must be in \[1, inf\]"):
        neighbour_similarity(torch.randn(16, 8), 4, far=far)


def test_single_cell_grid_has_no_neighbours_message():
    expected = (
        "grid_size must have two or more cells, got 1x1: "
        "a single position has no neighbours"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        neighbour_similarity(torch.randn(1, 8), 1, far=1)


# --- vit ---------------------------------------------------------------------


def test_attention_flag_must_be_a_bool():
    attention = Attention(16, 2)
    with pytest.raises(TypeError, match=r"^return_attention must be True"):
        attention(torch.randn(1, 3, 16), return_attention="yes")


def test_drop_path_names_its_input():
    with pytest.raises(TypeError, match=r"^x must be a torch.Tensor"):
        DropPath(0.1)([1.0])


def test_drop_path_zero_is_the_identity_in_training():
    drop = DropPath(0.0).train()
    x = torch.randn(4, 3, 8)
    state = torch.get_rng_state()
    assert drop(x) is x  # the same tensor, no copy
    assert torch.equal(torch.get_rng_state(), state)  # and no random draws


TINY = dict(img_size=16, patch_size=4, embed_dim=16, depth=2, num_heads=2)


def test_vit_position_table_too_large_is_named(monkeypatch):
    # 2x2 patches: a 768-byte kernel fits, a (1, 65, 16) table does not
    monkeypatch.setattr(check, "PHYSICAL_MEMORY", 2000)
    with pytest.raises(
        ValueError, match=r"^A position table of \(1, 65, 16\) would need"
    ):
        VisionTransformer(**{**TINY, "patch_size": 2})


def test_vit_blocks_too_large_are_named(monkeypatch):
    # one block has 3,280 numbers: 2 of them need 26,240 bytes
    monkeypatch.setattr(check, "PHYSICAL_MEMORY", 20_000)
    with pytest.raises(
        ValueError,
        match=r"^2 blocks of width 16 \(mlp_ratio=4\.0\) would need",
    ):
        VisionTransformer(**TINY)


def test_vit_head_too_large_is_named(monkeypatch):
    monkeypatch.setattr(check, "PHYSICAL_MEMORY", 100_000)
    with pytest.raises(ValueError, match=r"^The head would need"):
        VisionTransformer(**{**TINY, "depth": 1, "num_classes": 10_000})


@pytest.mark.slow  # ~1 s: the first meta computation loads its kernels
def test_rollout_stays_on_the_maps_device():
    maps = torch.empty(2, 1, 2, 3, 3, device="meta")
    rollout = attention_rollout(maps)
    assert rollout.device.type == "meta" and rollout.shape == (2, 3, 3)


def test_rollout_through_no_blocks_is_one_identity_per_image():
    rollout = attention_rollout(torch.rand(2, 0, 1, 3, 3))
    assert torch.equal(rollout, torch.eye(3).expand(2, 3, 3))


# --- patching ----------------------------------------------------------------


def test_patch_config_checks_its_flags():
    with pytest.raises(TypeError, match=r"^dynamic_img_size must be True"):
        patch_config(8, 4, dynamic_img_size="yes")


def test_patch_config_defaults_size_the_kernel(monkeypatch):
    # the default kernel 768 x 3 x 4 x 4 needs exactly 147,456 bytes
    monkeypatch.setattr(check, "PHYSICAL_MEMORY", 147_456)
    assert patch_config(4, 4) == (1, 1)
    monkeypatch.setattr(check, "PHYSICAL_MEMORY", 147_455)
    with pytest.raises(
        ValueError, match=r"^A patch kernel of 768 x 3 x 4 x 4 would need"
    ):
        patch_config(4, 4)


def test_patch_embedding_checks_dynamic_img_size():
    with pytest.raises(TypeError, match=r"^dynamic_img_size must be True"):
        PatchEmbedding(8, 4, 3, 16, dynamic_img_size="yes")


def test_flexible_grid_sizes_are_ints():
    layer = FlexiblePatchEmbedding(8, 4, in_channels=3, embed_dim=16)
    assert layer.grid_size == (2, 2) and layer.n_patches == 4
    assert [type(n) for n in (*layer.grid_size, layer.n_patches)] == [int] * 3


def test_flexible_refuses_images_on_another_device():
    layer = FlexiblePatchEmbedding(8, 4, in_channels=3, embed_dim=16)
    with pytest.raises(
        ValueError, match=r"^images are on device meta but the module's"
    ):
        layer(torch.empty(1, 3, 8, 8, device="meta"))


# --- exercises ---------------------------------------------------------------


class _BrokenForward(FlexiblePatchEmbedding):
    """A learner's class that builds right but whose forward fails."""

    def forward(self, images):
        raise RuntimeError("boom")


def test_exercise_reports_a_failing_forward_with_its_call():
    assert isinstance(_BrokenForward(8, 4).projection, nn.Linear)
    expected = (
        "_BrokenForward.forward raised RuntimeError: boom "
        "(flatten_patches=False, images (2, 3, 224, 224))"
    )
    with pytest.raises(ExerciseError, match=f"^{re.escape(expected)}$"):
        check_flexible_patch_embedding(_BrokenForward)
