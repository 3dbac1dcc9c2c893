// Render the maths with the KaTeX copy served by this site (no CDN).
// Arithmatex wraps Markdown maths as \( \) and \[ \]; notebook pages keep $ and $$.
document$.subscribe(function () {
  renderMathInElement(document.body, {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "\\[", right: "\\]", display: true },
      { left: "\\(", right: "\\)", display: false },
      { left: "$", right: "$", display: false },
    ],
    ignoredClasses: ["highlight", "md-search"],
    throwOnError: false,
  });
});
