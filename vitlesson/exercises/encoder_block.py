"""The check of part 5's exercise: a pre-norm encoder block.

A ViT block is two residual steps, each reading a LayerNorm'd copy of the
tokens: ``x = x + MSA(LN1(x))``, then ``x = x + MLP(LN2(x))``. MSA splits
``qkv(x)`` into queries, keys and values of ``heads`` heads, each of
``dim // heads`` numbers, computes ``softmax(q k^T / sqrt(d)) v`` per head,
puts the heads side by side again and mixes them with ``proj``; the MLP is
``fc2(GELU(fc1(x)))`` with ``dim * mlp_ratio`` hidden numbers.

The check builds the learner's block, finds its layers by the names DINO's
and timm's checkpoints use (``norm1``, ``qkv``, ``proj``, ``norm2``,
``fc1``, ``fc2``; nested as ``attn.qkv`` or ``mlp.fc1`` as well), fills
them with numbers drawn for this run (LayerNorm scales and shifts too, so
that two LayerNorms differ) and compares the block's output with its own
forward pass, written here in plain tensor operations from those numbers.
A wrong output is matched against the typical mistakes and named.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from vitlesson import vit
from vitlesson.exercises._harness import (
    ExerciseError,
    describe,
    first_difference,
    learner_call,
    refusing_the_solution,
    returned_tensor,
    seeded,
    shape_mistake,
)

# The package's answers to this exercise, refused while the check runs.
SOLUTIONS = {
    "vitlesson.vit.Block": vit.Block,
    "vitlesson.vit.Attention": vit.Attention,
    "vitlesson.vit.Mlp": vit.Mlp,
    "vitlesson.vit.attention_weights": vit.attention_weights,
}

# Each layer the block must have, where a checkpoint may nest it.
LAYERS = {
    "norm1": ("norm1",),
    "qkv": ("qkv", "attn.qkv"),
    "proj": ("proj", "attn.proj"),
    "norm2": ("norm2",),
    "fc1": ("fc1", "mlp.fc1"),
    "fc2": ("fc2", "mlp.fc2"),
}

TOKEN_DIMS = ("images B", "tokens T", "embedding D")
EPS = 1e-6  # ViT's and DINO's LayerNorm, where a norm names no eps


def layer_norm(x: torch.Tensor, weight, bias, eps) -> torch.Tensor:
    """Each token to mean 0 and variance 1, then scaled and shifted."""
    mean = x.mean(dim=-1, keepdim=True)  # (B, T, 1)
    variance = x.var(dim=-1, keepdim=True, unbiased=False)  # (B, T, 1)
    return (x - mean) / torch.sqrt(variance + eps) * weight + bias


def _tanh_gelu(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


# The MLP's activation in two of the typical mistakes (GELU otherwise).
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "ReLU": F.relu,
    "tanh GELU": _tanh_gelu,
}


def reference_block(
    x: torch.Tensor,
    w: dict[str, torch.Tensor],
    heads: int,
    mistake: str = "",
) -> torch.Tensor:
    """The check's own block: (B, T, D) -> (B, T, D) from the weights ``w``
    (keys ``norm1.weight``, ``qkv.bias``, ..., and each LayerNorm's
    ``eps``: the learner's own, 1e-5 by PyTorch's default, 1e-6 in ViT). ``mistake`` makes one of
    :data:`MISTAKES` instead, to name a wrong answer."""
    B, T, D = x.shape
    d = D // heads

    def norm(name: str, tokens: torch.Tensor) -> torch.Tensor:
        if mistake == "one LayerNorm":
            name = "norm1"
        weight, bias = w[f"{name}.weight"], w[f"{name}.bias"]
        return layer_norm(tokens, weight, bias, float(w[f"{name}.eps"]))

    def attention(tokens: torch.Tensor) -> torch.Tensor:
        qkv = tokens @ w["qkv.weight"].T + w["qkv.bias"]  # (B, T, 3D)
        if mistake == "heads split first":
            qkv = qkv.reshape(B, T, heads, 3, d).permute(3, 0, 2, 1, 4)
        else:
            qkv = qkv.reshape(B, T, 3, heads, d).permute(2, 0, 3, 1, 4)
        q, k, v = qkv  # 3 x (B, heads, T, d)
        if mistake == "q and k swapped":
            q, k = k, q
        scale = {"no scale": 1.0, "scale by D": D**-0.5}.get(mistake, d**-0.5)
        scores = q @ k.transpose(-2, -1) * scale  # (B, heads, T, T)
        axis = -2 if mistake == "softmax over queries" else -1
        out = scores.softmax(dim=axis) @ v  # (B, heads, T, d)
        if mistake == "heads merged without transpose":
            out = out.reshape(B, T, D)  # mixes tokens and heads
        else:
            out = out.transpose(1, 2).reshape(B, T, D)  # heads side by side
        if mistake == "no output projection":
            return out
        return out @ w["proj.weight"].T + w["proj.bias"]  # (B, T, D)

    def mlp(tokens: torch.Tensor) -> torch.Tensor:
        hidden = tokens @ w["fc1.weight"].T + w["fc1.bias"]  # (B, T, H)
        activation = ACTIVATIONS.get(mistake, F.gelu)
        hidden = activation(hidden)
        return hidden @ w["fc2.weight"].T + w["fc2.bias"]  # (B, T, D)

    if mistake == "post-norm":
        x = norm("norm1", x + attention(x))
        return norm("norm2", x + mlp(x))
    if mistake == "residual from the norm":
        h = norm("norm1", x)
        x = h + attention(h)
        h = norm("norm2", x)
        return h + mlp(h)
    y = attention(norm("norm1", x))
    x = y if mistake == "no attention residual" else x + y
    y = mlp(norm("norm2", x))
    return y if mistake == "no MLP residual" else x + y


# The typical mistakes :func:`reference_block` makes on request, named.
MISTAKES = {
    "post-norm": "the block is post-norm, LN(x + MSA(x)): ViT normalises a "
    "copy before each branch and adds the branch to the unnormalised x, "
    "x = x + MSA(LN1(x))",
    "one LayerNorm": "the MLP branch is normalised with norm1: each branch "
    "has its own LayerNorm, norm2 before the MLP",
    "no attention residual": "the attention branch has no residual "
    "connection: x = x + MSA(LN1(x)), not x = MSA(LN1(x))",
    "no MLP residual": "the MLP branch has no residual connection: "
    "x = x + MLP(LN2(x)), not x = MLP(LN2(x))",
    "residual from the norm": "the residual adds the branch to the "
    "normalised tokens, h + MSA(h) with h = LN1(x): add it to x itself, "
    "x + MSA(LN1(x))",
    "ReLU": "the MLP uses ReLU: ViT's MLP uses GELU (nn.GELU())",
    "tanh GELU": "the MLP uses GELU's tanh approximation: ViT's is the "
    "exact GELU, nn.GELU() with no arguments",
    "no scale": "the attention scores are not scaled: divide q @ k^T by "
    "sqrt(d), d = dim // heads",
    "scale by D": "the scores are divided by sqrt(dim): the scale is "
    "1/sqrt(d) with d = dim // heads, the width of one head",
    "softmax over queries": "the softmax is over the queries (dim=-2): "
    "each query's weights over the keys sum to 1, softmax(dim=-1)",
    "q and k swapped": "queries and keys are swapped: qkv's output is "
    "[q | k | v], in that order",
    "heads split first": "qkv's output was split as (T, heads, 3, d): it "
    "is [q | k | v], each of heads x d numbers, so reshape to "
    "(B, T, 3, heads, d)",
    "heads merged without transpose": "the heads were merged by "
    "reshaping (B, heads, T, d) straight to (B, T, D), which mixes tokens "
    "and heads: transpose(1, 2) first",
    "no output projection": "the output projection is missing: the heads' "
    "outputs, side by side, go through proj",
}


def _drawn_note(settings: str) -> str:
    return (
        f"It passed with the lesson's settings; this run drew {settings}: "
        "read every size from the arguments instead of writing a number"
    )


def _expected_shapes(D: int, hidden: int) -> dict[str, tuple[int, ...]]:
    return {
        "norm1.weight": (D,),
        "norm1.bias": (D,),
        "qkv.weight": (3 * D, D),
        "qkv.bias": (3 * D,),
        "proj.weight": (D, D),
        "proj.bias": (D,),
        "norm2.weight": (D,),
        "norm2.bias": (D,),
        "fc1.weight": (hidden, D),
        "fc1.bias": (hidden,),
        "fc2.weight": (D, hidden),
        "fc2.bias": (D,),
    }


def _layers(block: nn.Module, shown: str) -> dict[str, nn.Module]:
    """The block's six layers by their checkpoint names."""
    found = {}
    for name, places in LAYERS.items():
        for place in places:
            try:
                found[name] = block.get_submodule(place)
                break
            except AttributeError:
                continue
        else:
            raise ExerciseError(
                f"{shown} has no layer named {name} (self.{name} = ...): "
                "the check finds the block's layers by their names in "
                "DINO's checkpoints, norm1, qkv, proj, norm2, fc1 and fc2"
            )
    for first, second in (("norm1", "norm2"), ("fc1", "fc2")):
        if found[first] is found[second]:
            raise ExerciseError(
                f"In {shown}, {first} and {second} are one layer: each "
                "branch has its own, with its own weights"
            )
    return found


