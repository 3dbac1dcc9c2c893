"""``vitlesson.lab.dino.head``: DINO's projection head and the multi-crop wrapper that groups views by size."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.dino_inputs import (
    SETTINGS,
    dtypes,
    is_int,
    kinds,
    not_booleans,
    tensor,
    tiny_vit,
    widths,
)
from tests.support.examples import examples
from tests.support.refusals import expect
from vitlesson.lab import dino
from vitlesson.lab.dino import (
    DINOHead,
    MultiCropWrapper,
)
from vitlesson.vit import VisionTransformer

# --- head, loss, schedules, teacher ----------------------------------------------------------


def test_head_outputs_are_cosines_with_unit_prototypes():
    torch.manual_seed(0)
    head = DINOHead(64, 100, hidden_dim=32, bottleneck_dim=16)
    out = head(torch.randn(5, 64) * 10)
    assert out.shape == (5, 100) and out.abs().max() <= 1 + 1e-6
    weight = head.last_layer.weight  # (K, bottleneck), normalised per output
    assert torch.allclose(weight.norm(dim=1), torch.ones(100))
    gain = head.last_layer.parametrizations.weight.original0
    assert not gain.requires_grad
    assert DINOHead(
        64, 100, norm_last_layer=False
    ).last_layer.parametrizations.weight.original0.requires_grad
    assert [type(m).__name__ for m in head.mlp] == [
        "Linear",
        "GELU",
        "Linear",
        "GELU",
        "Linear",
    ]
    assert [
        m.out_features for m in head.mlp if isinstance(m, torch.nn.Linear)
    ] == [32, 32, 16]
    with pytest.raises(ValueError, match="out_dim must be positive, got 0"):
        DINOHead(64, 0)


# --- the head and the wrapper ----------------------------------------------


@SETTINGS
@given(
    in_dim=widths,
    out_dim=widths,
    hidden_dim=widths,
    bottleneck_dim=widths,
    nlayers=st.one_of(st.integers(-1, 4), st.just(2.0), st.just("3")),
    norm_last_layer=not_booleans,
)
def test_head_sizes_and_flag(
    in_dim, out_dim, hidden_dim, bottleneck_dim, nlayers, norm_last_layer
):
    def check(head):
        assert all(
            is_int(v) for v in (in_dim, out_dim, hidden_dim, bottleneck_dim)
        )
        assert is_int(nlayers) and isinstance(norm_last_layer, bool)
        assert head(torch.randn(3, in_dim)).shape == (3, out_dim)
        gain = head.last_layer.parametrizations.weight.original0
        assert gain.requires_grad is not norm_last_layer

    expect(
        lambda: DINOHead(
            in_dim,
            out_dim,
            hidden_dim,
            bottleneck_dim,
            nlayers,
            norm_last_layer,
        ),
        check,
        names=(
            "in_dim",
            "out_dim",
            "hidden_dim",
            "bottleneck_dim",
            "nlayers",
            "norm_last_layer",
        ),
        values=(
            in_dim,
            out_dim,
            hidden_dim,
            bottleneck_dim,
            nlayers,
            norm_last_layer,
        ),
    )


@pytest.mark.parametrize("nlayers", [1, 2, 3, 4])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_head_layers_widths_and_activation_are_the_forward(nlayers, training):
    """nlayers Linear layers, in_dim -> hidden_dim ... -> bottleneck_dim,
    a GELU between two of them and none after the last, then unit length
    and the weight-normalised layer to out_dim: the head computes exactly
    that, in training as in eval mode (it has no dropout). Without the
    GELUs (nlayers > 1) it would compute something else."""
    torch.manual_seed(0)
    head = DINOHead(8, 16, hidden_dim=12, bottleneck_dim=4, nlayers=nlayers)
    linears = [m for m in head.mlp if isinstance(m, torch.nn.Linear)]
    widths = [8] + [12] * (nlayers - 1) + [4]
    assert [(m.in_features, m.out_features) for m in linears] == list(
        zip(widths, widths[1:], strict=False)
    )
    assert len(head.mlp) == 2 * nlayers - 1  # Linear (GELU Linear)*
    assert (head.last_layer.in_features, head.last_layer.out_features) == (
        4,
        16,
    )
    x = torch.randn(5, 8)

    def by_hand(activation):
        h = x
        for i, linear in enumerate(linears):
            h = linear(h)
            h = activation(h) if i < nlayers - 1 else h
        v = head.last_layer.parametrizations.weight.original1  # (K, b)
        return F.normalize(h, dim=-1) @ F.normalize(v, dim=1).T

    with torch.no_grad():
        out = head.train(training)(x)
        torch.testing.assert_close(out, by_hand(F.gelu))
        if nlayers > 1:
            assert not torch.allclose(out, by_hand(lambda h: h), atol=1e-4)


@pytest.mark.parametrize("norm_last_layer", [True, False])
def test_norm_last_layer_freezes_the_gain_through_a_training_step(
    norm_last_layer,
):
    """With norm_last_layer the gains stay 1 through an optimiser step and
    the outputs stay cosines; without it the gains learn. Train and eval
    mode give the same outputs either way."""
    torch.manual_seed(0)
    head = DINOHead(
        8, 16, hidden_dim=8, bottleneck_dim=4, norm_last_layer=norm_last_layer
    )
    gain = head.last_layer.parametrizations.weight.original0  # (K, 1)
    x = torch.randn(6, 8)
    optimizer = torch.optim.SGD(
        [p for p in head.parameters() if p.requires_grad], lr=1.0
    )
    (-(head(x) ** 2).sum()).backward()  # a step that grows every gain
    optimizer.step()
    assert torch.equal(gain, torch.ones_like(gain)) is norm_last_layer
    with torch.no_grad():
        out = head.train()(x)
        torch.testing.assert_close(head.eval()(x), out)
    assert (out.abs().max() <= 1 + 1e-6) or not norm_last_layer
    if not norm_last_layer:
        assert out.abs().max() > 1  # gains 1 + 2·Σ cos² scale the cosines


def test_head_too_large_for_memory_is_refused_before_allocating():
    with pytest.raises(ValueError, match="GiB of memory"):
        DINOHead(64, 10**12)
    with pytest.raises(ValueError, match="GiB of memory"):
        DINOHead(64, 16, hidden_dim=2048, nlayers=10**6)


@pytest.mark.parametrize("nlayers", [1, 2, 3, 5])
def test_the_memory_guard_counts_the_heads_parameters(nlayers, monkeypatch):
    """The guard's count is the head's true number of parameters."""
    counted = []
    monkeypatch.setattr(
        dino.head.check, "fits_in_memory", lambda n, *_: counted.append(n)
    )
    head = DINOHead(7, 11, hidden_dim=5, bottleneck_dim=3, nlayers=nlayers)
    assert counted == [sum(p.numel() for p in head.parameters())]


@SETTINGS
@given(
    shape=st.lists(st.integers(0, 10), min_size=0, max_size=3),
    dtype=dtypes,
    kind=kinds,
    nan=st.booleans(),
)
def test_head_features(shape, dtype, kind, nan):
    head = DINOHead(8, 16, hidden_dim=8, bottleneck_dim=4)
    x = tensor(shape, dtype, kind, nan)

    def check(out):
        assert kind == "dense" and dtype == torch.float32
        assert len(shape) == 2 and shape[1] == 8
        assert out.shape == (shape[0], 16) and out.device == x.device
        assert nan or out.isfinite().all()

    expect(lambda: head(x), check, names="features", values=(x,))


def test_head_messages():
    head = DINOHead(8, 16, hidden_dim=8, bottleneck_dim=4)
    with pytest.raises(
        ValueError,
        match=r"features must have shape \(batch, 8\), got \(2, 9\)",
    ):
        head(torch.randn(2, 9))
    with pytest.raises(TypeError, match="features has dtype torch.float64"):
        head(torch.randn(2, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match="features is on meta but the"):
        head(torch.randn(2, 8, device="meta"))
    with pytest.raises(TypeError, match="dense tensor, got layout"):
        head(torch.randn(2, 8).to_sparse())
    with pytest.raises(TypeError, match="norm_last_layer must be True or"):
        DINOHead(8, 16, norm_last_layer="False")
    with pytest.raises(ValueError, match="out_dim must be positive, got 0"):
        DINOHead(8, 0)


@settings(SETTINGS, max_examples=examples(25))
@given(
    embed_dim=st.sampled_from([8, 16]),
    in_dim=st.sampled_from([8, 16]),
    num_classes=st.sampled_from([0, 0, 3]),
    backbone_kind=st.sampled_from(["vit", "vit", "linear", None]),
    head_kind=st.sampled_from(["head", "head", "linear", "str"]),
)
def test_wrapper_parts(
    embed_dim, in_dim, num_classes, backbone_kind, head_kind
):
    backbone = {
        "vit": lambda: tiny_vit(embed_dim=embed_dim, num_classes=num_classes),
        "linear": lambda: torch.nn.Linear(4, embed_dim),
        None: lambda: None,
    }[backbone_kind]()
    head = {
        "head": lambda: DINOHead(in_dim, 8, hidden_dim=8, bottleneck_dim=4),
        "linear": lambda: torch.nn.Linear(in_dim, 8),
        "str": lambda: "head",
    }[head_kind]()

    def check(model):
        assert backbone_kind == "vit" and head_kind == "head"
        assert num_classes == 0 and embed_dim == in_dim
        views = [torch.rand(2, 3, 16, 16)] * 2 + [torch.rand(2, 3, 8, 8)]
        assert model(views).shape == (6, 8)

    expect(
        lambda: MultiCropWrapper(backbone, head),
        check,
        names=("backbone", "head"),
        values=(backbone, head, embed_dim, in_dim, num_classes),
    )


view_specs = st.lists(
    st.tuples(
        st.integers(0, 3),  # batch
        st.sampled_from([1, 3]),  # channels
        st.sampled_from([8, 16, 6]),  # height
        st.sampled_from([8, 16]),  # width
        dtypes,
        kinds,
    ),
    min_size=0,
    max_size=4,
)


@SETTINGS
@given(specs=view_specs, container=st.sampled_from([list, tuple, "tensor"]))
def test_wrapper_views(specs, container):
    model = MultiCropWrapper(
        tiny_vit(), DINOHead(16, 8, hidden_dim=8, bottleneck_dim=4)
    )
    views = [
        tensor((b, c, h, w), dtype, kind) for b, c, h, w, dtype, kind in specs
    ]
    given_views = (
        torch.rand(2, 3, 16, 16) if container == "tensor" else container(views)
    )

    def check(out):
        assert container != "tensor" and specs
        assert all(
            kind == "dense" and dtype == torch.float32 and c == 3 and h != 6
            for _, c, h, _, dtype, kind in specs
        )
        batch = specs[0][0]
        assert all(s[0] == batch for s in specs)
        assert out.shape == (batch * len(specs), 8)

    expect(
        lambda: model(given_views),
        check,
        names=("views", "Image size"),
        values=(given_views, *views),
    )


@pytest.mark.slow
def test_wrapper_groups_views_by_height_and_width():
    """Views of one width but another height go through the backbone in
    their own batch (a raw torch.cat error before)."""
    torch.manual_seed(0)
    model = MultiCropWrapper(
        tiny_vit(), DINOHead(16, 8, hidden_dim=8, bottleneck_dim=4)
    ).eval()
    views = [torch.rand(2, 3, 16, 16), torch.rand(2, 3, 8, 16)]
    out = model(views)
    each = torch.cat([model.head(model.backbone(v)) for v in views])
    torch.testing.assert_close(out, each)
    with pytest.raises(ValueError, match="num_classes=0, got num_classes=3"):
        MultiCropWrapper(tiny_vit(num_classes=3), DINOHead(16, 8))


@pytest.mark.parametrize("norm_last_layer", [True, False])
def test_a_head_pickles_and_copies_to_the_same_function(norm_last_layer):
    """torch refuses to pickle a weight-norm parametrised layer; the head
    sends g and v and parametrises a new layer with them."""
    torch.manual_seed(0)
    head = DINOHead(8, 5, 16, 4, norm_last_layer=norm_last_layer)
    with torch.no_grad():  # a gain other than the initial ones
        head.last_layer.parametrizations.weight.original0.mul_(1.5)
    wrapper = MultiCropWrapper(
        VisionTransformer(
            img_size=8, patch_size=4, embed_dim=8, depth=1, num_heads=2
        ),
        head,
    )
    features, views = torch.randn(3, 8), [torch.rand(2, 3, 8, 8)]
    for copy_of in (lambda m: pickle.loads(pickle.dumps(m)), copy.deepcopy):
        again = copy_of(head)
        assert torch.equal(again(features), head(features))
        assert [(n, p.requires_grad) for n, p in again.named_parameters()] == [
            (n, p.requires_grad) for n, p in head.named_parameters()
        ]
        assert again.state_dict().keys() == head.state_dict().keys()
        # a copy, not the same parameters
        again.last_layer.parametrizations.weight.original1.data.add_(1)
        assert not torch.equal(again(features), head(features))
        assert torch.equal(copy_of(wrapper)(views), wrapper(views))


@pytest.mark.parametrize(
    "views,error,message",
    [
        (
            [],
            TypeError,
            "views must be a non-empty list of image batches, got list "
            "(empty)",
        ),
        (
            torch.rand(2, 3, 16, 16),
            TypeError,
            "views must be a non-empty list of image batches, got Tensor",
        ),
        (
            [torch.rand(2, 3, 16)],
            ValueError,
            "views[0] must have shape (batch, 3, height, width), got "
            "(2, 3, 16)",
        ),
        (
            [torch.rand(2, 1, 16, 16)],
            ValueError,
            "views[0] must have shape (batch, 3, height, width), got "
            "(2, 1, 16, 16)",
        ),
        (
            [torch.rand(2, 3, 16, 16), torch.rand(3, 3, 16, 16)],
            ValueError,
            "every view must hold the same images: views[1] has 3",
        ),
    ],
)
def test_wrapper_refusals_word_for_word(views, error, message):
    model = MultiCropWrapper(
        tiny_vit(), DINOHead(16, 8, hidden_dim=8, bottleneck_dim=4)
    )
    with pytest.raises(error) as refused:
        model(views)
    assert str(refused.value).startswith(message), str(refused.value)


def test_head_sizes_named_and_weights_drawn_as_dinos():
    with pytest.raises(ValueError) as refused:
        DINOHead(8, 16, bottleneck_dim=0)
    assert str(refused.value) == "bottleneck_dim must be positive, got 0"
    torch.manual_seed(0)
    head = DINOHead(64, 16, hidden_dim=256, bottleneck_dim=64)
    for linear in head.mlp[::2]:  # trunc_normal_(std=0.02), zero biases
        assert 0.015 < linear.weight.std().item() < 0.025
        assert not linear.bias.any()


def test_dinos_default_widths():
    """DINO's head: a 2048-wide MLP to a 256-wide bottleneck, 3 layers."""
    head = DINOHead(16, 10)
    assert [tuple(linear.weight.shape) for linear in head.mlp[::2]] == [
        (2048, 16),
        (2048, 2048),
        (256, 2048),
    ]
    assert head.last_layer.weight.shape == (10, 256)
    assert head.last_layer.bias is None


