"""Look at a trained ViT's attention: ``python -m vitlesson.tools.attention``.

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

import io
import os
import re
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from vitlesson import _arguments, _io
from vitlesson import _validation as check
from vitlesson._arguments import Parser, number_in, positive_int
from vitlesson._arguments import path as path_type
from vitlesson.data.images import IMAGENET_MEAN, IMAGENET_STD, normalize
from vitlesson.data.images import read_image as read_rgb
from vitlesson.data.shapes import unit_interval
from vitlesson.lab.probes import attention_masks
from vitlesson.tools.checkpoints import load_vit
from vitlesson.vit import attention_weights


def read_image(path, patch_size: int) -> tuple[torch.Tensor, str]:
    """An RGB image (3, H, W) in [0, 1] (:func:`vitlesson.data.images.read_image`),
    its bottom and right edges cut to a multiple of ``patch_size`` as DINO
    does, and a note of any cut."""
    patch_size = check.positive_int(patch_size, "patch_size")
    image = read_rgb(path)
    height, width = image.shape[1:]
    keep_h, keep_w = height - height % patch_size, width - width % patch_size
    if keep_h == 0 or keep_w == 0:
        raise ValueError(
            f"{path} is {height}×{width} pixels, smaller than "
            f"one {patch_size}×{patch_size} patch"
        )
    note = ""
    if (keep_h, keep_w) != (height, width):
        note = (
            f"cut from {height}×{width} to {keep_h}×{keep_w} "
            f"(a multiple of the patch size {patch_size})"
        )
    return image[:, :keep_h, :keep_w], note


# The memory guard -----------------------------------------------------------
def available_memory(device: torch.device | None = None) -> int:
    """Bytes this process can still allocate: on a CUDA ``device`` the
    GPU's free memory; otherwise the least of the memory the kernel reports
    available, the container's (cgroup) limit and the process's
    address-space limit; all of RAM where none is known."""
    if device is not None and device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    limits = [check.physical_memory()]
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    try:
        cgroup = Path("/sys/fs/cgroup")
        ceiling = (cgroup / "memory.max").read_text().strip()
        if ceiling != "max":
            used = int((cgroup / "memory.current").read_text())
            limits.append(int(ceiling) - used)
    except (OSError, ValueError):
        pass
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/statm", encoding="ascii") as statm:
                mapped = int(statm.read().split()[0]) * os.sysconf(
                    "SC_PAGE_SIZE"
                )
            limits.append(soft - mapped)
    except (ImportError, OSError, ValueError):
        pass
    return max(0, min(limits))


def attention_peak_bytes(model, height: int, width: int) -> int:
    """Bytes :func:`cls_attention` needs at its peak for one image.

    Only the CLS row of the last attention is computed, so no (N+1)×(N+1)
    matrix is ever held (the explicit matrix with its softmax peaked at
    more than twice its own size: 3.45 GB for a 1.6 GB matrix). What
    remains grows with the tokens: per token the block's input, its norm,
    queries/keys/values, the attention output and the MLP's hidden layer
    before and after GELU; per pixel the image and its normalised copy.
    Measured (ViT-S width, 4-pixel patches, CPU): a 400×400 image raised
    the peak memory by 209 MiB against 240 MiB estimated, 800×800 by 712
    MiB against 960 MiB: the estimate errs on the safe side.
    """
    patch = model.patch_embed.patch_size
    tokens = (height // patch) * (width // patch) + 1
    dim = model.embed_dim
    hidden = model.blocks[0].mlp.fc1.out_features
    per_token = 8 * dim + 2 * hidden + model.blocks[-1].attn.num_heads
    return 4 * (tokens * per_token + 3 * 3 * height * width)


def check_memory(model, height: int, width: int) -> None:
    """Refuse, before any work, an image whose attention would not fit."""
    needed, free = (
        attention_peak_bytes(model, height, width),
        available_memory(model.cls_token.device),
    )
    if needed > free:
        patch = model.patch_embed.patch_size
        raise ValueError(
            f"A {height}×{width} image ({(height // patch) * (width // patch):,}"
            f" patches of {patch} pixels) needs about {needed / 2**30:,.2f} GiB "
            f"for its attention; {free / 2**30:,.2f} GiB are available. Use a "
            "smaller image"
        )


@torch.no_grad()
def cls_attention(
    model, image: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD
) -> torch.Tensor:
    """The last block's CLS attention to each patch, per head, as
    (heads, rows, cols) maps of the image's patch grid.

    Equal to row 0 of ``model.get_last_selfattention``, computed without
    the full matrix: only the CLS query meets the keys. The image may be on
    the CPU: it is moved to the model's device, the maps are on that device.
    """
    check.float_tensor(image, "image")
    if image.dim() != 3:
        raise ValueError(
            "image must have shape (channels, height, width), "
            f"got {tuple(image.shape)}"
        )
    if not image.isfinite().all():
        raise ValueError("image must hold finite values, got NaN or inf")
    patch = model.patch_embed.patch_size
    rows, cols = image.shape[1] // patch, image.shape[2] // patch
    check_memory(model, *image.shape[1:])
    image = image.to(model.cls_token.device)
    x = model.prepare_tokens(normalize(image, mean, std)[None])  # (1, T, D)
    for block in model.blocks[:-1]:
        x = block(x)
    last = model.blocks[-1]
    heads, width = last.attn.num_heads, last.attn.head_dim
    qkv = last.attn.qkv(last.norm1(x)).reshape(
        1, x.shape[1], 3, heads, width
    )  # (1, T, 3, h, d)
    q = qkv[:, :1, 0].transpose(1, 2)  # the CLS query: (1, h, 1, d)
    k = qkv[:, :, 1].transpose(1, 2)  # every key: (1, h, T, d)
    row = attention_weights(q, k)  # (1, h, 1, T)
    return row[0, :, 0, 1:].reshape(-1, rows, cols)  # (h, rows, cols)


def _png(array, **kwargs) -> bytes:
    buffer = io.BytesIO()
    plt.imsave(
        buffer, array, format="png", metadata={"Software": None}, **kwargs
    )
    return buffer.getvalue()


def attention_figures(
    model,
    image: torch.Tensor,
    folder: Path,
    threshold: float = 0.6,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
) -> list[Path]:
    """Write ``image.png``, ``attn-head{j}.png`` and ``mask-head{j}.png``
    for every head at the image's resolution; return the files written.

    ``folder`` must not exist: the pictures are drawn in a temporary folder
    beside it, which becomes ``folder`` only once every file is complete,
    so an interrupted run leaves no folder half-filled and nothing that
    was there before is replaced.
    """
    folder = _path(folder, "folder")
    check.finite_number(threshold, "threshold", low=0, high=1, low_open=True)
    if not isinstance(image, torch.Tensor) or image.dim() != 3:
        raise ValueError(
            "image must be a (3, height, width) tensor, got "
            + (
                f"shape {tuple(image.shape)}"
                if isinstance(image, torch.Tensor)
                else type(image).__name__
            )
        )
    unit_interval(image, "image")  # the pictures show it as it is
    if os.path.lexists(folder):
        raise ValueError(f"{folder} already exists: name a new folder")
    maps = cls_attention(model, image, mean, std).cpu()  # (h, rows, cols)
    heads, rows, cols = maps.shape
    patch = model.patch_embed.patch_size
    flat = maps.reshape(1, heads, rows * cols)  # (1, h, N)
    row = F.pad(flat, (1, 0))[:, :, None]  # (1, h, 1, N+1): the CLS row
    masks = attention_masks(row, threshold)[0].reshape(heads, rows, cols)
    picture = image.permute(1, 2, 0).numpy()  # (H, W, 3)
    files = {"image.png": _png(picture)}
    for j in range(heads):
        big = maps[j].repeat_interleave(patch, 0).repeat_interleave(patch, 1)
        files[f"attn-head{j}.png"] = _png(big.numpy(), cmap="inferno")
        mask = (
            masks[j]
            .repeat_interleave(patch, 0)
            .repeat_interleave(patch, 1)
            .numpy()[..., None]
        )  # (H, W, 1)
        overlay = np.where(
            mask,
            0.5 * picture + 0.5 * np.array([0.1, 0.9, 0.4]),
            0.35 * picture,
        )
        files[f"mask-head{j}.png"] = _png(overlay.clip(0, 1))
    folder.parent.mkdir(parents=True, exist_ok=True)
    draft = Path(
        tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.")
    )
    try:
        os.chmod(draft, _io.default_mode(0o777))  # mkdtemp's is 0700
        for name, data in files.items():
            _io.write_bytes(draft / name, data)
        if os.path.lexists(folder):  # appeared while the maps were drawn
            raise ValueError(
                f"{folder} appeared while the maps were drawn; "
                "nothing was written to it"
            )
        os.rename(draft, folder)  # atomic: the whole folder or none
    except BaseException:
        shutil.rmtree(draft, ignore_errors=True)
        raise
    return [folder / name for name in files]


# The command ----------------------------------------------------------------
def _path(path, name: str) -> Path:
    """A file or folder name (str or os.PathLike), not empty."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"{name} must be a path (str or Path), got "
            f"{type(path).__name__} ({path!r})"[:300]
        )
    if not os.fspath(path).strip():
        raise ValueError(f"{name} must name a file or folder, got {path!r}")
    return Path(path)


