"""``vitlesson.exercises``: the reference solutions pass, and every typical mistake gets its own message (in full, with its seeded numbers)."""

import contextlib
import io
import re

import pytest
import torch
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
from vitlesson.patching import (
    FlexiblePatchEmbedding,
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


# --- exact exercise messages ---------------------------------------------------

PERMUTE = (
    "The linear form gives other tokens than the convolution (patch size 8): "
)


MESSAGES = [
    (
        check_flexible_patch_embedding,
        learner_class(patching=reshape_then((0, 2, 4, 3, 5, 1))),
        PERMUTE
        + "each patch is flattened channels-last, as (P, P, C); a Conv2d weight flattens as (C, P, P), so put "
        "the channel dimension first inside each patch.",
    ),
    (
        check_flexible_patch_embedding,
        learner_class(patching=reshape_then((0, 2, 4, 1, 5, 3))),
        PERMUTE
        + "inside each patch, rows and columns are swapped (flattened as (C, P_w, P_h) instead of "
        "(C, P_h, P_w)).",
    ),
    (
        check_flexible_patch_embedding,
        learner_class(
            patching=lambda x, p: x.reshape(x.shape[0], -1, 3 * p * p)
        ),
        PERMUTE
        + "the tokens are not patches: reshaping (B, C, H, W) straight to (B, N, C*P*P) without a permute "
        "mixes pixels of different patches into one token.",
    ),
    (
        check_flexible_patch_embedding,
        learner_class(patching=reshape_then((0, 4, 2, 1, 3, 5))),
        PERMUTE
        + "the patches are in column-major order (your permute puts the column index before the row index, "
        "so token 1 is the patch *below* token 0, not the one to its right).",
    ),
    (
        check_flexible_patch_embedding,
        learner_class(
            patching=lambda x, p: reshape_then((0, 2, 4, 1, 3, 5))(x, p) * 2
        ),
        "With the convolution's weights copied in, the linear form should give the convolution's tokens (patch size "
        "8); largest difference",
    ),
    (
        check_flexible_patch_embedding,
        learner_class(transpose_conv=False),
        "The convolution form returns (B, D, N): transpose it to (B, N, D) with .transpose(1, 2) after .flatten(2)",
    ),
    (
        check_flexible_patch_embedding,
        learner_class(conv_for_linear=True),
        "With flatten_patches=True, self.projection must be an nn.Linear, got Conv2d",
    ),
    (
        check_flexible_patch_embedding,
        learner_class(channels_in_dim=False),
        "224/8: patch_dim should be 192 (C·P·P = 3·8·8: did you forget the 3 channels?), got 64",
    ),
    (
        check_flexible_patch_embedding,
        learner_class(fail=True),
        "FlexiblePatchEmbedding(224, 8, in_channels=3, embed_dim=32, flatten_patches=True) raised RuntimeError: "
        "forgot super().__init__()",
    ),
    (
        check_linear_from_conv,
        lambda conv: linear_from_conv(conv, transpose=True),
        "For patch size 8, expected nn.Linear(192, 32) with weight shape (32, 192), got weight shape (192, 32): the "
        "weight is transposed",
    ),
    (
        check_linear_from_conv,
        lambda conv: torch.nn.Linear(10, 32),
        "For patch size 8, expected nn.Linear(192, 32) with weight shape (32, 192), got weight shape (32, 10)",
    ),
    (
        check_linear_from_conv,
        lambda conv: linear_from_conv(conv, copy_bias=False),
        "The bias was not copied: linear.bias must equal conv.bias",
    ),
    (
        check_linear_from_conv,
        lambda conv: linear_from_conv(
            conv, flatten=lambda w: w.permute(0, 2, 3, 1).flatten(1)
        ),
        "For patch size 8, the linear layer gives different tokens than the convolution (largest difference ",
    ),
    (
        check_manual_patching,
        reshape_then((0, 4, 2, 1, 3, 5)),
        "Right shape, wrong order (patch size 8): the patches are in column-major order (your permute puts the column "
        "index before the row index, so token 1 is the patch *below* token 0, not the one to its right).",
    ),
    (
        check_manual_patching,
        lambda x, p: reshape_then((0, 2, 4, 1, 3, 5))(x, p).flip(1),
        "Right shape, wrong values for patch size 8 on 224x224: token 1 should be images[:, :, 0:8, 8:16] flattened "
        "(the second patch of the top row), channel first",
    ),
    (
        check_configuration_table,
        lambda c, e: [
            dict(r, n_patches=r["n_patches"] + 1) for r in table(c, e)
        ],
        "224/8: n_patches should be 784 (N = (H/P)·(W/P) = (224/8)²), got 785",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize("check,wrong,message", MESSAGES)
def test_exercise_messages_in_full(check, wrong, message):
    with (
        pytest.raises(ExerciseError) as error,
        contextlib.redirect_stdout(io.StringIO()),
    ):
        check(wrong)
    text = str(error.value)
    assert text == message or (
        message.endswith(("difference", "difference "))
        and text.startswith(message)
    )


@pytest.mark.slow
def test_linear_form_off_by_a_little_is_caught():
    class Shifted(learner_class()):
        def forward(self, images):
            return super().forward(images) + (
                0.01 if self.flatten_patches else 0.0
            )

    with pytest.raises(ExerciseError, match=r"largest difference 0\.01"):
        check_flexible_patch_embedding(Shifted)


def test_a_linear_layer_in_the_wrong_orientation_is_named():
    with pytest.raises(
        ExerciseError,
        match="got weight shape \\(192, 32\\): the weight is transposed$",
    ):
        check_linear_from_conv(
            lambda conv: linear_from_conv(conv, transpose=True)
        )


def test_exact_message_with_its_seeded_number():
    with pytest.raises(ExerciseError) as error:
        check_linear_from_conv(
            lambda conv: linear_from_conv(
                conv, flatten=lambda w: w.permute(0, 2, 3, 1).flatten(1)
            )
        )
    assert str(error.value) == (
        "For patch size 8, the linear layer gives different tokens than the convolution (largest difference 3.28): "
        "flatten conv.weight (D, C, P, P) with .flatten(1) or .reshape(D, -1), so its (C, P, P) order matches the "
        "patches"
    )


@pytest.mark.parametrize(
    "mistake,message",
    [
        (
            "conv values",
            "The convolution form should return conv(x).flatten(2).transpose(1, 2), shape (2, 784, 32); "
            "got shape (2, 784, 32) with other values",
        ),
        (
            "linear shape",
            "The linear form should return shape (2, 784, 32), got (2, 392, 64)",
        ),
        (
            "linear size",
            "Expected nn.Linear(192, 32), with weight shape (32, 192), got (32, 193)",
        ),
        (
            "no projection",
            "With flatten_patches=False, self.projection must be an nn.Conv2d, got NoneType",
        ),
    ],
)
def test_learner_class_shape_mistakes_in_full(mistake, message):
    base = learner_class()

    class Wrong(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if mistake == "linear size" and self.flatten_patches:
                self.projection = torch.nn.Linear(self.patch_dim + 1, 32)
            if mistake == "no projection" and not self.flatten_patches:
                del self.projection

        def forward(self, images):
            tokens = super().forward(images)
            if mistake == "conv values" and not self.flatten_patches:
                return tokens.flip(1)
            if mistake == "linear shape" and self.flatten_patches:
                return tokens.reshape(2, -1, 64)
            return tokens

    with (
        pytest.raises(ExerciseError) as error,
        contextlib.redirect_stdout(io.StringIO()),
    ):
        check_flexible_patch_embedding(Wrong)
    assert str(error.value) == message


@pytest.mark.parametrize(
    "mistake,message",
    [
        (
            "wrong count",
            "224/8: n_patches should be 784 (N = (H/P)·(W/P) = (224/8)²), got 783",
        ),
        (
            "missing",
            "224/8: n_patches should be 784 (N = (H/P)·(W/P) = (224/8)²), got None",
        ),
        (
            "conv offset",
            "The convolution form should return conv(x).flatten(2).transpose(1, 2), shape (2, 784, 32); "
            "got shape (2, 784, 32) with other values",
        ),
    ],
)
def test_more_learner_mistakes_in_full(mistake, message):
    class Wrong(learner_class()):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if mistake == "wrong count":
                self.n_patches -= 1
            if mistake == "missing":
                del self.n_patches

        def forward(self, images):
            tokens = super().forward(images)
            return (
                tokens + 0.01
                if mistake == "conv offset" and not self.flatten_patches
                else tokens
            )

    with (
        pytest.raises(ExerciseError) as error,
        contextlib.redirect_stdout(io.StringIO()),
    ):
        check_flexible_patch_embedding(Wrong)
    assert str(error.value) == message


@pytest.mark.slow
def test_the_check_passes_the_channel_count_explicitly():
    class OneChannelByDefault(learner_class()):
        def __init__(
            self,
            img_size=224,
            patch_size=16,
            in_channels=1,
            embed_dim=768,
            flatten_patches=True,
        ):
            super().__init__(
                img_size, patch_size, in_channels, embed_dim, flatten_patches
            )

    with contextlib.redirect_stdout(io.StringIO()):
        check_flexible_patch_embedding(
            OneChannelByDefault
        )  # built with in_channels=3: passes


@pytest.mark.slow
@pytest.mark.parametrize(
    "check, answer",
    [
        (check_linear_from_conv, linear_from_conv),
        (check_flexible_patch_embedding, learner_class()),
    ],
)
def test_checks_leave_the_learners_random_state_as_it_was(check, answer):
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    with contextlib.redirect_stdout(io.StringIO()):
        check(answer)
    assert torch.equal(torch.random.get_rng_state(), before)


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
