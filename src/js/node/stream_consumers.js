// node:stream/consumers: read a whole stream (Node stream, web stream or async iterable).
"use strict";
const { Buffer } = require("node:buffer");

async function* chunksOf(stream) {
  if (stream && typeof stream[Symbol.asyncIterator] === "function") {
    yield* stream;
    return;
  }
  if (stream && typeof stream.getReader === "function") {
    const reader = stream.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  }
  const error = new TypeError(
    'The "stream" argument must be an instance of ReadableStream, Readable or an async iterable',
  );
  error.code = "ERR_INVALID_ARG_TYPE";
  throw error;
}

async function buffer(stream) {
  const chunks = [];
  for await (const chunk of chunksOf(stream)) {
    chunks.push(
      typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength),
    );
  }
  return Buffer.concat(chunks);
}

async function arrayBuffer(stream) {
  const bytes = await buffer(stream);
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
}

async function text(stream) {
  return (await buffer(stream)).toString("utf8");
}

async function json(stream) {
  return JSON.parse(await text(stream));
}

async function blob(stream) {
  return new Blob([await buffer(stream)]);
}

module.exports = { arrayBuffer, blob, buffer, json, text };
