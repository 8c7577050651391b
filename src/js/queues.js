// The JavaScript half of Cloudflare Queues, the module `stepflare:queues`: the producer binding
// in `env` (`send`, `sendBatch`) and the `MessageBatch` a consumer's `queue` handler receives.
// Bodies are encoded here by content type and stored by the host as text; the host decides
// when batches are delivered and what becomes of retried messages. Evaluated after the prelude,
// only in contexts whose `env` has a producer and in those that run a consumer: it adds the
// producer's maker to the prelude's `bindingMakers` and `newMessageBatch` to `__stepflare`.
import { decodeClone, encodeClone, fromBase64, toBase64, viewBytes } from "stepflare:clone";

const stepflare = globalThis.__stepflare;
const { callBinding, bindingMakers } = stepflare;

const CONTENT_TYPES = ["text", "bytes", "json", "v8"];
const MAX_MESSAGE_BYTES = 128 * 1024;
const MAX_BATCH_MESSAGES = 100;
const MAX_BATCH_BYTES = 256 * 1024;
const MAX_DELAY_SECONDS = 43200;

// `v8` bodies (the default) keep what the structured clone algorithm keeps: Date, RegExp, Map,
// Set, binary data, Error, BigInt, undefined, non-finite numbers and repeated or cyclic
// references survive the trip (`stepflare:clone` says how).
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
      return encodeClone(body);
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
      return decodeClone(text);
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

bindingMakers.queue = (binding) => new Queue(binding.queue, binding.deliveryDelay);
stepflare.newMessageBatch = newMessageBatch;
