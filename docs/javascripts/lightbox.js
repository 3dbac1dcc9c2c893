// Figures in the lightbox. The build draws every figure 8 inches wide and, for screens up to
// 600 px, again 4.9 inches wide, laid out for them (sitebuild/figure_recipes.py); the page's
// <picture> shows a phone the narrow drawing, whose 9-pt text is 9 / 72 x 358 / 4.9 = 9.1 CSS px
// in a 390-px screen's column. glightbox opens its link's href, the wide drawing, which a phone
// would shrink to its width (text about 6 CSS px). So the lightbox shows the drawing the page
// chose, the image's currentSrc: on a 390-px phone the narrow drawing at the screen's width, its
// text about 9.9 CSS px, without panning (tests/browser/test_phone.py measures it).
(function () {
  "use strict";

  // The image the page shows for the link that opened `image` (the same href).
  function shownOnPage(image) {
    var links = document.querySelectorAll("article a.glightbox");
    for (var i = 0; i < links.length; i++) {
      if (links[i].href === image.src) return links[i].querySelector("img");
    }
    return null;
  }

  function showChosenDrawing(image) {
    // An image already loaded has fired (or queued) its load event, which glightbox answers once
    // per slide; only one still on its way is swapped, before it arrives.
    if (image.complete) return;
    var shown = shownOnPage(image);
    if (shown && shown.currentSrc && shown.currentSrc !== image.src) image.src = shown.currentSrc;
  }

  new MutationObserver(function (changes) {
    changes.forEach(function (change) {
      change.addedNodes.forEach(function (node) {
        if (!(node instanceof Element)) return;
        if (node.matches(".gslide-media img")) showChosenDrawing(node);
        node.querySelectorAll(".gslide-media img").forEach(showChosenDrawing);
      });
    });
  }).observe(document.body, { childList: true, subtree: true });
})();
