"""Learners' answers to part 5's exercise, right and wrong.

``learner_block`` writes the block a learner writes, with one mistake
switched on at a time; the corpus maps each mistake to its answer and a
phrase (a regular expression) the check's message must contain to name
it. The right answers are other correct formulations than the published
solution."""

from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

import vitlesson.vit


def learner_block(mistake=""):
    """A learner's ``EncoderBlock``, the published solution's layout, with
    ``mistake`` (a key of :data:`BLOCK_MISTAKES`, or "" for none)."""

    class EncoderBlock(nn.Module):
        def __init__(self, dim, heads, mlp_ratio=4.0):
            super().__init__()
            self.heads = 3 if mistake == "3 heads written" else heads
            hidden = 4 * dim if mistake == "4 * dim" else int(dim * mlp_ratio)
            self.norm1 = nn.LayerNorm(dim, eps=1e-6)
            if mistake == "nn.MultiheadAttention":
                self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
            elif mistake == "Linear(out, in)":
                self.qkv = nn.Linear(3 * dim, dim)
            else:
                self.qkv = nn.Linear(dim, 3 * dim, bias=mistake != "no bias")
            self.proj = nn.Linear(dim, dim)
            self.norm2 = (
                self.norm1
                if mistake == "norm2 is norm1"
                else nn.LayerNorm(dim, eps=1e-6)
            )
            self.fc1 = nn.Linear(dim, hidden)
            self.fc2 = nn.Linear(hidden, dim)

        def attention(self, x):
            B, T, D = x.shape
            heads = self.heads
            d = D // heads
            qkv = self.qkv(x)  # (B, T, 3D)
            if mistake == "heads split first":
                qkv = qkv.reshape(B, T, heads, 3, d).permute(3, 0, 2, 1, 4)
            else:
                qkv = qkv.reshape(B, T, 3, heads, d).permute(2, 0, 3, 1, 4)
            q, k, v = qkv  # (B, heads, T, d) each
            if mistake == "q and k swapped":
                q, k = k, q
            scale = {"no scale": 1, "scale by D": D**-0.5}.get(
                mistake, d**-0.5
            )
            scores = q @ k.transpose(-2, -1) * scale  # (B, heads, T, T)
            dim = -2 if mistake == "softmax over queries" else -1
            out = scores.softmax(dim=dim) @ v  # (B, heads, T, d)
            if mistake == "heads merged without transpose":
                out = out.reshape(B, T, D)
            else:
                out = out.transpose(1, 2).reshape(B, T, D)
            if mistake == "no output projection":
                return out
            return self.proj(out)

        def mlp(self, x):
            hidden = self.fc1(x)
            if mistake == "ReLU":
                hidden = F.relu(hidden)
            elif mistake == "tanh GELU":
                hidden = F.gelu(hidden, approximate="tanh")
            else:
                hidden = F.gelu(hidden)
            return self.fc2(hidden)

        def forward(self, x):
            norm2 = self.norm1 if mistake == "one LayerNorm" else self.norm2
            if mistake == "post-norm":
                x = self.norm1(x + self.attention(x))
                return norm2(x + self.mlp(x))
            if mistake == "residual from the norm":
                h = self.norm1(x)
                x = h + self.attention(h)
                h = norm2(x)
                return h + self.mlp(h)
            if mistake == "x += in place":
                x += self.attention(self.norm1(x))
                return x + self.mlp(norm2(x))
            y = self.attention(self.norm1(x))
            x = y if mistake == "no attention residual" else x + y
            y = self.mlp(norm2(x))
            if mistake == "dropout on":
                y = F.dropout(y, 0.1)
            x = y if mistake == "no MLP residual" else x + y
            return (x, None) if mistake == "a tuple returned" else x

    return EncoderBlock


class NotAModule:
    def __init__(self, dim, heads, mlp_ratio=4.0):
        self.dim = dim


class SubclassOfTheBlock(vitlesson.vit.Block):
    """The package's block under the exercise's name."""


class WithThePackagesAttention(learner_block()):
    def __init__(self, dim, heads, mlp_ratio=4.0):
        super().__init__(dim, heads, mlp_ratio)
        self.attn = vitlesson.vit.Attention(dim, heads)


