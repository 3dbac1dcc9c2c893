// Accessibility fixes for what the theme and the notebook renderer leave out (found by axe-core).
document$.subscribe(function () {
  // Material's search overlay is a dialog without a name.
  document.querySelectorAll(".md-search").forEach(function (dialog) {
    dialog.setAttribute("aria-label", "Search");
  });
  // Checklist boxes (pymdownx.tasklist) are named by the text of their item.
  document.querySelectorAll(".task-list-item input[type=checkbox]").forEach(function (box) {
    box.setAttribute("aria-label", box.closest(".task-list-item").textContent.trim());
  });
  // Code annotations: the numbered markers and their back-links have no text of their own.
  document.querySelectorAll("a[href*='_annotation_']").forEach(function (link) {
    if (!link.textContent.trim() && !link.getAttribute("aria-label")) {
      link.setAttribute("aria-label", "Code annotation " + link.getAttribute("href").split("_").pop());
    }
  });
  // Regions that scroll sideways (wide tables, display maths, notebook cells) must be reachable by keyboard.
  document.querySelectorAll(
    ".md-typeset__scrollwrap, .katex-display, .jupyter-wrapper .highlight-ipynb, .jupyter-wrapper .jp-RenderedText pre"
  ).forEach(function (region) {
    if (region.scrollWidth > region.clientWidth) region.tabIndex = 0;
  });
});
