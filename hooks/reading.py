"""MkDocs hook: place and reading time of a page, and a section's time
(sitebuild/reading.py)."""

from sitebuild.reading import (  # noqa: F401
    on_files,
    on_nav,
    on_page_content,
    on_page_context,
)
