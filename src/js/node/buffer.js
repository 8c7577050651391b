// node:buffer: LLRT's Buffer, with the module's other exports.
"use strict";
const native = require("stepflare:llrt/buffer");
const { Buffer } = native;

const kMaxLength = native.constants.MAX_LENGTH;
const kStringMaxLength = native.constants.MAX_STRING_LENGTH;

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

module.exports = {
  Buffer,
  SlowBuffer: Buffer,
  Blob: globalThis.Blob,
  File: globalThis.File,
  atob: native.atob,
  btoa: native.btoa,
  constants: native.constants,
  kMaxLength,
  kStringMaxLength,
  INSPECT_MAX_BYTES: 50,
  isUtf8,
  isAscii,
};
