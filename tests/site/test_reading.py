"""Reading times are computed from the rendered page, never typed."""

from sitebuild import reading


def test_reading_time_follows_prose_code_and_figures():
    words = "<p>" + " ".join(["word"] * 400) + "</p>"
    assert reading.reading_seconds(words) == 120  # 400 words at 200 a minute
    code = "<pre><code>a = 1\nb = 2\nc = 3\n</code></pre>"
    assert reading.reading_seconds(words + code) == 120 + 3 * 10
    figure = '<img src="x.png" alt="a figure">'
    assert reading.reading_seconds(words + figure) == 120 + 12
    assert reading.reading_minutes(words + code) == 3  # 150 s, rounded up


def test_printed_output_is_skimmed_not_read_as_code():
    output = '<div class="result"><pre><code>1\n2\n</code></pre></div>'
    assert reading.reading_seconds(output) == 2 * 2
