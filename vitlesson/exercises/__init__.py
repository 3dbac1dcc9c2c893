"""The checks of the lesson's exercises, one module per exercise.

``_harness`` holds what every check shares (settings drawn per run, the
package's solution refused while a check runs, the learner's exceptions
turned into messages); ``patch_grid`` checks part 1's exercise,
``attention`` part 2's, ``positions`` part 3's, ``patch_embedding`` part
4's, ``encoder_block`` part 5's, ``dino_loss`` part 6's. The checks are
imported here, so a notebook calls
``exercises.check_manual_patching(manual_patching)``.
"""

from vitlesson.exercises._harness import ExerciseError
from vitlesson.exercises.attention import check_attention, check_heads
from vitlesson.exercises.dino_loss import check_dino_loss, check_ema_update
from vitlesson.exercises.encoder_block import check_encoder_block
from vitlesson.exercises.patch_embedding import (
    CONFIGURATIONS,
    check_configuration_table,
    check_flexible_patch_embedding,
    check_manual_patching,
)
from vitlesson.exercises.patch_grid import (
    check_patch_grid,
    check_show_patches,
)
from vitlesson.exercises.positions import (
    check_cls_and_positions,
    check_resize_positions,
)

__all__ = [
    "CONFIGURATIONS",
    "ExerciseError",
    "check_attention",
    "check_cls_and_positions",
    "check_configuration_table",
    "check_dino_loss",
    "check_ema_update",
    "check_encoder_block",
    "check_flexible_patch_embedding",
    "check_heads",
    "check_manual_patching",
    "check_patch_grid",
    "check_resize_positions",
    "check_show_patches",
]