BLOCK_MISTAKES = {
    "post-norm": (
        learner_block("post-norm"),
        r"the block is post-norm, LN\(x \+ MSA\(x\)\)",
    ),
    "one LayerNorm for both branches": (
        learner_block("one LayerNorm"),
        "the MLP branch is normalised with norm1",
    ),
    "norm2 is norm1": (
        learner_block("norm2 is norm1"),
        "norm1 and norm2 are one layer",
    ),
    "no residual around attention": (
        learner_block("no attention residual"),
        "the attention branch has no residual connection",
    ),
    "no residual around the MLP": (
        learner_block("no MLP residual"),
        "the MLP branch has no residual connection",
    ),
    "residual from the normalised tokens": (
        learner_block("residual from the norm"),
        "the residual adds the branch to the normalised tokens",
    ),
    "ReLU": (learner_block("ReLU"), "the MLP uses ReLU"),
    "GELU's tanh approximation": (
        learner_block("tanh GELU"),
        "GELU's tanh approximation",
    ),
    "hidden width 4 * dim written": (
        learner_block("4 * dim"),
        r"fc1.weight should have shape \(\d+, \d+\), got .*: the hidden "
        r"width is dim \* mlp_ratio = .*, not 4 \* dim. It passed with the "
        "lesson's settings",
    ),
    "no 1/sqrt(d) scale": (
        learner_block("no scale"),
        "the attention scores are not scaled",
    ),
    "scaled by 1/sqrt(dim)": (
        learner_block("scale by D"),
        r"divided by sqrt\(dim\)",
    ),
    "softmax over the queries": (
        learner_block("softmax over queries"),
        r"the softmax is over the queries \(dim=-2\)",
    ),
    "q and k swapped": (
        learner_block("q and k swapped"),
        "queries and keys are swapped",
    ),
    "qkv split as (T, heads, 3, d)": (
        learner_block("heads split first"),
        r"qkv's output was split as \(T, heads, 3, d\)",
    ),
    "heads merged without transpose": (
        learner_block("heads merged without transpose"),
        r"the heads were merged by reshaping .* transpose\(1, 2\) first",
    ),
    "no output projection": (
        learner_block("no output projection"),
        "the output projection is missing",
    ),
    "dropout left on in eval": (
        learner_block("dropout on"),
        "gave other numbers at its second call in eval mode: dropout is on",
    ),
    "x += in place": (
        learner_block("x += in place"),
        "changed its input in place",
    ),
    "3 heads written": (
        learner_block("3 heads written"),
        "It passed with the lesson's settings; this run drew dim",
    ),
    "bias=False on qkv": (learner_block("no bias"), "qkv has no bias"),
    "Linear(out, in)": (
        learner_block("Linear(out, in)"),
        r"qkv.weight should have shape \(576, 192\), got \(192, 576\): "
        r"nn.Linear takes \(in_features, out_features\)",
    ),
    "nn.MultiheadAttention instead of qkv": (
        learner_block("nn.MultiheadAttention"),
        r"has no layer named qkv \(self.qkv = ...\)",
    ),
    "a tuple returned": (
        learner_block("a tuple returned"),
        "returned a tuple object, not a torch.Tensor",
    ),
    "the package's Block": (
        SubclassOfTheBlock,
        "your code called vitlesson.vit.Block, the package's solution",
    ),
    "the package's Attention": (
        WithThePackagesAttention,
        "your code called vitlesson.vit.Attention",
    ),
    "not an nn.Module": (NotAModule, "expected an nn.Module"),
    "an instance passed": (
        learner_block()(8, 2),
        "expects your class EncoderBlock itself, got a EncoderBlock object",
    ),
}


class BySdpa(nn.Module):
    """Fused attention and nn.GELU, PyTorch's LayerNorm eps (1e-5), and
    dropout layers that eval() switches off."""

    def __init__(self, dim, heads, mlp_ratio=4.0):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.fc1 = nn.Linear(dim, round(dim * mlp_ratio))
        self.act = nn.GELU()
        self.fc2 = nn.Linear(round(dim * mlp_ratio), dim)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        B, T, D = x.shape
        qkv = self.qkv(self.norm1(x)).unflatten(-1, (3, self.heads, -1))
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # (B, heads, T, d) each
        y = F.scaled_dot_product_attention(q, k, v)  # (B, heads, T, d)
        x = x + self.drop(self.proj(y.transpose(1, 2).flatten(2)))
        hidden = self.drop(self.act(self.fc1(self.norm2(x))))
        return x + self.drop(self.fc2(hidden))


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)  # (B, T, D) each
        q, k, v = (t.unflatten(-1, (self.heads, -1)) for t in (q, k, v))
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / q.shape[-1] ** 0.5
        out = torch.einsum("bhqk,bkhd->bqhd", scores.softmax(-1), v)
        return self.proj(out.flatten(2))  # heads side by side


class DinoLayout(nn.Module):
    """DINO's nesting (attn.qkv, mlp.fc1) and einsum attention."""

    def __init__(self, dim, heads, mlp_ratio=4.0):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(
            OrderedDict(
                fc1=nn.Linear(dim, hidden),
                act=nn.GELU(),
                fc2=nn.Linear(hidden, dim),
            )
        )

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


RIGHT_BLOCKS = {
    "the published solution": learner_block(),
    "fused attention, nn.LayerNorm's default eps, dropout layers": BySdpa,
    "DINO's nested layout, einsum attention": DinoLayout,
}
