// Structured clone as text, the module `stepflare:clone`: the encoding of queue `v8` bodies
// (`stepflare:queues`) and of step results and instance outputs (the prelude). The host stores
// the text; `src/outputs.rs` reads it back as readable JSON for REST and the journal.
//
// A value becomes a tree that JSON can hold. Strings, booleans, finite numbers and null are
// themselves; every other value is an array whose first element is a tag, and so are arrays and
// objects, so tags cannot collide with user data:
//
//   ["n", "NaN" | "Infinity" | "-Infinity" | "-0"]   ["u"] undefined   ["i", digits] BigInt
//   ["a", items]   ["o", [[key, value], …]]   ["d", ms | null]   ["r", source, flags]
//   ["m", [[key, value], …]]   ["s", items]   ["b", base64] ArrayBuffer
//   ["t", "Uint8Array" | … | "DataView", base64]   ["e", name, message, stack, cause?]
//   ["p", primitive] a Number, String, Boolean or BigInt object
//   ["@", n] the n-th object of the tree again (objects are numbered in the order they are first
//            met, depth first), which is how repeated and cyclic references survive
//
// What structured clone refuses (functions, symbols, class instances, promises, weak
// collections, host objects) throws a `DataCloneError` with workerd's message.

export const toBase64 = (bytes) => {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
};
export const fromBase64 = (text) => {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
};
export const viewBytes = (view) => new Uint8Array(view.buffer, view.byteOffset, view.byteLength);

export const dataCloneError = (message) => {
  const error = new Error(message);
  error.name = "DataCloneError";
  return error;
};

const VIEWS = [
  "Int8Array",
  "Uint8Array",
  "Uint8ClampedArray",
  "Int16Array",
  "Uint16Array",
  "Int32Array",
  "Uint32Array",
  "Float16Array",
  "Float32Array",
  "Float64Array",
  "BigInt64Array",
  "BigUint64Array",
  "DataView",
];
const { getPrototypeOf, prototype: objectPrototype } = Object;

const encodeNumber = (value) =>
  Number.isFinite(value) && !Object.is(value, -0) ? value : ["n", Object.is(value, -0) ? "-0" : String(value)];

const refuse = (value) => {
  const type = value?.constructor?.name || "Object";
  return dataCloneError(`Could not serialize object of type "${type}". This type does not support serialization.`);
};

/** `value` as a tree; `seen` numbers the objects met so far. */
const encodeNode = (value, seen) => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return encodeNumber(value);
    case "undefined":
      return ["u"];
    case "bigint":
      return ["i", value.toString()];
    case "function":
    case "symbol":
      throw dataCloneError(`${String(value)} could not be cloned.`);
  }
  if (value === null) return null;
  const index = seen.get(value);
  if (index !== undefined) return ["@", index];
  seen.set(value, seen.size);
  if (Array.isArray(value)) return ["a", Array.from(value, (item) => encodeNode(item, seen))];
  // Typed arrays first: their subclasses (node's Buffer) clone as the view they are.
  if (ArrayBuffer.isView(value)) {
    const name = value instanceof DataView ? "DataView" : value[Symbol.toStringTag];
    return ["t", name, toBase64(viewBytes(value))];
  }
  if (value instanceof ArrayBuffer) return ["b", toBase64(new Uint8Array(value))];
  if (value instanceof Date) {
    const time = value.getTime();
    return ["d", Number.isNaN(time) ? null : time];
  }
  if (value instanceof RegExp) return ["r", value.source, value.flags];
  if (value instanceof Map) return ["m", Array.from(value, ([k, v]) => [encodeNode(k, seen), encodeNode(v, seen)])];
  if (value instanceof Set) return ["s", Array.from(value, (item) => encodeNode(item, seen))];
  if (value instanceof Error) {
    const node = ["e", String(value.name ?? "Error"), String(value.message ?? ""), String(value.stack ?? "")];
    if (Object.hasOwn(value, "cause")) node.push(encodeNode(value.cause, seen));
    return node;
  }
  if (value instanceof Number || value instanceof String || value instanceof Boolean || value instanceof BigInt) {
    return ["p", encodeNode(value.valueOf(), seen)];
  }
  // workerd serializes plain objects only (a class instance would lose its class), and an
  // object without a prototype is not one.
  if (getPrototypeOf(value) !== objectPrototype) throw refuse(value);
  return ["o", Object.keys(value).map((key) => [key, encodeNode(value[key], seen)])];
};

