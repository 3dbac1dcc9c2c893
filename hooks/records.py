"""MkDocs hook: a note on each page that shows a record measured before
the code it ran last changed (sitebuild/records.py)."""

from sitebuild.records import on_page_markdown, on_pre_build  # noqa: F401
