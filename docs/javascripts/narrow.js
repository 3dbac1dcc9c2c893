// Narrow screens (a 390-px phone): nothing on a page hides text sideways.
//
// Code and output blocks: a block whose lines are wider than the block is split into one
// <span class="vl-line"> per line (each keeps its own "\n", so the block's text is unchanged),
// and extra.css wraps each line with a hanging indent and a ↪ at the start of every wrapped
// part. Copy-to-clipboard still gives the original text: Material copies a block's data-copy,
// the notebook's buttons copy their own hidden text. Blocks that fit are left as they are, so a
// wide screen sees no change; a fold or tab opened later is looked at when it opens.
//
// Display maths wider than its column is set smaller, down to MIN_SCALE of its size; what still
// does not fit scrolls inside itself with a shadow at the edge that hides more (vl-scrolls).
(function () {
  "use strict";
  var BLOCKS = "article pre";
  var MAX_INDENT = 12; // characters: a deeper line's continuation starts no further right
  var MIN_SCALE = 0.7;
  // Boxes that scroll sideways when their table is wider: Material's, and the explorers' folds.
  var SCROLLERS = "article .md-typeset__scrollwrap, article .vl-explorer__values";

  function overflows(element) {
    return element.clientWidth > 0 && element.scrollWidth > element.clientWidth + 1;
  }

  // The block's nodes, cut at every "\n" into lines: an element that spans a line break is
  // cloned (without its children) around each part of it; one that does not is moved whole.
  function lines(block) {
    var rows = [[]];
    function walk(node, wrap) {
      if (node.nodeType === Node.TEXT_NODE) {
        node.data.split("\n").forEach(function (part, index) {
          if (index > 0) {
            rows[rows.length - 1].push(document.createTextNode("\n"));
            rows.push([]);
          }
          if (part) rows[rows.length - 1].push(wrap(document.createTextNode(part)));
        });
      } else if (node.nodeType === Node.ELEMENT_NODE && node.textContent.indexOf("\n") >= 0) {
        Array.prototype.slice.call(node.childNodes).forEach(function (child) {
          walk(child, function (inner) {
            var copy = node.cloneNode(false);
            copy.appendChild(inner);
            return wrap(copy);
          });
        });
      } else {
        rows[rows.length - 1].push(wrap(node));
      }
    }
    Array.prototype.slice.call(block.childNodes).forEach(function (child) {
      walk(child, function (node) { return node; });
    });
    if (rows.length > 1 && rows[rows.length - 1].length === 0) rows.pop();
    return rows;
  }

  function wrapBlock(block) {
    var text = block.textContent;
    // What Material's copy button copies (it reads data-copy first, then the shown text).
    if (block.tagName === "CODE") block.setAttribute("data-copy", text);
    var rows = lines(block);
    block.textContent = "";
    rows.forEach(function (nodes) {
      var line = document.createElement("span");
      line.className = "vl-line";
      nodes.forEach(function (node) { line.appendChild(node); });
      var indent = /^ */.exec(line.textContent)[0].length;
      line.style.setProperty("--vl-indent", Math.min(indent, MAX_INDENT) + "ch");
      block.appendChild(line);
    });
    block.classList.add("vl-wrap");
  }

  function fitMaths(display) {
    if (display.classList.contains("vl-scrolls")) return;
    var katex = display.querySelector(".katex");
    if (!katex || !overflows(display)) return;
    var scale = Math.max(MIN_SCALE, display.clientWidth / display.scrollWidth);
    katex.style.fontSize = (scale * 100).toFixed(1) + "%";
    if (overflows(display)) display.classList.add("vl-scrolls");
  }

  function scan() {
    document.querySelectorAll(BLOCKS).forEach(function (pre) {
      var block = pre.querySelector(":scope > code") || pre;
      if (!block.classList.contains("vl-wrap") && (overflows(block) || overflows(pre))) {
        wrapBlock(block);
      }
    });
    document.querySelectorAll("article .katex-display").forEach(fitMaths);
    document.querySelectorAll(SCROLLERS).forEach(function (wrap) {
      wrap.classList.toggle("vl-scrolls", overflows(wrap));
    });
  }

  var waiting = false;
  function later() {
    if (waiting) return;
    waiting = true;
    requestAnimationFrame(function () { waiting = false; scan(); });
  }

  // KaTeX renders on DOMContentLoaded (katex.js), Material wraps tables in its own script:
  // look once everything has run, then again whenever something may have become visible.
  if (window.document$) window.document$.subscribe(later);
  if (document.readyState === "complete") later(); else window.addEventListener("load", later);
  window.addEventListener("resize", later);
  document.addEventListener("toggle", later, true); // a fold opened
  document.addEventListener("change", later); // a tab chosen
})();
