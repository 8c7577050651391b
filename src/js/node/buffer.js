// node:buffer: LLRT's Buffer (the global one, a Uint8Array subclass), completed here with what
// it lacks of Node's: every encoding (base64url, latin1/binary, ascii, ucs2 and a lenient hex
// and base64), `from` for array-likes and `{ type: "Buffer", data }`, `concat` with a length,
// `fill`, `write`, `slice` as a view, `equals`, `compare`, `indexOf`/`lastIndexOf`/`includes`,
// variable-width integer reads and writes, `swap16/32/64`, `toJSON` and Node's inspect form.
// The fixes patch the shared class, so the global `Buffer` has them too once this is loaded.
"use strict";
const { codedError, received } = require("node:internal/errors");
const native = require("stepflare:llrt/buffer");
const { Buffer } = native;

// LLRT reports its limits through a signed 32-bit conversion: Node 22's length limit, and
// QuickJS's string limit.
const kMaxLength = Number.MAX_SAFE_INTEGER;
const kStringMaxLength = 2 ** 30 - 1;
const constants = { MAX_LENGTH: kMaxLength, MAX_STRING_LENGTH: kStringMaxLength };
const INSPECT_MAX_BYTES = 50;

const nativeToString = Buffer.prototype.toString;
const nativeFrom = Buffer.from;
const nativeAllocUnsafe = Buffer.allocUnsafe;

function addNumericalSeparator(text) {
  let res = "";
  let i = text.length;
  const start = text[0] === "-" ? 1 : 0;
  for (; i >= start + 4; i -= 3) res = `_${text.slice(i - 3, i)}${res}`;
  return `${text.slice(0, i)}${res}`;
}

function outOfRange(name, range, value) {
  let shown;
  if (Number.isInteger(value) && Math.abs(value) > 2 ** 32) shown = addNumericalSeparator(String(value));
  else if (typeof value === "bigint") {
    shown = String(value);
    if (value > 2n ** 32n || value < -(2n ** 32n)) shown = addNumericalSeparator(shown);
    shown += "n";
  } else shown = typeof value === "string" ? `'${value}'` : String(value);
  return codedError(
    RangeError,
    "ERR_OUT_OF_RANGE",
    `The value of "${name}" is out of range. It must be ${range}. Received ${shown}`,
  );
}

// --- encodings -----------------------------------------------------------------------------

function normalizeEncoding(encoding) {
  if (encoding === undefined || encoding === null || encoding === "") return "utf8";
  switch (String(encoding).toLowerCase()) {
    case "utf8":
    case "utf-8":
      return "utf8";
    case "ucs2":
    case "ucs-2":
    case "utf16le":
    case "utf-16le":
      return "utf16le";
    case "latin1":
    case "binary":
      return "latin1";
    case "base64":
      return "base64";
    case "base64url":
      return "base64url";
    case "hex":
      return "hex";
    case "ascii":
      return "ascii";
    default:
      return undefined;
  }
}

function encodingOrThrow(encoding) {
  const normalized = normalizeEncoding(encoding);
  if (normalized === undefined) throw codedError(TypeError, "ERR_UNKNOWN_ENCODING", `Unknown encoding: ${encoding}`);
  return normalized;
}

const encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

// Node's decoder: both alphabets, anything else skipped, stops at the first "=". The text is
// made canonical here (string operations are native) and decoded by LLRT.
function decodeBase64(str) {
  let text = str;
  const padding = text.indexOf("=");
  if (padding !== -1) text = text.slice(0, padding);
  if (/[^A-Za-z0-9+/]/.test(text))
    text = text
      .replace(/[^A-Za-z0-9+/\-_]/g, "")
      .replaceAll("-", "+")
      .replaceAll("_", "/");
  if (text.length % 4 === 1) text = text.slice(0, -1);
  if (text.length % 4 !== 0) text += "=".repeat(4 - (text.length % 4));
  return nativeFrom.call(Buffer, text, "base64");
}

// Node decodes pairs up to the first one that is not hexadecimal.
function decodeHex(str) {
  const valid = /^(?:[0-9a-fA-F]{2})*/.exec(str)[0];
  return valid.length === 0 ? new Uint8Array(0) : nativeFrom.call(Buffer, valid, "hex");
}

