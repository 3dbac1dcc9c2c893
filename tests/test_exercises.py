"""The exercise checks: the reference solution passes, typical mistakes get their own message."""

import re

import pytest
import torch.nn as nn

from tests.support.exercise_answers import (
    learner_class,
    linear_from_conv,
    reshape_then,
    table,
)
from vitlesson import patchify
from vitlesson.exercises import (
    ExerciseError,
    check_configuration_table,
    check_flexible_patch_embedding,
    check_linear_from_conv,
    check_manual_patching,
)


def test_reference_patching_passes(capsys):
    check_manual_patching(patchify)
    assert capsys.readouterr().out.count("✓") == 4


@pytest.mark.parametrize(
    "wrong,message",
    [
        (
            reshape_then((0, 4, 2, 1, 3, 5)),
            "column-major order .* token 1 is the patch \\*below\\* token 0",
        ),
        (
            reshape_then((0, 2, 4, 3, 5, 1)),
            "flattened channels-last, as \\(P, P, C\\)",
        ),
        (reshape_then((0, 2, 4, 1, 5, 3)), "rows and columns are swapped"),
        (
            lambda x, p: x.reshape(x.shape[0], -1, 3 * p * p),
            "reshaping .* without a permute",
        ),
        (
            lambda x, p: patchify(x, p)[:, :-1],
            r"For patch size 8 on 224x224 images, expected shape \(2, 784, 192\) .* got \(2, 783, 192\)",
        ),
        (
            lambda x, p: patchify(x, p).reshape(2, -1, p * p),
            r"expected shape \(2, 784, 192\) .* got \(2, 2352, 64\)",
        ),
        (
            lambda x, p: patchify(x, p) * 2,
            "Right shape, wrong values for patch size 8",
        ),
        (
            lambda x, p: patchify(x, p).numpy(),
            "must return a torch.Tensor, got ndarray",
        ),
        (
            lambda x, p: x.view(2, 3, 1, 2),
            "manual_patching raised RuntimeError: .* patch size 8",
        ),
    ],
)
def test_wrong_patching_is_named(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_manual_patching(wrong)


def test_reference_linear_from_conv_passes(capsys):
    check_linear_from_conv(linear_from_conv)
    assert capsys.readouterr().out.count("same tokens as the convolution") == 4


@pytest.mark.parametrize(
    "wrong,message",
    [
        (
            lambda conv: linear_from_conv(
                conv, flatten=lambda w: w.permute(0, 2, 3, 1).flatten(1)
            ),
            r"different tokens than the convolution .* flatten conv.weight \(D, C, P, P\)",
        ),
        (
            lambda conv: linear_from_conv(conv, bias=False),
            "The bias was not copied",
        ),
        (
            lambda conv: linear_from_conv(conv, copy_bias=False),
            "The bias was not copied",
        ),
        (
            lambda conv: linear_from_conv(conv, transpose=True),
            r"weight shape \(32, 192\), got weight shape \(192, 32\): the weight is transposed",
        ),
        (lambda conv: conv, "must return an nn.Linear, got Conv2d"),
    ],
)
def test_wrong_linear_from_conv_is_named(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_linear_from_conv(wrong)


def test_reference_table_passes(capsys):
    check_configuration_table(table)
    assert capsys.readouterr().out.count("✓") == 4


@pytest.mark.parametrize(
    "wrong,message",
    [
        (
            lambda c, d: table(c, d, channels=1),
            r"224/8: patch_dim should be 192 \(C·P·P = 3·8·8: did you forget the 3 channels\?\), got 64",
        ),
        (
            lambda c, d: table(c, d, bias=0),
            r"224/8: params should be 148224 \(patch_dim·D \+ D .*\), got 147456",
        ),
        (
            lambda c, d: table(c, d)[:3],
            "Expected 4 rows, one per configuration, got 3",
        ),
        (
            lambda c, d: [{"patches": 1}] * 4,
            r"Row for 224/8 has no 'n_patches' entry \(it has \['patches'\]\)",
        ),
    ],
)
def test_wrong_table_is_named(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_configuration_table(wrong)


@pytest.mark.slow
def test_reference_class_passes(capsys):
    check_flexible_patch_embedding(learner_class())
    assert capsys.readouterr().out.count("both forms give the same") == 4


@pytest.mark.parametrize(
    "wrong,message",
    [
        (
            learner_class(patching=reshape_then((0, 2, 4, 3, 5, 1))),
            "flattened channels-last",
        ),
        (
            learner_class(patching=reshape_then((0, 4, 2, 1, 3, 5))),
            "column-major order",
        ),
        (
            learner_class(channels_in_dim=False),
            "patch_dim should be 192 .* did you forget the 3 channels",
        ),
        (
            learner_class(transpose_conv=False),
            r"returns \(B, D, N\): transpose it",
        ),
        (
            learner_class(conv_for_linear=True),
            "flatten_patches=True, self.projection must be an nn.Linear",
        ),
        (learner_class(fail=True), "raised RuntimeError: forgot super"),
    ],
    ids=[
        "channels-last",
        "column-major",
        "no-channels",
        "untransposed-conv",
        "conv-twice",
        "raises",
    ],
)
def test_wrong_class_is_named(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_flexible_patch_embedding(wrong)


def stub(*args, **kwargs):
    raise NotImplementedError("write it")


class StubForward(nn.Module):
    """A learner's class with __init__ written and forward still the TODO stub."""

    def __init__(
        self,
        img_size=224,
        patch_size=16,
        in_channels=3,
        embed_dim=768,
        flatten_patches=True,
    ):
        super().__init__()
        self.n_patches, self.patch_dim = (
            (img_size // patch_size) ** 2,
            in_channels * patch_size**2,
        )
        self.projection = (
            nn.Linear(self.patch_dim, embed_dim)
            if flatten_patches
            else nn.Conv2d(
                in_channels, embed_dim, patch_size, stride=patch_size
            )
        )

    def forward(self, images):
        raise NotImplementedError


class StubClass(nn.Module):
    def __init__(self, *args, **kwargs):
        super().__init__()
        raise NotImplementedError("write FlexiblePatchEmbedding")


@pytest.mark.parametrize(
    "check,stubbed,name",
    [
        (check_manual_patching, stub, "manual_patching"),
        (check_configuration_table, stub, "configuration_table"),
        (check_flexible_patch_embedding, StubClass, "StubClass"),
        (check_flexible_patch_embedding, StubForward, "StubForward.forward"),
    ],
)
def test_a_todo_stub_still_in_place_is_named(check, stubbed, name, capsys):
    """Run before the learner has written anything, a check says which TODO is still open, not a traceback."""
    with pytest.raises(
        ExerciseError,
        match=f"^{re.escape(name)} is not written yet .* write it in its TODO cell",
    ):
        check(stubbed)
    assert "✓" not in capsys.readouterr().out


def test_the_learners_other_errors_keep_their_context():
    def broken(configs, embed_dim):
        raise KeyError("n_patches")

    with pytest.raises(
        ExerciseError,
        match=r"configuration_table raised KeyError: 'n_patches' \(configs \[\(224, 8\)",
    ):
        check_configuration_table(broken)
