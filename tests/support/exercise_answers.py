"""Learners' answers to the exercise, right and wrong: each builder takes
the mistake to make as an argument (a permutation, a flatten order, a
missing bias...) and returns the function or class a learner would write."""

import torch
import torch.nn as nn

from vitlesson import patchify


def reshape_then(order):
    def manual_patching(images, p):
        b, c, h, w = images.shape
        x = images.reshape(b, c, h // p, p, w // p, p).permute(*order)
        return x.reshape(b, (h // p) * (w // p), c * p * p)

    return manual_patching


def linear_from_conv(
    conv,
    flatten=lambda w: w.flatten(1),
    bias=True,
    transpose=False,
    copy_bias=True,
):
    weight = flatten(conv.weight.detach())
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=bias)
    with torch.no_grad():
        linear.weight = nn.Parameter(
            weight.T.contiguous() if transpose else weight
        )
        if bias and copy_bias:
            linear.bias.copy_(conv.bias)
    return linear


def table(configs, embed_dim, channels=3, bias=1):
    return [
        {
            "n_patches": (s // p) ** 2,
            "patch_dim": channels * p * p,
            "params": (channels * p * p + bias) * embed_dim,
        }
        for s, p in configs
    ]


def learner_class(
    patching=patchify,
    channels_in_dim=True,
    transpose_conv=True,
    conv_for_linear=False,
    fail=False,
):
    """A learner's FlexiblePatchEmbedding, with one mistake switched on at a time."""

    class FlexiblePatchEmbedding(nn.Module):
        def __init__(
            self,
            img_size=224,
            patch_size=16,
            in_channels=3,
            embed_dim=768,
            flatten_patches=True,
        ):
            super().__init__()
            if fail:
                raise RuntimeError("forgot super().__init__()")
            self.patch_size, self.flatten_patches = patch_size, flatten_patches
            self.n_patches = (img_size // patch_size) ** 2
            self.patch_dim = (
                in_channels if channels_in_dim else 1
            ) * patch_size**2
            if flatten_patches and not conv_for_linear:
                self.projection = nn.Linear(
                    in_channels * patch_size**2, embed_dim
                )
            else:
                self.projection = nn.Conv2d(
                    in_channels, embed_dim, patch_size, stride=patch_size
                )

        def forward(self, images):
            if self.flatten_patches:
                return self.projection(patching(images, self.patch_size))
            x = self.projection(images).flatten(2)
            return x.transpose(1, 2) if transpose_conv else x

    return FlexiblePatchEmbedding
