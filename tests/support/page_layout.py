"""What a reader at 1280×900 sees of a page's layout, measured in the browser.

:data:`MEASURE` runs in the page: its height, every code block (does it scroll
sideways? its longest line), every table, which code blocks print and whether an
output box follows them, raw ``:shortcode:`` text, and each figure's displayed
width and whether it opens larger. Used by the browser tests and printed for
the closing notes.
"""

MEASURE = r"""() => {
  const article = document.querySelector("article");
  const blocks = Array.from(article.querySelectorAll("pre")).filter(
    (pre) => !pre.closest(".result") && !pre.closest(".jp-OutputArea"));
  const scrolls = (el) => el.scrollWidth > el.clientWidth + 1;
  const code = blocks.map((pre) => {
    const inner = pre.querySelector("code") || pre;
    const lines = inner.textContent.split("\n");
    const cell = pre.closest(".jp-Cell");
    const holder = pre.closest(".highlight") || pre;
    const next = holder.nextElementSibling;
    return {
      overflow: scrolls(inner) || scrolls(pre),
      longest: Math.max(...lines.map((l) => l.length)),
      prints: /\bprint\(/.test(inner.textContent),
      output: cell ? Boolean(cell.querySelector(".jp-OutputArea-output pre"))
                   : Boolean(next && next.classList.contains("result")),
    };
  });
  const outputs = Array.from(article.querySelectorAll(".result pre, .jp-OutputArea pre"));
  const tables = Array.from(article.querySelectorAll("table")).map((t) => {
    const wrap = t.closest(".md-typeset__scrollwrap") || t.parentElement;
    return {overflow: scrolls(wrap) || t.getBoundingClientRect().width > article.clientWidth + 1};
  });
  const figures = Array.from(article.querySelectorAll("img")).map((img) => ({
    src: new URL(img.src).pathname, width: img.clientWidth,
    natural: img.naturalWidth, zoom: Boolean(img.closest("a.glightbox")),
  }));
  const text = article.innerText;
  return {
    height: document.documentElement.scrollHeight,
    column: article.clientWidth,
    code, tables, figures,
    outputs_overflow: outputs.filter(scrolls).length,
    shortcodes: text.match(/:[a-z]+(?:-[a-z0-9]+)+:/g) || [],
  };
}"""
