// Exercise notebooks: fold each solution cell (tagged "solution") into a Material
// "success" details block, so a learner sees the TODO first and opens the answer on purpose.
document$.subscribe(function () {
  document.querySelectorAll(".jp-Cell.celltag_solution").forEach(function (cell) {
    // nbconvert nests two elements with the cell's classes: fold only the outer one, once.
    if (cell.parentElement.closest(".celltag_solution") || cell.parentElement.tagName === "DETAILS") return;
    var details = document.createElement("details");
    details.className = "success";
    var summary = document.createElement("summary");
    summary.textContent = "Solution";
    cell.before(details);
    details.append(summary, cell);
  });
});

// The copy opened from disk (make build-offline): Chromium ignores the download attribute of a
// link to another file:// address and opens the notebook's JSON instead. That copy carries each
// notebook as a script (downloads/<name>.ipynb.js, sitebuild/notebook_links.py), which a click
// loads (fetch() of a file:// address is refused) and saves under the notebook's name. Where the
// script is missing (another build opened from disk), the link opens the file as before.
(function () {
  function save(name, text) {
    var url = URL.createObjectURL(new Blob([text], { type: "application/x-ipynb+json" }));
    var link = document.createElement("a");
    link.href = url;
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
  }

  function saveFromDisk(link) {
    var href = link.getAttribute("href");
    var name = decodeURIComponent(href.split("/").pop());
    var notebooks = window.vitlessonNotebooks || {};
    if (Object.prototype.hasOwnProperty.call(notebooks, name)) return save(name, notebooks[name]);
    var script = document.createElement("script");
    script.src = href + ".js";
    script.onload = function () {
      script.remove();
      var loaded = window.vitlessonNotebooks || {};
      if (Object.prototype.hasOwnProperty.call(loaded, name)) save(name, loaded[name]);
      else window.location.href = link.href;
    };
    script.onerror = function () {
      script.remove();
      window.location.href = link.href;
    };
    document.head.append(script);
  }

  document$.subscribe(function () {
    if (window.location.protocol !== "file:") return;
    document.querySelectorAll("a.vl-download, a.vl-solutions").forEach(function (link) {
      if (link.dataset.fromDisk) return;
      link.dataset.fromDisk = "true";
      link.addEventListener("click", function (event) {
        event.preventDefault();
        saveFromDisk(link);
      });
    });
  });
})();
