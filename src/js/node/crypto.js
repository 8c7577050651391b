// node:crypto: LLRT's hashes, HMACs and random values behind Node's Hash and Hmac classes (input
// and output encodings, `copy()`, `digest()` as a Buffer), PBKDF2 and HKDF (synchronously on the
// HMAC, and as callbacks), Web Crypto, and timingSafeEqual. No ciphers, signatures or key
// objects: those are left to `crypto.subtle`.
"use strict";
const { codedError } = require("node:internal/errors");
const native = require("stepflare:llrt/crypto");
const { Buffer } = require("node:buffer");

function typeName(value) {
  if (value === null || value === undefined) return String(value);
  if (typeof value === "object" || typeof value === "function") {
    return value.constructor && value.constructor.name ? `an instance of ${value.constructor.name}` : "an object";
  }
  return `type ${typeof value} (${typeof value === "string" ? `'${value}'` : String(value)})`;
}

function bytesOf(value, name) {
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new TypeError(`The "${name}" argument must be an instance of ArrayBuffer, Buffer, TypedArray, or DataView.`);
}

/// The bytes of `data` (string in `encoding`, or any binary view), as a Buffer.
function toBuffer(data, encoding, name) {
  if (typeof data === "string") return Buffer.from(data, encoding);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  throw codedError(
    TypeError,
    "ERR_INVALID_ARG_TYPE",
    `The "${name}" argument must be of type string or an instance of Buffer, TypedArray, or DataView. Received ${typeName(data)}`,
  );
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
const digestLengths = { md5: 16, sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

function normalizeAlgorithm(algorithm) {
  if (typeof algorithm !== "string") {
    throw codedError(
      TypeError,
      "ERR_INVALID_ARG_TYPE",
      `The "algorithm" argument must be of type string. Received ${typeName(algorithm)}`,
    );
  }
  const name = algorithm.toLowerCase().replace(/^sha-/, "sha").replace(/^rsa-/, "");
  if (!hashes.includes(name)) throw new Error("Digest method not supported");
  return name;
}

// Hash input is kept (up to this many bytes) so that `copy()` can replay it.
const COPY_LIMIT = 16 * 1024 * 1024;

// LLRT's ring provider has no HMAC-MD5 (it panics): that one is built here on its MD5.
class Md5Hmac {
  #inner;
  #outerKey;

  constructor(key) {
    let block = Buffer.from(key);
    if (block.length > 64) block = Buffer.from(native.createHash("md5").update(block).digest());
    const padded = Buffer.alloc(64);
    padded.set(block);
    const innerKey = Buffer.alloc(64);
    this.#outerKey = Buffer.alloc(64);
    for (let i = 0; i < 64; i++) {
      innerKey[i] = padded[i] ^ 0x36;
      this.#outerKey[i] = padded[i] ^ 0x5c;
    }
    this.#inner = native.createHash("md5").update(innerKey);
  }

  update(data) {
    this.#inner.update(data);
    return this;
  }

  digest() {
    return native.createHash("md5").update(this.#outerKey).update(this.#inner.digest()).digest();
  }
}

function nativeHmac(name, key) {
  return name === "md5" ? new Md5Hmac(key) : native.createHmac(name, key);
}

class Hash {
  #make;
  #native;
  #chunks = [];
  #kept = 0;
  #finalized = false;

  constructor(algorithm, options, make) {
    const name = normalizeAlgorithm(algorithm);
    this.#make = make || (() => native.createHash(name));
    this.#native = this.#make();
  }

  update(data, inputEncoding) {
    if (this.#finalized) throw codedError(Error, "ERR_CRYPTO_HASH_FINALIZED", "Digest already called");
    const bytes = toBuffer(data, typeof data === "string" ? inputEncoding : undefined, "data");
    this.#native.update(bytes);
    if (this.#chunks !== null) {
      this.#kept += bytes.length;
      if (this.#kept > COPY_LIMIT) this.#chunks = null;
      else this.#chunks.push(Buffer.from(bytes));
    }
    return this;
  }

  digest(outputEncoding) {
    if (this.#finalized) throw codedError(Error, "ERR_CRYPTO_HASH_FINALIZED", "Digest already called");
    this.#finalized = true;
    const result = this.#native.digest();
    const buffer = Buffer.from(result.buffer, result.byteOffset, result.byteLength);
    if (outputEncoding === undefined || outputEncoding === "buffer") return buffer;
    return buffer.toString(outputEncoding);
  }

  copy() {
    if (this.#finalized) throw codedError(Error, "ERR_CRYPTO_HASH_FINALIZED", "Digest already called");
    if (this.#chunks === null) {
      throw new Error(`Hash.copy() works for up to ${COPY_LIMIT} bytes of input in stepflare`);
    }
    const hash = new Hash("sha256", undefined, this.#make);
    for (const chunk of this.#chunks) hash.update(chunk);
    return hash;
  }
}

class Hmac {
  #native;
  #finalized = false;

  constructor(algorithm, key) {
    const name = normalizeAlgorithm(algorithm);
    let keyBytes;
    if (key && typeof key === "object" && typeof key.export === "function") keyBytes = key.export();
    else keyBytes = toBuffer(key, "utf8", "key");
    this.#native = nativeHmac(name, keyBytes);
  }

  update(data, inputEncoding) {
    if (this.#finalized) throw codedError(Error, "ERR_CRYPTO_HASH_FINALIZED", "Digest already called");
    this.#native.update(toBuffer(data, typeof data === "string" ? inputEncoding : undefined, "data"));
    return this;
  }

  digest(outputEncoding) {
    if (this.#finalized) return outputEncoding === undefined ? Buffer.alloc(0) : "";
    this.#finalized = true;
    const result = this.#native.digest();
    const buffer = Buffer.from(result.buffer, result.byteOffset, result.byteLength);
    if (outputEncoding === undefined || outputEncoding === "buffer") return buffer;
    return buffer.toString(outputEncoding);
  }
}

function createHash(algorithm, options) {
  return new Hash(algorithm, options);
}

function createHmac(algorithm, key) {
  return new Hmac(algorithm, key);
}

function hash(algorithm, data, outputEncoding = "hex") {
  return createHash(algorithm).update(data).digest(outputEncoding);
}

function callbackLater(callback, error, value) {
  queueMicrotask(() => callback(error, value));
}

function randomBytes(size, callback) {
  if (typeof size !== "number" || !(size >= 0) || size > 2 ** 31 - 1) {
    throw codedError(
      typeof size === "number" ? RangeError : TypeError,
      typeof size === "number" ? "ERR_OUT_OF_RANGE" : "ERR_INVALID_ARG_TYPE",
      typeof size === "number"
        ? `The value of "size" is out of range. It must be >= 0 && <= 2147483647. Received ${size}`
        : `The "size" argument must be of type number. Received ${typeName(size)}`,
    );
  }
  const buffer = Buffer.alloc(size);
  for (let i = 0; i < size; i += 65536)
    globalThis.crypto.getRandomValues(buffer.subarray(i, Math.min(size, i + 65536)));
  if (typeof callback === "function") {
    callbackLater(callback, null, buffer);
    return undefined;
  }
  return buffer;
}

function randomFillSync(buffer, offset = 0, size) {
  const bytes = bytesOf(buffer, "buf");
  const end = size === undefined ? bytes.length : offset + size;
  for (let i = offset; i < end; i += 65536) {
    globalThis.crypto.getRandomValues(bytes.subarray(i, Math.min(end, i + 65536)));
  }
  return buffer;
}

function randomFill(buffer, offset, size, callback) {
  if (typeof offset === "function") {
    callback = offset;
    offset = 0;
    size = undefined;
  } else if (typeof size === "function") {
    callback = size;
    size = undefined;
  }
  randomFillSync(buffer, offset, size);
  callbackLater(callback, null, buffer);
}

function randomInt(min, max, callback) {
  if (typeof max === "undefined" || typeof max === "function") {
    callback = max;
    max = min;
    min = 0;
  }
  if (!Number.isSafeInteger(min)) {
    throw codedError(
      TypeError,
      "ERR_INVALID_ARG_TYPE",
      `The "min" argument must be a safe integer. Received ${typeName(min)}`,
    );
  }
  if (!Number.isSafeInteger(max)) {
    throw codedError(
      TypeError,
      "ERR_INVALID_ARG_TYPE",
      `The "max" argument must be a safe integer. Received ${typeName(max)}`,
    );
  }
  if (max <= min) {
    throw codedError(
      RangeError,
      "ERR_OUT_OF_RANGE",
      `The value of "max" is out of range. It must be greater than the value of "min" (${min}). Received ${max}`,
    );
  }
  const range = max - min;
  // Rejection sampling over 48 random bits, as Node does.
  const limit = 2 ** 48 - (2 ** 48 % range);
  let value;
  do {
    const bytes = randomBytes(6);
    value = bytes.readUIntBE(0, 6);
  } while (value >= limit);
  const result = min + (value % range);
  if (typeof callback === "function") {
    callbackLater(callback, null, result);
    return undefined;
  }
  return result;
}

function checkDigest(digest) {
  if (typeof digest !== "string") {
    throw codedError(
      TypeError,
      "ERR_INVALID_ARG_TYPE",
      `The "digest" argument must be of type string. Received ${typeName(digest)}`,
    );
  }
  const name = digest.toLowerCase().replace(/^sha-/, "sha");
  if (!hashes.includes(name)) throw codedError(TypeError, "ERR_CRYPTO_INVALID_DIGEST", `Invalid digest: ${digest}`);
  return name;
}

function pbkdf2Sync(password, salt, iterations, keylen, digest) {
  const name = checkDigest(digest);
  const key = toBuffer(password, "utf8", "password");
  const saltBytes = toBuffer(salt, "utf8", "salt");
  if (!Number.isInteger(iterations) || iterations < 1) {
    throw codedError(
      RangeError,
      "ERR_OUT_OF_RANGE",
      `The value of "iterations" is out of range. It must be >= 1 && <= 2147483647. Received ${iterations}`,
    );
  }
  if (!Number.isInteger(keylen) || keylen < 0) {
    throw codedError(
      RangeError,
      "ERR_OUT_OF_RANGE",
      `The value of "keylen" is out of range. It must be >= 0 && <= 2147483647. Received ${keylen}`,
    );
  }
  const hashLength = digestLengths[name];
  const out = Buffer.alloc(keylen);
  const blockIndex = Buffer.alloc(4);
  for (let block = 1, offset = 0; offset < keylen; block++, offset += hashLength) {
    blockIndex.writeUInt32BE(block, 0);
    let u = nativeHmac(name, key).update(saltBytes).update(blockIndex).digest();
    const t = new Uint8Array(u);
    for (let i = 1; i < iterations; i++) {
      u = nativeHmac(name, key).update(u).digest();
      for (let j = 0; j < t.length; j++) t[j] ^= u[j];
    }
    out.set(t.subarray(0, Math.min(hashLength, keylen - offset)), offset);
  }
  return out;
}

function pbkdf2(password, salt, iterations, keylen, digest, callback) {
  if (typeof digest === "function") {
    callback = digest;
    digest = undefined;
  }
  if (typeof callback !== "function") {
    throw codedError(
      TypeError,
      "ERR_INVALID_ARG_TYPE",
      `The "callback" argument must be of type function. Received ${typeName(callback)}`,
    );
  }
  const name = checkDigest(digest);
  const key = toBuffer(password, "utf8", "password");
  const saltBytes = toBuffer(salt, "utf8", "salt");
  if (name === "md5") {
    // Web Crypto has no MD5 (and LLRT's would not survive asking).
    let result;
    try {
      result = pbkdf2Sync(password, salt, iterations, keylen, digest);
    } catch (error) {
      callbackLater(callback, error);
      return;
    }
    callbackLater(callback, null, result);
    return;
  }
  const subtle = globalThis.crypto.subtle;
  const hashName = { md5: "MD5", sha1: "SHA-1", sha256: "SHA-256", sha384: "SHA-384", sha512: "SHA-512" }[name];
  subtle
    .importKey("raw", key, "PBKDF2", false, ["deriveBits"])
    .then((base) =>
      subtle.deriveBits({ name: "PBKDF2", hash: hashName, salt: saltBytes, iterations }, base, keylen * 8),
    )
    .then(
      (bits) => callback(null, Buffer.from(bits)),
      () => {
        // Web Crypto refuses some inputs (MD5, zero length): compute them here.
        let result;
        try {
          result = pbkdf2Sync(password, salt, iterations, keylen, digest);
        } catch (error) {
          callback(error);
          return;
        }
        callback(null, result);
      },
    );
}

function hkdfSync(digest, ikm, salt, info, keylen) {
  const name = checkDigest(digest);
  const hashLength = digestLengths[name];
  const key =
    ikm && typeof ikm === "object" && typeof ikm.export === "function" ? ikm.export() : toBuffer(ikm, "utf8", "ikm");
  const saltBytes = toBuffer(salt, "utf8", "salt");
  const infoBytes = toBuffer(info, "utf8", "info");
  if (keylen > 255 * hashLength) {
    throw codedError(RangeError, "ERR_CRYPTO_INVALID_KEYLEN", "Invalid key length");
  }
  const prk = nativeHmac(name, saltBytes.length ? saltBytes : Buffer.alloc(hashLength))
    .update(key)
    .digest();
  const out = new Uint8Array(keylen);
  let previous = new Uint8Array(0);
  for (let i = 0, offset = 0; offset < keylen; i++) {
    previous = nativeHmac(name, prk)
      .update(previous)
      .update(infoBytes)
      .update(new Uint8Array([i + 1]))
      .digest();
    out.set(previous.subarray(0, Math.min(previous.length, keylen - offset)), offset);
    offset += previous.length;
  }
  return out.buffer;
}

function hkdf(digest, ikm, salt, info, keylen, callback) {
  let result;
  try {
    result = hkdfSync(digest, ikm, salt, info, keylen);
  } catch (error) {
    callbackLater(callback, error);
    return;
  }
  callbackLater(callback, null, result);
}

function getRandomValues(array) {
  return globalThis.crypto.getRandomValues(array);
}

module.exports = {
  Hash,
  Hmac,
  createHash,
  createHmac,
  hash,
  getHashes: () => hashes.slice(),
  getCiphers: () => [],
  getCurves: () => [],
  getFips: () => 0,
  hkdf,
  hkdfSync,
  pbkdf2,
  pbkdf2Sync,
  randomBytes,
  pseudoRandomBytes: randomBytes,
  randomFill,
  randomFillSync,
  randomInt,
  randomUUID: () => globalThis.crypto.randomUUID(),
  getRandomValues,
  timingSafeEqual,
  subtle: globalThis.crypto.subtle,
  webcrypto: globalThis.crypto,
  constants: {},
};