/// The bytes of `str` in `encoding` (normalized).
function encodeString(str, encoding) {
  switch (encoding) {
    case "utf8":
      return encoder.encode(str);
    case "latin1":
    case "ascii": {
      if (!/[^\x00-\x7f]/.test(str)) return encoder.encode(str);
      const out = new Uint8Array(str.length);
      for (let i = 0; i < str.length; i++) out[i] = str.charCodeAt(i);
      return out;
    }
    case "utf16le": {
      const out = new Uint8Array(str.length * 2);
      for (let i = 0; i < str.length; i++) {
        const code = str.charCodeAt(i);
        out[i * 2] = code & 0xff;
        out[i * 2 + 1] = code >>> 8;
      }
      return out;
    }
    case "base64":
    case "base64url":
      return decodeBase64(str);
    case "hex":
      return decodeHex(str);
    default:
      throw codedError(TypeError, "ERR_UNKNOWN_ENCODING", `Unknown encoding: ${encoding}`);
  }
}

function latin1String(bytes, mask) {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    const chunk = bytes.subarray(i, Math.min(bytes.length, i + 8192));
    out += String.fromCharCode.apply(null, mask === 0xff ? chunk : Array.from(chunk, (b) => b & mask));
  }
  return out;
}

/// The text of `bytes` (a Buffer) in `encoding` (normalized).
function decodeBytes(bytes, encoding) {
  switch (encoding) {
    case "utf8":
      return utf8Decoder.decode(bytes);
    case "latin1":
      return latin1String(bytes, 0xff);
    case "ascii":
      return latin1String(bytes, 0x7f);
    case "utf16le": {
      let out = "";
      const units = [];
      for (let i = 0; i + 1 < bytes.length; i += 2) {
        units.push(bytes[i] | (bytes[i + 1] << 8));
        if (units.length === 8192) {
          out += String.fromCharCode.apply(null, units);
          units.length = 0;
        }
      }
      return out + String.fromCharCode.apply(null, units);
    }
    case "base64":
      return nativeToString.call(asBuffer(bytes), "base64");
    case "base64url":
      return nativeToString
        .call(asBuffer(bytes), "base64")
        .replace(/=+$/, "")
        .replaceAll("+", "-")
        .replaceAll("/", "_");
    case "hex":
      return nativeToString.call(asBuffer(bytes), "hex");
    default:
      throw codedError(TypeError, "ERR_UNKNOWN_ENCODING", `Unknown encoding: ${encoding}`);
  }
}

