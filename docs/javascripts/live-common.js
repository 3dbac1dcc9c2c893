// What the live widgets share (live-widget.js on Lab part 1, live-dino.js on Lab part 3):
// making elements, colours, the drawing's pointer arithmetic, the scheduler that runs at
// most one forward pass per animation frame, starting a widget when its fold opens, and the
// file input that loads a learner's own checkpoint (read by torch-checkpoint.js).
(function () {
  "use strict";

  function element(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      if (name === "text") node.textContent = attributes[name];
      else node.setAttribute(name, attributes[name]);
    });
    (children || []).forEach(function (child) { node.append(child); });
    return node;
  }

  function siteUrl(path) {
    var config = JSON.parse(document.getElementById("__config").textContent);
    return new URL(config.base + "/" + path, location.href).href;
  }

  // A generated data script (live/<x>.js) that sets window[global]: loaded as a script, as a
  // page opened from disk may load a script but not fetch() a file.
  function loadData(path, global) {
    return new Promise(function (resolve, reject) {
      if (window[global]) { resolve(window[global]); return; }
      var tag = element("script", { src: siteUrl(path) });
      tag.onload = function () {
        if (window[global]) resolve(window[global]);
        else reject(new Error(path + " did not define its data"));
      };
      tag.onerror = function () { reject(new Error(path + " could not be loaded")); };
      document.head.append(tag);
    });
  }

  function hex(colour) {
    return "#" + colour.map(function (v) {
      return ("0" + Math.round(Math.max(0, Math.min(1, v)) * 255).toString(16)).slice(-2);
    }).join("");
  }
  function fromHex(text) {
    return [1, 3, 5].map(function (i) { return parseInt(text.slice(i, i + 2), 16) / 255; });
  }
  function css(colour) {
    return "rgb(" + colour.map(function (v) { return Math.round(v * 255); }).join(",") + ")";
  }

  function heat(value) {  // 0..1 -> dark to yellow, as the attention explorer draws it
    var stops = [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]];
    var x = Math.max(0, Math.min(1, value)) * (stops.length - 1), i = Math.min(Math.floor(x), stops.length - 2);
    var f = x - i, a = stops[i], b = stops[i + 1];
    return "rgb(" + [0, 1, 2].map(function (k) { return Math.round(a[k] + f * (b[k] - a[k])); }).join(",") + ")";
  }

  // An image (C*size*size numbers in [0, 1], channel by channel) drawn enlarged.
  function drawPixels(canvas, pixels, size) {
    var context = canvas.getContext("2d"), scale = canvas.width / size, plane = size * size;
    for (var p = 0; p < plane; p++) {
      context.fillStyle = css([pixels[p], pixels[plane + p], pixels[2 * plane + p]]);
      context.fillRect((p % size) * scale, Math.floor(p / size) * scale, scale, scale);
    }
  }

  // normalize_shapes, (images - 0.5) / 0.5, in float32 as PyTorch computes it: the model
  // receives exactly the numbers the PyTorch model would.
  function normalise(pixels) {
    return pixels.map(function (v) { return Math.fround(Math.fround(v) - 0.5) / 0.5; });
  }

  // A radio group: the keyboard's control for "one of a few".
  function choices(root, legend, name, options, initial, onChange) {
    var fieldset = element("fieldset", { class: "vl-choices" }, [element("legend", { text: legend })]);
    options.forEach(function (option) {
      var id = root.id + "-" + name + "-" + option.value;
      var input = element("input", { type: "radio", name: root.id + "-" + name, id: id, value: option.value });
      input.checked = option.value === initial;
      input.addEventListener("change", function () { if (input.checked) onChange(option.value); });
      fieldset.append(element("label", { for: id }, [input, " " + option.label]));
    });
    return fieldset;
  }

  function labelled(text, control) {
    return element("label", { class: "vl-live__field" }, [text + " ", control]);
  }

  function row(children) {
    var div = element("div", { class: "vl-live__row" }, children);
    div.style.cssText = "display:flex;flex-wrap:wrap;gap:0.3em 1em;align-items:center;font-size:0.7rem;margin:0.3em 0;";
    return div;
  }

  function smallButtons(root) {
    root.querySelectorAll(".md-button").forEach(function (button) {
      button.style.cssText = "padding:0.2em 0.8em;margin:0;font-size:0.7rem;";
    });
  }

  // The pixel (x, y) of a size x size drawing under a pointer event, clamped to the image.
  function pixelAt(canvas, event, size) {
    var rect = canvas.getBoundingClientRect();
    return [Math.max(0, Math.min(size - 1, Math.floor((event.clientX - rect.left) / rect.width * size))),
            Math.max(0, Math.min(size - 1, Math.floor((event.clientY - rect.top) / rect.height * size)))];
  }

  // Every pixel between two pointer positions, so that a fast stroke leaves no gaps.
  function line(from, to, visit) {
    var steps = Math.max(Math.abs(to[0] - from[0]), Math.abs(to[1] - from[1]), 1);
    for (var i = 0; i <= steps; i++) {
      visit(Math.round(from[0] + (to[0] - from[0]) * i / steps), Math.round(from[1] + (to[1] - from[1]) * i / steps));
    }
  }

  // At most one forward pass per animation frame, never two at once; root.dataset.idle is
  // "true" when what is shown is the model's answer to what is drawn now. compute() returns a
  // promise of the result; show(result) draws it.
  function scheduler(root, compute, show, onError) {
    var frame = 0, dirty = false, running = false, passes = 0;
    function pass() {
      frame = 0;
      if (!dirty || running) return;
      dirty = false; running = true; passes += 1;
      compute().then(function (result) {
        root.dataset.passes = String(passes);
        show(result);
        root.dataset.ready = "true";
      }).catch(onError).then(function () {
        running = false;
        if (dirty && !frame) frame = requestAnimationFrame(pass);
        if (!dirty) root.dataset.idle = "true";
      });
    }
    return function changed() {
      dirty = true;
      root.dataset.idle = "false";
      if (!frame) frame = requestAnimationFrame(pass);
    };
  }

  function failed(root, error) {
    root.dataset.error = "true";
    root.append(element("p", { class: "vl-explorer__error", role: "alert",
      text: "The live model could not start (" + error.message + "); reload the page, or rebuild the " +
            "site (make build or make build-offline)." }));
    if (window.console) console.warn("live model:", error);
  }

  // Start every [attribute] element of the page with begin(root); one inside a closed
  // <details> starts when it is opened, so its data loads only for a reader who uses it.
  function onEveryPage(attribute, begin) {
    document$.subscribe(function () {
      document.querySelectorAll("[" + attribute + "]").forEach(function (root) {
        function start() {
          if (root.dataset.started) return;
          root.dataset.started = "true";
          begin(root);
        }
        var fold = root.closest("details");
        if (fold && !fold.open) fold.addEventListener("toggle", function () { if (fold.open) start(); });
        else start();
      });
    });
  }

  // "Your own weights": a file input that reads a checkpoint of `command` (torch-checkpoint.js),
  // checks that it holds the tensors of the shipped model `shipped` (names and shapes), and
  // hands the live model's name to use(name); "the shipped model" button hands back
  // `shipped`. Anything else is one line in the page, and the model in use stays.
  var YOURS = " (your file)";
  function checkpointInput(root, shipped, command, use) {
    var input = element("input", { type: "file", accept: ".pt,.pth" });
    var back = element("button", { type: "button", class: "md-button", text: "Back to the shipped model" });
    var note = element("p", { class: "vl-live__file", "aria-live": "polite",
      text: "Model: the shipped " + shipped + "." });
    note.style.cssText = "font-size:0.7rem;margin:0.3em 0;";
    back.disabled = true;
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      if (!file) return;
      root.dataset.file = "reading";
      file.arrayBuffer().then(function (buffer) {
        return Promise.all([window.vitlessonCheckpoint.read(buffer), window.vitlessonLive.load(shipped)]);
      }).then(function (both) {
        return window.vitlessonLive.define(shipped + YOURS, file.name, shipped,
          window.vitlessonCheckpoint.matching(both[0], window.vlLiveWeights[shipped].tensors, command));
      }).then(function () {
        var name = shipped + YOURS;
        note.textContent = "Model: your " + file.name + " (" + command + "'s weights).";
        back.disabled = false;
        root.dataset.file = "loaded";
        use(name);
      }).catch(function (error) {
        note.textContent = file.name + " was not loaded: " + error.message + ". The model in use stays.";
        root.dataset.file = "refused";
      }).then(function () { input.value = ""; });
    });
    back.addEventListener("click", function () {
      note.textContent = "Model: the shipped " + shipped + ".";
      back.disabled = true;
      root.dataset.file = "shipped";
      use(shipped);
    });
    return [row([labelled("Your own weights (" + command + "'s .pt)", input), back]), note];
  }

  window.vitlessonLiveUI = {
    element: element, loadData: loadData, hex: hex, fromHex: fromHex, css: css, heat: heat,
    drawPixels: drawPixels, normalise: normalise, choices: choices, labelled: labelled, row: row,
    smallButtons: smallButtons, pixelAt: pixelAt, line: line, scheduler: scheduler, failed: failed,
    onEveryPage: onEveryPage, checkpointInput: checkpointInput,
  };
})();