/** The tree of `value`, as JSON text. */
export const encodeClone = (value) => JSON.stringify(encodeNode(value, new Map()));

const setOwn = (object, key, value) => {
  // A key "__proto__" is data, as structured clone makes it, not the prototype.
  if (key === "__proto__") {
    Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    object[key] = value;
  }
};

const broken = (why) => new TypeError(`a stored value is damaged: ${why}`);

/** The value of tree `node`; `refs` holds the objects made so far, in their numbering. */
const decodeNode = (node, refs) => {
  if (!Array.isArray(node)) return node;
  const [tag, a, b, c] = node;
  switch (tag) {
    case "n":
      return a === "-0" ? -0 : Number(a);
    case "u":
      return undefined;
    case "i":
      return BigInt(a);
    case "@":
      if (!(a < refs.length)) throw broken(`reference ${a} to an object not yet made`);
      return refs[a];
  }
  let made;
  switch (tag) {
    case "a":
      made = [];
      refs.push(made);
      for (const item of a) made.push(decodeNode(item, refs));
      return made;
    case "o":
      made = {};
      refs.push(made);
      for (const [key, value] of a) setOwn(made, key, decodeNode(value, refs));
      return made;
    case "m":
      made = new Map();
      refs.push(made);
      for (const [key, value] of a) made.set(decodeNode(key, refs), decodeNode(value, refs));
      return made;
    case "s":
      made = new Set();
      refs.push(made);
      for (const item of a) made.add(decodeNode(item, refs));
      return made;
    case "d":
      made = new Date(a === null ? NaN : a);
      break;
    case "r":
      made = new RegExp(a, b);
      break;
    case "b":
      made = fromBase64(a).buffer;
      break;
    case "t": {
      const bytes = fromBase64(b);
      const View = VIEWS.includes(a) ? globalThis[a] : undefined;
      made = typeof View === "function" ? new View(bytes.buffer) : bytes;
      break;
    }
    case "e": {
      const Type = globalThis[a];
      made = new (typeof Type === "function" && Type.prototype instanceof Error ? Type : Error)(b);
      made.name = a;
      made.stack = c;
      refs.push(made);
      if (node.length > 4) made.cause = decodeNode(node[4], refs);
      return made;
    }
    case "p":
      made = Object(decodeNode(a, refs));
      break;
    default:
      throw broken(`unknown tag ${JSON.stringify(tag)}`);
  }
  refs.push(made);
  return made;
};

/** The value that `encodeClone` wrote as `text`. */
export const decodeClone = (text) => decodeNode(JSON.parse(text), []);

// A step result or an instance output as the host stores it. Earlier versions stored plain JSON
// (as `JSON.stringify` wrote it), and such rows must still replay, so the tree is marked: text
// that starts with `v8:` is the tree, any other text is plain JSON. The mark cannot begin JSON
// text, so no old row is mistaken for a tree (a mark rather than a column says which is which,
// so the store needs no migration and the text travels alone through the engine and the
// journal). A string, a boolean, null or a finite number is written as plain JSON, which is
// also its tree: the common results cost no tree and stay readable in the store. `undefined` is
// no text at all.
const STORED_MARK = "v8:";

export const encodeStored = (value) => {
  switch (typeof value) {
    case "undefined":
      return undefined;
    case "string":
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (Number.isFinite(value) && !Object.is(value, -0)) return `${value}`;
      break;
    case "object":
      if (value === null) return "null";
      break;
  }
  return STORED_MARK + encodeClone(value);
};

export const decodeStored = (text) => {
  if (text === undefined || text === null) return undefined;
  if (text.startsWith(STORED_MARK)) return decodeClone(text.slice(STORED_MARK.length));
  if (text.startsWith(STREAM_MARK)) return replayStream(text);
  return JSON.parse(text);
};

