// The JavaScript half of Cloudflare Queues, the module `stepflare:queues`: the producer binding
// in `env` (`send`, `sendBatch`) and the `MessageBatch` a consumer's `queue` handler receives.
// Bodies are encoded here by content type and stored by the host as text; the host decides
// when batches are delivered and what becomes of retried messages.
const CONTENT_TYPES = ["text", "bytes", "json", "v8"];
const MAX_MESSAGE_BYTES = 128 * 1024;
const MAX_BATCH_MESSAGES = 100;
const MAX_BATCH_BYTES = 256 * 1024;
const MAX_DELAY_SECONDS = 43200;

const toBase64 = (bytes) => {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
};
const fromBase64 = (text) => {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
};
const viewBytes = (view) => new Uint8Array(view.buffer, view.byteOffset, view.byteLength);

const dataCloneError = (message) => {
  const error = new Error(message);
  error.name = "DataCloneError";
  return error;
};

// `v8` bodies (the default) keep what the structured clone algorithm keeps: Date, RegExp, Map,
// Set, binary data, Error, BigInt, undefined and non-finite numbers survive the trip. Every
// non-JSON value becomes a tagged array, and so do arrays and objects, so tags cannot collide
// with user data.
const encodeClone = (value, ancestors) => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return Number.isFinite(value) && !Object.is(value, -0) ? value : ["n", String(Object.is(value, -0) ? "-0" : value)];
    case "undefined":
      return ["u"];
    case "bigint":
      return ["i", value.toString()];
    case "function":
    case "symbol":
      throw dataCloneError(`${String(value)} could not be cloned.`);
  }
  if (value === null) return null;
  if (ancestors.has(value)) throw dataCloneError("a queue message body cannot contain a cycle");
  ancestors.add(value);
  try {
    if (Array.isArray(value)) return ["a", Array.from(value, (item) => encodeClone(item, ancestors))];
    if (value instanceof Date) return ["d", value.getTime()];
    if (value instanceof RegExp) return ["r", value.source, value.flags];
    if (value instanceof Map) return ["m", [...value].map(([k, v]) => [encodeClone(k, ancestors), encodeClone(v, ancestors)])];
    if (value instanceof Set) return ["s", [...value].map((item) => encodeClone(item, ancestors))];
    if (value instanceof ArrayBuffer) return ["b", toBase64(new Uint8Array(value))];
    if (ArrayBuffer.isView(value)) return ["t", value.constructor.name, toBase64(viewBytes(value))];
    if (value instanceof Error) return ["e", value.name, value.message, value.stack ?? ""];
    return ["o", Object.keys(value).map((key) => [key, encodeClone(value[key], ancestors)])];
  } finally {
    ancestors.delete(value);
  }
};

const decodeClone = (node) => {
  if (!Array.isArray(node)) return node;
  const [tag, a, b, c] = node;
  switch (tag) {
    case "n":
      return a === "-0" ? -0 : Number(a);
    case "u":
      return undefined;
    case "i":
      return BigInt(a);
    case "a":
      return a.map(decodeClone);
    case "d":
      return new Date(a);
    case "r":
      return new RegExp(a, b);
    case "m":
      return new Map(a.map(([k, v]) => [decodeClone(k), decodeClone(v)]));
    case "s":
      return new Set(a.map(decodeClone));
    case "b":
      return fromBase64(a).buffer;
    case "t": {
      const bytes = fromBase64(b);
      const View = globalThis[a];
      if (a === "DataView") return new DataView(bytes.buffer);
      return typeof View === "function" ? new View(bytes.buffer) : bytes;
    }
    case "e": {
      const error = new (globalThis[a] && globalThis[a].prototype instanceof Error ? globalThis[a] : Error)(b);
      error.name = a;
      error.stack = c;
      return error;
    }
    case "o":
      return Object.fromEntries(a.map(([key, value]) => [key, decodeClone(value)]));
    default:
      throw new TypeError(`unknown tag ${tag} in a stored queue message`);
  }
};

const encodeBody = (body, contentType) => {
  switch (contentType) {
    case "text":
      if (typeof body !== "string") throw new TypeError('Content type "text" requires a value of type string');
      return body;
    case "bytes":
      if (body instanceof ArrayBuffer) return toBase64(new Uint8Array(body));
      if (ArrayBuffer.isView(body)) return toBase64(viewBytes(body));
      throw new TypeError('Content type "bytes" requires a value of type ArrayBuffer or ArrayBufferView');
    case "json": {
      const text = JSON.stringify(body);
      if (text === undefined) throw new TypeError('Content type "json" requires a value that JSON.stringify accepts');
      return text;
    }
    default:
      return JSON.stringify(encodeClone(body, new Set()));
  }
};

