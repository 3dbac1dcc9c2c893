// "DINO on your drawing" (Lab part 3): the learner draws an object (a disc, square, triangle
// or cross, as vitlesson/data/objects.py draws the test objects, or freehand) on a background
// of their colour, and the DINO-trained tiny ViT (docs/javascripts/vit-live.js) shows each
// head's CLS attention in the last block beside its 60% mask (vitlesson/lab/probes.py,
// attention_masks), and the drawing's nearest neighbours among a small bank of labelled test
// images by cosine similarity of the unit CLS features (probes.cls_features, knn_accuracy).
// The bank (live/objects-bank.js) comes with the shipped teacher's features; for a learner's
// own weights (the file input) the page computes them.
//
//   vitlessonLiveDino.attentionMask(weights, mass)  the mask of one head's CLS row over the
//                                                   patches: 1 for each kept patch
//   vitlessonLiveDino.nearest(feature, bank, k)     [[index, cosine], ...], best first
(function () {
  "use strict";

  var ui = window.vitlessonLiveUI;
  var SIZE = 32, PATCH = 4, GRID = SIZE / PATCH, TOKENS = GRID * GRID + 1, HEADS = 4, LAST = 3;
  var MASS = 0.6, K = 5, TEMPERATURE = 0.07;  // DINO's threshold; DINO's k-NN vote weights
  var KINDS = ["disc", "square", "triangle", "cross"];

  // attention_masks: normalise the CLS row over the patches, sort it ascending, and keep the
  // patches whose cumulative sum passes 1 - mass (compared in float32, as PyTorch does): the
  // smallest set of patches that holds `mass` of the attention.
  function attentionMask(weights, mass) {
    var n = weights.length, total = 0, i;
    for (i = 0; i < n; i++) total += weights[i];
    var order = Array.from({ length: n }, function (_, j) { return j; });
    order.sort(function (a, b) { return weights[a] - weights[b] || a - b; });
    var keep = new Uint8Array(n), sum = 0, limit = Math.fround(1 - mass);
    for (i = 0; i < n; i++) {
      sum += weights[order[i]] / total;
      keep[order[i]] = Math.fround(sum) > limit ? 1 : 0;
    }
    return keep;
  }

  // F.normalize(feature) against unit bank features (rows of `bank.width`): the cosine of
  // each, and the k largest, best first.
  function nearest(feature, bank, k) {
    var width = feature.length, norm = 0, i, j;
    for (j = 0; j < width; j++) norm += feature[j] * feature[j];
    norm = Math.max(Math.sqrt(norm), 1e-12);
    var scores = [];
    for (i = 0; i < bank.length / width; i++) {
      var dot = 0;
      for (j = 0; j < width; j++) dot += feature[j] / norm * bank[i * width + j];
      scores.push([i, dot]);
    }
    scores.sort(function (a, b) { return b[1] - a[1] || a[0] - b[0]; });
    return scores.slice(0, k);
  }

  // objects._shape_masks for one object, upright, centred on pixel corner (cx, cy): whether
  // pixel (x, y) lies inside it, from its offsets u, v from the centre.
  function inside(kind, x, y, cx, cy, size) {
    var u = x + 0.5 - cx, v = y + 0.5 - cy;
    if (kind === "disc") return u * u + v * v <= size * size;
    if (kind === "square") return Math.max(Math.abs(u), Math.abs(v)) <= 0.89 * size;
    if (kind === "triangle") {
      var up = -v;  // image rows grow downwards; the triangle points up
      return up >= -size / 2 && Math.sqrt(3) * u + up <= size && -Math.sqrt(3) * u + up <= size;
    }
    var arm = 0.4 * size;  // the cross
    return (Math.abs(u) <= arm && Math.abs(v) <= size) || (Math.abs(v) <= arm && Math.abs(u) <= size);
  }

  function bankData(data) {
    var bytes = Uint8Array.from(atob(data.images), function (c) { return c.charCodeAt(0); });
    var plane = 3 * SIZE * SIZE, images = [];
    for (var i = 0; i < bytes.length / plane; i++) {  // (n, 3, 32, 32) uint8 -> n images / 255
      images.push(Float64Array.from(bytes.subarray(i * plane, (i + 1) * plane), function (v) {
        return Math.fround(v / 255);
      }));
    }
    var features = new Float32Array(Uint8Array.from(atob(data.features), function (c) {
      return c.charCodeAt(0);
    }).buffer);
    return { images: images, labels: data.labels, classes: data.classes, features: features };
  }

  function widget(root, bank) {
    var shipped = root.dataset.liveDino, model = shipped, features = bank.features;
    root.id = root.id || "vl-live-" + shipped;
    var el = ui.element;
    // The drawing: a start (a bank image, or a plain background of one colour), one object
    // (its kind, centre, half-extent and colour; "none" for none) and pixels painted on top.
    var state = { start: -1, background: [0.12, 0.12, 0.14],
                  object: { kind: "triangle", cx: 16, cy: 17, size: 9, colour: [0.95, 0.75, 0.2] }, paint: {} };
    var undo = [];
    function copy(s) {
      return { start: s.start, background: s.background.slice(), paint: Object.assign({}, s.paint),
               object: Object.assign({}, s.object, { colour: s.object.colour.slice() }) };
    }
    function remember() {
      undo.push(copy(state));
      if (undo.length > 100) undo.shift();
      undoButton.disabled = false;
    }

    // The image the model receives, (3, 32, 32) in [0, 1].
    function image() {
      var plane = SIZE * SIZE, pixels = new Float64Array(3 * plane), o = state.object, p, c;
      if (state.start >= 0) pixels.set(bank.images[state.start]);
      else for (p = 0; p < plane; p++) for (c = 0; c < 3; c++) pixels[c * plane + p] = state.background[c];
      if (o.kind !== "none") {
        for (p = 0; p < plane; p++) {
          if (!inside(o.kind, p % SIZE, Math.floor(p / SIZE), o.cx, o.cy, o.size)) continue;
          for (c = 0; c < 3; c++) pixels[c * plane + p] = o.colour[c];
        }
      }
      Object.keys(state.paint).forEach(function (key) {
        for (c = 0; c < 3; c++) pixels[c * plane + Number(key)] = state.paint[key][c];
      });
      return pixels;
    }

    var input = el("canvas", { width: 192, height: 192, tabindex: "0", role: "img",
      class: "vl-explorer__canvas vl-live__input",
      "aria-label": "Your drawing, 32 by 32 pixels. Arrow keys move the object." });
    input.style.cssText = "width:100%;touch-action:none;";
    var heads = [], grid = el("div", { class: "vl-live__heads" });
    grid.style.cssText = "display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:0.3rem;font-size:0.6rem;";
    for (var h = 0; h < HEADS; h++) {
      var attention = el("canvas", { width: 96, height: 96, role: "img", "aria-label": "Head " + h + "'s CLS attention" });
      var mask = el("canvas", { width: 96, height: 96, role: "img", "aria-label": "Head " + h + "'s 60% mask" });
      [attention, mask].forEach(function (canvas) { canvas.style.cssText = "width:100%;image-rendering:pixelated;"; });
      var cell = el("figure", { class: "vl-live__head", "data-head": String(h) },
        [attention, mask, el("figcaption", { text: "head " + h })]);
      cell.style.cssText = "margin:0;text-align:center;";
      grid.append(cell);
      heads.push({ cell: cell, attention: attention, mask: mask });
    }
    var drawing = el("figure", { class: "vl-explorer__map" }, [input, el("figcaption", { text: "Your drawing (32×32)" })]);
    var maps = el("div", {}, [grid, el("p", { class: "vl-explorer__note",
      text: "Last block, each head: its CLS attention (top), and the patches holding 60% of it (below)." })]);
    drawing.style.cssText = "flex:0 1 190px;margin:0;";
    maps.style.cssText = "flex:1 1 290px;";  // below the drawing on a phone
    var views = el("div", { class: "vl-live__views" }, [drawing, maps]);
    views.style.cssText = "display:flex;flex-wrap:wrap;gap:0.8rem;align-items:start;";
    var neighbours = el("div", { class: "vl-live__neighbours", "aria-live": "polite" });
    neighbours.style.cssText = "display:grid;grid-template-columns:repeat(" + K + ",minmax(0,96px));gap:0.4rem;font-size:0.6rem;";
    var vote = el("p", { class: "vl-explorer__note vl-live__vote", "aria-live": "polite" });

    var undoButton = el("button", { type: "button", class: "md-button", text: "Undo" });
    var clearButton = el("button", { type: "button", class: "md-button", text: "Clear" });
    undoButton.disabled = true;
    var start = el("select", { "aria-label": "Start from" });
    start.append(el("option", { value: "-1", text: "a plain background" }));
    bank.labels.forEach(function (label, index) {
      start.append(el("option", { value: String(index),
        text: "bank image " + (index + 1) + " (" + bank.classes[label] + ")" }));
    });
    var size = el("input", { type: "range", min: "3", max: "14", step: "1", value: String(state.object.size) });
    var objectColour = el("input", { type: "color", value: ui.hex(state.object.colour) });
    var backgroundColour = el("input", { type: "color", value: ui.hex(state.background) });
    var brush = [0.95, 0.75, 0.2], brushColour = el("input", { type: "color", value: ui.hex(brush) });
    var tool = "move";

    var changed = ui.scheduler(root, function () {
      var x = ui.normalise(image());
      root.liveInput = x;
      var name = model;
      return window.vitlessonLive.run(name, x).then(function (result) { result.model = name; return result; });
    }, show, function (error) { ui.failed(root, error); });
    function redraw() { ui.drawPixels(input, image(), SIZE); changed(); }

    function show(result) {
      var pixels = image(), masks = [];
      heads.forEach(function (head, h) {
        var row = (LAST * HEADS + h) * TOKENS * TOKENS, weights = new Float64Array(GRID * GRID), top = 0, p;
        for (p = 0; p < GRID * GRID; p++) { weights[p] = result.attention[row + 1 + p]; top = Math.max(top, weights[p]); }
        var keep = attentionMask(weights, MASS);
        masks.push(Array.from(keep).join(""));
        drawHead(head.attention, pixels, true, function (q) { return ui.heat(weights[q] / top); }, 0.7);
        drawHead(head.mask, pixels, false, function (q) { return keep[q] ? null : "rgb(0,0,0)"; }, 0.6);
        outline(head.mask, keep);
        head.cell.dataset.mask = masks[h];
        head.cell.dataset.kept = String(keep.reduce(function (a, b) { return a + b; }, 0));
      });
      root.dataset.masks = JSON.stringify(masks);
      if (features && result.model === model) showNeighbours(result.output);
    }

    // The drawing in grey (attention) or in colour (mask), each patch covered by fill(patch).
    function drawHead(canvas, pixels, grey, fill, alpha) {
      var context = canvas.getContext("2d"), scale = canvas.width / SIZE, plane = SIZE * SIZE, p;
      ui.drawPixels(canvas, pixels, SIZE);
      if (grey) {  // the attention map: the input in grey under the heat
        for (p = 0; p < plane; p++) {
          var level = 0.299 * pixels[p] + 0.587 * pixels[plane + p] + 0.114 * pixels[2 * plane + p];
          context.fillStyle = ui.css([level, level, level]);
          context.fillRect((p % SIZE) * scale, Math.floor(p / SIZE) * scale, scale, scale);
        }
      }
      context.globalAlpha = alpha;
      for (p = 0; p < GRID * GRID; p++) {
        var colour = fill(p);
        if (!colour) continue;
        context.fillStyle = colour;
        context.fillRect((p % GRID) * PATCH * scale, Math.floor(p / GRID) * PATCH * scale, PATCH * scale, PATCH * scale);
      }
      context.globalAlpha = 1;
    }

    // The kept patches outlined in yellow, as the page's figures outline the 60% masks.
    function outline(canvas, keep) {
      var context = canvas.getContext("2d"), side = canvas.width / GRID;
      context.strokeStyle = "#ffeb3b";
      context.lineWidth = 2;
      context.beginPath();
      for (var p = 0; p < GRID * GRID; p++) {
        if (!keep[p]) continue;
        var gx = p % GRID, gy = Math.floor(p / GRID), x = gx * side, y = gy * side;
        if (gy === 0 || !keep[p - GRID]) { context.moveTo(x, y); context.lineTo(x + side, y); }
        if (gy === GRID - 1 || !keep[p + GRID]) { context.moveTo(x, y + side); context.lineTo(x + side, y + side); }
        if (gx === 0 || !keep[p - 1]) { context.moveTo(x, y); context.lineTo(x, y + side); }
        if (gx === GRID - 1 || !keep[p + 1]) { context.moveTo(x + side, y); context.lineTo(x + side, y + side); }
      }
      context.stroke();
    }

    function showNeighbours(output) {
      var found = nearest(output, features, K), votes = bank.classes.map(function () { return 0; });
      neighbours.replaceChildren();
      found.forEach(function (pair) {
        var thumb = el("canvas", { width: 64, height: 64, role: "img",
          "aria-label": "bank image " + (pair[0] + 1) + ", a " + bank.classes[bank.labels[pair[0]]] });
        thumb.style.cssText = "width:100%;image-rendering:pixelated;";
        ui.drawPixels(thumb, bank.images[pair[0]], SIZE);
        neighbours.append(el("figure", { "data-index": String(pair[0]), "data-cosine": String(pair[1]) },
          [thumb, el("figcaption", { text: bank.classes[bank.labels[pair[0]]] + " · " + pair[1].toFixed(3) })]));
        votes[bank.labels[pair[0]]] += Math.exp((pair[1] - found[0][1]) / TEMPERATURE);
      });
      neighbours.querySelectorAll("figure").forEach(function (f) { f.style.cssText = "margin:0;text-align:center;"; });
      var winner = votes.indexOf(Math.max.apply(null, votes));
      root.dataset.neighbours = JSON.stringify(found);
      vote.textContent = "The " + K + " nearest of the " + bank.labels.length + " bank images by cosine " +
        "similarity of the CLS features; their vote, weighted by e^(similarity/0.07) as DINO's k-NN " +
        "weighs it: " + bank.classes[winner] + ".";
    }

    // A learner's own weights: the bank's features are theirs too, computed here, image by image.
    function use(name) {
      model = name;
      if (name === shipped) { features = bank.features; root.dataset.bank = "ready"; redraw(); return; }
      features = null;
      root.dataset.bank = "computing";
      var width = null, made = [];
      var next = function (i) {
        if (model !== name) return;  // switched again meanwhile
        if (i === bank.images.length) {
          features = new Float64Array(made.length * width);
          made.forEach(function (f, j) { features.set(f, j * width); });
          root.dataset.bank = "ready";
          redraw();
          return;
        }
        vote.textContent = "Computing the bank's features with your weights (" + i + " of " + bank.images.length + ")…";
        window.vitlessonLive.run(name, ui.normalise(bank.images[i])).then(function (result) {
          width = result.output.length;
          var norm = 0;
          result.output.forEach(function (v) { norm += v * v; });
          norm = Math.max(Math.sqrt(norm), 1e-12);  // F.normalize
          made.push(Float64Array.from(result.output, function (v) { return v / norm; }));
          setTimeout(function () { next(i + 1); }, 0);  // the page stays responsive
        }).catch(function (error) { ui.failed(root, error); });
      };
      redraw();
      next(0);
    }

    // ---- pointer: drag the object, or draw ----
    var drag = null, lastPixel = null;
    function paint(x, y) { state.paint[y * SIZE + x] = brush.slice(); }
    input.addEventListener("pointerdown", function (event) {
      var at = ui.pixelAt(input, event, SIZE);
      remember();
      if (tool === "draw") { paint(at[0], at[1]); lastPixel = at; }
      else drag = { start: at, cx: state.object.cx, cy: state.object.cy };
      input.setPointerCapture(event.pointerId);
      event.preventDefault();
      redraw();
    });
    input.addEventListener("pointermove", function (event) {
      var at = ui.pixelAt(input, event, SIZE);
      if (tool === "draw" && lastPixel) { ui.line(lastPixel, at, paint); lastPixel = at; redraw(); }
      else if (drag) { moveTo(drag.cx + at[0] - drag.start[0], drag.cy + at[1] - drag.start[1]); redraw(); }
    });
    function release() { drag = null; lastPixel = null; }
    input.addEventListener("pointerup", release);
    input.addEventListener("pointercancel", release);
    function moveTo(cx, cy) {  // the centre stays on the image
      state.object.cx = Math.max(0, Math.min(SIZE, cx));
      state.object.cy = Math.max(0, Math.min(SIZE, cy));
    }
    input.addEventListener("keydown", function (event) {  // arrows: a pixel; with Shift, a patch
      var step = event.shiftKey ? PATCH : 1;
      var move = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[event.key];
      if (!move) return;
      event.preventDefault();
      remember();
      moveTo(state.object.cx + move[0], state.object.cy + move[1]);
      redraw();
    });

    var kinds = ui.choices(root, "Object", "kind", KINDS.concat(["none"]).map(function (kind) {
      return { value: kind, label: kind };
    }), state.object.kind, function (value) { remember(); state.object.kind = value; redraw(); });
    var tools = ui.choices(root, "Pointer", "tool",
      [{ value: "move", label: "moves the object" }, { value: "draw", label: "draws freehand" }], "move",
      function (value) { tool = value; });
    function picker(control, set) {  // one undo step per use of a colour picker or slider
      var busy = false;
      control.addEventListener("input", function () {
        if (!busy) { remember(); busy = true; }
        set(control.value);
        redraw();
      });
      control.addEventListener("change", function () { busy = false; });
    }
    picker(size, function (value) { state.object.size = Number(value); });
    picker(objectColour, function (value) { state.object.colour = ui.fromHex(value); });
    picker(backgroundColour, function (value) { state.background = ui.fromHex(value); state.start = -1; start.value = "-1"; });
    brushColour.addEventListener("input", function () { brush = ui.fromHex(brushColour.value); });
    start.addEventListener("change", function () {
      remember();
      state.start = Number(start.value);
      if (state.start >= 0) state.object.kind = "none";  // the bank image's own object
      kinds.querySelector("input[value=" + state.object.kind + "]").checked = true;
      redraw();
    });
    undoButton.addEventListener("click", function () {
      if (!undo.length) return;
      state = undo.pop();
      undoButton.disabled = !undo.length;
      start.value = String(state.start);
      size.value = String(state.object.size);
      kinds.querySelector("input[value=" + state.object.kind + "]").checked = true;
      redraw();
    });
    clearButton.addEventListener("click", function () {  // the start alone, nothing drawn
      remember();
      state.paint = {};
      state.object.kind = "none";
      kinds.querySelector("input[value=none]").checked = true;
      redraw();
    });

    root.append(views, el("p", { class: "vl-explorer__note", text: "Its nearest neighbours in the bank:" }),
      neighbours, vote,
      ui.row([ui.labelled("Start from", start), undoButton, clearButton]),
      ui.row([kinds]),
      ui.row([ui.labelled("Size", size), ui.labelled("Object colour", objectColour),
              ui.labelled("Background colour", backgroundColour)]),
      ui.row([tools, ui.labelled("Brush colour", brushColour)]));
    ui.checkpointInput(root, shipped, "python -m vitlesson.lab.dino", use).forEach(function (node) { root.append(node); });
    ui.smallButtons(root);
    root.liveState = function () { return copy(state); };
    root.dataset.bank = "ready";
    redraw();
  }

  ui.onEveryPage("data-live-dino", function (root) {
    ui.loadData("live/objects-bank.js", "vlLiveObjects").then(function (data) { widget(root, bankData(data)); })
      .catch(function (error) { ui.failed(root, error); });
  });

  window.vitlessonLiveDino = { attentionMask: attentionMask, nearest: nearest };
})();