// A step may return a `ReadableStream` of bytes: it is read to the end, and its bytes are stored
// as `stream:` and their base64, which no JSON text starts with either. The step then returns,
// on the first run and on every replay, a fresh stream of those bytes. The whole stream is held
// in memory while it is read and stored (a runtime has 128 MiB), hence stepflare's cap.
const STREAM_MARK = "stream:";
export const MAX_STREAM_BYTES = 32 * 1024 * 1024;
const MAX_STREAM_CHUNK_BYTES = 16 * 1024 * 1024;
const REPLAY_CHUNK_BYTES = 256 * 1024;

/** Whether a step's result is a stream (without loading the streams for results that are not). */
export const isStream = (value) =>
  value !== null && typeof value === "object" && typeof value.getReader === "function" && value instanceof ReadableStream;

/** Why a stream cannot be a step's output: the name and detail of the local engine's errors. */
export class InvalidStreamOutput extends Error {
  constructor(name, detail) {
    super(detail);
    this.name = name;
  }
}

/** Reads `stream` to its end; its stored form. Throws `InvalidStreamOutput` when it cannot. */
export const readStreamStored = async (stream) => {
  if (stream.locked) {
    throw new InvalidStreamOutput(
      "InvalidStepReadableStreamError",
      "Step returned a ReadableStream that is already locked or otherwise unreadable. Return a fresh, unlocked ReadableStream from step.do()",
    );
  }
  const reader = stream.getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    let next;
    try {
      next = await reader.read();
    } catch (error) {
      throw new InvalidStreamOutput(
        "InvalidStepReadableStreamError",
        `Failed to read from step ReadableStream output. ${error?.message ?? String(error)}`,
      );
    }
    if (next.done) break;
    const chunk = next.value;
    let bytes;
    if (chunk instanceof ArrayBuffer) bytes = new Uint8Array(chunk);
    else if (ArrayBuffer.isView(chunk) && !(chunk instanceof DataView)) bytes = viewBytes(chunk);
    else {
      reader.cancel().catch(() => {});
      throw new InvalidStreamOutput(
        "UnsupportedStreamChunkError",
        "Step returned a ReadableStream with unsupported chunk type. Only ArrayBuffer and TypedArray chunks are supported.",
      );
    }
    if (bytes.byteLength > MAX_STREAM_CHUNK_BYTES) {
      reader.cancel().catch(() => {});
      throw new InvalidStreamOutput(
        "OversizedStreamChunkError",
        `Step returned a ReadableStream chunk larger than the maximum allowed size of ${MAX_STREAM_CHUNK_BYTES} bytes. Return smaller chunks from step.do().`,
      );
    }
    total += bytes.byteLength;
    if (total > MAX_STREAM_BYTES) {
      reader.cancel().catch(() => {});
      throw new InvalidStreamOutput(
        "StreamOutputStorageLimitError",
        `Step returned a ReadableStream of more than ${MAX_STREAM_BYTES} bytes, stepflare's limit for a stream output.`,
      );
    }
    chunks.push(bytes);
  }
  // The stream is held twice at most (its chunks, then all of it and its base64), so that a
  // stream of the cap's size fits in a runtime's memory.
  const all = new Uint8Array(total);
  let offset = 0;
  for (let i = 0; i < chunks.length; i++) {
    all.set(chunks[i], offset);
    offset += chunks[i].byteLength;
    chunks[i] = undefined;
  }
  // `Buffer`'s base64 is native: a stream of many MiB would take seconds in JavaScript.
  return STREAM_MARK + Buffer.from(all.buffer).toString("base64");
};

/** A fresh stream of the bytes stored as `text`, in chunks of 256 KiB as the local engine's. */
const replayStream = (text) => {
  const stored = Buffer.from(text.slice(STREAM_MARK.length), "base64");
  const bytes = new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.byteLength) {
        controller.close();
        return;
      }
      const end = Math.min(offset + REPLAY_CHUNK_BYTES, bytes.byteLength);
      controller.enqueue(bytes.slice(offset, end));
      offset = end;
    },
  });
};
