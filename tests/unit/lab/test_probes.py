"""``vitlesson.lab.probes``: the k-NN classifier, DINO's attention masks and their IoU, and the probes of a backbone."""

from __future__ import annotations

import math
import warnings

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
    numbers,
    tensor,
    tiny_vit,
)
from tests.support.examples import examples
from tests.support.refusals import expect
from vitlesson.lab import probes
from vitlesson.lab.probes import (
    attention_iou,
    attention_masks,
    cls_features,
    knn_accuracy,
    mask_iou,
    mean_attention_distance,
)

# --- probes ------------------------------------------------------------------------------


def test_knn_votes_by_weighted_cosine_neighbours():
    bank = F.normalize(
        torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]]), dim=1
    )
    labels = torch.tensor([0, 0, 1, 1])
    queries = F.normalize(torch.tensor([[1.0, 0.05], [0.05, 1.0]]), dim=1)
    assert (
        knn_accuracy(bank, labels, queries, torch.tensor([0, 1]), k=3) == 1.0
    )
    assert (
        knn_accuracy(bank, labels, queries, torch.tensor([1, 1]), k=3) == 0.5
    )
    with pytest.raises(
        ValueError,
        match="k must be at most the number of training features \\(4\\), got 20",
    ):
        knn_accuracy(bank, labels, queries, labels[:2])


def dino_threshold(attentions, threshold):
    """visualize_attention.py: the patches that keep ``threshold`` of each head's mass."""
    val, idx = torch.sort(attentions)
    val /= torch.sum(val, dim=1, keepdim=True)
    cumval = torch.cumsum(val, dim=1)
    th_attn = cumval > (1 - threshold)
    idx2 = torch.argsort(idx)
    return torch.stack([th_attn[h][idx2[h]] for h in range(len(attentions))])


def test_attention_masks_are_dinos_threshold():
    torch.manual_seed(0)
    attention = torch.rand(2, 3, 10, 10).softmax(dim=-1) ** 3
    masks = attention_masks(attention, 0.6)
    for b in range(2):
        assert torch.equal(
            masks[b], dino_threshold(attention[b, :, 0, 1:].clone(), 0.6)
        )
    example = torch.zeros(1, 1, 5, 5)
    example[0, 0, 0, 1:] = torch.tensor([0.1, 0.5, 0.1, 0.3])
    assert attention_masks(example, 0.6).tolist() == [
        [[False, True, False, True]]
    ]


def test_mask_iou_counts_pixels():
    truth = torch.zeros(1, 4, 4, dtype=torch.bool)
    truth[0, :2, :2] = True  # the top-left patch of a 2x2 grid
    patches = torch.tensor(
        [[[True, False, False, False], [True, True, False, False]]]
    )
    assert mask_iou(patches, truth, (2, 2)).tolist() == [[1.0, 0.5]]


# --- the probes -------------------------------------------------------------


def unit(n, d, dtype=torch.float32):
    return F.normalize(torch.randn(n, d), dim=1).to(dtype)


