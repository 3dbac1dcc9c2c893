"""What a trained backbone learned: k-NN accuracy and attention IoU on
held-out images, for the shipped weights and the two baselines (DINO's
``eval_knn.py`` and ``visualize_attention.py``)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch

from vitlesson._runs import check_pair, read_pair, read_record
from vitlesson.data.objects import make_objects
from vitlesson.data.shapes import _seed
from vitlesson.data.shapes import normalize_shapes as normalize
from vitlesson.lab.dino.training import TRAIN_SEED, _device, tiny_backbone
from vitlesson.lab.probes import attention_iou, cls_features, knn_accuracy
from vitlesson.vit import VisionTransformer

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
DINO_WEIGHTS = WEIGHTS / "dino-tiny.pt"
SUPERVISED_WEIGHTS = WEIGHTS / "dino-supervised.pt"
ABLATIONS = WEIGHTS / "dino-ablations.json"
BANK_SEED, BANK_SIZE = 2, 2000  # labelled images the k-NN votes with
TEST_SEED, TEST_SIZE = 3, 1000  # held-out images that are measured


# --8<-- [start:evaluate]
def evaluate(backbone: VisionTransformer) -> dict:
    """k-NN accuracy of the CLS features and attention IoU per head, on
    held-out images (the labelled bank and the test set share no seed
    with training)."""
    _backbone(backbone)
    bank, _, bank_labels = make_objects(BANK_SIZE, seed=BANK_SEED)
    test, test_masks, test_labels = make_objects(TEST_SIZE, seed=TEST_SEED)
    device = backbone.cls_token.device  # images made on the CPU, moved
    bank, test = normalize(bank).to(device), normalize(test).to(device)
    knn = knn_accuracy(
        cls_features(backbone, bank),
        bank_labels,
        cls_features(backbone, test),
        test_labels,
    )
    iou = attention_iou(backbone, test, test_masks)  # (heads,)
    return {
        "knn_accuracy": round(knn, 4),
        "iou_per_head": [round(v, 4) for v in iou.tolist()],
        "iou_best_head": round(iou.max().item(), 4),
        "iou_mean": round(iou.mean().item(), 4),
    }


# --8<-- [end:evaluate]


def _backbone(backbone) -> None:
    """A ViT that reads the 32×32 RGB object images."""
    if not isinstance(backbone, VisionTransformer):
        raise TypeError(
            f"backbone must be a VisionTransformer, got "
            f"{type(backbone).__name__}"
        )
    if backbone.patch_embed.in_channels != 3:
        raise ValueError(
            f"backbone must read RGB images (in_channels=3), got "
            f"in_channels={backbone.patch_embed.in_channels}"
        )


def random_backbone(seed: int = TRAIN_SEED) -> VisionTransformer:
    """The untrained starting point of both runs, for comparison (the
    caller's random state is left as it was)."""
    seed = _seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # as the training loops seed it
        return tiny_backbone().eval()


def _weights_path(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"path must name a weights file (str or Path), got "
            f"{type(path).__name__}"
        )
    if not str(path).strip() or not Path(path).name:
        raise ValueError(f"path must name a weights file, got {str(path)!r}")
    return Path(path)


def load_backbone(path: Path = DINO_WEIGHTS) -> VisionTransformer:
    """A shipped backbone (eval mode): DINO's teacher or the baseline.

    Weights with a record beside them (the same name with ``.json``, as
    the command writes them) load only if the record names them by their
    SHA-256; weights without a record have nothing to be checked against.
    """
    path = _weights_path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder: name a weights file")
    if not path.is_file():
        raise FileNotFoundError(f"No weights file at {path}")
    record = path.with_suffix(".json")
    if record != path and record.is_file():
        data, _ = read_pair(path)
    else:
        data = path.read_bytes()
    backbone = tiny_backbone()
    try:
        state = torch.load(
            io.BytesIO(data), map_location="cpu", weights_only=True
        )
        backbone.load_state_dict(state)
    except Exception as error:  # pickle, zip, EOF, missing or extra keys
        reason = " ".join(str(error).split()) or type(error).__name__
        raise ValueError(
            f"{path} does not hold the weights of the tiny DINO backbone "
            f"(a state dict written by python -m vitlesson.lab.dino): "
            f"{reason[:300]}"
        ) from None
    return backbone.eval()


def load_record(path: Path = DINO_WEIGHTS) -> dict:
    """The JSON record written next to a weights file, checked to name
    those weights by their SHA-256 when it names any or they are there (a
    record of runs without weights, like the ablations', is read as is)."""
    path = _weights_path(path)
    record_path = path.with_suffix(".json")
    record = read_record(record_path)
    if record_path != path and (path.exists() or "weights_sha256" in record):
        data = path.read_bytes() if path.is_file() else None
        check_pair(path, data, record_path, record)
    return record


def evaluate_shipped(device: torch.device | str = "cpu") -> dict:
    """The metrics of the shipped weights next to the two baselines."""
    device = _device(device)
    return {
        name: evaluate(model.to(device))
        for name, model in [
            ("dino", load_backbone(DINO_WEIGHTS)),
            ("random_init", random_backbone()),
            ("supervised", load_backbone(SUPERVISED_WEIGHTS)),
        ]
    }
