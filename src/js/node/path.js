// node:path (and node:path/posix): LLRT's POSIX path functions. Workers paths are POSIX, so
// `posix` and `win32` both name this module.
"use strict";
const native = require("stepflare:llrt/path");
const path = { ...native };
path.posix = path;
path.win32 = path;
path.toNamespacedPath = (p) => p;
module.exports = path;