@SETTINGS
@given(
    n_train=st.integers(0, 6),
    n_test=st.integers(0, 4),
    train_width=st.sampled_from([4, 4, 3]),
    test_width=st.sampled_from([4, 4, 0]),
    train_label_shape=st.sampled_from(["right", "right", "short", "2d"]),
    label_dtype=st.sampled_from(
        [torch.int64, torch.int64, torch.int32, torch.bool, torch.float32]
    ),
    negative=st.booleans(),
    normalised=st.sampled_from([True, True, False]),
    test_dtype=st.sampled_from([torch.float32, torch.float32, torch.float64]),
    kind=kinds,
    k=st.one_of(st.integers(-1, 8), st.sampled_from([2.0, "3", True])),
    temperature=numbers,
)
def test_knn_accuracy(
    n_train,
    n_test,
    train_width,
    test_width,
    train_label_shape,
    label_dtype,
    negative,
    normalised,
    test_dtype,
    kind,
    k,
    temperature,
):
    train = unit(n_train, train_width)
    test = unit(n_test, test_width, test_dtype)
    if kind != "dense":
        test = tensor(test.shape, test_dtype, kind)
    if not normalised:
        train = train * 3
    labels = torch.randint(0, 3, (n_train,)).to(label_dtype)
    if negative and n_train:
        labels[0] = -1
    train_labels = {
        "right": labels,
        "short": labels[:-1],
        "2d": labels[:, None],
    }[train_label_shape]
    test_labels = torch.randint(0, 3, (n_test,))

    def check(accuracy):
        assert n_train and n_test and normalised and kind == "dense"
        assert train_width == test_width and test_dtype == torch.float32
        assert train_label_shape == "right"
        assert label_dtype in (torch.int64, torch.int32) and not negative
        assert is_int(k) and k <= n_train
        assert type(temperature) in (int, float) and temperature > 0
        assert 0 <= accuracy <= 1 and math.isfinite(accuracy)

    expect(
        lambda: knn_accuracy(
            train, train_labels, test, test_labels, k, temperature
        ),
        check,
        names=(
            "train_features",
            "test_features",
            "train_labels",
            "test_labels",
            "k",
            "temperature",
        ),
        values=(train, test, train_labels, test_labels, k, temperature)
        + (() if normalised else (3,)),  # the norms of train_features
    )


def test_knn_with_a_tiny_temperature_is_the_nearest_neighbour():
    """exp(s / T) overflows for a small T; the vote is then the nearest
    neighbour's label, not a tie between infinities."""
    bank = F.normalize(
        torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8]]), dim=1
    )
    labels = torch.tensor([1, 0, 0])
    query = F.normalize(torch.tensor([[1.0, 0.1]]), dim=1)
    assert knn_accuracy(bank, labels, query, torch.tensor([1]), 3, 1e-4) == 1
    assert knn_accuracy(bank, labels, query, torch.tensor([0]), 3, 10.0) == 1


def test_knn_messages():
    bank, labels = unit(4, 2), torch.tensor([0, 1, 0, 1])
    with pytest.raises(ValueError, match="test_features must have shape"):
        knn_accuracy(bank, labels, unit(0, 2), torch.zeros(0, dtype=int))
    with pytest.raises(ValueError, match=r"temperature must be in \(0, inf"):
        knn_accuracy(bank, labels, bank, labels, 2, 0)
    with pytest.raises(ValueError, match=r"shape \(4,\), one label per"):
        knn_accuracy(bank, labels[:3], bank, labels, 2)
    with pytest.raises(ValueError, match="must be finite and ℓ2-normalised"):
        knn_accuracy(bank * 2, labels, bank, labels, 2)


@SETTINGS
@given(
    shape=st.lists(st.integers(0, 5), min_size=2, max_size=5),
    dtype=dtypes,
    kind=kinds,
    values=st.sampled_from(["softmax", "zeros", "negative", "nan"]),
    mass=numbers,
)
def test_attention_masks(shape, dtype, kind, values, mass):
    x = torch.rand(shape)
    x = {
        "softmax": x.softmax(dim=-1) if x.numel() else x,
        "zeros": torch.zeros(shape),
        "negative": -x - 0.1,
        "nan": x * float("nan"),
    }[values]
    attention = tensor(shape, dtype, kind)
    if kind == "dense" and dtype.is_floating_point:
        attention = x.to(dtype)

    def check(masks):
        assert kind == "dense" and dtype.is_floating_point
        # (B, heads, N+1, N+1) maps or their CLS rows (B, heads, 1, N+1)
        assert len(shape) == 4 and shape[-2] in (1, shape[-1])
        assert shape[-1] >= 2 and (values == "softmax" or 0 in shape[:2])
        assert type(mass) in (int, float) and 0 < mass <= 1
        assert masks.dtype == torch.bool
        assert masks.shape == (*shape[:2], shape[-1] - 1)
        if masks.numel():
            assert masks.any(dim=-1).all()  # some patch holds the mass

    expect(
        lambda: attention_masks(attention, mass),
        check,
        names=("attention", "mass"),
        values=(attention, mass),
    )