def folder_name(path: Path) -> str:
    """A safe folder name for an image: its stem, with anything but letters,
    digits, ``-``, ``_`` and inner dots replaced, and never ``.``/``..``."""
    name = re.sub(r"[^\w.-]", "_", path.stem, flags=re.ASCII).lstrip(".")
    return name or "image"


def output_folders(
    images: list[Path], output_dir: Path
) -> list[tuple[Path, str]]:
    """One distinct new folder inside ``output_dir`` per image, and a note
    where the image's own name was unsafe (``..``) or taken, by an earlier
    image of this run or by something already on disk."""
    if isinstance(images, (str, os.PathLike)) or not hasattr(
        images, "__iter__"
    ):
        raise TypeError(
            f"images must be a list of paths, got {type(images).__name__} "
            f"({images!r})"[:300]
        )
    images = [_path(path, "images[i]") for path in images]
    output_dir = _path(output_dir, "output_dir")
    chosen, taken = [], set()
    for path in images:
        name = folder_name(path)
        candidate, n = name, 1
        while candidate in taken or os.path.lexists(output_dir / candidate):
            n += 1
            candidate = f"{name}-{n}"
        if candidate == path.stem:
            note = ""
        elif name in taken:
            note = f"{name} is used by an earlier image: a new name"
        elif candidate != name:
            note = f"{output_dir / name} already exists and is left as it is"
        else:
            note = f"a safe folder name for {path.name!r}"
        taken.add(candidate)
        chosen.append((output_dir / candidate, note))
    return chosen


