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