@SETTINGS
@given(
    batch=st.integers(0, 3),
    mask_batch=st.integers(0, 3),
    heads=st.integers(1, 2),
    patches=st.sampled_from([4, 4, 3]),
    size=st.sampled_from([(4, 4), (4, 4), (3, 4), (1, 1)]),
    grid=st.sampled_from([(2, 2), (2, 2), 2, (0, 2), "2", (2, 2, 2)]),
    patch_dtype=st.sampled_from([torch.bool, torch.bool, torch.float32]),
    object_dtype=st.sampled_from([torch.bool, torch.bool, torch.int64]),
    empty_object=st.booleans(),
)
def test_mask_iou(
    batch,
    mask_batch,
    heads,
    patches,
    size,
    grid,
    patch_dtype,
    object_dtype,
    empty_object,
):
    patch_masks = (torch.rand(batch, heads, patches) > 0.5).to(patch_dtype)
    object_masks = torch.rand(mask_batch, *size) > 0.3
    object_masks[..., 0, 0] = True
    if empty_object and mask_batch:
        object_masks[0] = False
    object_masks = object_masks.to(object_dtype)

    def check(iou):
        assert patch_dtype == object_dtype == torch.bool
        assert grid in ((2, 2), 2) and patches == 4
        assert size == (4, 4) and batch == mask_batch
        assert not (empty_object and mask_batch)
        assert iou.shape == (batch, heads)
        assert ((0 <= iou) & (iou <= 1)).all()  # never nan

    expect(
        lambda: mask_iou(patch_masks, object_masks, grid),
        check,
        names=("patch_masks", "object_masks", "grid"),
        values=(patch_masks, object_masks, grid)
        + (("is empty",) if empty_object else ()),  # a mask of no pixel
    )


@settings(SETTINGS, max_examples=examples(25))
@given(
    n=st.integers(0, 3),
    size=st.sampled_from([16, 16, 8, 6]),
    channels=st.sampled_from([3, 3, 1]),
    dtype=st.sampled_from([torch.float32, torch.float32, torch.float64]),
    batch=st.one_of(st.integers(-1, 3), st.sampled_from([2.0, None])),
    mask_size=st.sampled_from(["same", "same", "other"]),
    mass=st.sampled_from([0.6, 0.6, 0.0, 1.5]),
    model_kind=st.sampled_from(["vit", "vit", "vit", "linear"]),
)
def test_probes_of_a_backbone(
    n, size, channels, dtype, batch, mask_size, mass, model_kind
):
    model = tiny_vit() if model_kind == "vit" else torch.nn.Linear(3, 3)
    images = torch.rand(n, channels, size, size, dtype=dtype)
    side = size if mask_size == "same" else 2 * size
    masks = torch.ones(n, side, side, dtype=torch.bool)

    def features_ok(features):
        assert model_kind == "vit" and n and size != 6 and channels == 3
        assert dtype == torch.float32 and is_int(batch)
        assert features.shape == (n, 16)

    def iou_ok(iou):
        features_ok(torch.zeros(n, 16))
        assert mask_size == "same" and 0 < mass <= 1
        assert iou.shape == (2,) and ((0 <= iou) & (iou <= 1)).all()

    names = ("model", "images", "batch", "object_masks", "mass")
    names += ("Input image size", "channels", "patch")
    values = (model, images, batch, masks, mass, n)  # n: images given
    model.train()
    expect(
        lambda: cls_features(model, images, batch),
        features_ok,
        names=names,
        values=values,
    )
    expect(
        lambda: attention_iou(model, images, masks, mass, batch),
        iou_ok,
        names=names,
        values=values,
    )
    assert model.training  # the probes leave the model's mode as it was