const decodeBody = (text, contentType) => {
  switch (contentType) {
    case "text":
      return text;
    case "bytes":
      return fromBase64(text).buffer;
    case "json":
      return JSON.parse(text);
    default:
      return decodeClone(JSON.parse(text));
  }
};

const byteLength = (text) => new TextEncoder().encode(text).length;

const checkDelay = (delaySeconds) => {
  if (delaySeconds === undefined || delaySeconds === null) return null;
  if (typeof delaySeconds !== "number" || !Number.isInteger(delaySeconds) || delaySeconds < 0 || delaySeconds > MAX_DELAY_SECONDS) {
    throw new TypeError(`delaySeconds must be a whole number from 0 to ${MAX_DELAY_SECONDS}`);
  }
  return delaySeconds;
};

const encodeMessage = (body, contentType, delaySeconds) => {
  const type = contentType ?? "v8";
  if (!CONTENT_TYPES.includes(type)) {
    throw new TypeError(`Unknown content type "${type}". The supported types are: ${CONTENT_TYPES.join(", ")}.`);
  }
  const encoded = encodeBody(body, type);
  const size = byteLength(encoded);
  if (size > MAX_MESSAGE_BYTES) {
    throw new Error(`Queue send failed: message length of ${size} bytes exceeds limit of ${MAX_MESSAGE_BYTES}`);
  }
  return { body: encoded, contentType: type, delaySeconds: checkDelay(delaySeconds), size };
};

/** The queue classes, bound to the host's binding call (which the prelude owns). */
export const queueApi = (callBinding) => {
  class Queue {
    #queue;
    #deliveryDelay;
    constructor(queue, deliveryDelay) {
      this.#queue = queue;
      this.#deliveryDelay = deliveryDelay ?? 0;
    }
    async send(body, options = {}) {
      const message = encodeMessage(body, options?.contentType, options?.delaySeconds);
      await this.#put([message]);
    }
    async sendBatch(messages, options = {}) {
      if (messages === null || typeof messages !== "object" || typeof messages[Symbol.iterator] !== "function") {
        throw new TypeError("sendBatch expects an iterable of messages");
      }
      const list = [...messages];
      if (list.length === 0) throw new TypeError("sendBatch requires at least one message");
      if (list.length > MAX_BATCH_MESSAGES) {
        throw new Error(`Queue sendBatch failed: batch of ${list.length} messages exceeds limit of ${MAX_BATCH_MESSAGES}`);
      }
      const batchDelay = checkDelay(options?.delaySeconds);
      const encoded = list.map((message) =>
        encodeMessage(message?.body, message?.contentType, message?.delaySeconds ?? batchDelay),
      );
      const total = encoded.reduce((sum, message) => sum + message.size, 0);
      if (total > MAX_BATCH_BYTES) {
        throw new Error(`Queue sendBatch failed: batch of ${total} bytes exceeds limit of ${MAX_BATCH_BYTES}`);
      }
      await this.#put(encoded);
    }
    async #put(messages) {
      const stored = messages.map(({ body, contentType, delaySeconds }) => ({
        body,
        contentType,
        delaySeconds: delaySeconds ?? this.#deliveryDelay,
      }));
      await callBinding({ op: "queueSend", queue: this.#queue, messages: stored });
    }
  }

  /**
   * The batch for a `queue` handler, and what became of each message. The first decision about
   * a message wins, as in workerd: an explicit `ack()`/`retry()` before `ackAll()`/`retryAll()`
   * keeps, and per-message calls after a batch-wide one change nothing.
   */
  const newMessageBatch = (queue, rows) => {
    let batchDecision = null;
    const decisions = new Map();
    const messages = rows.map((row) =>
      Object.freeze({
        id: row.id,
        timestamp: new Date(row.timestamp),
        body: decodeBody(row.body, row.contentType),
        attempts: row.attempts,
        ack() {
          if (batchDecision === null && !decisions.has(row.id)) decisions.set(row.id, { ack: true });
        },
        retry(options) {
          if (batchDecision === null && !decisions.has(row.id)) {
            decisions.set(row.id, { ack: false, delaySeconds: checkDelay(options?.delaySeconds) });
          }
        },
      }),
    );
    const batch = Object.freeze({
      queue,
      messages: Object.freeze(messages),
      ackAll() {
        if (batchDecision === null) batchDecision = { ack: true };
      },
      retryAll(options) {
        if (batchDecision === null) batchDecision = { ack: false, delaySeconds: checkDelay(options?.delaySeconds) };
      },
    });
    // A handler that threw retries every message it did not decide about.
    const outcome = (threw) =>
      rows.map(
        (row) =>
          decisions.get(row.id) ?? batchDecision ?? (threw ? { ack: false, delaySeconds: null } : { ack: true }),
      );
    return { batch, outcome };
  };

  return { Queue, newMessageBatch };
};
