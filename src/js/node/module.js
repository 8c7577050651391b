// node:module: the list of Node's built-ins, isBuiltin, and createRequire, whose require loads
// what a CommonJS file at the given path would.
"use strict";

const requireFrom = require("stepflare:require-from");

const builtinModules = require("stepflare:options").builtinModules.slice();
const prefixOnly = new Set(["sea", "sqlite", "test", "test/reporters"]);

function isBuiltin(name) {
  if (typeof name !== "string") return false;
  if (name.startsWith("node:")) {
    const bare = name.slice(5);
    return builtinModules.includes(bare) || prefixOnly.has(bare);
  }
  return builtinModules.includes(name);
}

// The `require` of the file `filename` (an absolute path, or a file URL such as
// `import.meta.url`): it loads built-ins, packages and files as a CommonJS file there would.
function createRequire(filename) {
  let from = filename instanceof URL ? filename.href : filename;
  if (typeof from === "string" && from.startsWith("file:")) from = require("node:url").fileURLToPath(from);
  if (typeof from !== "string" || !from.startsWith("/")) {
    const error = new TypeError(
      `The argument 'filename' must be a file URL object, file URL string, or absolute path string. Received ${String(filename)}`,
    );
    error.code = "ERR_INVALID_ARG_VALUE";
    throw error;
  }
  return requireFrom(from);
}

class Module {
  constructor(id = "", parent) {
    this.id = id;
    this.filename = null;
    this.path = ".";
    this.exports = {};
    this.parent = parent;
    this.loaded = false;
    this.children = [];
  }
}

Module.Module = Module;
Module.builtinModules = builtinModules;
Module.isBuiltin = isBuiltin;
Module.createRequire = createRequire;
Module.wrapper = ["(function (exports, require, module, __filename, __dirname) { ", "\n});"];
Module.wrap = (script) => Module.wrapper[0] + script + Module.wrapper[1];
Module.syncBuiltinESMExports = () => {};
Module.register = () => {};
Module.findSourceMap = () => undefined;

module.exports = Module;
