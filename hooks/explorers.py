"""MkDocs hook: the data of the in-page explorers (sitebuild/explorers.py)."""

from sitebuild.explorers import on_files  # noqa: F401
