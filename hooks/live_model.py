"""MkDocs hook: the weights of the page's live models (sitebuild/live_model.py)."""

from sitebuild.live_model import on_files  # noqa: F401