def test_copying_a_head_draws_no_random_numbers():
    """A copy gets the gain and directions it copies, so the layer it
    builds for them is made on the meta device, drawing nothing: a copy
    leaves the random stream of a seeded run where it was."""
    head = DINOHead(8, 16, hidden_dim=8, bottleneck_dim=4)
    torch.manual_seed(0)
    copy.deepcopy(head)
    pickle.loads(pickle.dumps(head))
    after = torch.rand(3)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(3))


def test_the_head_size_refusals_name_the_head(monkeypatch):
    with pytest.raises(ValueError) as refused:
        DINOHead(8, 16, nlayers=0)
    assert str(refused.value) == "nlayers must be positive, got 0"
    named = []
    monkeypatch.setattr(
        dino.head.check, "fits_in_memory", lambda _, what: named.append(what)
    )
    DINOHead(7, 11, hidden_dim=5, bottleneck_dim=3, nlayers=2)
    assert named == [
        "A DINOHead(7, 11, hidden_dim=5, bottleneck_dim=3, nlayers=2)"
    ]


@pytest.mark.parametrize(
    "views,message",
    [
        (
            torch.rand(2, 3, 16, 16),
            "views must be a non-empty list of image batches, got Tensor",
        ),
        (
            (),
            "views must be a non-empty list of image batches, got tuple "
            "(empty)",
        ),
        (
            [
                torch.rand(2, 3, 16, 16),
                torch.rand(2, 3, 8, 8),
                torch.rand(3, 3, 8, 8),
            ],
            "every view must hold the same images: views[2] has 3 (shape "
            "(3, 3, 8, 8)), views[0] has 2 (shape (2, 3, 16, 16))",
        ),
    ],
)
def test_wrapper_refusals_in_full(views, message):
    model = MultiCropWrapper(
        tiny_vit(), DINOHead(16, 8, hidden_dim=8, bottleneck_dim=4)
    )
    with pytest.raises((TypeError, ValueError)) as refused:
        model(views)
    assert str(refused.value) == message
