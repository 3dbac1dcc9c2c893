"""MkDocs hook: what page blocks print (sitebuild/page_outputs.py)."""

from sitebuild.page_outputs import on_files, on_page_markdown  # noqa: F401
