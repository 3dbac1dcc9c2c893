"""DINO in miniature: self-distillation with no labels, on a CPU in minutes.

``python -m vitlesson.lab.dino`` trains a tiny ViT on :mod:`vitlesson.data.objects`
with the complete recipe of Caron et al. (2021) and its code
(``main_dino.py``): multi-crop, a student and an EMA teacher with the same
backbone and projection head, a centred and sharpened teacher, and the
cross-entropy between the teacher's global views and the student's other
views. Labels and masks are never used in training; ``--evaluate``
measures afterwards what the features and the attention learned.

The modules follow DINO's split of model, loss and training script:

- :mod:`~vitlesson.lab.dino.head`: ``DINOHead``, ``MultiCropWrapper``
- :mod:`~vitlesson.lab.dino.loss`: ``DINOLoss``, ``cosine_schedule``,
  ``update_teacher``
- :mod:`~vitlesson.lab.dino.training`: ``DINOConfig``, ``train_step``, the
  loops (one device or many processes)
- :mod:`~vitlesson.lab.dino.evaluation`: the k-NN and attention probes of a
  backbone, the shipped weights
- :mod:`~vitlesson.lab.dino.command`: the command line

The shipped weights (``vitlesson/weights/dino-tiny.pt``, the teacher's
backbone) and the record of the run that made them mean the site build never
trains.
"""

from vitlesson.lab.dino.command import _parser, main
from vitlesson.lab.dino.evaluation import (
    ABLATIONS,
    BANK_SEED,
    BANK_SIZE,
    DINO_WEIGHTS,
    SUPERVISED_WEIGHTS,
    TEST_SEED,
    TEST_SIZE,
    WEIGHTS,
    evaluate,
    evaluate_shipped,
    load_backbone,
    load_record,
    random_backbone,
)
from vitlesson.lab.dino.head import DINOHead, MultiCropWrapper
from vitlesson.lab.dino.loss import DINOLoss, cosine_schedule, update_teacher
from vitlesson.lab.dino.training import (
    TRAIN_SEED,
    DINOConfig,
    Run,
    batch_views,
    clip_gradients,
    normalize,
    tiny_backbone,
    train,
    train_step,
    train_supervised,
)

__all__ = [
    "ABLATIONS",
    "BANK_SEED",
    "BANK_SIZE",
    "DINO_WEIGHTS",
    "DINOConfig",
    "DINOHead",
    "DINOLoss",
    "MultiCropWrapper",
    "Run",
    "SUPERVISED_WEIGHTS",
    "TEST_SEED",
    "TEST_SIZE",
    "TRAIN_SEED",
    "WEIGHTS",
    "batch_views",
    "clip_gradients",
    "cosine_schedule",
    "evaluate",
    "evaluate_shipped",
    "load_backbone",
    "load_record",
    "main",
    "normalize",
    "random_backbone",
    "tiny_backbone",
    "train",
    "train_step",
    "train_supervised",
    "update_teacher",
    "_parser",
]
