// Figures on a phone. The build draws every figure 8 inches wide (6.5 for one) at 150 dpi with
// text of 9 pt or more (tests/test_browser.py checks both), so fitted to a 390-px screen its
// text is about 5 CSS px. In the lightbox on a narrow screen the figure is shown instead at
// PHONE_SCALE of its natural size, which puts that text at 9 x 150 / 72 x 0.45 = 8.4 CSS px or
// more, inside a box the reader pans sideways (touch or scroll); the browser tests measure it.
(function () {
  "use strict";
  var PHONE_SCALE = 0.45, NARROW = 600;

  function widen(image) {
    if (document.documentElement.clientWidth >= NARROW || !image.naturalWidth) return;
    var width = Math.round(image.naturalWidth * PHONE_SCALE);
    if (width <= image.getBoundingClientRect().width) return;
    image.classList.add("vl-phone-figure");
    image.style.width = width + "px";
    var holder = image.closest(".gslide-image");
    if (holder) {
      holder.classList.add("vl-phone-pan");
      holder.setAttribute("tabindex", "0");  // a region that scrolls must be reachable by keyboard
      holder.setAttribute("aria-label", "Figure at reading size; scroll sideways to see all of it");
    }
  }

  new MutationObserver(function (changes) {
    changes.forEach(function (change) {
      change.addedNodes.forEach(function (node) {
        if (!(node instanceof Element)) return;
        node.querySelectorAll(".gslide-image img").forEach(function (image) {
          if (image.complete) widen(image); else image.addEventListener("load", function () { widen(image); });
        });
      });
    });
  }).observe(document.body, { childList: true, subtree: true });
})();
