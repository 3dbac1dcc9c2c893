"""Look at a trained ViT's attention: ``python -m vitlesson.attention``.

For each image, the last block's CLS attention of every head, and the mask
of the patches that hold 60% of it, as DINO's ``visualize_attention.py``
draws them. The image is read at its own resolution (only cropped, with a
message, to a multiple of the patch size), and the position table is
resampled to its grid.

The checkpoint may be a DINO backbone (``dino_vits16_pretrain.pth``), a
full DINO training checkpoint (``teacher``/``student``), a timm file
(``.safetensors`` or ``.pth``) or a Hugging Face ``ViTModel`` folder or file
(``facebook/dino-vits16``); the architecture is read from the weights.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from vitlesson import _validation as check
from vitlesson._arguments import number_in
from vitlesson.checkpoints import load_vit
from vitlesson.images import IMAGENET_MEAN, IMAGENET_STD, normalize
from vitlesson.probes import attention_masks

MAX_TOKENS = 20_000  # a 1120×1120 photo with 8-pixel patches is 19,600


def read_image(path, patch_size: int) -> tuple[torch.Tensor, str]:
    """An RGB image (3, H, W) in [0, 1], its bottom and right edges cut to
    a multiple of ``patch_size`` as DINO does, and a note of any cut."""
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))  # (H, W, 3) uint8
    except (FileNotFoundError, UnidentifiedImageError) as error:
        raise ValueError(f"Could not read {path} as an image: {error}"
                         ) from error
    image = torch.from_numpy(pixels.copy()).permute(2, 0, 1).float() / 255
    height, width = image.shape[1:]
    keep_h, keep_w = height - height % patch_size, width - width % patch_size
    if keep_h == 0 or keep_w == 0:
        raise ValueError(f"{path} is {height}×{width} pixels, smaller than "
                         f"one {patch_size}×{patch_size} patch")
    note = ""
    if (keep_h, keep_w) != (height, width):
        note = (f"cut from {height}×{width} to {keep_h}×{keep_w} "
                f"(a multiple of the patch size {patch_size})")
    return image[:, :keep_h, :keep_w], note


@torch.no_grad()
def cls_attention(model, image: torch.Tensor, mean=IMAGENET_MEAN,
                  std=IMAGENET_STD) -> torch.Tensor:
    """The last block's CLS attention to each patch, per head, as
    (heads, rows, cols) maps of the image's patch grid."""
    patch = model.patch_embed.patch_size
    rows, cols = image.shape[1] // patch, image.shape[2] // patch
    check.fits_in_memory((rows * cols + 1) ** 2 * model.blocks[0].attn
                         .num_heads, "the attention of one block")
    attention = model.get_last_selfattention(
        normalize(image, mean, std)[None])  # (1, h, N+1, N+1)
    return attention[0, :, 0, 1:].reshape(-1, rows, cols)  # (h, rows, cols)


def attention_figures(model, image: torch.Tensor, folder: Path,
                      threshold: float = 0.6, mean=IMAGENET_MEAN,
                      std=IMAGENET_STD) -> list[Path]:
    """Write ``attn-head{j}.png`` and ``mask-head{j}.png`` for every head
    at the image's resolution; return the files written."""
    maps = cls_attention(model, image, mean, std)  # (h, rows, cols)
    heads, rows, cols = maps.shape
    patch = model.patch_embed.patch_size
    flat = maps.reshape(1, heads, rows * cols)  # (1, h, N)
    with_cls = F.pad(flat, (1, 0))[:, :, None]  # (1, h, 1, N+1): a CLS row
    masks = attention_masks(with_cls, threshold)[0].reshape(heads, rows, cols)
    folder.mkdir(parents=True, exist_ok=True)
    picture = image.permute(1, 2, 0).numpy()  # (H, W, 3)
    written = [folder / "image.png"]
    plt.imsave(written[0], picture)
    for j in range(heads):
        big = maps[j].repeat_interleave(patch, 0).repeat_interleave(patch, 1)
        written.append(folder / f"attn-head{j}.png")
        plt.imsave(written[-1], big.numpy(), cmap="inferno")
        mask = masks[j].repeat_interleave(patch, 0).repeat_interleave(
            patch, 1).numpy()[..., None]  # (H, W, 1)
        overlay = np.where(mask, 0.5 * picture + 0.5 * np.array(
            [0.1, 0.9, 0.4]), 0.35 * picture)
        written.append(folder / f"mask-head{j}.png")
        plt.imsave(written[-1], overlay.clip(0, 1))
    return written


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m vitlesson.attention",
        description=__doc__.split("\n\n")[0].split(": ")[0] + ".",
        epilog="Example: python -m vitlesson.attention --checkpoint "
               "dino_deitsmall8_pretrain.pth photo.jpg")
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE",
                        help="image files (any format Pillow reads)")
    parser.add_argument("--checkpoint", type=Path, required=True,
                        help="weights: a .pth/.pt/.bin or .safetensors file "
                             "or a Hugging Face model folder")
    parser.add_argument("--checkpoint-key", default="teacher",
                        choices=["teacher", "student"],
                        help="which network of a full DINO checkpoint "
                             "(default teacher, as DINO)")
    parser.add_argument("--num-heads", type=_positive_int,
                        help="attention heads, for a width this package "
                             "does not know (ViT-S/B/Ti/L are known)")
    parser.add_argument("--threshold", default=0.6,
                        type=number_in(0, 1, "a fraction of the attention"),
                        help="share of the attention the masks keep "
                             "(default 0.6, DINO's)")
    parser.add_argument("--pixels", choices=["imagenet", "unit"],
                        default="imagenet",
                        help="input normalisation: ImageNet mean and std "
                             "(DINO, timm, HF; default) or (x - 0.5) / 0.5 "
                             "(this course's tiny models)")
    parser.add_argument("--output-dir", type=Path,
                        default=Path("attention-maps"),
                        help="where to write one folder per image "
                             "(default ./attention-maps)")
    args = parser.parse_args(argv)
    try:
        model, config = load_vit(args.checkpoint, args.checkpoint_key,
                                 args.num_heads)
    except (ValueError, FileNotFoundError, ImportError) as error:
        parser.exit(1, f"{parser.prog}: {error}\n")
    stats = ((IMAGENET_MEAN, IMAGENET_STD) if args.pixels == "imagenet"
             else ((0.5,) * 3, (0.5,) * 3))
    print(f"{args.checkpoint.name}: ViT with width {config['embed_dim']}, "
          f"{config['depth']} blocks, {config['num_heads']} heads, "
          f"{config['patch_size']}-pixel patches")
    for path in args.images:
        try:
            image, note = read_image(path, config["patch_size"])
            folder = args.output_dir / path.stem
            written = attention_figures(model, image, folder, args.threshold,
                                        *stats)
        except ValueError as error:
            parser.exit(1, f"{parser.prog}: {error}\n")
        grid = [s // config["patch_size"] for s in image.shape[1:]]
        print(f"{path}: {grid[0]}×{grid[1]} patches"
              + (f", {note}" if note else "")
              + f"; {len(written)} files in {folder}")


if __name__ == "__main__":
    main()
