"""MkDocs hook: the exercise box at the end of a part (sitebuild/exercise_boxes.py)."""

from sitebuild.exercise_boxes import on_page_markdown  # noqa: F401
