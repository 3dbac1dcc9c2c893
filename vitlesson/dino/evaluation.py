"""What a trained backbone learned: k-NN accuracy and attention IoU on
held-out images, for the shipped weights and the two baselines (DINO's
``eval_knn.py`` and ``visualize_attention.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from vitlesson.dino.training import TRAIN_SEED, tiny_backbone
from vitlesson.objects import make_objects
from vitlesson.probes import attention_iou, cls_features, knn_accuracy
from vitlesson.shapes import normalize_shapes as normalize
from vitlesson.vit import VisionTransformer

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
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


def random_backbone(seed: int = TRAIN_SEED) -> VisionTransformer:
    """The untrained starting point of both runs, for comparison."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return tiny_backbone().eval()


def load_backbone(path: Path = DINO_WEIGHTS) -> VisionTransformer:
    """A shipped backbone (eval mode): DINO's teacher or the baseline."""
    backbone = tiny_backbone()
    backbone.load_state_dict(
        torch.load(path, map_location="cpu", weights_only=True)
    )
    return backbone.eval()


def load_record(path: Path = DINO_WEIGHTS) -> dict:
    """The JSON record written next to a weights file."""
    return json.loads(
        Path(path).with_suffix(".json").read_text(encoding="utf-8")
    )


def evaluate_shipped(device: torch.device | str = "cpu") -> dict:
    """The metrics of the shipped weights next to the two baselines."""
    return {
        name: evaluate(model.to(device))
        for name, model in [
            ("dino", load_backbone(DINO_WEIGHTS)),
            ("random_init", random_backbone()),
            ("supervised", load_backbone(SUPERVISED_WEIGHTS)),
        ]
    }
