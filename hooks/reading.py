"""MkDocs hook: place and reading time of a page (sitebuild/reading.py)."""

from sitebuild.reading import on_files, on_nav, on_page_content  # noqa: F401
