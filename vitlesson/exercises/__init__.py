"""The checks of the lesson's exercises, one module per exercise."""

from vitlesson.exercises.patch_embedding import (
    CONFIGURATIONS,
    ExerciseError,
    check_configuration_table,
    check_flexible_patch_embedding,
    check_linear_from_conv,
    check_manual_patching,
    coordinate_images,
)

__all__ = [
    "CONFIGURATIONS",
    "ExerciseError",
    "check_configuration_table",
    "check_flexible_patch_embedding",
    "check_linear_from_conv",
    "check_manual_patching",
    "coordinate_images",
]
