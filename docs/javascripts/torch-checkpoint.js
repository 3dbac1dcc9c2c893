// Reads, in plain JavaScript, the checkpoints the package's commands write: `python -m
// vitlesson.lab.train` and `python -m vitlesson.lab.dino` save a model's state_dict with torch.save
// (vitlesson/_runs.py, state_bytes), which is a zip archive holding <name>/data.pkl (a pickle
// of an OrderedDict: tensor name -> torch._utils._rebuild_tensor_v2(storage, offset, size,
// stride, ...)), <name>/byteorder and one raw little-endian file per storage,
// <name>/data/<key>.
//
// Nothing in the file is run. A pickle is a small program for a stack machine; this reader
// knows only the opcodes such a state dict uses and only the three names it calls
// (collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch.FloatStorage), each built
// here as plain data, as torch.load(weights_only=True) allows only a list of names. Any other
// opcode or name stops the reading with one line that says what was found.
//
//   vitlessonCheckpoint.read(arrayBuffer) -> [[name, shape, Float32Array], ...] in file order
//   vitlessonCheckpoint.matching(tensors, expected, command) -> name -> Float32Array, checked
//       against expected ([[name, shape], ...], a shipped model's) in names and shapes
(function () {
  "use strict";

  var LIMIT = 64 * 1024 * 1024;  // the package's checkpoints are under 1 MB

  function fail(text) { throw new Error(text); }

  // The archive's entries: name -> bytes (Uint8Array), from its central directory.
  function unzip(buffer) {
    var view = new DataView(buffer), bytes = new Uint8Array(buffer), end = -1;
    for (var at = buffer.byteLength - 22; at >= Math.max(0, buffer.byteLength - 65557); at--) {
      if (view.getUint32(at, true) === 0x06054b50) { end = at; break; }
    }
    if (end < 0 && buffer.byteLength >= 4 && view.getUint32(0, true) === 0x04034b50) {
      fail("it is a zip archive cut short (no central directory at its end): the file is not complete");
    }
    if (end < 0) fail("it is not a zip archive, as torch.save writes (no end of central directory)");
    var count = view.getUint16(end + 10, true), offset = view.getUint32(end + 16, true);
    if (count === 0xffff || offset === 0xffffffff) {  // zip64: the real numbers are in its record
      var locator = end - 20;
      if (locator < 0 || view.getUint32(locator, true) !== 0x07064b50) fail("a damaged zip64 archive");
      var record = Number(view.getBigUint64(locator + 8, true));
      if (record + 56 > buffer.byteLength || view.getUint32(record, true) !== 0x06064b50) {
        fail("a damaged zip64 archive");
      }
      count = Number(view.getBigUint64(record + 32, true));
      offset = Number(view.getBigUint64(record + 48, true));
    }
    var entries = {}, decoder = new TextDecoder();
    for (var i = 0; i < count; i++) {
      if (offset + 46 > buffer.byteLength || view.getUint32(offset, true) !== 0x02014b50) {
        fail("a damaged zip archive (central directory entry " + i + ")");
      }
      var method = view.getUint16(offset + 10, true), size = view.getUint32(offset + 20, true);
      var nameLength = view.getUint16(offset + 28, true), extraLength = view.getUint16(offset + 30, true);
      var local = view.getUint32(offset + 42, true);
      var name = decoder.decode(bytes.subarray(offset + 46, offset + 46 + nameLength));
      var extra = offset + 46 + nameLength, extraEnd = extra + extraLength;
      while (extra + 4 <= extraEnd) {  // the zip64 extra field: sizes, then the local offset
        var id = view.getUint16(extra, true), length = view.getUint16(extra + 2, true), field = extra + 4;
        if (id === 0x0001) {
          if (view.getUint32(offset + 24, true) === 0xffffffff) field += 8;
          if (size === 0xffffffff) { size = Number(view.getBigUint64(field, true)); field += 8; }
          if (local === 0xffffffff) local = Number(view.getBigUint64(field, true));
        }
        extra += 4 + length;
      }
      if (method !== 0) fail("entry " + name + " is compressed (method " + method + "); torch.save stores entries");
      if (local + 30 > buffer.byteLength || view.getUint32(local, true) !== 0x04034b50) {
        fail("a damaged zip archive (entry " + name + ")");
      }
      var start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
      if (start + size > buffer.byteLength) fail("the archive is cut short (entry " + name + ")");
      entries[name] = bytes.subarray(start, start + size);
      offset += 46 + nameLength + extraLength + view.getUint16(offset + 32, true);
    }
    return entries;
  }

  // The names a state dict's pickle calls, each built as data; nothing else may be called.
  var GLOBALS = {
    "collections OrderedDict": "dict",
    "torch._utils _rebuild_tensor_v2": "tensor",
    "torch FloatStorage": "float32",
  };
  var OTHER_STORAGES = /^torch (Half|BFloat16|Double|Long|Int|Short|Char|Byte|Bool)Storage$/;

  // The pickle run on a stack, with no call but those above: returns the OrderedDict of
  // tensor descriptions {storage: {key, numel}, offset, size, stride}.
  function unpickle(bytes) {
    var view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), decoder = new TextDecoder();
    var stack = [], marks = [], memo = {}, at = 0, MARK = {};
    function need(n) { if (at + n > bytes.length) fail("data.pkl is cut short"); }
    function u8() { need(1); return bytes[at++]; }
    function u16() { need(2); at += 2; return view.getUint16(at - 2, true); }
    function u32() { need(4); at += 4; return view.getUint32(at - 4, true); }
    function i32() { need(4); at += 4; return view.getInt32(at - 4, true); }
    function lineText() {
      var end = bytes.indexOf(10, at);
      if (end < 0) fail("data.pkl is cut short");
      var text = decoder.decode(bytes.subarray(at, end));
      at = end + 1;
      return text;
    }
    function pop() { if (!stack.length) fail("data.pkl is malformed (empty stack)"); return stack.pop(); }
    function popMark() {
      if (!marks.length) fail("data.pkl is malformed (no mark)");
      var items = stack.splice(marks.pop());
      return items;
    }
    function setItems(dict, items) {
      if (!dict || dict.kind !== "dict") fail("data.pkl sets items of something that is not a dict");
      for (var i = 0; i + 1 < items.length; i += 2) {
        if (typeof items[i] !== "string") fail("data.pkl has a dict key that is not a string");
        if (!Object.prototype.hasOwnProperty.call(dict.items, items[i])) dict.keys.push(items[i]);
        dict.items[items[i]] = items[i + 1];
      }
    }
    function call(callable, args) {
      if (callable === "dict") return { kind: "dict", keys: [], items: {} };
      if (callable === "tensor") {  // _rebuild_tensor_v2(storage, offset, size, stride, ...)
        var storage = args[0];
        if (!storage || storage.kind !== "storage") fail("a tensor of data.pkl has no storage");
        var ints = function (value) {
          return Array.isArray(value) && value.every(function (v) { return Number.isInteger(v) && v >= 0; });
        };
        if (!Number.isInteger(args[1]) || !ints(args[2]) || !ints(args[3]) || args[2].length !== args[3].length) {
          fail("a tensor of data.pkl has a malformed offset, size or stride");
        }
        return { kind: "tensor", storage: storage, offset: args[1], size: args[2], stride: args[3] };
      }
      fail("data.pkl calls something that is not a class it may build");
    }
    for (;;) {
      var op = u8(), items, value;
      switch (op) {
        case 0x80: u8(); break;  // PROTO
        case 0x63: {  // GLOBAL module\nname\n
          var global = lineText() + " " + lineText();
          if (OTHER_STORAGES.test(global)) {
            fail("it holds " + global.split(" ")[1] + " tensors; the package's commands save float32");
          }
          if (!Object.prototype.hasOwnProperty.call(GLOBALS, global)) {
            fail("its pickle names " + global.replace(" ", ".") + ", which no state dict of the " +
                 "package's commands uses (nothing in the file was run)");
          }
          stack.push(GLOBALS[global] === "float32" ? { kind: "dtype" } : GLOBALS[global]);
          break;
        }
        case 0x71: memo[u8()] = stack[stack.length - 1]; break;  // BINPUT
        case 0x72: memo[u32()] = stack[stack.length - 1]; break;  // LONG_BINPUT
        case 0x68: value = u8(); if (!(value in memo)) fail("data.pkl is malformed (memo)"); stack.push(memo[value]); break;
        case 0x6a: value = u32(); if (!(value in memo)) fail("data.pkl is malformed (memo)"); stack.push(memo[value]); break;
        case 0x28: marks.push(stack.length); break;  // MARK
        case 0x29: stack.push([]); break;  // EMPTY_TUPLE
        case 0x74: stack.push(popMark()); break;  // TUPLE
        case 0x85: stack.push([pop()]); break;  // TUPLE1
        case 0x86: value = pop(); stack.push([pop(), value]); break;  // TUPLE2
        case 0x87: value = pop(); items = pop(); stack.push([pop(), items, value]); break;  // TUPLE3
        case 0x7d: stack.push({ kind: "dict", keys: [], items: {} }); break;  // EMPTY_DICT
        case 0x73: value = pop(); items = pop(); setItems(stack[stack.length - 1], [items, value]); break;  // SETITEM
        case 0x75: items = popMark(); setItems(stack[stack.length - 1], items); break;  // SETITEMS
        case 0x58: value = u32(); need(value); stack.push(decoder.decode(bytes.subarray(at, at + value))); at += value; break;
        case 0x4b: stack.push(u8()); break;  // BININT1
        case 0x4d: stack.push(u16()); break;  // BININT2
        case 0x4a: stack.push(i32()); break;  // BININT
        case 0x88: stack.push(true); break;  // NEWTRUE
        case 0x89: stack.push(false); break;  // NEWFALSE
        case 0x4e: stack.push(null); break;  // NONE
        case 0x51: {  // BINPERSID: ('storage', FloatStorage, key, location, numel)
          var id = pop();
          if (!Array.isArray(id) || id[0] !== "storage" || !id[1] || id[1].kind !== "dtype" ||
              typeof id[2] !== "string" || !Number.isInteger(id[4])) {
            fail("data.pkl refers to a storage in an unknown way");
          }
          stack.push({ kind: "storage", key: id[2], numel: id[4] });
          break;
        }
        case 0x52: items = pop(); value = pop(); stack.push(call(value, items)); break;  // REDUCE
        case 0x62: pop(); break;  // BUILD: the state dict's _metadata (versions), not needed
        case 0x2e: return pop();  // STOP
        default:
          fail("its pickle uses opcode 0x" + op.toString(16) + " at byte " + (at - 1) +
               ", which no state dict of the package's commands uses (nothing in the file was run)");
      }
    }
  }

  // The tensor's numbers, read through its stride from its storage (little-endian float32).
  function numbers(entries, prefix, tensor) {
    var raw = entries[prefix + "data/" + tensor.storage.key];
    if (!raw) fail("the archive has no storage " + tensor.storage.key);
    if (raw.length !== 4 * tensor.storage.numel) fail("storage " + tensor.storage.key + " has the wrong size");
    var storage = new Float32Array(raw.slice().buffer);
    var size = tensor.size, stride = tensor.stride, total = size.reduce(function (a, b) { return a * b; }, 1);
    var furthest = tensor.offset, d;
    for (d = 0; d < size.length; d++) furthest += Math.max(size[d] - 1, 0) * stride[d];
    if (total > 0 && furthest >= storage.length || total > LIMIT / 4) {  // checked before allocating
      fail("a tensor reaches past its storage");
    }
    var out = new Float32Array(total), index = new Array(size.length).fill(0);
    for (var n = 0; n < total; n++) {
      var at = tensor.offset;
      for (d = 0; d < size.length; d++) at += index[d] * stride[d];
      out[n] = storage[at];
      for (d = size.length - 1; d >= 0; d--) {  // the next index, last dimension fastest
        if (++index[d] < size[d]) break;
        index[d] = 0;
      }
    }
    return out;
  }

  function read(buffer) {
    if (!(buffer instanceof ArrayBuffer)) throw new TypeError("read(buffer): an ArrayBuffer, got " + typeof buffer);
    if (buffer.byteLength > LIMIT) fail("it is " + buffer.byteLength + " bytes; a checkpoint of the package is under 1 MB");
    var entries = unzip(buffer);
    var pickle = Object.keys(entries).filter(function (name) { return /^[^/]+\/data\.pkl$/.test(name); });
    if (pickle.length !== 1) fail("it is a zip archive but not one torch.save wrote (no <name>/data.pkl)");
    var prefix = pickle[0].slice(0, -"data.pkl".length);
    var order = entries[prefix + "byteorder"];
    if (order && new TextDecoder().decode(order) !== "little") fail("its storages are big-endian");
    var dict = unpickle(entries[pickle[0]]);
    if (!dict || dict.kind !== "dict") fail("it holds a pickled object that is not a state dict");
    return dict.keys.map(function (name) {
      var tensor = dict.items[name];
      if (!tensor || tensor.kind !== "tensor") fail("its entry " + name + " is not a tensor");
      return [name, tensor.size.slice(), numbers(entries, prefix, tensor)];
    });
  }

  // The tensors by name, in the shipped model's order, when the file holds exactly the
  // tensors of the shipped model (names and shapes).
  function matching(tensors, expected, command) {
    var found = {}, wanted = {};
    tensors.forEach(function (entry) { found[entry[0]] = entry; });
    expected.forEach(function (entry) { wanted[entry[0]] = entry[1]; });
    var missing = expected.map(function (e) { return e[0]; }).filter(function (n) { return !(n in found); });
    var extra = tensors.map(function (e) { return e[0]; }).filter(function (n) { return !(n in wanted); });
    if (missing.length || extra.length) {
      var what = extra.indexOf("head.weight") >= 0
        ? "a classifier (with head.weight), as python -m vitlesson.lab.train writes"
        : missing.indexOf("head.weight") >= 0 ? "a backbone (no head.weight), as python -m vitlesson.lab.dino writes"
          : "another model";
      fail("it holds " + what + ", not the weights of " + command + " (" +
           (missing.length ? "missing " + missing.slice(0, 3).join(", ") + (missing.length > 3 ? ", …" : "") : "") +
           (missing.length && extra.length ? "; " : "") +
           (extra.length ? "unexpected " + extra.slice(0, 3).join(", ") + (extra.length > 3 ? ", …" : "") : "") + ")");
    }
    var out = {};
    expected.forEach(function (entry) {
      var shape = found[entry[0]][1];
      if (shape.join("x") !== entry[1].join("x")) {
        fail("its " + entry[0] + " has shape " + shape.join("x") + ", the model " + entry[1].join("x"));
      }
      var data = found[entry[0]][2];
      for (var i = 0; i < data.length; i++) {
        if (!isFinite(data[i])) fail("its " + entry[0] + " holds " + data[i]);
      }
      out[entry[0]] = data;
    });
    return out;
  }

  window.vitlessonCheckpoint = { read: read, matching: matching };
})();
