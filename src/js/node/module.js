// node:module: the list of Node's built-ins, isBuiltin, and createRequire, whose require loads
// the built-ins stepflare emulates (files and packages are loaded by import or by the require of
// a CommonJS file, not from here).
"use strict";

const requireBuiltin = require;

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

function createRequire(filename) {
  let from = filename;
  if (from instanceof URL) from = from.href;
  // Modules have no import.meta.url in stepflare yet: createRequire(import.meta.url) still works.
  if (from === undefined) from = "<module>";
  if (typeof from !== "string") {
    const error = new TypeError(
      `The argument 'filename' must be a file URL object, file URL string, or absolute path string. Received ${String(filename)}`,
    );
    error.code = "ERR_INVALID_ARG_VALUE";
    throw error;
  }
  function require(id) {
    if (typeof id !== "string") {
      const error = new TypeError(`The "id" argument must be of type string. Received ${typeof id}`);
      error.code = "ERR_INVALID_ARG_TYPE";
      throw error;
    }
    if (!isBuiltin(id)) {
      const error = new Error(
        `Cannot find module '${id}' from ${from}: in stepflare, the require() of createRequire() loads Node.js built-ins only; import the module instead`,
      );
      error.code = "MODULE_NOT_FOUND";
      throw error;
    }
    return requireBuiltin(id.startsWith("node:") ? id : `node:${id}`);
  }
  require.resolve = (id) => {
    if (isBuiltin(id)) return id;
    const error = new Error(`Cannot find module '${id}' from ${from}`);
    error.code = "MODULE_NOT_FOUND";
    throw error;
  };
  require.cache = Object.create(null);
  require.main = undefined;
  return require;
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
