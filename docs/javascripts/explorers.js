// In-page explorers: patches, attention and positions. Plain JavaScript over <canvas>; the
// data comes from scripts the site build made from the package (sitebuild/explorers.py), one per
// explorer: a page opened from disk (file://) may load a script, but not fetch() a file.
// Every control is a native form element or a focusable canvas driven by the arrow keys.
(function () {
  "use strict";

  function siteUrl(path) {
    var config = JSON.parse(document.getElementById("__config").textContent);
    return new URL(config.base + "/" + path, location.href).href;
  }

  // explorers/<name>-data.js sets window.vlExplorerData[name]; load it once.
  var loading = {};
  function loadData(name) {
    if (!loading[name]) {
      loading[name] = new Promise(function (resolve, reject) {
        var have = window.vlExplorerData && window.vlExplorerData[name];
        if (have) { resolve(have); return; }
        var path = "explorers/" + name + "-data.js";
        var tag = document.createElement("script");
        tag.src = siteUrl(path);
        tag.onload = function () {
          var data = window.vlExplorerData && window.vlExplorerData[name];
          if (data) resolve(data); else reject(new Error(path + " did not define the data"));
        };
        tag.onerror = function () { reject(new Error(path + " could not be loaded")); };
        document.head.append(tag);
      });
    }
    return loading[name];
  }

  // uint16 fixed point, stored as a plane of low bytes then one of high bytes, gzip, base64
  // (sitebuild/explorer_data.py): the values in [0, 1].
  function unpack(text, scale) {
    if (typeof DecompressionStream === "undefined") {
      return Promise.reject(new Error("this browser cannot decompress the data (no DecompressionStream)"));
    }
    var bytes = Uint8Array.from(atob(text), function (c) { return c.charCodeAt(0); });
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).arrayBuffer().then(function (buffer) {
      var planes = new Uint8Array(buffer), n = planes.length / 2, values = new Float64Array(n);
      for (var i = 0; i < n; i++) values[i] = (planes[i] | (planes[n + i] << 8)) / scale;
      return values;
    });
  }

  // What a reader sees when an explorer cannot start: the reason, and what to do.
  function failed(root, error) {
    root.dataset.error = "true";
    root.append(element("p", { class: "vl-explorer__error", role: "alert",
      text: "This explorer could not load its data (" + error.message + "). The figure above shows " +
            "the same model; reload the page, or rebuild the site (make build or make build-offline)." }));
    if (window.console) console.warn("explorer:", error);
  }

  function element(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      if (name === "text") node.textContent = attributes[name];
      else node.setAttribute(name, attributes[name]);
    });
    (children || []).forEach(function (child) { node.append(child); });
    return node;
  }

  // A group of radio buttons: the natural keyboard control for "one of a few".
  function choices(legend, name, options, initial, onChange) {
    var fieldset = element("fieldset", { class: "vl-choices" }, [element("legend", { text: legend })]);
    options.forEach(function (option) {
      var id = name + "-" + String(option.value).replace(/\W/g, "");
      var input = element("input", { type: "radio", name: name, id: id, value: option.value });
      input.checked = option.value === initial;
      input.addEventListener("change", function () { if (input.checked) onChange(option.value); });
      fieldset.append(element("label", { for: id }, [input, " " + option.label]));
    });
    return fieldset;
  }

  function quantity(list, key, label) {
    var value = element("dd", { "data-quantity": key });
    list.append(element("dt", { text: label }), value);
    return value;
  }

  var format = new Intl.NumberFormat("en-US");
  function mib(bytes) { return (bytes / 1048576).toFixed(2) + " MiB"; }
  function gflop(flops) { return (flops / 1e9).toFixed(3) + " GFLOP"; }

  // ---- Patch explorer: the costs of vitlesson/costs.py, in the browser ------------------
  // N = (S/P)^2; attention entries (N+1)^2; memory heads*(N+1)^2*4 bytes;
  // patch embedding 2*N*C*P*P*D; attention layer 8*T*D^2 + 4*T^2*D with T = N+1.
  function patchCosts(size, patch, dim, heads) {
    if (size % patch !== 0) return null;
    var n = Math.pow(size / patch, 2), t = n + 1;
    return {
      tokens: n, sequence: t, patch_dim: 3 * patch * patch, entries: t * t,
      memory: heads * t * t * 4, embed_flops: 2 * n * 3 * patch * patch * dim,
      attention_flops: 8 * t * dim * dim + 4 * t * t * dim,
    };
  }

  function patchExplorer(root) {
    var state = { patch: 16, size: 224, model: "vit_small" };
    var models = { vit_small: { dim: 384, heads: 6 }, vit_base: { dim: 768, heads: 12 } };
    var canvas = element("canvas", { width: 384, height: 384, role: "img", class: "vl-explorer__canvas" });
    var photo = new Image();
    var list = element("dl", { class: "vl-explorer__numbers", "aria-live": "polite" });
    var fields = {
      tokens: quantity(list, "tokens", "Patch tokens N"),
      sequence: quantity(list, "sequence", "Sequence with CLS, N + 1"),
      patch_dim: quantity(list, "patch_dim", "Numbers per flattened patch, C·P²"),
      entries: quantity(list, "entries", "Attention weights per head, (N + 1)²"),
      memory: quantity(list, "memory", "Attention matrices of one layer (float32)"),
      embed_flops: quantity(list, "embed_flops", "Patch embedding FLOPs"),
      attention_flops: quantity(list, "attention_flops", "One attention layer FLOPs"),
    };
    var note = element("p", { class: "vl-explorer__note", "aria-live": "polite" });

    function draw() {
      var model = models[state.model], costs = patchCosts(state.size, state.patch, model.dim, model.heads);
      var context = canvas.getContext("2d");
      context.drawImage(photo, 0, 0, 384, 384);
      if (costs) {
        var step = 384 * state.patch / state.size;
        context.strokeStyle = "#ffd54f";
        context.lineWidth = 1;
        for (var x = 0; x <= 384.01; x += step) {
          context.beginPath(); context.moveTo(x, 0); context.lineTo(x, 384); context.stroke();
          context.beginPath(); context.moveTo(0, x); context.lineTo(384, x); context.stroke();
        }
      }
      canvas.setAttribute("aria-label", costs
        ? "The photograph at " + state.size + " pixels cut into " + state.size / state.patch + " by " +
          state.size / state.patch + " patches of " + state.patch + " pixels"
        : "The photograph: " + state.size + " pixels cannot be cut into " + state.patch + "-pixel patches");
      Object.keys(fields).forEach(function (key) {
        var value = costs ? costs[key] : null;
        fields[key].dataset.value = value === null ? "" : String(value);
        fields[key].textContent = value === null ? "—"
          : key === "memory" ? mib(value) + " (" + format.format(value) + " bytes)"
          : key.indexOf("flops") > 0 ? gflop(value) + " (" + format.format(value) + ")"
          : format.format(value);
      });
      note.textContent = costs
        ? "N = (" + state.size + "/" + state.patch + ")² = " + format.format(costs.tokens) + " tokens; " +
          model.heads + " heads of width " + model.dim / model.heads + "."
        : state.size + " is not a multiple of " + state.patch + ": vitlesson refuses it " +
          "(\"Image size (" + state.size + "*" + state.size + ") is not divisible by patch size " +
          state.patch + "\") instead of cropping. DINOv2 uses 14-pixel patches on 224 or 518 pixels.";
    }

    var controls = element("div", {}, [
      choices("Patch size P", "patch", [8, 14, 16, 32].map(function (p) { return { value: p, label: p + " px" }; }),
              state.patch, function (value) { state.patch = value; draw(); }),
      choices("Image size", "size", [224, 384].map(function (s) { return { value: s, label: s + " px" }; }),
              state.size, function (value) { state.size = value; draw(); }),
      choices("Model", "model", [{ value: "vit_small", label: "ViT-S: D = 384, 6 heads" },
                                 { value: "vit_base", label: "ViT-B: D = 768, 12 heads" }],
              state.model, function (value) { state.model = value; draw(); }),
    ]);
    root.append(element("div", { class: "vl-explorer__body" },
                        [canvas, element("div", { class: "vl-explorer__side" }, [controls, list, note])]));
    return loadData("patches").then(function (data) {
      photo.src = data.photo;
      return photo.decode();
    }).then(function () { draw(); root.dataset.ready = "true"; });
  }

  // ---- Shared: a focusable grid canvas whose selected cell moves with arrows and clicks --
  function gridCanvas(rows, cols, size, label, onSelect) {
    var canvas = element("canvas", { width: size, height: size, tabindex: "0", role: "img",
                                     class: "vl-explorer__canvas vl-explorer__grid", "aria-label": label });
    var selected = { row: 0, col: 0 };
    function select(row, col) {
      selected.row = Math.max(0, Math.min(rows - 1, row));
      selected.col = Math.max(0, Math.min(cols - 1, col));
      onSelect(selected.row, selected.col);
    }
    function cellAt(event) {
      var box = canvas.getBoundingClientRect();
      return [Math.floor((event.clientY - box.top) / box.height * rows),
              Math.floor((event.clientX - box.left) / box.width * cols)];
    }
    canvas.addEventListener("click", function (event) { var c = cellAt(event); select(c[0], c[1]); });
    canvas.addEventListener("mousemove", function (event) {
      if (canvas.dataset.hover === "true") { var c = cellAt(event); select(c[0], c[1]); }
    });
    canvas.addEventListener("keydown", function (event) {
      var moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
      var move = moves[event.key];
      if (!move) return;
      event.preventDefault();
      select(selected.row + move[0], selected.col + move[1]);
    });
    canvas.select = select;
    canvas.selected = selected;
    return canvas;
  }

  function heat(value) {  // 0..1 -> a dark-to-yellow colour (inferno-like, readable on white)
    var stops = [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]];
    var x = Math.max(0, Math.min(1, value)) * (stops.length - 1), i = Math.min(Math.floor(x), stops.length - 2);
    var f = x - i, a = stops[i], b = stops[i + 1];
    return "rgb(" + [0, 1, 2].map(function (k) { return Math.round(a[k] + f * (b[k] - a[k])); }).join(",") + ")";
  }

  function diverging(value) {  // -1..1 -> blue, white, red
    var v = Math.max(-1, Math.min(1, value));
    var r = v < 0 ? 255 * (1 + v) : 255, b = v > 0 ? 255 * (1 - v) : 255, g = 255 * (1 - Math.abs(v));
    return "rgb(" + [Math.round(r * 0.85 + (v < 0 ? 0 : 30)), Math.round(g * 0.9), Math.round(b * 0.85 + (v > 0 ? 0 : 30))]
      .map(function (c) { return Math.min(255, c); }).join(",") + ")";
  }

  function valueTable(caption, rows, cols, values, digits, extra) {
    var table = element("table", { class: "vl-explorer__table" }, [element("caption", { text: caption })]);
    if (extra) table.append(element("tr", {}, [element("th", { scope: "row", text: extra[0] }),
                                                element("td", { "data-value": extra[1], text: extra[1].toFixed(digits) })]));
    for (var r = 0; r < rows; r++) {
      var tr = element("tr", {}, [element("th", { scope: "row", text: "row " + r })]);
      for (var c = 0; c < cols; c++) {
        var v = values[r * cols + c];
        tr.append(element("td", { "data-value": String(v), text: v.toFixed(digits) }));
      }
      table.append(tr);
    }
    return table;
  }

  // ---- Attention explorer: the trained tiny ViT, every layer and head, plus rollout -------
  function rollout(maps, image, shape) {
    var depth = shape[1], heads = shape[2], t = shape[3], result = null;
    for (var layer = 0; layer < depth; layer++) {
      var mixed = new Float64Array(t * t);
      for (var q = 0; q < t; q++) {  // 0.5 * (mean of the heads) + 0.5 * identity: rows still sum to 1
        for (var k = 0; k < t; k++) {
          var mean = 0;
          for (var h = 0; h < heads; h++) mean += maps[(((image * depth + layer) * heads + h) * t + q) * t + k];
          mixed[q * t + k] = 0.5 * mean / heads + (q === k ? 0.5 : 0);
        }
      }
      if (result === null) { result = mixed; continue; }
      var product = new Float64Array(t * t);  // mixed @ result
      for (q = 0; q < t; q++) for (var j = 0; j < t; j++) {
        var s = 0;
        for (k = 0; k < t; k++) s += mixed[q * t + k] * result[k * t + j];
        product[q * t + j] = s;
      }
      result = product;
    }
    return result;
  }

  // A colour bar with its ends (and middle) named: what the colours of a map mean.
  function legend(colour, labels, title) {
    var stops = [];
    for (var x = 0; x <= 20; x++) stops.push(colour(x / 20) + " " + (5 * x) + "%");
    var bar = element("span", { class: "vl-explorer__legend-bar", "aria-hidden": "true",
                                style: "background: linear-gradient(to right, " + stops.join(", ") + ")" });
    var ends = element("span", { class: "vl-explorer__legend-labels" },
                       labels.map(function (label) { return element("span", { text: label }); }));
    return element("div", { class: "vl-explorer__legend", role: "note", "aria-label": title + ": " + labels.join(", ") },
                   [element("span", { class: "vl-explorer__legend-title", text: title }),
                    element("span", { class: "vl-explorer__legend-scale" }, [bar, ends])]);
  }

  // The test images are dark (a background of at most 0.3): stretched to the full range and
  // lifted (gamma 0.6) for display only. The model saw the original pixels.
  function displayImage(picture) {
    var canvas = element("canvas", { width: picture.naturalWidth, height: picture.naturalHeight });
    var context = canvas.getContext("2d");
    context.drawImage(picture, 0, 0);
    var pixels = context.getImageData(0, 0, canvas.width, canvas.height), data = pixels.data;
    var low = 255, high = 0;
    for (var i = 0; i < data.length; i += 4) for (var c = 0; c < 3; c++) {
      low = Math.min(low, data[i + c]); high = Math.max(high, data[i + c]);
    }
    for (i = 0; i < data.length; i += 4) for (c = 0; c < 3; c++) {
      data[i + c] = Math.round(255 * Math.pow((data[i + c] - low) / Math.max(1, high - low), 0.6));
    }
    context.putImageData(pixels, 0, 0);
    return canvas;
  }

  function attentionExplorer(root) {
    return loadData("attention").then(function (data) {
      return unpack(data.weights, data.meta.scale).then(function (maps) { return [data.meta, maps]; });
    }).then(function (loaded) {
        var meta = loaded[0], maps = loaded[1], shape = meta.shape;
        var rows = meta.grid[0], cols = meta.grid[1], t = shape[3], depth = shape[1], heads = shape[2];
        var state = { image: 0, layer: String(depth - 1), head: "0", token: 0 };
        var rollouts = {}, shown = [];
        var pictures = meta.images.map(function (image) { var p = new Image(); p.src = image.src; return p; });
        var readout = element("p", { class: "vl-explorer__note", "aria-live": "polite" });
        var tableHolder = element("details", { class: "vl-explorer__values" },
                                  [element("summary", { text: "The weights, as numbers" })]);
        var canvas = gridCanvas(rows, cols, 320, "", function (row, col) { state.token = 1 + row * cols + col; draw(); });
        var clsButton = element("button", { type: "button", class: "md-button vl-explorer__cls", "aria-pressed": "true",
                                            text: "Select the CLS token" });
        clsButton.addEventListener("click", function () { state.token = 0; draw(); });
        var headNote = element("p", { class: "vl-explorer__note", "data-head-note": "" });

        function weights() {
          var image = state.image, row = new Float64Array(t);
          if (state.layer === "rollout") {
            rollouts[image] = rollouts[image] || rollout(maps, image, shape);
            return rollouts[image].slice(state.token * t, state.token * t + t);
          }
          var layer = Number(state.layer), list = state.head === "mean" ? [...Array(heads).keys()] : [Number(state.head)];
          list.forEach(function (h) {
            var base = (((image * depth + layer) * heads + h) * t + state.token) * t;
            for (var k = 0; k < t; k++) row[k] += maps[base + k] / list.length;
          });
          return row;
        }

        function draw() {
          var row = weights(), patches = Array.from(row.slice(1)), top = Math.max.apply(null, patches);
          var context = canvas.getContext("2d"), cell = 320 / cols;
          context.imageSmoothingEnabled = false;
          context.drawImage(shown[state.image], 0, 0, 320, 320);
          for (var p = 0; p < rows * cols; p++) {  // dimmed a little where the weight is small, coloured where large
            var share = patches[p] / (top || 1);
            context.fillStyle = "rgba(0, 0, 0, " + (0.3 * (1 - share)).toFixed(3) + ")";
            context.fillRect((p % cols) * cell, Math.floor(p / cols) * cell, cell, cell);
            context.fillStyle = heat(share);
            context.globalAlpha = 0.5 * share;
            context.fillRect((p % cols) * cell, Math.floor(p / cols) * cell, cell, cell);
            context.globalAlpha = 1;
          }
          if (state.token > 0) {
            var q = state.token - 1;
            context.strokeStyle = "#00e5ff"; context.lineWidth = 3;
            context.strokeRect((q % cols) * cell + 1.5, Math.floor(q / cols) * cell + 1.5, cell - 3, cell - 3);
          }
          clsButton.setAttribute("aria-pressed", String(state.token === 0));
          var rolled = state.layer === "rollout";
          headChoices.querySelectorAll("input").forEach(function (input) { input.disabled = rolled; });
          headChoices.toggleAttribute("disabled", rolled);
          headNote.textContent = rolled ? "Rollout averages the heads of every layer, so there is no head to choose." : "";
          var best = patches.indexOf(top);
          var who = state.token === 0 ? "The CLS token" : "Patch " + (state.token - 1) + " (row " +
            Math.floor((state.token - 1) / cols) + ", column " + ((state.token - 1) % cols) + ")";
          var where = rolled ? "attention rollout over the " + depth + " layers"
            : "layer " + (Number(state.layer) + 1) + ", " + (state.head === "mean" ? "mean of the heads" : "head " + state.head);
          readout.textContent = who + ", " + where + ": most weight on patch " + best + " (row " +
            Math.floor(best / cols) + ", column " + (best % cols) + "), " + top.toFixed(4) + "; on CLS " +
            row[0].toFixed(4) + ".";
          topLabel.textContent = "largest, " + top.toFixed(4);
          canvas.setAttribute("aria-label", "Attention map over the 8 by 8 patches of image " + (state.image + 1) +
            " (" + meta.images[state.image].truth + "). " + readout.textContent + " Arrow keys move the selected patch.");
          tableHolder.replaceChildren(tableHolder.firstChild,
            valueTable("Weights of the selected token (" + where + ")", rows, cols, patches, 4, ["CLS", row[0]]));
          root.dataset.token = String(state.token);
        }

        var imageChoices = choices("Test image (the first of each class that the model answers right)", "attention-image", meta.images.map(function (image, i) {
          return { value: i, label: "image " + (i + 1) + " (" + image.truth + "; the model says " + image.model + ")" };
        }), 0, function (value) { state.image = value; draw(); });
        var layerChoices = choices("Layer", "attention-layer", [...Array(depth).keys()].map(function (l) {
          return { value: String(l), label: String(l + 1) };
        }).concat([{ value: "rollout", label: "rollout" }]), state.layer, function (value) { state.layer = value; draw(); });
        var headChoices = choices("Head", "attention-head", [...Array(heads).keys()].map(function (h) {
          return { value: String(h), label: String(h) };
        }).concat([{ value: "mean", label: "mean" }]), state.head, function (value) { state.head = value; draw(); });
        var key = legend(heat, ["0", "largest"], "Weight, as a share of the map's largest");
        var topLabel = key.querySelector(".vl-explorer__legend-labels span:last-child");
        root.append(element("p", { class: "vl-explorer__note", text: "Model: " + meta.model + "; test accuracy " +
                              meta.accuracy.toFixed(3) + " on " + format.format(meta.test_size) + " new images. " +
                              "Click a patch (or focus the picture and use the arrow keys) to see where it looks. " +
                              "The pictures are brightened for display; the model saw them as they are." }),
                    element("div", { class: "vl-explorer__body" }, [
                      element("div", { class: "vl-explorer__picture" }, [canvas, key, clsButton]),
                      element("div", { class: "vl-explorer__controls" },
                              [imageChoices, layerChoices, headChoices, headNote, readout]),
                    ]), tableHolder);
        return Promise.all(pictures.map(function (p) { return p.decode(); })).then(function () {
          shown = pictures.map(displayImage);
          draw(); root.dataset.ready = "true";
        });
      });
  }

  // ---- Position explorer: cosine similarity to one position, three tables side by side ----
  function positionExplorer(root) {
    return loadData("positions").then(function (data) {
      return unpack(data.similarity, data.meta.scale).then(function (values) { return [data.meta, values]; });
    }).then(function (loaded) {
        var meta = loaded[0], rows = meta.grid[0], cols = meta.grid[1], n = rows * cols;
        var similarity = loaded[1].map(function (v) { return 2 * v - 1; });  // stored as (cosine + 1) / 2
        var reference = 0, canvases = [];
        var readout = element("p", { class: "vl-explorer__note", "aria-live": "polite" });
        var tableHolder = element("details", { class: "vl-explorer__values" },
                                  [element("summary", { text: "The similarities, as numbers" })]);
        function draw() {
          var row = Math.floor(reference / cols), col = reference % cols, tables = [];
          canvases.forEach(function (canvas, m) {
            var context = canvas.getContext("2d"), cell = canvas.width / cols;
            for (var p = 0; p < n; p++) {
              context.fillStyle = diverging(similarity[(m * n + reference) * n + p]);
              context.fillRect((p % cols) * cell, Math.floor(p / cols) * cell, cell, cell);
            }
            context.strokeStyle = "#000"; context.lineWidth = 3;
            context.strokeRect(col * cell + 1.5, row * cell + 1.5, cell - 3, cell - 3);
            canvas.selected.row = row; canvas.selected.col = col;
            tables.push(valueTable(meta.names[m] + ": cosine similarity to position (" + row + ", " + col + ")",
                                   rows, cols, Array.from(similarity.slice((m * n + reference) * n, (m * n + reference + 1) * n)), 3));
          });
          readout.textContent = "Reference position (" + row + ", " + col + "), token " + (reference + 1) +
            ". Red: similar vector, blue: opposite, white: unrelated.";
          tableHolder.replaceChildren.apply(tableHolder, [tableHolder.firstChild].concat(tables));
          root.dataset.reference = String(reference);
        }
        var figures = meta.names.map(function (name) {
          var canvas = gridCanvas(rows, cols, 200, "Cosine similarity of the " + name +
            " position table to the selected position; arrow keys move it", function (r, c) {
            reference = r * cols + c; draw();
          });
          canvas.dataset.hover = "true";
          canvases.push(canvas);
          return element("figure", { class: "vl-explorer__map" }, [canvas, element("figcaption", { text: name })]);
        });
        root.append(element("p", { class: "vl-explorer__note",
                                   text: "The three tables in the order of the figure above, on the same colour scale." }),
                    element("div", { class: "vl-explorer__maps" }, figures),
                    legend(function (x) { return diverging(2 * x - 1); }, ["−1 opposite", "0", "+1 same"],
                           "Cosine similarity to the selected position"),
                    readout, tableHolder);
        draw();
        root.dataset.ready = "true";
      });
  }

  var explorers = { patches: patchExplorer, attention: attentionExplorer, positions: positionExplorer };
  document$.subscribe(function () {
    document.querySelectorAll("[data-explorer]").forEach(function (root) {
      if (root.dataset.started) return;
      root.dataset.started = "true";
      Promise.resolve().then(function () { return explorers[root.dataset.explorer](root); })
        .catch(function (error) { failed(root, error); });
    });
  });
})();
