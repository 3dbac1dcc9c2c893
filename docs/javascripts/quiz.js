// Quizzes (sitebuild/quizzes.py): choosing an option reveals why it is right or wrong, and the
// page's score (after its last quiz) counts the questions answered and those answered right
// at the first try; its button clears every answer of the page. Nothing is stored or sent
// anywhere; the answers stay in the reader's browser and go when the page is left.
document$.subscribe(function () {
  var quizzes = Array.from(document.querySelectorAll(".vl-quiz"));
  var box = document.querySelector(".vl-quiz-score");

  function score() {
    if (!box) return;
    var answered = quizzes.filter(function (q) { return q.dataset.first; });
    var right = answered.filter(function (q) { return q.dataset.first === "right"; });
    var total = quizzes.length;
    box.dataset.answered = String(answered.length);
    box.dataset.right = String(right.length);
    box.querySelector(".vl-quiz-score__text").textContent = answered.length === 0
      ? "Score: 0 of " + total + " questions answered."
      : "Score: " + right.length + " of " + total + " right at the first try (" + answered.length + " of " +
        total + " answered" + (answered.length === total ? ", all done" : "") + ").";
  }

  function reset() {
    quizzes.forEach(function (quiz) {
      delete quiz.dataset.first;
      quiz.querySelectorAll(".vl-quiz__option").forEach(function (button) {
        button.setAttribute("aria-pressed", "false");
        button.classList.remove("vl-quiz__option--right", "vl-quiz__option--wrong");
        document.getElementById(button.getAttribute("aria-describedby")).hidden = true;
      });
      quiz.querySelector(".vl-quiz__status").textContent = "";
    });
    score();
  }

  quizzes.forEach(function (quiz) {
    if (quiz.dataset.ready) return;
    quiz.dataset.ready = "true";
    var status = quiz.querySelector(".vl-quiz__status");
    quiz.querySelectorAll(".vl-quiz__option").forEach(function (button) {
      button.addEventListener("click", function () {
        var right = button.dataset.correct === "true";
        if (!quiz.dataset.first) quiz.dataset.first = right ? "right" : "wrong";
        button.setAttribute("aria-pressed", "true");
        button.classList.add(right ? "vl-quiz__option--right" : "vl-quiz__option--wrong");
        document.getElementById(button.getAttribute("aria-describedby")).hidden = false;
        status.textContent = right ? "Right: see why under your answer."
                                   : "Not quite: the explanation is under your answer; try another option.";
        score();
      });
    });
  });
  if (box && !box.dataset.ready) {
    box.dataset.ready = "true";
    box.querySelector(".vl-quiz-score__reset").addEventListener("click", reset);
    score();
  }
});
