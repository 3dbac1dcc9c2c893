// Quizzes (hooks/quizzes.py): choosing an option reveals why it is right or wrong. Nothing is
// stored or sent anywhere; the answers stay in the reader's browser.
document$.subscribe(function () {
  document.querySelectorAll(".vl-quiz").forEach(function (quiz) {
    if (quiz.dataset.ready) return;
    quiz.dataset.ready = "true";
    var status = quiz.querySelector(".vl-quiz__status");
    quiz.querySelectorAll(".vl-quiz__option").forEach(function (button) {
      button.addEventListener("click", function () {
        var right = button.dataset.correct === "true";
        button.setAttribute("aria-pressed", "true");
        button.classList.add(right ? "vl-quiz__option--right" : "vl-quiz__option--wrong");
        document.getElementById(button.getAttribute("aria-describedby")).hidden = false;
        status.textContent = right ? "Right: see why under your answer."
                                   : "Not quite: the explanation is under your answer; try another option.";
      });
    });
  });
});
