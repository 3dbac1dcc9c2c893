"""The quiz fences: read line by line, continuation lines included, mistakes named."""

import pytest

from sitebuild import quizzes
from tests.support import ROOT


def test_continuation_lines_extend_the_item_above():
    body = (
        "? How many tokens does a\n  224/16 image give?\n"
        "- [ ] 224, one\n  per row\n  > No: that counts pixels,\n  > not patches.\n"
        "- [x] 196\n  > Right: 14 x 14.\n"
    )
    (question,) = quizzes.parse(body, "page.md:3")
    assert question["question"] == "How many tokens does a 224/16 image give?"
    assert [o["text"] for o in question["options"]] == [
        "224, one per row",
        "196",
    ]
    assert (
        question["options"][0]["why"] == "No: that counts pixels, not patches."
    )
    assert [o["correct"] for o in question["options"]] == [False, True]


@pytest.mark.parametrize(
    "body,message",
    [
        (
            "- [x] an option first\n  > why\n",
            "page.md:3: an option before any '? question' line",
        ),
        (
            "? q\n- [x] a\n  > why\n- [x] b\n  > why\n",
            "needs two or more options, exactly one marked [x]",
        ),
        (
            "? q\n- [x] a\n- [ ] b\n  > why\n",
            "and an explanation ('> ...') under every option",
        ),
        (
            "? q\nnot indented\n",
            "page.md:3: cannot read the quiz line 'not indented'",
        ),
    ],
)
def test_quiz_mistakes_are_named(body, message):
    with pytest.raises(
        quizzes.QuizError,
        match=message.replace("[", r"\[")
        .replace("?", r"\?")
        .replace("(", r"\(")
        .replace(")", r"\)"),
    ):
        quizzes.parse(body, "page.md:3")


def test_every_quiz_source_line_fits_the_column():

    for page in (ROOT / "docs").rglob("*.md"):
        for fence in quizzes.FENCE.finditer(page.read_text(encoding="utf-8")):
            assert (
                max(len(line) for line in fence["body"].splitlines()) <= 79
            ), page


def _site_questions():

    docs = ROOT / "docs"
    questions = []
    for page in sorted(docs.rglob("*.md")):
        for fence in quizzes.FENCE.finditer(page.read_text(encoding="utf-8")):
            questions += quizzes.parse(fence["body"], str(page))
    return questions


def test_quizzes_cannot_be_gamed_by_position_or_length():
    """No option position holds more than 40% of the right answers, and the
    right answer is the longest option in at most a third of the questions."""
    from collections import Counter

    questions = _site_questions()
    assert len(questions) >= 20
    right = [
        next(i for i, o in enumerate(q["options"]) if o["correct"])
        for q in questions
    ]
    position, count = Counter(right).most_common(1)[0]
    assert count <= 0.4 * len(questions), (position, count, len(questions))
    longest = sum(
        max(q["options"], key=lambda o: len(o["text"]))["correct"]
        for q in questions
    )
    assert longest <= len(questions) / 3, (longest, len(questions))
