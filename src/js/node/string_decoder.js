// node:string_decoder: LLRT's StringDecoder.
"use strict";
const native = require("stepflare:llrt/string_decoder");
module.exports = { StringDecoder: native.StringDecoder };