def _width_reason(key, got, D, hidden, ratio) -> str:
    """Why a layer's shape is wrong, where a typical mistake explains it."""
    if key.startswith("fc") and 4 * D in got and hidden != 4 * D:
        return (
            f": the hidden width is dim * mlp_ratio = {D} * {ratio}, "
            "not 4 * dim"
        )
    if got[::-1] == _expected_shapes(D, hidden)[key] and len(got) == 2:
        return ": nn.Linear takes (in_features, out_features), in order"
    return ""


def _filled(block, shown, D, hidden, ratio, end) -> dict[str, torch.Tensor]:
    """Numbers drawn for this run, copied into the learner's layers; the
    same numbers, by name, for the reference."""
    layers = _layers(block, shown)
    weights = {}
    for key, shape in _expected_shapes(D, hidden).items():
        layer, kind = key.split(".")
        parameter = getattr(layers[layer], kind, None)
        if not isinstance(parameter, torch.Tensor):
            raise ExerciseError(
                f"In {shown}, {layer} has no {kind} (bias=False, or "
                "elementwise_affine=False?): ViT's layers all have one"
            )
        got = tuple(parameter.shape)
        if got != shape:
            raise ExerciseError(
                f"In {shown}, {layer}.{kind} should have shape {shape}, got "
                f"{got}{_width_reason(key, got, D, hidden, ratio)}{end}"
            )
        if key.startswith("norm") and kind == "weight":
            value = 1 + 0.3 * torch.randn(shape)  # scales around 1
        elif kind == "weight":
            value = torch.randn(shape) / shape[1] ** 0.5  # outputs ~ 1
        else:
            value = 0.3 * torch.randn(shape)
        parameter.copy_(value)
        weights[key] = value.clone()
    for norm in ("norm1", "norm2"):  # the learner's own, like PyTorch's 1e-5
        eps = getattr(layers[norm], "eps", EPS)
        if not isinstance(eps, float) or not 0 <= eps <= 1e-3:
            raise ExerciseError(
                f"In {shown}, {norm}.eps is {describe(eps)}: a LayerNorm's "
                "eps only keeps it from dividing by 0 (ViT's is 1e-6)"
            )
        weights[f"{norm}.eps"] = torch.tensor(eps)
    return weights


