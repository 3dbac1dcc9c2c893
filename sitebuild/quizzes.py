"""The "check your understanding" quizzes, written in the page as a quiz fence.

    ```quiz
    ? The question, with `code` and \\(maths\\)
    - [ ] A wrong option
      > Why it is wrong: shown when the reader picks it.
    - [x] The right option, whose text goes on
      on an indented line
      > Why it is right.
    ```

Any line without a marker continues the question, option or explanation above
it, so the source keeps to 79 characters a line.

Each question becomes a group of buttons (docs/javascripts/quiz.js reveals the chosen
option's explanation and says whether it was right); the answers never leave the reader's
browser. Several questions can share one fence, each starting with ``?``. After a page's last
quiz comes its score (questions answered, and right at the first try) with a button that
clears every answer of the page. The answers are kept in the browser's localStorage, so a
page shows them, and its score, when the reader comes back; each question carries a key
made from its text (``data-key``), so an answer is not shown against a question that has
changed since.

Every quiz of every page is read before anything is rendered (in ``on_files``): a
malformed one stops the build in one line naming its page and line.

Why not mkdocs-quiz (1.7.1, read 2026-12): it has per-option feedback, a score and
a reset too, but its ``<quiz>`` blocks are parsed while a page renders (a mistake
surfaces page by page, as a ValueError with a traceback, not one line before any
work), the notebooks' plain-text copy of each quiz (``notebooks.quiz_as_text``)
and the tests that balance answer positions and lengths would need a second
parser of its syntax, and it brings a terminal quiz runner's dependencies
(rich, rich-click, questionary, requests, polib) into the site build.
"""

from __future__ import annotations

import hashlib
import html
import re

import markdown
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

FENCE = re.compile(
    r"^```quiz[ \t]*\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL
)
# Any opening of a quiz fence, for the check that each one is read as a quiz.
OPENING = re.compile(r"^[ \t]*(?:`{3,}|~{3,})[ \t]*quiz\b", re.MULTILINE)
OPTION = re.compile(r"^- \[(?P<mark>[ x])\] (?P<text>.+)$")


class QuizError(ValueError):
    """A quiz fence that cannot be read, with the page and the problem named."""


def inline(text: str) -> str:
    """Inline Markdown (code, emphasis, links) without the surrounding paragraph; maths
    delimiters stay for KaTeX's auto-render."""
    rendered = markdown.markdown(
        text.replace("\\(", "\\\\(").replace("\\)", "\\\\)")
    )
    return re.sub(r"^<p>(.*)</p>$", r"\1", rendered.strip(), flags=re.DOTALL)


def parse(body: str, where: str, first_line: int | None = None) -> list[dict]:
    """The questions of a quiz fence's body.

    Errors start with ``where``; given the page line of the body's first line
    (``first_line``), they name the line at fault (``where:line``)."""

    def error(offset: int, message: str) -> QuizError:
        at = where if first_line is None else f"{where}:{first_line + offset}"
        return QuizError(f"{at}: {message}")

    questions: list[dict] = []
    offsets: list[int] = []  # where each question starts in the body
    last = None  # the dict and key a continuation line extends
    for offset, line in enumerate(body.splitlines()):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("? "):
            questions.append({"question": stripped[2:], "options": []})
            offsets.append(offset)
            last = (questions[-1], "question")
        elif match := OPTION.match(stripped):
            if not questions:
                raise error(offset, "an option before any '? question' line")
            questions[-1]["options"].append(
                {
                    "text": match["text"],
                    "correct": match["mark"] == "x",
                    "why": "",
                }
            )
            last = (questions[-1]["options"][-1], "text")
        elif stripped.startswith("> "):
            if not questions or not questions[-1]["options"]:
                raise error(offset, "an explanation before any option")
            last = (questions[-1]["options"][-1], "why")
            last[0]["why"] = f"{last[0]['why']} {stripped[2:]}".strip()
        elif last is not None and line[:1].isspace():
            last[0][last[1]] = f"{last[0][last[1]]} {stripped}"
        else:
            raise error(offset, f"cannot read the quiz line {stripped!r}")
    for question, offset in zip(questions, offsets, strict=True):
        correct = sum(option["correct"] for option in question["options"])
        if (
            len(question["options"]) < 2
            or correct != 1
            or not all(o["why"] for o in question["options"])
        ):
            raise error(
                offset,
                f"the question {question['question']!r} needs two or more "
                "options, exactly one marked [x], and an explanation "
                "('> ...') under every option",
            )
    return questions