def test_attention_iou_uses_the_grid_of_the_images():
    """A dynamic-size model measured on images of another size: the
    patch grid is the images' (the model's grid_size raised a raw
    reshape error before)."""
    model = tiny_vit(img_size=32)
    images = torch.rand(2, 3, 16, 16)
    masks = torch.zeros(2, 16, 16, dtype=torch.bool)
    masks[:, :8, :8] = True
    iou = attention_iou(model, images, masks)
    assert iou.shape == (2,) and ((0 < iou) & (iou <= 1)).all()


# --- mean attention distance ---------------------------------------------------------


def test_attention_distance_by_hand():
    # a 1x2 grid of 16-pixel patches: the two centres are 16 pixels apart
    half = torch.tensor(
        [[0.0, 0.5, 0.5], [0.0, 0.5, 0.5], [0.0, 0.5, 0.5]]
    )  # (3, 3): CLS, then 2 patches, each reading both patches equally
    assert mean_attention_distance(half, (1, 2), 16).item() == 8.0
    itself = torch.eye(5)  # 2x2 grid: every token reads only itself
    assert mean_attention_distance(itself, (2, 2), 8).item() == 0.0
    opposite = torch.zeros(5, 5)  # each patch reads the diagonal opposite
    for query, key in [(1, 4), (2, 3), (3, 2), (4, 1)]:
        opposite[query, key] = 1.0
    distance = mean_attention_distance(opposite, (2, 2), 8).item()
    assert distance == pytest.approx(8 * math.sqrt(2))


def test_attention_distance_leaves_the_cls_token_out():
    torch.manual_seed(0)
    attention = torch.rand(2, 3, 4, 7, 7).softmax(dim=-1)  # (B, L, h, T, T)
    moved = attention.clone()
    moved[..., 0] *= 5  # more weight on the CLS key
    moved[..., 0, :] = 1.0  # any CLS query row
    plain, shifted = (
        mean_attention_distance(a, (2, 3), 4) for a in (attention, moved)
    )
    assert plain.shape == (2, 3, 4)
    assert torch.allclose(plain, shifted, atol=1e-6)


def slow_distance(attention, rows, cols, patch_size):
    """The paper's sentence, one query pixel at a time: patch centres."""
    total = 0.0
    for q in range(rows * cols):
        weights = attention[1 + q, 1:] / attention[1 + q, 1:].sum()
        for k in range(rows * cols):
            dr, dc = q // cols - k // cols, q % cols - k % cols
            total += weights[k].item() * patch_size * math.hypot(dr, dc)
    return total / (rows * cols)


@SETTINGS
@given(
    rows=st.integers(1, 4),
    cols=st.integers(1, 4),
    patch_size=st.integers(1, 16),
    sharpness=st.floats(0.1, 20.0),
    seed=st.integers(0, 2**16),
)
def test_attention_distance_matches_the_definition(
    rows, cols, patch_size, sharpness, seed
):
    generator = torch.Generator().manual_seed(seed)
    tokens = rows * cols + 1
    scores = torch.randn(
        tokens, tokens, generator=generator, dtype=torch.float64
    )
    attention = (sharpness * scores).softmax(dim=-1)
    got = mean_attention_distance(attention, (rows, cols), patch_size)
    assert got.dtype == torch.float64
    expected = slow_distance(attention, rows, cols, patch_size)
    assert got.item() == pytest.approx(expected, rel=1e-9, abs=1e-9)
    # never farther than the grid's diagonal
    diagonal = patch_size * math.hypot(rows - 1, cols - 1)
    assert 0 <= got.item() <= diagonal + 1e-9


