// Quizzes (sitebuild/quizzes.py): choosing an option reveals why it is right or wrong, and the
// page's score (after its last quiz) counts the questions answered and those answered right
// at the first try; its button clears every answer of the page. The answers are kept in this
// browser's localStorage (nothing is sent anywhere), so a page shows them and its score again
// when the reader comes back; a kept answer whose question has changed (data-key) is dropped.
document$.subscribe(function () {
  var quizzes = Array.from(document.querySelectorAll(".vl-quiz"));
  var box = document.querySelector(".vl-quiz-score");
  var PREFIX = "vitlesson.quiz.";

  // localStorage may be refused (a browser's privacy settings): the quizzes work without it.
  function storageKey(quiz) { return PREFIX + quiz.getAttribute("aria-labelledby"); }
  function read(quiz) {
    try {
      var kept = JSON.parse(window.localStorage.getItem(storageKey(quiz)) || "null");
      return kept && kept.key === quiz.dataset.key && Array.isArray(kept.pressed) ? kept : null;
    } catch (error) { return null; }
  }
  function write(quiz, value) {
    try {
      if (value) window.localStorage.setItem(storageKey(quiz), JSON.stringify(value));
      else window.localStorage.removeItem(storageKey(quiz));
    } catch (error) { /* not kept: the page still works */ }
  }
  function options(quiz) { return Array.from(quiz.querySelectorAll(".vl-quiz__option")); }

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

  // Show a chosen option: pressed, coloured, its explanation open, the question's status said.
  function show(quiz, button) {
    var right = button.dataset.correct === "true";
    button.setAttribute("aria-pressed", "true");
    button.classList.add(right ? "vl-quiz__option--right" : "vl-quiz__option--wrong");
    document.getElementById(button.getAttribute("aria-describedby")).hidden = false;
    quiz.querySelector(".vl-quiz__status").textContent = right
      ? "Right: see why under your answer."
      : "Not quite: the explanation is under your answer; try another option.";
  }

  function reset() {
    quizzes.forEach(function (quiz) {
      delete quiz.dataset.first;
      options(quiz).forEach(function (button) {
        button.setAttribute("aria-pressed", "false");
        button.classList.remove("vl-quiz__option--right", "vl-quiz__option--wrong");
        document.getElementById(button.getAttribute("aria-describedby")).hidden = true;
      });
      quiz.querySelector(".vl-quiz__status").textContent = "";
      write(quiz, null);
    });
    score();
  }

  quizzes.forEach(function (quiz) {
    if (quiz.dataset.ready) return;
    quiz.dataset.ready = "true";
    var buttons = options(quiz);
    var kept = read(quiz);
    if (kept && (kept.first === "right" || kept.first === "wrong")) {
      quiz.dataset.first = kept.first;
      var chosen = kept.pressed.map(function (index) { return buttons[index]; }).filter(Boolean);
      // The right answer last, so that the status says so when it was found.
      chosen.sort(function (a, b) { return (a.dataset.correct === "true") - (b.dataset.correct === "true"); });
      chosen.forEach(function (button) { show(quiz, button); });
    }
    buttons.forEach(function (button, index) {
      button.addEventListener("click", function () {
        var right = button.dataset.correct === "true";
        if (!quiz.dataset.first) quiz.dataset.first = right ? "right" : "wrong";
        show(quiz, button);
        var pressed = buttons.map(function (b, i) { return b.getAttribute("aria-pressed") === "true" ? i : -1; })
          .filter(function (i) { return i >= 0; });
        write(quiz, { key: quiz.dataset.key, first: quiz.dataset.first, pressed: pressed });
        score();
      });
    });
  });
  if (box && !box.dataset.ready) {
    box.dataset.ready = "true";
    box.querySelector(".vl-quiz-score__reset").addEventListener("click", reset);
  }
  score();
});