def question_key(question: dict) -> str:
    """A short fingerprint of a question and its options, in their order:
    a kept answer is shown only while the question is the same."""
    text = "\n".join(
        [question["question"]]
        + [f"{o['correct']} {o['text']}" for o in question["options"]]
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def render(questions: list[dict], page_id: str, first: int) -> str:
    parts = []
    for number, question in enumerate(questions, start=first):
        qid = f"quiz-{page_id}-{number}"
        options = []
        for index, option in enumerate(question["options"]):
            options.append(
                f'<li><button type="button" class="vl-quiz__option" aria-pressed="false" '
                f'aria-describedby="{qid}-why-{index}" data-correct="{str(option["correct"]).lower()}">'
                f"{inline(option['text'])}</button>"
                f'<div class="vl-quiz__why" id="{qid}-why-{index}" hidden>'
                f"<strong>{'Right.' if option['correct'] else 'Not quite.'}</strong> {inline(option['why'])}</div></li>"
            )
        parts.append(
            f'<div class="vl-quiz" role="group" aria-labelledby="{qid}" '
            f'data-key="{question_key(question)}">'
            f'<p class="vl-quiz__question" id="{qid}"><strong>{number}.</strong> {inline(question["question"])}</p>'
            f'<ul class="vl-quiz__options">{"".join(options)}</ul>'
            f'<p class="vl-quiz__status" aria-live="polite"></p></div>'
        )
    return "\n\n".join(parts)


def score_box(questions: int) -> str:
    """The page's score, filled in by quiz.js as the reader answers, and its reset button."""
    return (
        f'<div class="vl-quiz-score" data-questions="{questions}">'
        f'<p class="vl-quiz-score__text" aria-live="polite">Score: 0 of {questions} questions answered.</p>'
        f'<button type="button" class="md-button vl-quiz-score__reset">Reset the answers on this page</button>'
        f"</div>"
    )


def fence_line(text: str, match: re.Match) -> int:
    """The line of ``text`` at which a quiz fence opens."""
    return text.count("\n", 0, match.start()) + 1


@event_priority(100)  # before any figure, notebook or page is made
def on_files(files, config):
    """Read every quiz of every page first: a malformed one stops the build
    in one line naming its page and line, before anything is rendered."""
    for file in files.documentation_pages():
        if not file.src_uri.endswith(".md"):
            continue
        text = file.content_string
        fences = {match.start(): match for match in FENCE.finditer(text)}
        for opening in OPENING.finditer(text):
            where, line = f"docs/{file.src_uri}", fence_line(text, opening)
            if opening.start() not in fences:
                raise PluginError(
                    f"{where}:{line}: a quiz fence opens with ```quiz at the start "
                    "of a line and closes with a ``` line, unindented"
                )
            try:
                parse(fences[opening.start()]["body"], where, line + 1)
            except QuizError as error:
                raise PluginError(str(error)) from None
    return files


def on_page_markdown(markdown_text, page, config, files):
    page_id = re.sub(r"\W+", "-", page.file.src_uri.removesuffix(".md")).strip(
        "-"
    )
    count, fences = 0, len(FENCE.findall(markdown_text))
    seen = 0

    def replace(match):
        nonlocal count, seen
        line = fence_line(markdown_text, match) + 1
        questions = parse(match["body"], f"docs/{page.file.src_uri}", line)
        block = render(questions, html.escape(page_id), count + 1)
        count += len(questions)
        seen += 1
        return block + ("\n\n" + score_box(count) if seen == fences else "")

    try:
        return FENCE.sub(replace, markdown_text)
    except QuizError as error:
        raise PluginError(str(error)) from None
