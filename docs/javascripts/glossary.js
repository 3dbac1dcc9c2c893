// Glossary popovers. The abbr extension marks every use of a term of docs/includes/glossary.md
// with <abbr title="definition">; a native title tooltip opens only under a mouse, so each
// term becomes a button that a click, a tap, the keyboard focus or the pointer opens, and that
// Escape, a click elsewhere or moving on closes. The first use of a term in each section is
// reached with Tab (every use would add dozens of stops per page); every use opens on a click
// or a tap. Terms inside links and buttons (quiz options) keep the native tooltip: a button
// inside a button cannot work. sitebuild/glossary.py lists all terms on the glossary page.
(function () {
  "use strict";

  var popover = null, current = null;

  function ensurePopover() {
    if (popover && document.body.contains(popover)) return popover;
    popover = document.createElement("div");
    popover.id = "vl-glossary-popover";
    popover.className = "vl-glossary-popover";
    popover.setAttribute("role", "tooltip");
    popover.hidden = true;
    document.body.append(popover);
    return popover;
  }

  function place(term) {
    var box = term.getBoundingClientRect(), width = document.documentElement.clientWidth;
    popover.style.maxWidth = Math.min(320, width - 16) + "px";
    var left = Math.max(8, Math.min(box.left + window.scrollX, window.scrollX + width - 8 - popover.offsetWidth));
    popover.style.left = left + "px";
    popover.style.top = (box.bottom + window.scrollY + 6) + "px";
  }

  function open(term) {
    ensurePopover();
    if (current && current !== term) close();
    current = term;
    popover.replaceChildren();
    var name = document.createElement("strong");
    name.textContent = term.textContent;
    popover.append(name, document.createTextNode(": " + term.dataset.definition));
    popover.hidden = false;
    term.setAttribute("aria-expanded", "true");
    term.setAttribute("aria-describedby", popover.id);
    place(term);
  }

  function close() {
    if (!current) return;
    current.setAttribute("aria-expanded", "false");
    current.removeAttribute("aria-describedby");
    current = null;
    if (popover) popover.hidden = true;
  }

  function prepare(term, reachable) {
    term.dataset.definition = term.getAttribute("title");
    term.removeAttribute("title");  // the popover replaces the native tooltip
    term.classList.add("vl-term");
    term.setAttribute("role", "button");
    term.setAttribute("tabindex", reachable ? "0" : "-1");
    term.setAttribute("aria-expanded", "false");
    term.addEventListener("focus", function () { open(term); });
    term.addEventListener("blur", function () { if (current === term) close(); });
    term.addEventListener("click", function () { open(term); });
    term.addEventListener("mouseenter", function () { open(term); });
    term.addEventListener("mouseleave", function () { if (current === term && document.activeElement !== term) close(); });
    term.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); open(term); }
    });
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && current) close();  // focus stays on the term
  });
  document.addEventListener("pointerdown", function (event) {
    if (current && !current.contains(event.target) && !(popover && popover.contains(event.target))) close();
  });
  window.addEventListener("resize", function () { if (current) place(current); });

  document$.subscribe(function () {
    close();
    var seen = {}, section = 0;
    var article = document.querySelector("article");
    if (!article) return;
    article.querySelectorAll("h2, abbr[title]").forEach(function (node) {
      if (node.tagName === "H2") { section += 1; return; }
      if (node.closest("a, button, summary, label, .vl-quiz__option")) return;
      var key = section + "\u0000" + node.textContent;
      prepare(node, !seen[key]);
      seen[key] = true;
    });
  });
})();