@pytest.mark.parametrize(
    ("attention", "grid", "patch_size", "error", "message"),
    [
        (torch.ones(1, 5, 5), (2, 3), 4, ValueError, r"\(\.\.\., 7, 7\)"),
        (torch.ones(5), (2, 2), 4, ValueError, r"got \(5,\)"),
        (torch.ones(5, 5).long(), (2, 2), 4, TypeError, "floating-point"),
        (-torch.ones(5, 5), (2, 2), 4, ValueError, "finite weights >= 0"),
        (
            torch.full((5, 5), math.nan),
            (2, 2),
            4,
            ValueError,
            "finite weights",
        ),
        (torch.eye(5)[[0, 0, 2, 3, 4]], (2, 2), 4, ValueError, "no weight"),
        ([[1.0]], (1, 1), 4, TypeError, "torch.Tensor, got list"),
        (torch.ones(5, 5), (2, 2), 0, ValueError, "patch_size must be"),
        (torch.ones(5, 5), (2, 2), 4.0, TypeError, "patch_size must be an"),
        (torch.ones(5, 5), (2, 2, 1), 4, ValueError, "grid must be"),
        (torch.ones(5, 5, device="meta"), (2, 2), 4, ValueError, "meta"),
    ],
)
def test_attention_distance_messages(
    attention, grid, patch_size, error, message
):
    with pytest.raises(error, match=message):
        mean_attention_distance(attention, grid, patch_size)


# --- each refusal, word for word ----------------------------------------------


def masks_of(shape, empty=()):
    masks = torch.ones(shape, dtype=torch.bool)
    for i in empty:
        masks[i] = False
    return masks


@pytest.mark.parametrize(
    "patch_masks,object_masks,error,message",
    [
        (
            torch.zeros(1, 1, 4),
            masks_of((1, 4, 4)),
            TypeError,
            "patch_masks must be a boolean tensor (batch, heads, rows*cols), "
            "got dtype torch.float32",
        ),
        (
            [[[True] * 4]],
            masks_of((1, 4, 4)),
            TypeError,
            "patch_masks must be a boolean tensor (batch, heads, rows*cols), "
            "got list",
        ),
        (
            masks_of((1, 1, 4)).to_sparse(),
            masks_of((1, 4, 4)),
            TypeError,
            "patch_masks must be a dense tensor, got layout torch.sparse_coo",
        ),
        (
            masks_of((1, 4)),
            masks_of((1, 4, 4)),
            ValueError,
            "patch_masks must have shape (batch, heads, 4) for a 2x2 grid, "
            "got (1, 4)",
        ),
        (
            masks_of((1, 1, 4)),
            masks_of((1, 4, 4)).long(),
            TypeError,
            "object_masks must be a boolean tensor (batch, height, width), "
            "got dtype torch.int64",
        ),
        *(
            (
                masks_of((1, 1, 4)),
                masks_of(shape),
                ValueError,
                "object_masks must have shape (1, height, width), one mask "
                "per image, with height a multiple of 2 and width of 2 (the "
                f"2x2 patch grid), got {shape}",
            )
            for shape in [(1, 0, 4), (1, 4, 0), (1, 3, 4), (1, 4, 3)]
        ),
        (
            masks_of((2, 1, 4)),
            masks_of((2, 4, 4), empty=[1]),
            ValueError,
            "object_masks[1] is empty: the IoU with no object is undefined",
        ),
    ],
)
def test_mask_iou_refusals_word_for_word(
    patch_masks, object_masks, error, message
):
    with pytest.raises(error) as refused:
        mask_iou(patch_masks, object_masks, (2, 2))
    assert str(refused.value).startswith(message), str(refused.value)


def test_mask_iou_of_masks_the_size_of_the_grid():
    """One pixel per patch: the smallest masks a grid tiles."""
    patches = torch.tensor([[[True, False, False, True]]])
    truth = torch.tensor([[[True, True], [False, True]]])
    assert mask_iou(patches, truth, (2, 2)).tolist() == [
        [pytest.approx(2 / 3)]
    ]