def writable_folder(path: Path, what: str = "--output-dir") -> Path:
    """Check before any work that ``path`` is, or can be made, a folder."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"{what} must be a folder name (str or Path), got "
            f"{type(path).__name__} ({path!r})"[:300]
        )
    text = os.fspath(path)
    if not text.strip():
        raise ValueError(f"{what} is empty: name a folder, got {text!r}")
    path = Path(path)
    for folder in (path, *path.parents):
        if folder.exists():
            if not folder.is_dir():
                raise ValueError(
                    f"{what} {text} cannot be made: {folder} is "
                    "a file, not a folder"
                )
            if not os.access(folder, os.W_OK | os.X_OK):
                raise ValueError(
                    f"{what} {text} cannot be written: no "
                    f"permission to write in {folder}"
                )
            return path
    return path  # pragma: no cover - the root always exists


def main(argv=None) -> None:
    parser = Parser(
        prog="python -m vitlesson.tools.attention",
        description=__doc__.split("\n\n")[0].split(": ")[0] + ".",
        epilog="Example: python -m vitlesson.tools.attention --checkpoint "
        "dino_deitsmall8_pretrain.pth photo.jpg",
    )
    parser.add_argument(
        "images",
        nargs="+",
        type=path_type,
        metavar="IMAGE",
        help="image files (any format Pillow reads)",
    )
    parser.add_argument(
        "--checkpoint",
        type=path_type,
        required=True,
        help="weights: a .pth/.pt/.bin or .safetensors file "
        "or a Hugging Face model folder",
    )
    parser.add_argument(
        "--checkpoint-key",
        default="teacher",
        choices=["teacher", "student"],
        help="which network of a full DINO checkpoint "
        "(default teacher, as DINO)",
    )
    parser.add_argument(
        "--num-heads",
        type=positive_int,
        help="attention heads, for a width this package "
        "does not know (ViT-S/B/Ti/L are known)",
    )
    parser.add_argument(
        "--img-size",
        type=positive_int,
        nargs=2,
        metavar=("HEIGHT", "WIDTH"),
        help="the training image size, for a checkpoint "
        "whose position table is not a square grid",
    )
    parser.add_argument(
        "--threshold",
        default=0.6,
        type=number_in(0, 1, "a fraction of the attention"),
        help="share of the attention the masks keep (default 0.6, DINO's)",
    )
    parser.add_argument(
        "--pixels",
        choices=["imagenet", "unit"],
        default="imagenet",
        help="input normalisation: ImageNet mean and std "
        "(DINO, timm, HF; default) or (x - 0.5) / 0.5 "
        "(this course's tiny models)",
    )
    parser.add_argument(
        "--device",
        choices=_arguments.DEVICES,
        default="auto",
        help="where the model runs: auto (a GPU when there is "
        "one, default), cpu, cuda or mps",
    )
    parser.add_argument(
        "--output-dir",
        type=path_type,
        default=Path("attention-maps"),
        help="where to write one new folder per image "
        "(default ./attention-maps); nothing in it is "
        "ever replaced",
    )
    args = parser.parse_args(argv)
    try:
        _run(parser, args)
    except KeyboardInterrupt:
        parser.exit(
            130,
            f"{parser.prog}: interrupted; every folder written "
            "so far is complete, nothing else was left\n",
        )


def _run(parser, args) -> None:
    def refuse(message: str):  # a user's mistake: one line, exit 2
        parser.exit(2, f"{parser.prog}: error: {message}\n")

    try:
        device = _arguments.device(args.device)
        writable_folder(args.output_dir)
        for path in args.images:
            if path.is_dir():
                raise ValueError(f"{path} is a folder, expected an image file")
            if not path.exists():
                raise ValueError(f"No image at {path}")
    except ValueError as error:
        refuse(str(error))
    try:
        with warnings.catch_warnings():  # torch's notes on a file it then
            warnings.simplefilter("ignore")  # refuses: the refusal says it
            model, config = load_vit(
                args.checkpoint,
                args.checkpoint_key,
                args.num_heads,
                args.img_size,
            )
    except (ValueError, TypeError, FileNotFoundError) as error:
        refuse(str(error))
    except ImportError as error:
        parser.exit(1, f"{parser.prog}: {error}\n")
    model.to(device)
    patch = config["patch_size"]
    try:  # every image is readable and fits in memory, before any work
        for path in args.images:
            image, _ = read_image(path, patch)
            check_memory(model, *image.shape[1:])
    except (ValueError, FileNotFoundError) as error:
        refuse(str(error))
    stats = (
        (IMAGENET_MEAN, IMAGENET_STD)
        if args.pixels == "imagenet"
        else ((0.5,) * 3, (0.5,) * 3)
    )
    print(
        f"{args.checkpoint.name}: ViT with width {config['embed_dim']}, "
        f"{config['depth']} blocks, {config['num_heads']} heads, "
        f"{patch}-pixel patches"
    )
    folders = output_folders(args.images, args.output_dir)
    for path, (folder, renamed) in zip(args.images, folders, strict=True):
        try:
            image, note = read_image(path, patch)
            written = attention_figures(
                model, image, folder, args.threshold, *stats
            )
        except (ValueError, FileNotFoundError) as error:  # changed meanwhile
            parser.exit(1, f"{parser.prog}: {error}\n")
        except OSError as error:  # disk full, file too large, permissions
            parser.exit(
                1,
                f"{parser.prog}: could not write {folder} "
                f"({error.strerror or error}); the folders written "
                "before it are complete\n",
            )
        rows, cols = (side // patch for side in image.shape[1:])
        print(
            f"{path}: {rows}×{cols} patches"
            + (f", {note}" if note else "")
            + f"; {len(written)} files in {folder}"
            + (f" ({renamed})" if renamed else "")
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
