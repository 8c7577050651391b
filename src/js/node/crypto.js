// node:crypto: LLRT's hashes, HMACs and random values, Web Crypto, and timingSafeEqual.
"use strict";
const native = require("stepflare:llrt/crypto");
const { Buffer } = require("node:buffer");

function bytesOf(value, name) {
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new TypeError(`The "${name}" argument must be an instance of ArrayBuffer, Buffer, TypedArray, or DataView.`);
}

function timingSafeEqual(a, b) {
  const left = bytesOf(a, "buf1");
  const right = bytesOf(b, "buf2");
  if (left.length !== right.length) {
    const error = new RangeError("Input buffers must have the same byte length");
    error.code = "ERR_CRYPTO_TIMING_SAFE_EQUAL_LENGTH";
    throw error;
  }
  let difference = 0;
  for (let i = 0; i < left.length; i++) difference |= left[i] ^ right[i];
  return difference === 0;
}

const hashes = ["md5", "sha1", "sha256", "sha384", "sha512"];

function hash(algorithm, data, outputEncoding = "hex") {
  return native.createHash(algorithm).update(data).digest(outputEncoding);
}

module.exports = {
  ...native,
  timingSafeEqual,
  hash,
  getHashes: () => hashes.slice(),
  subtle: globalThis.crypto.subtle,
  webcrypto: globalThis.crypto,
  getRandomValues: (array) => globalThis.crypto.getRandomValues(array),
  randomUUID: () => globalThis.crypto.randomUUID(),
  constants: {},
  Buffer,
};
