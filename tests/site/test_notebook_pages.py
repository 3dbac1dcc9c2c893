"""Light notebook pages (sitebuild/notebook_pages.py): the CSS a page uses,
no stderr output, no unused loader."""

from sitebuild.notebook_pages import lighten, used_css, without_stderr


def test_only_the_rules_a_page_can_match_are_kept():
    css = (
        "/* c */ .a .b { x: 1 } .c { y: 2 } p { z: 3 } "
        "@media (x) { .a { w: 4 } .d { v: 5 } } @font-face { f: 6 }"
    )
    kept = used_css(css, '<div class="a b"><p class="e">x</p></div>')
    assert ".a .b { x: 1 }" in kept and "p { z: 3 }" in kept
    assert ".c" not in kept and ".d" not in kept and "c */" not in kept
    assert "@media (x){.a { w: 4 }}" in kept and "@font-face" in kept


STDERR = (
    '<div class="jp-OutputArea-child"><div data-mime-type='
    '"application/vnd.jupyter.stderr">warning</div></div>'
)
STDOUT = (
    '<div class="jp-OutputArea-child"><div data-mime-type='
    '"application/vnd.jupyter.stdout">42</div></div>'
)


def test_stderr_outputs_go_and_the_others_stay():
    assert without_stderr(f"<main>{STDERR}{STDOUT}</main>") == (
        f"<main>{STDOUT}</main>"
    )


def test_a_page_links_its_css_and_says_which_loader_it_missed():
    page = (
        "<head><style>.jp-OutputArea-child { a: 1 } .unused { b: 2 }</style>"
        "</head><body>" + STDOUT + "</body>"
    )
    lines = []
    light, uri, css = lighten(page, "notebooks/x/", lines.append)
    assert css == ".jp-OutputArea-child { a: 1 }"
    assert (
        uri.startswith("assets/stylesheets/notebook-")
        and "<style" not in light
    )
    assert f'href="../../{uri}"' in light
    assert len(lines) == 3 and lines[0].startswith("expected one MathJax")
