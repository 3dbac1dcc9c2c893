"""MkDocs hook: quizzes from quiz fences (sitebuild/quizzes.py)."""

from sitebuild.quizzes import on_files, on_page_markdown  # noqa: F401
