// node:string_decoder: LLRT's StringDecoder, reporting the encoding by Node's name for it.
"use strict";
const native = require("stepflare:llrt/string_decoder");

const names = {
  utf8: "utf8",
  "utf-8": "utf8",
  ucs2: "utf16le",
  "ucs-2": "utf16le",
  utf16le: "utf16le",
  "utf-16le": "utf16le",
  latin1: "latin1",
  binary: "latin1",
  base64: "base64",
  base64url: "base64url",
  hex: "hex",
  ascii: "ascii",
};

class StringDecoder {
  #native;

  constructor(encoding) {
    const name =
      encoding === undefined || encoding === null || encoding === "" ? "utf8" : names[String(encoding).toLowerCase()];
    if (name === undefined) {
      const error = new TypeError(`Unknown encoding: ${encoding}`);
      error.code = "ERR_UNKNOWN_ENCODING";
      throw error;
    }
    this.#native = new native.StringDecoder(name);
    this.encoding = name;
  }

  write(buffer) {
    if (typeof buffer === "string") return buffer;
    return this.#native.write(buffer);
  }

  end(buffer) {
    return buffer === undefined ? this.#native.end() : this.#native.end(buffer);
  }
}

module.exports = { StringDecoder };
