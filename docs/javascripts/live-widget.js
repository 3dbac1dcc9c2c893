// "Draw for the model" (Lab part 1): the learner makes the shapes model's 32x32 input, by
// moving and recolouring the square and the circle or drawing freehand, and the trained model
// (docs/javascripts/vit-live.js) answers as they go, with the CLS token's attention drawn over
// the input. At most one forward pass per animation frame, never two at once. Pointer events
// (mouse, pen, touch), and the keyboard: every control is a native form element, and the arrow
// keys move the selected shape on the focused drawing.
(function () {
  "use strict";

  var SIZE = 32, SCALE = 8, PATCH = 4, GRID = SIZE / PATCH;  // the model's input and patches
  var HEADS = 4, LAYERS = 4, TOKENS = GRID * GRID + 1;

  var ui = window.vitlessonLiveUI, element = ui.element, hex = ui.hex, fromHex = ui.fromHex;
  var css = ui.css, heat = ui.heat, choices = ui.choices, labelled = ui.labelled;

  function widget(root, data) {
    var shipped = root.dataset.liveWidget, name = shipped, classes = data.classes;
    root.id = root.id || "vl-live-" + name;
    // The drawing: a background colour, the two shapes (the pixels each covers where it was
    // made, its colour and how far it has been moved) and the pixels painted freehand on top.
    var state, undo = [];
    function fromExample(example) {
      return {
        background: example.background.slice(),
        shapes: ["square", "circle"].map(function (kind) {
          return { kind: kind, colour: example[kind].colour.slice(), pixels: example[kind].pixels.slice(),
                   dx: 0, dy: 0 };
        }),
        paint: {},
      };
    }
    function copy(s) {
      return { background: s.background.slice(), paint: Object.assign({}, s.paint),
               shapes: s.shapes.map(function (shape) { return Object.assign({}, shape, { colour: shape.colour.slice() }); }) };
    }
    function remember() {
      undo.push(copy(state));
      if (undo.length > 100) undo.shift();
      undoButton.disabled = false;
    }

    // The image the model receives, (3, 32, 32) in [0, 1], and which shape covers each pixel.
    function image() {
      var pixels = new Float64Array(3 * SIZE * SIZE), owner = new Int8Array(SIZE * SIZE).fill(-1), p, c;
      for (p = 0; p < SIZE * SIZE; p++) for (c = 0; c < 3; c++) pixels[c * SIZE * SIZE + p] = state.background[c];
      state.shapes.forEach(function (shape, index) {  // the circle over the square, as make_shapes draws them
        shape.pixels.forEach(function (q) {
          var y = Math.floor(q / SIZE) + shape.dy, x = q % SIZE + shape.dx;
          if (x < 0 || y < 0 || x >= SIZE || y >= SIZE) return;
          for (c = 0; c < 3; c++) pixels[c * SIZE * SIZE + y * SIZE + x] = shape.colour[c];
          owner[y * SIZE + x] = index;
        });
      });
      Object.keys(state.paint).forEach(function (key) {
        p = Number(key);
        for (c = 0; c < 3; c++) pixels[c * SIZE * SIZE + p] = state.paint[key][c];
      });
      return { pixels: pixels, owner: owner };
    }

    var selected = 0, tool = "move", layer = LAYERS - 1, head = "mean", brush = [0.95, 0.2, 0.1];
    var input = element("canvas", { width: SIZE * SCALE, height: SIZE * SCALE, tabindex: "0",
      class: "vl-explorer__canvas vl-live__input", role: "img",
      "aria-label": "The model's input, 32 by 32 pixels. Arrow keys move the selected shape." });
    var map = element("canvas", { width: SIZE * SCALE, height: SIZE * SCALE, role: "img",
      class: "vl-explorer__canvas", "aria-label": "The CLS token's attention over the input" });
    [input, map].forEach(function (canvas) { canvas.style.width = "100%"; canvas.style.touchAction = "none"; });
    var answer = element("div", { class: "vl-live__answer", "aria-live": "polite" });
    var bars = classes.map(function (label, index) {
      var value = element("strong", { "data-class": String(index) });
      var bar = element("span", { class: "vl-live__bar" });
      bar.style.cssText = "display:block;height:0.35rem;background:var(--md-accent-fg-color);";
      answer.append(element("div", { class: "vl-live__class" }, [label + ": ", value, bar]));
      return { value: value, bar: bar };
    });
    var readout = element("p", { class: "vl-explorer__note", "aria-live": "polite" });
    var undoButton = element("button", { type: "button", class: "md-button", text: "Undo" });
    var clearButton = element("button", { type: "button", class: "md-button", text: "Clear" });
    undoButton.disabled = true;
    var start = element("select", { "aria-label": "Start from a test image" });
    data.examples.forEach(function (example, index) {
      start.append(element("option", { value: String(index),
        text: "test image " + (index + 1) + " (" + classes[example.label].replace("square ", "") + ")" }));
    });
    var shapeColour = element("input", { type: "color" });
    var brushColour = element("input", { type: "color", value: hex(brush) });
    var heads = element("select", {}), layers = element("select", {});
    for (var l = 0; l < LAYERS; l++) layers.append(element("option", { value: String(l), text: String(l + 1) }));
    layers.value = String(layer);
    for (var h = 0; h < HEADS; h++) heads.append(element("option", { value: String(h), text: "head " + h }));
    heads.append(element("option", { value: "mean", text: "mean of the heads" }),
                 element("option", { value: "rollout", text: "rollout (all layers)" }));
    heads.value = head;

    var last = null;
    var schedule = ui.scheduler(root, function () {  // one forward pass at most per frame
      var x = ui.normalise(image().pixels);
      root.liveInput = x;
      return window.vitlessonLive.run(name, x);
    }, function (result) {
      last = result;
      showAnswer();
      drawMap();
    }, function (error) { ui.failed(root, error); });
    function changed() {
      drawInput();
      schedule();
    }

    function showAnswer() {
      var logits = last.output, top = Math.max.apply(null, logits), total = 0;
      var e = Array.prototype.map.call(logits, function (v) { total += Math.exp(v - top); return Math.exp(v - top); });
      bars.forEach(function (bar, index) {
        var p = e[index] / total;
        bar.value.dataset.value = String(p);
        bar.value.textContent = (100 * p).toFixed(1) + " %";
        bar.bar.style.width = (100 * p).toFixed(1) + "%";
      });
    }

    // The CLS token's row (over the 64 patches) of the chosen map.
    function clsWeights() {
      var weights = new Float64Array(GRID * GRID), n, k;
      if (head === "rollout") {
        var rolled = window.vitlessonLive.rollout(last.attention, LAYERS, HEADS, TOKENS);
        for (n = 0; n < GRID * GRID; n++) weights[n] = rolled[1 + n];
        return weights;
      }
      var chosen = head === "mean" ? [0, 1, 2, 3] : [Number(head)];
      chosen.forEach(function (k) {
        var row = (layer * HEADS + k) * TOKENS * TOKENS;  // the CLS query's row: token 0
        for (n = 0; n < GRID * GRID; n++) weights[n] += last.attention[row + 1 + n] / chosen.length;
      });
      return weights;
    }

    function drawInput() {
      var drawn = image(), context = input.getContext("2d");
      for (var p = 0; p < SIZE * SIZE; p++) {
        context.fillStyle = css([0, 1, 2].map(function (c) { return drawn.pixels[c * SIZE * SIZE + p]; }));
        context.fillRect((p % SIZE) * SCALE, Math.floor(p / SIZE) * SCALE, SCALE, SCALE);
      }
      var shape = state.shapes[selected], box = bounds(shape);  // the selected shape, outlined
      if (box) {
        context.setLineDash([6, 4]);
        context.lineWidth = 2;
        context.strokeStyle = "#ffffff";
        context.strokeRect(box[0] * SCALE - 2, box[1] * SCALE - 2, (box[2] - box[0] + 1) * SCALE + 4,
                           (box[3] - box[1] + 1) * SCALE + 4);
        context.setLineDash([]);
      }
    }

    function bounds(shape) {
      if (!shape.pixels.length) return null;
      var xs = shape.pixels.map(function (q) { return q % SIZE + shape.dx; });
      var ys = shape.pixels.map(function (q) { return Math.floor(q / SIZE) + shape.dy; });
      return [Math.min.apply(null, xs), Math.min.apply(null, ys), Math.max.apply(null, xs), Math.max.apply(null, ys)];
    }

    function drawMap() {
      var drawn = image(), context = map.getContext("2d"), weights = clsWeights(), p;
      var top = Math.max.apply(null, weights), best = weights.indexOf(top);
      for (p = 0; p < SIZE * SIZE; p++) {  // the input, in grey
        var grey = 0.299 * drawn.pixels[p] + 0.587 * drawn.pixels[SIZE * SIZE + p] + 0.114 * drawn.pixels[2 * SIZE * SIZE + p];
        context.fillStyle = css([grey, grey, grey]);
        context.fillRect((p % SIZE) * SCALE, Math.floor(p / SIZE) * SCALE, SCALE, SCALE);
      }
      context.globalAlpha = 0.65;
      for (p = 0; p < GRID * GRID; p++) {  // each patch coloured by its weight (the largest: yellow)
        context.fillStyle = heat(weights[p] / top);
        context.fillRect((p % GRID) * PATCH * SCALE, Math.floor(p / GRID) * PATCH * SCALE, PATCH * SCALE, PATCH * SCALE);
      }
      context.globalAlpha = 1;
      var which = head === "rollout" ? "rollout over all 4 layers"
        : "layer " + (layer + 1) + ", " + (head === "mean" ? "mean of the 4 heads" : "head " + head);
      readout.dataset.value = String(top);
      readout.dataset.patch = String(best);
      readout.textContent = "CLS attention (" + which + "), brightest where largest: " + top.toFixed(3) +
        " on the patch in row " + (Math.floor(best / GRID) + 1) + ", column " + (best % GRID + 1) +
        " (even attention: " + (1 / TOKENS).toFixed(3) + ").";
    }

    function showSelected() {
      shapeColour.value = hex(state.shapes[selected].colour);
    }

    // ---- pointer: drag a shape, or draw ----
    var drag = null, lastPixel = null;
    function pixelAt(event) { return ui.pixelAt(input, event, SIZE); }
    function paintAt(x, y) {
      state.paint[y * SIZE + x] = brush.slice();
    }
    function moveTo(shape, dx, dy) {  // keep every pixel of the shape inside the image
      var box = bounds(Object.assign({}, shape, { dx: 0, dy: 0 }));
      if (!box) return;  // cleared: nothing to move
      shape.dx = Math.max(-box[0], Math.min(SIZE - 1 - box[2], dx));
      shape.dy = Math.max(-box[1], Math.min(SIZE - 1 - box[3], dy));
    }
    input.addEventListener("pointerdown", function (event) {
      var at = pixelAt(event);
      if (tool === "draw") {
        remember();
        paintAt(at[0], at[1]);
        lastPixel = at;
      } else {
        var index = image().owner[at[1] * SIZE + at[0]];
        if (index < 0) return;
        remember();
        selected = index;
        shapeChoice.querySelectorAll("input")[index].checked = true;
        showSelected();
        var shape = state.shapes[index];
        drag = { start: at, dx: shape.dx, dy: shape.dy };
      }
      input.setPointerCapture(event.pointerId);
      event.preventDefault();
      changed();
    });
    input.addEventListener("pointermove", function (event) {
      var at = pixelAt(event);
      if (tool === "draw" && lastPixel) {
        ui.line(lastPixel, at, paintAt);
        lastPixel = at;
        changed();
      } else if (drag) {
        moveTo(state.shapes[selected], drag.dx + at[0] - drag.start[0], drag.dy + at[1] - drag.start[1]);
        changed();
      }
    });
    function release() { drag = null; lastPixel = null; }
    input.addEventListener("pointerup", release);
    input.addEventListener("pointercancel", release);

    // ---- keyboard: the arrow keys move the selected shape (with Shift, by a patch) ----
    input.addEventListener("keydown", function (event) {
      var step = event.shiftKey ? PATCH : 1;
      var move = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[event.key];
      if (!move) return;
      event.preventDefault();
      var shape = state.shapes[selected];
      remember();
      moveTo(shape, shape.dx + move[0], shape.dy + move[1]);
      changed();
    });

    var shapeChoice = choices(root, "Selected shape (drag it, or focus the drawing and use the arrow keys)",
      "shape", [{ value: "0", label: "square" }, { value: "1", label: "circle" }], "0",
      function (value) { selected = Number(value); showSelected(); drawInput(); });
    var toolChoice = choices(root, "Pointer", "tool",
      [{ value: "move", label: "moves shapes" }, { value: "draw", label: "draws freehand" }], "move",
      function (value) { tool = value; });
    var recolouring = false;
    shapeColour.addEventListener("input", function () {
      if (!recolouring) { remember(); recolouring = true; }  // one undo step per recolouring
      state.shapes[selected].colour = fromHex(shapeColour.value);
      changed();
    });
    shapeColour.addEventListener("change", function () { recolouring = false; });
    brushColour.addEventListener("input", function () { brush = fromHex(brushColour.value); });
    undoButton.addEventListener("click", function () {
      if (!undo.length) return;
      state = undo.pop();
      undoButton.disabled = !undo.length;
      showSelected();
      changed();
    });
    clearButton.addEventListener("click", function () {  // the background alone: nothing to find
      remember();
      state = { background: state.background.slice(), paint: {},
                shapes: state.shapes.map(function (shape) { return Object.assign({}, shape, { pixels: [] }); }) };
      changed();
    });
    start.addEventListener("change", function () {
      remember();
      state = fromExample(data.examples[Number(start.value)]);
      showSelected();
      changed();
    });
    layers.addEventListener("change", function () { layer = Number(layers.value); if (last) drawMap(); });
    heads.addEventListener("change", function () {
      head = heads.value;
      layers.disabled = head === "rollout";
      if (last) drawMap();
    });

    state = fromExample(data.examples[1]);  // a test image the model answers well
    start.value = "1";
    showSelected();
    var views = element("div", { class: "vl-explorer__maps" }, [
      element("figure", { class: "vl-explorer__map" }, [input, element("figcaption", { text: "What the model sees (32×32)" })]),
      element("figure", { class: "vl-explorer__map" }, [map, element("figcaption", { text: "Where the CLS token looks" })]),
    ]);
    views.style.gridTemplateColumns = "repeat(2, minmax(0, 256px))";
    var row = ui.row;
    root.append(answer, views, readout,
      row([labelled("Start from", start), undoButton, clearButton]),
      row([shapeChoice, labelled("Its colour", shapeColour)]),
      row([toolChoice, labelled("Brush colour", brushColour)]),
      row([labelled("Attention: layer", layers), labelled("showing", heads)]));
    ui.checkpointInput(root, shipped, "python -m vitlesson.lab.train", function (model) {
      name = model;
      changed();
    }).forEach(function (node) { root.append(node); });
    answer.style.fontSize = "0.75rem";
    ui.smallButtons(root);
    root.liveState = function () { return copy(state); };
    changed();
  }

  ui.onEveryPage("data-live-widget", function (root) {
    ui.loadData("live/shapes-examples.js", "vlLiveShapes").then(function (data) { widget(root, data); })
      .catch(function (error) { ui.failed(root, error); });
  });
})();