/// A Buffer over the same memory as the Uint8Array `bytes`.
function asBuffer(bytes) {
  if (bytes instanceof Buffer) return bytes;
  return new Buffer(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function bytesOf(view) {
  return view instanceof Uint8Array ? view : new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

// --- statics -------------------------------------------------------------------------------

function isAnyArrayBuffer(value) {
  const tag = Object.prototype.toString.call(value);
  return tag === "[object ArrayBuffer]" || tag === "[object SharedArrayBuffer]";
}

function fromArrayLike(items) {
  const length = items.length >>> 0;
  const buf = new Buffer(length);
  for (let i = 0; i < length; i++) buf[i] = items[i];
  return buf;
}

Buffer.from = function from(value, encodingOrOffset, length) {
  if (typeof value === "string") return asBuffer(encodeString(value, encodingOrThrow(encodingOrOffset)));
  if (typeof value === "object" && value !== null) {
    if (isAnyArrayBuffer(value)) {
      const offset = encodingOrOffset === undefined ? 0 : +encodingOrOffset || 0;
      if (offset > value.byteLength) {
        throw codedError(RangeError, "ERR_BUFFER_OUT_OF_BOUNDS", '"offset" is outside of buffer bounds');
      }
      const max = value.byteLength - offset;
      let size = length === undefined ? max : +length || 0;
      if (size > max) throw codedError(RangeError, "ERR_BUFFER_OUT_OF_BOUNDS", '"length" is outside of buffer bounds');
      if (size < 0) size = 0;
      return new Buffer(value, offset, size);
    }
    if (value instanceof Uint8Array) {
      const buf = new Buffer(value.length);
      buf.set(value);
      return buf;
    }
    const valueOf = typeof value.valueOf === "function" ? value.valueOf() : value;
    if (valueOf !== null && valueOf !== undefined && valueOf !== value) {
      return Buffer.from(valueOf, encodingOrOffset, length);
    }
    if (value.length !== undefined || isAnyArrayBuffer(value.buffer)) {
      if (typeof value.length !== "number") return new Buffer(0);
      return fromArrayLike(value);
    }
    if (value.type === "Buffer" && Array.isArray(value.data)) return fromArrayLike(value.data);
    if (typeof value[Symbol.toPrimitive] === "function") {
      const primitive = value[Symbol.toPrimitive]("string");
      if (typeof primitive === "string") return Buffer.from(primitive, encodingOrOffset);
    }
  }
  throw codedError(
    TypeError,
    "ERR_INVALID_ARG_TYPE",
    `The first argument must be of type string or an instance of Buffer, ArrayBuffer, or Array or an Array-like Object.${received(value)}`,
  );
};

function checkSize(size) {
  if (typeof size !== "number") {
    throw codedError(TypeError, "ERR_INVALID_ARG_TYPE", `The "size" argument must be of type number.${received(size)}`);
  }
  if (!(size >= 0 && size <= kMaxLength)) outOfRangeSize(size);
}

function outOfRangeSize(size) {
  throw outOfRange("size", `>= 0 && <= ${kMaxLength}`, size);
}

Buffer.alloc = function alloc(size, fill, encoding) {
  checkSize(size);
  const buf = new Buffer(size);
  if (fill !== undefined && fill !== 0 && size > 0) buf.fill(fill, encoding);
  return buf;
};

Buffer.allocUnsafe = function allocUnsafe(size) {
  checkSize(size);
  return nativeAllocUnsafe.call(Buffer, size);
};

Buffer.allocUnsafeSlow = Buffer.allocUnsafe;

Buffer.concat = function concat(list, totalLength) {
  if (!Array.isArray(list)) {
    throw codedError(
      TypeError,
      "ERR_INVALID_ARG_TYPE",
      `The "list" argument must be an instance of Array.${received(list)}`,
    );
  }
  if (list.length === 0) return new Buffer(0);
  if (totalLength === undefined) {
    totalLength = 0;
    for (let i = 0; i < list.length; i++) {
      if (!(list[i] instanceof Uint8Array)) {
        throw codedError(
          TypeError,
          "ERR_INVALID_ARG_TYPE",
          `The "list[${i}]" argument must be an instance of Buffer or Uint8Array.${received(list[i])}`,
        );
      }
      totalLength += list[i].length;
    }
  } else if (typeof totalLength !== "number" || totalLength < 0) {
    throw outOfRange("length", `>= 0 && <= ${kMaxLength}`, totalLength);
  }
  const buffer = new Buffer(totalLength);
  let pos = 0;
  for (let i = 0; i < list.length; i++) {
    const item = list[i];
    if (!(item instanceof Uint8Array)) {
      throw codedError(
        TypeError,
        "ERR_INVALID_ARG_TYPE",
        `The "list[${i}]" argument must be an instance of Buffer or Uint8Array.${received(item)}`,
      );
    }
    if (pos + item.length > totalLength) {
      buffer.set(item.subarray(0, totalLength - pos), pos);
      pos = totalLength;
      break;
    }
    buffer.set(item, pos);
    pos += item.length;
  }
  return buffer;
};

Buffer.byteLength = function byteLength(string, encoding) {
  if (typeof string !== "string") {
    if (ArrayBuffer.isView(string) || isAnyArrayBuffer(string)) return string.byteLength;
    throw codedError(
      TypeError,
      "ERR_INVALID_ARG_TYPE",
      `The "string" argument must be of type string or an instance of Buffer or ArrayBuffer.${received(string)}`,
    );
  }
  switch (normalizeEncoding(encoding)) {
    case "latin1":
    case "ascii":
      return string.length;
    case "utf16le":
      return string.length * 2;
    case "hex":
      return string.length >>> 1;
    case "base64":
    case "base64url": {
      let n = string.length;
      if (n > 0 && string.charCodeAt(n - 1) === 61) n--;
      if (n > 1 && string.charCodeAt(n - 1) === 61) n--;
      return (n * 3) >>> 2;
    }
    default:
      return encoder.encode(string).length;
  }
};

Buffer.isEncoding = function isEncoding(encoding) {
  return typeof encoding === "string" && encoding.length !== 0 && normalizeEncoding(encoding) !== undefined;
};

Buffer.compare = function compare(a, b) {
  if (!(a instanceof Uint8Array)) {
    throw codedError(
      TypeError,
      "ERR_INVALID_ARG_TYPE",
      `The "buf1" argument must be an instance of Buffer or Uint8Array.${received(a)}`,
    );
  }
  if (!(b instanceof Uint8Array)) {
    throw codedError(
      TypeError,
      "ERR_INVALID_ARG_TYPE",
      `The "buf2" argument must be an instance of Buffer or Uint8Array.${received(b)}`,
    );
  }
  return compareBytes(a, b);
};

function compareBytes(a, b) {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

Buffer.of = function of(...items) {
  return fromArrayLike(items);
};

Buffer.copyBytesFrom = function copyBytesFrom(view, offset = 0, length) {
  if (!ArrayBuffer.isView(view) || view instanceof DataView) {
    throw codedError(
      TypeError,
      "ERR_INVALID_ARG_TYPE",
      `The "view" argument must be an instance of TypedArray.${received(view)}`,
    );
  }
  const end = length === undefined ? view.length : Math.min(view.length, offset + length);
  if (offset >= end) return new Buffer(0);
  const part = view.subarray(offset, end);
  return Buffer.from(new Uint8Array(part.buffer, part.byteOffset, part.byteLength));
};

Buffer.poolSize = 8192;

// --- prototype -----------------------------------------------------------------------------

const proto = Buffer.prototype;

function define(name, value) {
  Object.defineProperty(proto, name, { value, writable: true, configurable: true, enumerable: false });
}

define("toString", function toString(encoding, start, end) {
  const length = this.length;
  if (arguments.length === 0) return utf8Decoder.decode(this);
  if (start === undefined || start <= 0) start = 0;
  else if (start >= length) return "";
  else start = Math.trunc(start) || 0;
  if (end === undefined || end > length) end = length;
  else end = Math.trunc(end) || 0;
  if (end <= start) return "";
  const normalized = encodingOrThrow(encoding);
  const bytes = start === 0 && end === length ? this : this.subarray(start, end);
  return decodeBytes(bytes, normalized);
});

define("toLocaleString", proto.toString);

define("toJSON", function toJSON() {
  return { type: "Buffer", data: Array.from(this) };
});

define("equals", function equals(other) {
  if (!(other instanceof Uint8Array)) {
    throw codedError(
      TypeError,
      "ERR_INVALID_ARG_TYPE",
      `The "otherBuffer" argument must be an instance of Buffer or Uint8Array.${received(other)}`,
    );
  }
  if (this === other) return true;
  if (this.byteLength !== other.byteLength) return false;
  return compareBytes(this, other) === 0;
});

define("compare", function compare(target, targetStart = 0, targetEnd, sourceStart = 0, sourceEnd) {
  if (!(target instanceof Uint8Array)) {
    throw codedError(
      TypeError,
      "ERR_INVALID_ARG_TYPE",
      `The "target" argument must be an instance of Buffer or Uint8Array.${received(target)}`,
    );
  }
  if (targetEnd === undefined) targetEnd = target.length;
  if (sourceEnd === undefined) sourceEnd = this.length;
  if (targetStart < 0 || targetStart > target.length)
    throw outOfRange("targetStart", `>= 0 && <= ${target.length}`, targetStart);
  if (targetEnd < 0 || targetEnd > target.length)
    throw outOfRange("targetEnd", `>= 0 && <= ${target.length}`, targetEnd);
  if (sourceStart < 0 || sourceStart > this.length)
    throw outOfRange("sourceStart", `>= 0 && <= ${this.length}`, sourceStart);
  if (sourceEnd < 0 || sourceEnd > this.length) throw outOfRange("sourceEnd", `>= 0 && <= ${this.length}`, sourceEnd);
  if (sourceStart >= sourceEnd) return targetStart >= targetEnd ? 0 : -1;
  if (targetStart >= targetEnd) return 1;
  return compareBytes(this.subarray(sourceStart, sourceEnd), target.subarray(targetStart, targetEnd));
});

// Uint8Array's own subarray keeps the class (a Buffer) and takes every form of its arguments.
define("subarray", Uint8Array.prototype.subarray);
define("slice", Uint8Array.prototype.subarray);

define("fill", function fill(value, offset, end, encoding) {
  if (typeof offset === "string") {
    encoding = offset;
    offset = 0;
    end = this.length;
  } else if (typeof end === "string") {
    encoding = end;
    end = this.length;
  }
  offset = offset === undefined ? 0 : offset;
  end = end === undefined ? this.length : end;
  if (offset < 0 || offset > this.length) throw outOfRange("offset", `>= 0 && <= ${this.length}`, offset);
  if (end < 0 || end > this.length) throw outOfRange("end", `>= 0 && <= ${this.length}`, end);
  if (end <= offset) return this;
  let pattern;
  if (typeof value === "string") {
    if (value.length === 0) {
      pattern = [0];
    } else {
      const normalized = encodingOrThrow(encoding);
      if (value.length === 1 && normalized === "utf8" && value.charCodeAt(0) < 128) {
        Uint8Array.prototype.fill.call(this, value.charCodeAt(0), offset, end);
        return this;
      }
      pattern = encodeString(value, normalized);
      if (pattern.length === 0) {
        throw codedError(TypeError, "ERR_INVALID_ARG_VALUE", `The argument 'value' is invalid. Received '${value}'`);
      }
    }
  } else if (typeof value === "number" || typeof value === "boolean") {
    Uint8Array.prototype.fill.call(this, Number(value) & 255, offset, end);
    return this;
  } else if (ArrayBuffer.isView(value)) {
    pattern = bytesOf(value);
    if (pattern.length === 0) {
      throw codedError(TypeError, "ERR_INVALID_ARG_VALUE", "The argument 'value' is invalid. Received an empty buffer");
    }
  } else {
    Uint8Array.prototype.fill.call(this, Number(value) & 255, offset, end);
    return this;
  }
  for (let i = offset, j = 0; i < end; i++, j++) {
    if (j === pattern.length) j = 0;
    this[i] = pattern[j];
  }
  return this;
});

define("write", function write(string, offset, length, encoding) {
  if (typeof string !== "string") {
    throw codedError(
      TypeError,
      "ERR_INVALID_ARG_TYPE",
      `The "string" argument must be of type string.${received(string)}`,
    );
  }
  if (offset === undefined) {
    offset = 0;
    length = this.length;
  } else if (length === undefined && typeof offset === "string") {
    encoding = offset;
    offset = 0;
    length = this.length;
  } else {
    if (typeof offset !== "number" || offset < 0 || offset > this.length) {
      throw outOfRange("offset", `>= 0 && <= ${this.length}`, offset);
    }
    const remaining = this.length - offset;
    if (length === undefined) {
      length = remaining;
    } else if (typeof length === "string") {
      encoding = length;
      length = remaining;
    } else {
      length = Math.min(remaining, Math.max(0, length));
    }
  }
  const normalized = encodingOrThrow(encoding);
  const bytes = encodeString(string, normalized);
  let count = Math.min(bytes.length, length);
  if (count < bytes.length) {
    if (normalized === "utf8") {
      // A character that does not fit whole is not written.
      while (count > 0 && (bytes[count] & 0xc0) === 0x80) count--;
    } else if (normalized === "utf16le") {
      count -= count % 2;
    }
  }
  this.set(bytes.subarray(0, count), offset);
  return count;
});

function searchBytes(haystack, needle, from, forward) {
  const last = haystack.length - needle.length;
  if (forward) {
    for (let i = Math.max(0, from); i <= last; i++) {
      let j = 0;
      while (j < needle.length && haystack[i + j] === needle[j]) j++;
      if (j === needle.length) return i;
    }
  } else {
    for (let i = Math.min(from, last); i >= 0; i--) {
      let j = 0;
      while (j < needle.length && haystack[i + j] === needle[j]) j++;
      if (j === needle.length) return i;
    }
  }
  return -1;
}

function bidirectionalIndexOf(buffer, value, byteOffset, encoding, forward) {
  if (typeof byteOffset === "string") {
    encoding = byteOffset;
    byteOffset = undefined;
  } else if (byteOffset > 0x7fffffff) {
    byteOffset = 0x7fffffff;
  } else if (byteOffset < -0x80000000) {
    byteOffset = -0x80000000;
  }
  byteOffset = +byteOffset;
  if (Number.isNaN(byteOffset)) byteOffset = forward ? 0 : buffer.length;
  if (byteOffset < 0) byteOffset = buffer.length + byteOffset;
  if (typeof value === "number") {
    const byte = (value >>> 0) & 255;
    if (forward) return Uint8Array.prototype.indexOf.call(buffer, byte, Math.max(0, byteOffset));
    if (byteOffset < 0) return -1;
    return Uint8Array.prototype.lastIndexOf.call(buffer, byte, byteOffset);
  }
  let needle;
  if (typeof value === "string") needle = encodeString(value, encodingOrThrow(encoding));
  else if (value instanceof Uint8Array) needle = value;
  else {
    throw codedError(
      TypeError,
      "ERR_INVALID_ARG_TYPE",
      `The "value" argument must be one of type number or string or an instance of Buffer or Uint8Array.${received(value)}`,
    );
  }
  if (needle.length === 0) {
    if (forward) return byteOffset <= buffer.length ? Math.max(0, byteOffset) : buffer.length;
    return Math.min(Math.max(byteOffset, -1), buffer.length);
  }
  if (!forward && byteOffset < 0) return -1;
  return searchBytes(buffer, needle, byteOffset, forward);
}

define("indexOf", function indexOf(value, byteOffset, encoding) {
  return bidirectionalIndexOf(this, value, byteOffset, encoding, true);
});

define("lastIndexOf", function lastIndexOf(value, byteOffset, encoding) {
  return bidirectionalIndexOf(this, value, byteOffset, encoding, false);
});

define("includes", function includes(value, byteOffset, encoding) {
  return bidirectionalIndexOf(this, value, byteOffset, encoding, true) !== -1;
});

function checkOffset(offset) {
  if (typeof offset !== "number") {
    throw codedError(
      TypeError,
      "ERR_INVALID_ARG_TYPE",
      `The "offset" argument must be of type number.${received(offset)}`,
    );
  }
}

function boundsError(value, length) {
  if (Math.floor(value) !== value) throw outOfRange("offset", "an integer", value);
  if (length < 0)
    throw codedError(RangeError, "ERR_BUFFER_OUT_OF_BOUNDS", "Attempt to access memory outside buffer bounds");
  throw outOfRange("offset", `>= 0 and <= ${length}`, value);
}

/// Node's check that `size` bytes at `offset` are inside `buf`.
function checkAccess(buf, offset, size) {
  checkOffset(offset);
  if (buf[offset] === undefined || buf[offset + size - 1] === undefined) boundsError(offset, buf.length - size);
}

function checkByteLength(byteLength) {
  if (typeof byteLength !== "number") {
    throw codedError(
      TypeError,
      "ERR_INVALID_ARG_TYPE",
      `The "byteLength" argument must be of type number.${received(byteLength)}`,
    );
  }
  if (!(byteLength >= 1 && byteLength <= 6) || Math.trunc(byteLength) !== byteLength) {
    throw outOfRange("byteLength", ">= 1 and <= 6", byteLength);
  }
}

function checkBounds(buf, offset, byteLength) {
  checkByteLength(byteLength);
  checkAccess(buf, offset, byteLength);
}

/// Node's range check of an integer written in `size` bytes.
function checkIntValue(value, size, signed) {
  const bits = size * 8;
  const min = signed ? -(2 ** (bits - 1)) : 0;
  const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  if (typeof value !== "number") {
    throw codedError(
      TypeError,
      "ERR_INVALID_ARG_TYPE",
      `The "value" argument must be of type number.${received(value)}`,
    );
  }
  if (value > max || value < min) {
    let range;
    if (size > 4) range = signed ? `>= -(2 ** ${bits - 1}) and < 2 ** ${bits - 1}` : `>= 0 and < 2 ** ${bits}`;
    else range = `>= ${min} and <= ${max}`;
    throw outOfRange("value", range, value);
  }
}

define("readUIntBE", function readUIntBE(offset = 0, byteLength) {
  checkBounds(this, offset, byteLength);
  let value = 0;
  for (let i = 0; i < byteLength; i++) value = value * 256 + this[offset + i];
  return value;
});

define("readUIntLE", function readUIntLE(offset = 0, byteLength) {
  checkBounds(this, offset, byteLength);
  let value = 0;
  for (let i = byteLength - 1; i >= 0; i--) value = value * 256 + this[offset + i];
  return value;
});

define("readIntBE", function readIntBE(offset = 0, byteLength) {
  const value = this.readUIntBE(offset, byteLength);
  const limit = 2 ** (8 * byteLength - 1);
  return value >= limit ? value - limit * 2 : value;
});

define("readIntLE", function readIntLE(offset = 0, byteLength) {
  const value = this.readUIntLE(offset, byteLength);
  const limit = 2 ** (8 * byteLength - 1);
  return value >= limit ? value - limit * 2 : value;
});

function writeUnsigned(buf, value, offset, byteLength, littleEndian) {
  checkBounds(buf, offset, byteLength);
  let rest = value < 0 ? value + 2 ** (8 * byteLength) : value;
  for (let i = 0; i < byteLength; i++) {
    const byte = rest % 256;
    rest = Math.floor(rest / 256);
    buf[littleEndian ? offset + i : offset + byteLength - 1 - i] = byte;
  }
  return offset + byteLength;
}

define("writeUIntBE", function writeUIntBE(value, offset = 0, byteLength) {
  checkByteLength(byteLength);
  checkIntValue(value, byteLength, false);
  return writeUnsigned(this, Math.trunc(value), offset, byteLength, false);
});

define("writeUIntLE", function writeUIntLE(value, offset = 0, byteLength) {
  checkByteLength(byteLength);
  checkIntValue(value, byteLength, false);
  return writeUnsigned(this, Math.trunc(value), offset, byteLength, true);
});

define("writeIntBE", function writeIntBE(value, offset = 0, byteLength) {
  checkByteLength(byteLength);
  checkIntValue(value, byteLength, true);
  return writeUnsigned(this, Math.trunc(value), offset, byteLength, false);
});

define("writeIntLE", function writeIntLE(value, offset = 0, byteLength) {
  checkByteLength(byteLength);
  checkIntValue(value, byteLength, true);
  return writeUnsigned(this, Math.trunc(value), offset, byteLength, true);
});

for (const [alias, name] of [
  ["readUintBE", "readUIntBE"],
  ["readUintLE", "readUIntLE"],
  ["writeUintBE", "writeUIntBE"],
  ["writeUintLE", "writeUIntLE"],
]) {
  define(alias, proto[name]);
}

// Fixed-width reads and writes with Node's checks, on a DataView (LLRT's own do not check
// bounds, and its 64-bit ones fail with "Uint64 is not supported").
function dataView(buf) {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

function check64(buf, offset) {
  checkAccess(buf, offset, 8);
}

for (const [name, size, getter, setter, littleEndian, kind] of [
  ["Int8", 1, "getInt8", "setInt8", false, "signed"],
  ["UInt8", 1, "getUint8", "setUint8", false, "unsigned"],
  ["Int16LE", 2, "getInt16", "setInt16", true, "signed"],
  ["Int16BE", 2, "getInt16", "setInt16", false, "signed"],
  ["UInt16LE", 2, "getUint16", "setUint16", true, "unsigned"],
  ["UInt16BE", 2, "getUint16", "setUint16", false, "unsigned"],
  ["Int32LE", 4, "getInt32", "setInt32", true, "signed"],
  ["Int32BE", 4, "getInt32", "setInt32", false, "signed"],
  ["UInt32LE", 4, "getUint32", "setUint32", true, "unsigned"],
  ["UInt32BE", 4, "getUint32", "setUint32", false, "unsigned"],
  ["FloatLE", 4, "getFloat32", "setFloat32", true, "float"],
  ["FloatBE", 4, "getFloat32", "setFloat32", false, "float"],
  ["DoubleLE", 8, "getFloat64", "setFloat64", true, "float"],
  ["DoubleBE", 8, "getFloat64", "setFloat64", false, "float"],
]) {
  const read = function (offset = 0) {
    checkAccess(this, offset, size);
    return dataView(this)[getter](offset, littleEndian);
  };
  const write = function (value, offset = 0) {
    if (kind === "float") {
      if (typeof value !== "number") value = +value;
    } else {
      checkIntValue(value, size, kind === "signed");
    }
    checkAccess(this, offset, size);
    dataView(this)[setter](offset, kind === "float" ? value : Math.trunc(value), littleEndian);
    return offset + size;
  };
  define(`read${name}`, read);
  define(`write${name}`, write);
  if (name.startsWith("UInt")) {
    define(`read${name.replace("UInt", "Uint")}`, read);
    define(`write${name.replace("UInt", "Uint")}`, write);
  }
}

for (const [name, signed, littleEndian] of [
  ["BigUInt64BE", false, false],
  ["BigUInt64LE", false, true],
  ["BigInt64BE", true, false],
  ["BigInt64LE", true, true],
]) {
  const read = function (offset = 0) {
    check64(this, offset);
    const view = dataView(this);
    return signed ? view.getBigInt64(offset, littleEndian) : view.getBigUint64(offset, littleEndian);
  };
  const write = function (value, offset = 0) {
    if (typeof value !== "bigint") {
      throw codedError(
        TypeError,
        "ERR_INVALID_ARG_TYPE",
        `The "value" argument must be of type bigint.${received(value)}`,
      );
    }
    const min = signed ? -(2n ** 63n) : 0n;
    const max = signed ? 2n ** 63n - 1n : 2n ** 64n - 1n;
    if (value < min || value > max) {
      const range = signed ? ">= -(2n ** 63n) and < 2n ** 63n" : ">= 0n and < 2n ** 64n";
      throw outOfRange("value", range, value);
    }
    check64(this, offset);
    const view = dataView(this);
    if (signed) view.setBigInt64(offset, value, littleEndian);
    else view.setBigUint64(offset, value, littleEndian);
    return offset + 8;
  };
  define(`read${name}`, read);
  define(`write${name}`, write);
  if (!signed) {
    define(`read${name.replace("UInt", "Uint")}`, read);
    define(`write${name.replace("UInt", "Uint")}`, write);
  }
}

function swap(size) {
  return function () {
    if (this.length % size !== 0) {
      throw codedError(RangeError, "ERR_INVALID_BUFFER_SIZE", `Buffer size must be a multiple of ${size * 8}-bits`);
    }
    for (let i = 0; i < this.length; i += size) {
      for (let a = i, b = i + size - 1; a < b; a++, b--) {
        const t = this[a];
        this[a] = this[b];
        this[b] = t;
      }
    }
    return this;
  };
}
define("swap16", swap(2));
define("swap32", swap(4));
define("swap64", swap(8));

for (const encoding of ["utf8", "latin1", "ascii", "hex", "base64", "base64url", "ucs2", "utf16le"]) {
  define(`${encoding}Slice`, function (start = 0, end = this.length) {
    return this.toString(encoding, start, end);
  });
  define(`${encoding}Write`, function (string, offset = 0, length = this.length - offset) {
    return this.write(string, offset, length, encoding);
  });
}

define(Symbol.for("nodejs.util.inspect.custom"), function inspect() {
  const max = module.exports.INSPECT_MAX_BYTES;
  const shown = Math.min(max, this.length);
  const remaining = this.length - max;
  let str = Array.from(this.subarray(0, shown), (b) => b.toString(16).padStart(2, "0")).join(" ");
  if (remaining > 0) str += ` ... ${remaining} more byte${remaining > 1 ? "s" : ""}`;
  return `<${this.constructor.name} ${str}>`;
});

// --- module --------------------------------------------------------------------------------

function isUtf8(input) {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(input);
    return true;
  } catch {
    return false;
  }
}

function isAscii(input) {
  const bytes = ArrayBuffer.isView(input)
    ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
    : new Uint8Array(input);
  for (let i = 0; i < bytes.length; i++) if (bytes[i] > 0x7f) return false;
  return true;
}

function transcode(source, fromEncoding, toEncoding) {
  if (!(source instanceof Uint8Array)) {
    throw codedError(
      TypeError,
      "ERR_INVALID_ARG_TYPE",
      `The "source" argument must be an instance of Buffer or Uint8Array.${received(source)}`,
    );
  }
  const text = decodeBytes(asBuffer(source), encodingOrThrow(fromEncoding));
  return asBuffer(encodeString(text, encodingOrThrow(toEncoding)));
}

module.exports = {
  Buffer,
  SlowBuffer: Buffer,
  Blob: globalThis.Blob,
  File: globalThis.File,
  atob: native.atob,
  btoa: native.btoa,
  constants,
  kMaxLength,
  kStringMaxLength,
  INSPECT_MAX_BYTES,
  isUtf8,
  isAscii,
  transcode,
};
