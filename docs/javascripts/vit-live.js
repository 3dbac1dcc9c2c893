// The lesson's trained tiny ViTs, run in the page: vitlesson/vit.py's forward pass, step by
// step, in plain JavaScript (each step names the Python it implements). The weights are the
// shipped checkpoints' own float32 numbers, exported by the site build (sitebuild/live_model.py)
// into one script per model, live/<name>.js, loaded on the first run: a page opened from disk
// may load a script but not fetch() a file. Arithmetic is in float64, so the results differ
// from PyTorch's float32 only by PyTorch's own rounding.
//
// API (for the page's widgets, the tests and a curious reader's console):
//   vitlessonLive.models       name -> {weights: shipped checkpoint file, input: [C, H, W]}
//   vitlessonLive.run(name, x) x: the C*H*W numbers the PyTorch model receives (normalised,
//                              flat, channel by channel); resolves to {output, attention}:
//                              output = the model's output (logits of a classifier, the CLS
//                              feature of a backbone), attention = every block's attention
//                              weights, layers x heads x tokens x tokens, flat in that order.
//   vitlessonLive.rollout(attention, depth, heads, tokens)
//                              vitlesson.vit.attention_rollout: tokens x tokens, flat.
//   vitlessonLive.define(name, weights, like, tensors)
//                              adds a model: the architecture of the loaded model `like`,
//                              with `tensors` (state-dict name -> float32 numbers) read from
//                              the file `weights` (a learner's own checkpoint).
(function () {
  "use strict";

  var models = {
    "tiny-shapes": { weights: "tiny-shapes.pt", input: [3, 32, 32] },
    "dino-tiny": { weights: "dino-tiny.pt", input: [3, 32, 32] },
  };

  function siteUrl(path) {
    var config = document.getElementById("__config");
    var base = config ? JSON.parse(config.textContent).base : ".";
    return new URL(base + "/" + path, location.href).href;
  }

  // live/<name>.js sets window.vlLiveWeights[name]; load it once, then cut its float32
  // numbers into the state dict's tensors (in the state dict's order).
  var loading = {};
  function load(name) {
    if (!Object.prototype.hasOwnProperty.call(models, name)) {
      return Promise.reject(new Error("vitlessonLive has no model " + JSON.stringify(name) +
        "; expected one of " + Object.keys(models).join(", ")));
    }
    if (!loading[name]) {
      loading[name] = new Promise(function (resolve, reject) {
        var have = window.vlLiveWeights && window.vlLiveWeights[name];
        if (have) { resolve(unpack(name, have)); return; }
        var path = "live/" + name + ".js";
        var tag = document.createElement("script");
        tag.src = siteUrl(path);
        tag.onload = function () {
          var data = window.vlLiveWeights && window.vlLiveWeights[name];
          if (data) resolve(unpack(name, data));
          else reject(new Error(path + " did not define the weights of " + name));
        };
        tag.onerror = function () { reject(new Error(path + " could not be loaded")); };
        document.head.append(tag);
      });
      loading[name].catch(function () { delete loading[name]; });  // a later call tries again
    }
    return loading[name];
  }

  function unpack(name, data) {
    if (data.weights !== models[name].weights) {
      throw new Error("live/" + name + ".js holds " + data.weights + ", expected " +
        models[name].weights);
    }
    var bytes = Uint8Array.from(atob(data.data), function (c) { return c.charCodeAt(0); });
    var flat = new Float32Array(bytes.buffer), start = 0, tensors = {};
    data.tensors.forEach(function (entry) {
      var size = entry[1].reduce(function (a, b) { return a * b; }, 1);
      tensors[entry[0]] = flat.subarray(start, start + size);
      start += size;
    });
    if (start !== flat.length) throw new Error("live/" + name + ".js: tensors and data disagree");
    return { config: data.config, w: tensors };
  }

  // nn.Linear: y = x W^T + b for each of `rows` rows; W is (out, in), row-major.
  function linear(x, rows, weight, bias, inF, outF) {
    var y = new Float64Array(rows * outF);
    for (var r = 0; r < rows; r++) {
      for (var o = 0; o < outF; o++) {
        var sum = bias ? bias[o] : 0, wo = o * inF, xr = r * inF;
        for (var i = 0; i < inF; i++) sum += x[xr + i] * weight[wo + i];
        y[r * outF + o] = sum;
      }
    }
    return y;
  }

  // nn.LayerNorm(dim, eps=1e-6) on each row: (x - mean) / sqrt(var + eps) * w + b, biased var.
  function layerNorm(x, rows, dim, weight, bias, eps) {
    var y = new Float64Array(rows * dim);
    for (var r = 0; r < rows; r++) {
      var mean = 0, variance = 0, at = r * dim, i;
      for (i = 0; i < dim; i++) mean += x[at + i];
      mean /= dim;
      for (i = 0; i < dim; i++) variance += (x[at + i] - mean) * (x[at + i] - mean);
      var scale = 1 / Math.sqrt(variance / dim + eps);
      for (i = 0; i < dim; i++) y[at + i] = (x[at + i] - mean) * scale * weight[i] + bias[i];
    }
    return y;
  }

  // erf to about 1e-14: its Taylor series below 3, the continued fraction of erfc above.
  function erf(x) {
    var z = Math.abs(x), result;
    if (z < 3) {
      var term = z, sum = z, n = 0;
      while (Math.abs(term) > 1e-17 * Math.abs(sum)) {
        n += 1;
        term *= -z * z / n;
        sum += term / (2 * n + 1);
      }
      result = 2 / Math.sqrt(Math.PI) * sum;
    } else {
      var fraction = 0;  // erfc(z) = exp(-z^2)/sqrt(pi) / (z + 1/2 / (z + 1 / (z + 3/2 / ...)))
      for (var k = 60; k >= 1; k--) fraction = (k / 2) / (z + fraction);
      result = 1 - Math.exp(-z * z) / Math.sqrt(Math.PI) / (z + fraction);
    }
    return x < 0 ? -result : result;
  }

  // nn.GELU(): the exact form, x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)).
  function gelu(x) {
    var y = new Float64Array(x.length);
    for (var i = 0; i < x.length; i++) y[i] = 0.5 * x[i] * (1 + erf(x[i] / Math.SQRT2));
    return y;
  }

  // Attention.forward(x, return_attention=True) for one image: x is (T, D); returns the
  // projected output (T, D) and the attention weights (heads, T, T).
  function attention(x, T, D, H, w, prefix) {
    var d = D / H;
    var qkv = linear(x, T, w[prefix + "qkv.weight"], w[prefix + "qkv.bias"], D, 3 * D);
    // qkv.reshape(B, T, 3, heads, d).permute(2, 0, 3, 1, 4): q[h, t, e] = qkv[t, 0, h, e], ...
    var attn = new Float64Array(H * T * T), out = new Float64Array(T * D);
    var scale = Math.sqrt(d), h, t, s, e;
    for (h = 0; h < H; h++) {
      for (t = 0; t < T; t++) {
        // attention_weights: scores = q @ k^T / sqrt(d), then softmax(dim=-1)
        var row = h * T * T + t * T, q = t * 3 * D + h * d, max = -Infinity;
        for (s = 0; s < T; s++) {
          var k = s * 3 * D + D + h * d, dot = 0;
          for (e = 0; e < d; e++) dot += qkv[q + e] * qkv[k + e];
          attn[row + s] = dot / scale;
          if (attn[row + s] > max) max = attn[row + s];
        }
        var total = 0;
        for (s = 0; s < T; s++) { attn[row + s] = Math.exp(attn[row + s] - max); total += attn[row + s]; }
        for (s = 0; s < T; s++) attn[row + s] /= total;
        // x = attn @ v, then x.transpose(1, 2).reshape(B, T, D): head h fills columns h*d..
        for (e = 0; e < d; e++) {
          var sum = 0;
          for (s = 0; s < T; s++) sum += attn[row + s] * qkv[s * 3 * D + 2 * D + h * d + e];
          out[t * D + h * d + e] = sum;
        }
      }
    }
    // self.proj(x)
    return { y: linear(out, T, w[prefix + "proj.weight"], w[prefix + "proj.bias"], D, D), attn: attn };
  }

  function add(a, b) {
    var y = new Float64Array(a.length);
    for (var i = 0; i < a.length; i++) y[i] = a[i] + b[i];
    return y;
  }

  // VisionTransformer.forward for one image x (C, H, W), with get_all_selfattention's maps.
  function forward(model, x) {
    var c = model.config, w = model.w;
    var C = c.in_channels, Hi = c.img_size[0], Wi = c.img_size[1], P = c.patch_size;
    var D = c.embed_dim, GH = Hi / P, GW = Wi / P, N = GH * GW, T = N + 1, eps = c.eps;
    // prepare_tokens: patch_embed(images), a Conv2d with kernel = stride = P (PatchProjection),
    // .flatten(2).transpose(1, 2): token n = gy * GW + gx holds out[:, gy, gx]
    var proj = w["patch_embed.proj.weight"], projBias = w["patch_embed.proj.bias"];  // (D, C, P, P)
    var x0 = new Float64Array(T * D);
    for (var gy = 0; gy < GH; gy++) {
      for (var gx = 0; gx < GW; gx++) {
        var n = gy * GW + gx;
        for (var o = 0; o < D; o++) {
          var sum = projBias[o];
          for (var ch = 0; ch < C; ch++) {
            for (var i = 0; i < P; i++) {
              var wRow = ((o * C + ch) * P + i) * P, xRow = (ch * Hi + gy * P + i) * Wi + gx * P;
              for (var j = 0; j < P; j++) sum += proj[wRow + j] * x[xRow + j];
            }
          }
          x0[(1 + n) * D + o] = sum;
        }
      }
    }
    // torch.cat([cls, patches], dim=1), then tokens + pos_embed: (N + 1, D)
    var cls = w.cls_token, pos = w.pos_embed;
    for (var d = 0; d < D; d++) x0[d] = cls[d];
    for (var k = 0; k < T * D; k++) x0[k] += pos[k];
    // forward_features: for block in self.blocks: x = block(x)
    var maps = new Float64Array(c.depth * c.num_heads * T * T), h = x0;
    for (var b = 0; b < c.depth; b++) {
      var pre = "blocks." + b + ".";
      // Block.forward: y, attn = self.attn(self.norm1(x)); x = x + y
      var a = attention(layerNorm(h, T, D, w[pre + "norm1.weight"], w[pre + "norm1.bias"], eps),
        T, D, c.num_heads, w, pre + "attn.");
      maps.set(a.attn, b * c.num_heads * T * T);
      h = add(h, a.y);
      // x = x + self.mlp(self.norm2(x)); Mlp: fc2(act(fc1(x)))
      var hidden = gelu(linear(layerNorm(h, T, D, w[pre + "norm2.weight"], w[pre + "norm2.bias"], eps),
        T, w[pre + "mlp.fc1.weight"], w[pre + "mlp.fc1.bias"], D, c.mlp_hidden));
      h = add(h, linear(hidden, T, w[pre + "mlp.fc2.weight"], w[pre + "mlp.fc2.bias"], c.mlp_hidden, D));
    }
    // self.norm(x), of the CLS token only: forward takes forward_features(images)[:, 0]
    var feature = layerNorm(h.subarray(0, D), 1, D, w["norm.weight"], w["norm.bias"], eps);
    // self.head(cls): nn.Linear(D, num_classes), or nn.Identity() when num_classes = 0
    var output = c.num_classes ? linear(feature, 1, w["head.weight"], w["head.bias"], D, c.num_classes)
      : feature;
    return { output: output, attention: maps };
  }

  function run(name, x) {
    return load(name).then(function (model) {
      var shape = models[name].input, size = shape[0] * shape[1] * shape[2];
      if (!x || typeof x.length !== "number") {
        throw new TypeError("vitlessonLive.run(" + JSON.stringify(name) + ", x): x must be an " +
          "array of " + size + " numbers (" + shape.join("x") + "), got " + typeof x);
      }
      if (x.length !== size) {
        throw new RangeError("vitlessonLive.run(" + JSON.stringify(name) + ", x): x must hold " +
          size + " numbers (" + shape.join("x") + ", flat), got " + x.length);
      }
      for (var i = 0; i < x.length; i++) {
        if (typeof x[i] !== "number" || !isFinite(x[i])) {
          throw new TypeError("vitlessonLive.run(" + JSON.stringify(name) + ", x): x[" + i +
            "] must be a finite number, got " + String(x[i]));
        }
      }
      return forward(model, x);
    });
  }

  // attention_rollout (Abnar & Zuidema, 2020): per layer, 0.5 * mean over heads + 0.5 * I,
  // multiplied from the first block on: rollout = mixed @ rollout. Returns (T, T), flat.
  function rollout(maps, depth, heads, T) {
    var result = new Float64Array(T * T), i, j, s;
    for (i = 0; i < T; i++) result[i * T + i] = 1;
    for (var l = 0; l < depth; l++) {
      var mixed = new Float64Array(T * T);
      for (var h = 0; h < heads; h++) {
        var at = (l * heads + h) * T * T;
        for (i = 0; i < T * T; i++) mixed[i] += 0.5 * maps[at + i] / heads;
      }
      for (i = 0; i < T; i++) mixed[i * T + i] += 0.5;
      var next = new Float64Array(T * T);
      for (i = 0; i < T; i++) {
        for (s = 0; s < T; s++) {
          var m = mixed[i * T + s];
          if (m === 0) continue;
          for (j = 0; j < T; j++) next[i * T + j] += m * result[s * T + j];
        }
      }
      result = next;
    }
    return result;
  }

  function define(name, weights, like, tensors) {
    return load(like).then(function (model) {
      models[name] = { weights: weights, input: models[like].input.slice() };
      loading[name] = Promise.resolve({ config: model.config, w: tensors });
    });
  }

  window.vitlessonLive = { models: models, run: run, load: load, rollout: rollout, define: define };
})();