def test_attention_distance_refusals_name_attention():
    for attention, error, message in [
        (
            torch.zeros(5, 5, dtype=torch.int64),
            TypeError,
            "attention must be a floating-point tensor, got dtype torch.int64",
        ),
        (
            torch.rand(5, 5, device="meta"),
            ValueError,
            "attention must hold values, got a tensor on the meta device",
        ),
    ]:
        with pytest.raises(error) as refused:
            mean_attention_distance(attention, (2, 2), 8)
        assert str(refused.value).startswith(message), str(refused.value)


def test_attention_distance_per_map_in_its_dtype_without_warnings():
    """A batch of maps (B, heads, N+1, N+1) gives each map's own distance,
    in the attention's dtype, with no warning (torch.meshgrid warns unless
    told its indexing)."""
    torch.manual_seed(0)
    attention = torch.rand(2, 3, 5, 5).softmax(dim=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        distances = mean_attention_distance(attention, (2, 2), 8)
    assert distances.shape == (2, 3) and distances.dtype == torch.float32
    each = torch.stack(
        [
            torch.stack([mean_attention_distance(m, (2, 2), 8) for m in maps])
            for maps in attention
        ]
    )
    torch.testing.assert_close(distances, each)


def cls_rows(*rows):
    """Attention's CLS rows (1, heads, 1, N+1), one head per row given."""
    return torch.tensor(rows, dtype=torch.float32)[None, :, None, :]


def test_attention_masks_threshold_cls_rows_and_their_edges():
    """CLS rows alone are enough; one patch is enough; a patch with no
    weight is allowed; a patch is kept where the ascending cumulative sum
    is above 1 - mass, so two quarters hold a mass of 0.5 exactly and a
    third is not added; the default mass is DINO's 0.6."""
    assert attention_masks(cls_rows([0.5, 0.5])).tolist() == [[[True]]]
    quarters = cls_rows([0.2, 0.0, 0.2, 0.2, 0.2, 0.2])
    kept = attention_masks(quarters, mass=0.5)  # 0.25 each after CLS
    assert kept.sum().item() == 2
    assert kept[0, 0, 0].item() is False  # the patch with no weight
    torch.manual_seed(0)
    maps = torch.rand(2, 3, 5, 5).softmax(dim=-1)
    assert torch.equal(attention_masks(maps), attention_masks(maps, 0.6))


@pytest.mark.parametrize(
    "attention,message",
    [
        (
            torch.rand(1, 1, 3, 5),
            "attention must have shape (batch, heads, N+1, N+1) or its CLS "
            "rows (batch, heads, 1, N+1), with at least one patch (N >= 1), "
            "got (1, 1, 3, 5)",
        ),
        (
            torch.rand(1, 1, 1, 1),
            "attention must have shape (batch, heads, N+1, N+1) or its CLS "
            "rows (batch, heads, 1, N+1), with at least one patch (N >= 1), "
            "got (1, 1, 1, 1)",
        ),
        (
            cls_rows([0.2, -0.1, 0.9]),
            "attention must hold finite weights >= 0 (a softmax), got values "
            "from -0.1 to 0.9 (shape (1, 1, 1, 3))",
        ),
        (
            torch.cat([cls_rows([1.0, 0.5, 0.5]), cls_rows([1.0, 0.0, 0.0])]),
            "attention gives the patches no weight in 1 of its 2 CLS rows "
            "(they sum to 0; shape (2, 1, 1, 3)): there is no mass to "
            "threshold",
        ),
        (
            cls_rows([0.2, 0.4, 0.4], [1.0, 0.0, 0.0]),
            "attention gives the patches no weight in 1 of its 2 CLS rows "
            "(they sum to 0; shape (1, 2, 1, 3)): there is no mass to "
            "threshold",
        ),
    ],
)
def test_attention_masks_refusals_word_for_word(attention, message):
    with pytest.raises(ValueError) as refused:
        attention_masks(attention)
    assert str(refused.value) == message


# --- the k-NN vote's numbers and refusals, word for word -----------------------------------


def neighbours(dtype=torch.float32, label_dtype=torch.int64):
    """One training image of class 0 at cosine 1 from the test image, two of
    class 1 at cosine 0.9 (and one far away, class 2)."""
    angle = math.acos(0.9)
    train = torch.tensor(
        [
            [1.0, 0.0],
            [math.cos(angle), math.sin(angle)],
            [math.cos(angle), -math.sin(angle)],
            [-1.0, 0.0],
        ],
        dtype=dtype,
    )
    labels = torch.tensor([0, 1, 1, 2], dtype=label_dtype)
    return train, labels, train[:1], torch.tensor([0], dtype=label_dtype)


def test_dinos_temperature_lets_one_close_neighbour_outvote_two():
    """With T = 0.07 the nearest neighbour's weight is 1 and each of the
    two at cosine 0.9 gets exp(-0.1 / 0.07) = 0.24: class 0 wins. A warm
    T = 1 weighs them 0.90 each: class 1 wins."""
    train, labels, test, truth = neighbours()
    assert knn_accuracy(train, labels, test, truth, k=3) == 1.0
    assert knn_accuracy(train, labels, test, truth, k=3, temperature=1) == 0
    assert knn_accuracy(train, labels, test, truth, k=1) == 1.0


@pytest.mark.parametrize(
    "dtype,label_dtype",
    [
        (torch.float64, torch.int64),
        (torch.float32, torch.int32),
        (torch.float16, torch.int16),
        (torch.float32, torch.uint8),
    ],
)
def test_knn_takes_any_float_features_and_integer_labels(dtype, label_dtype):
    train, labels, test, truth = neighbours(dtype, label_dtype)
    assert knn_accuracy(train, labels, test, truth, k=3) == 1.0


def test_knn_of_one_dimensional_features():
    """Unit features of width 1 are +1 and -1: two groups."""
    train = torch.tensor([[1.0], [1.0], [-1.0]])
    labels = torch.tensor([3, 3, 1])
    test, truth = torch.tensor([[-1.0], [1.0]]), torch.tensor([1, 3])
    assert knn_accuracy(train, labels, test, truth, k=1) == 1.0


def test_the_votes_memory_guard_counts_one_vote_per_test_image_and_class(
    monkeypatch,
):
    counted = []
    monkeypatch.setattr(
        probes.check,
        "fits_in_memory",
        lambda n, what, *_: counted.append((n, what)),
    )
    train, labels, _, _ = neighbours()
    knn_accuracy(train, labels, train[:3], labels[:3], k=2)
    assert counted == [(3 * 3, "Votes for classes 0 to 2")]


KNN_BANK = unit(4, 2)
KNN_LABELS = torch.tensor([0, 1, 0, 1])


@pytest.mark.parametrize(
    "arguments,error,message",
    [
        (
            {"train_features": "x"},
            TypeError,
            "train_features must be a torch.Tensor, got str",
        ),
        (
            {"test_features": "x"},
            TypeError,
            "test_features must be a torch.Tensor, got str",
        ),
        (
            {"test_features": KNN_BANK.to_sparse()},
            TypeError,
            "test_features must be a dense tensor, got layout "
            "torch.sparse_coo: call x.to_dense() first",
        ),
        (
            {"test_labels": KNN_LABELS.float()},
            TypeError,
            "test_labels must hold integer class indices, got dtype "
            "torch.float32: call test_labels.long()",
        ),
        (
            {"test_labels": [0, 1, 0, 1]},
            TypeError,
            "test_labels must be a torch.Tensor, got list",
        ),
        (
            {"train_labels": KNN_LABELS.to(torch.complex64)},
            TypeError,
            "train_labels must hold integer class indices, got dtype "
            "torch.complex64: call train_labels.long()",
        ),
        (
            {"train_labels": KNN_LABELS.bool()},
            TypeError,
            "train_labels must hold integer class indices, got dtype "
            "torch.bool: call train_labels.long()",
        ),
        (
            {"train_labels": KNN_LABELS.to_sparse()},
            TypeError,
            "train_labels must be a dense tensor, got layout "
            "torch.sparse_coo: call train_labels.to_dense()",
        ),
        (
            {"test_labels": KNN_LABELS - 1},
            ValueError,
            "test_labels must be class indices 0, 1, ..., got -1 (in "
            "test_labels of shape (4,))",
        ),
        ({"k": 0}, ValueError, "k must be positive, got 0"),
        (
            {"k": 5},
            ValueError,
            "k must be at most the number of training features (4), got 5",
        ),
    ],
)
def test_knn_refusals_word_for_word(arguments, error, message):
    call = {
        "train_features": KNN_BANK,
        "train_labels": KNN_LABELS,
        "test_features": KNN_BANK,
        "test_labels": KNN_LABELS,
        "k": 2,
    } | arguments
    with pytest.raises(error) as refused:
        knn_accuracy(**call)
    assert str(refused.value) == message


def test_test_features_of_another_dtype_are_refused():
    with pytest.raises(TypeError) as refused:
        knn_accuracy(KNN_BANK, KNN_LABELS, KNN_BANK.double(), KNN_LABELS, 2)
    assert str(refused.value) == (
        "test_features has dtype torch.float64 but train_features has "
        "torch.float32: call x.to(torch.float32)"
    )


# --- attention masks and distances: edges and refusals -------------------------------------


def test_attention_masks_of_no_images_or_no_heads_are_empty():
    assert attention_masks(torch.rand(0, 2, 3, 3)).shape == (0, 2, 2)
    assert attention_masks(torch.rand(2, 0, 3, 3)).shape == (2, 0, 2)


@pytest.mark.parametrize(
    "mass,error,message",
    [
        (0, ValueError, "mass must be in (0, 1], got 0"),
        (-0.1, ValueError, "mass must be in (0, 1], got -0.1"),
        (1.5, ValueError, "mass must be in (0, 1], got 1.5"),
        ("0.5", TypeError, "mass must be a number, got str ('0.5')"),
    ],
)
def test_attention_masks_mass_refusals_word_for_word(mass, error, message):
    with pytest.raises(error) as refused:
        attention_masks(torch.rand(1, 1, 3, 3), mass=mass)
    assert str(refused.value) == message


def test_attention_distance_refuses_a_query_with_no_patch_weight():
    """Row 2 gives the patches no weight, though every patch key gets some
    from the other rows: the check is per query row."""
    attention = torch.rand(1, 3, 5, 5)
    attention[0, 1, 2, 1:] = 0
    with pytest.raises(ValueError) as refused:
        mean_attention_distance(attention, (2, 2), 8)
    assert str(refused.value) == (
        "attention gives the patches no weight in some rows (they sum to 0 "
        "over the patch keys): there is no distance to average"
    )
    attention[0, 1, 2, 1:] = -1
    with pytest.raises(ValueError) as refused:
        mean_attention_distance(attention, (2, 2), 8)
    assert str(refused.value).startswith(
        "attention must hold finite weights >= 0 (a softmax), got values "
        "from -1 to "
    )


def test_the_features_of_one_image_and_a_batch_of_none():
    model, image = tiny_vit(), torch.rand(1, 3, 16, 16)
    features = cls_features(model, image)
    assert features.shape == (1, 16)
    torch.testing.assert_close(features.norm(dim=1), torch.ones(1))
    with pytest.raises(ValueError) as refused:
        cls_features(model, image, batch=0)
    assert str(refused.value) == "batch must be positive, got 0"