def _named_mistake(got, x, weights, heads, expected) -> str | None:
    for mistake, name in MISTAKES.items():
        wrong = reference_block(x, weights, heads, mistake)
        if not _close(wrong, expected) and _close(got, wrong):
            return name
    return None


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool(
        torch.allclose(a, b.to(a.dtype), atol=1e-4, rtol=1e-4)
    )


def _token_element(index: tuple[int, ...]) -> str:
    b, t, d = index
    return f"image {b}, token {t}, number {d}"


def _check_block(cls, name, D, heads, ratio, B, T, hint="") -> None:
    hidden = round(D * ratio)
    shown = f"{name}({D}, {heads}, {ratio})"
    end = f". {hint}" if hint else ""
    block = learner_call(
        name,
        cls,
        D,
        heads,
        ratio,
        expected="an encoder block (an nn.Module)",
        hint=hint,
    )
    if not isinstance(block, nn.Module):
        raise ExerciseError(
            f"{shown} made {describe(block)}; expected an nn.Module "
            "(class EncoderBlock(nn.Module), with super().__init__())"
        )
    weights = _filled(block, shown, D, hidden, ratio, end)
    block.eval()
    x = torch.randn(B, T, D)
    kept = x.clone()
    call = f"{name}.forward(tokens of shape {(B, T, D)}), built as {shown}"
    wanted = f"tokens of shape {(B, T, D)}"
    got = learner_call(f"{name}.forward", block, x, expected=wanted, hint=hint)
    if not torch.equal(x, kept):
        raise ExerciseError(
            f"{call} changed its input in place (x += ... or an in-place "
            "activation): a forward hook or the caller still holds it; "
            "write x = x + ..., which makes a new tensor"
        )
    got = returned_tensor(call, got, wanted)
    mistake = shape_mistake(got.shape, x.shape, TOKEN_DIMS)
    if mistake:
        raise ExerciseError(f"{call} returned {mistake}{end}")
    again = learner_call(
        f"{name}.forward", block, kept.clone(), expected=wanted, hint=hint
    )
    again = returned_tensor(call, again, wanted)
    if not torch.equal(again, got):
        raise ExerciseError(
            f"{call} gave other numbers at its second call in eval mode: "
            "dropout is on (F.dropout trains unless told "
            "training=self.training; nn.Dropout follows eval()); this "
            "block needs no dropout" + end
        )
    expected = reference_block(kept, weights, heads)
    difference = first_difference(got, expected, _token_element, 1e-4)
    if difference is None:
        return
    named = _named_mistake(got, kept, weights, heads, expected)
    if named:
        raise ExerciseError(f"{call}: {named}{end}")
    raise ExerciseError(
        f"{call} should compute x + MSA(LN1(x)), then x + MLP(LN2(x)), "
        f"with its own layers' weights; {difference}{end}"
    )


@seeded
def check_encoder_block(cls, *, draw: random.Random) -> None:
    """Check a learner's ``EncoderBlock(dim, heads, mlp_ratio)`` class.

    On ViT-Ti's width, heads and MLP ratio (192, 3, 4) with the 50 tokens
    of a 112×112 image, then on widths, head counts, ratios and token
    counts drawn for this run, the block is built, its layers filled with
    numbers drawn for the run and its output compared with the check's own
    forward pass from the same numbers.
    """
    name = getattr(cls, "__name__", "EncoderBlock")
    if not inspect.isclass(cls):
        raise ExerciseError(
            f"check_encoder_block expects your class EncoderBlock itself, "
            f"got {describe(cls)}: run the cell that defines the class, "
            "then pass the class to the check"
        )
    with refusing_the_solution(SOLUTIONS), torch.no_grad():
        _check_block(cls, name, 192, 3, 4.0, 1, 50)
        print(
            "✓ EncoderBlock(192, 3, 4.0): (1, 50, 192), as the check's "
            "own block"
        )
        for _ in range(2):
            heads = draw.choice([2, 4, 6])
            D = heads * draw.choice([4, 6, 8])
            ratio = draw.choice([2.0, 3.0])
            B, T = draw.choice([1, 3]), draw.randrange(3, 20)
            settings = (
                f"dim {D}, {heads} heads, mlp_ratio {ratio}, batch {B} of "
                f"{T} tokens"
            )
            _check_block(
                cls, name, D, heads, ratio, B, T, _drawn_note(settings)
            )
    print(
        "✓ EncoderBlock: also right on 2 drawn settings (width, heads, "
        "MLP ratio)"
    )
