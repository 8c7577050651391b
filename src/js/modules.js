// The CommonJS half of stepflare's module system, evaluated once per context, on first use, as a
// script (so it never goes through the ES module loader). It keeps the `require` cache of the
// context: CommonJS files, JSON and text files, and the Node.js built-ins, which are written as
// CommonJS bodies (src/js/node/*.js). ES modules reach it through facades the loader writes.
//
// `host` is the Rust half (src/js/commonjs.rs):
//   resolve(fromId, specifier) -> [kind, id]   kind: "commonjs" | "esm" | "json" | "text" | "builtin"
//   compile(id) -> function (exports, require, module, __filename, __dirname) of a CommonJS file
//   text(id) -> the text of a JSON or text file
//   builtin(name) -> function (exports, require, module) of a built-in, e.g. "node:events"
//   native(name) -> the exports of an LLRT module, e.g. "buffer"
//   options -> { populateProcessEnv: boolean, builtinModules: Node's built-ins (without `node:`) }
(function (host) {
  "use strict";

  const cache = new Map();

  class Module {
    constructor(id, parent) {
      this.id = id;
      this.filename = id;
      this.path = dirname(id);
      this.exports = {};
      this.parent = parent;
      this.loaded = false;
      this.children = [];
      if (parent) parent.children.push(this);
    }
  }

  function dirname(id) {
    const slash = id.lastIndexOf("/");
    return slash > 0 ? id.slice(0, slash) : "/";
  }

  function load(kind, id, parent) {
    const cached = cache.get(id);
    if (cached) return cached.exports;
    if (kind === "esm") {
      throw new Error(
        `require() of the ES module ${id}${parent ? ` from ${parent.id}` : ""} is not supported: use import instead`,
      );
    }
    const module = new Module(id, parent);
    cache.set(id, module);
    try {
      switch (kind) {
        case "commonjs": {
          const body = host.compile(id);
          body.call(module.exports, module.exports, requireFrom(module), module, id, module.path);
          break;
        }
        case "builtin": {
          const body = host.builtin(id);
          body.call(module.exports, module.exports, requireBuiltin, module);
          break;
        }
        case "json": {
          try {
            module.exports = JSON.parse(host.text(id));
          } catch (error) {
            throw new SyntaxError(`${id}: ${error.message}`);
          }
          break;
        }
        case "text":
          module.exports = host.text(id);
          break;
        default:
          throw new Error(`unknown module kind ${kind} for ${id}`);
      }
    } catch (error) {
      cache.delete(id);
      throw error;
    }
    module.loaded = true;
    return module.exports;
  }

  function requireFrom(module) {
    function require(specifier) {
      if (typeof specifier !== "string") {
        throw new TypeError(`require() takes a string, not ${typeof specifier}`);
      }
      const [kind, id] = host.resolve(module.id, specifier);
      return load(kind, id, module);
    }
    require.resolve = (specifier) => host.resolve(module.id, specifier)[1];
    require.cache = cacheView;
    require.main = undefined;
    return require;
  }

  // Built-ins require each other by name, LLRT's native modules as "stepflare:llrt/<name>", the
// Worker's Node.js options (`{ populateProcessEnv, builtinModules }`) as "stepflare:options",
// and a maker of a file's `require` as "stepflare:require-from".
  function requireBuiltin(specifier) {
    if (specifier === "stepflare:options") return host.options;
    // For node:module's createRequire: the `require` of a file by its absolute path.
    if (specifier === "stepflare:require-from") return (path) => requireFrom(new Module(path, undefined));
    if (specifier.startsWith("stepflare:llrt/")) {
      const name = specifier.slice("stepflare:llrt/".length);
      const cached = cache.get(specifier);
      if (cached) return cached.exports;
      const module = new Module(specifier, undefined);
      module.exports = host.native(name);
      module.loaded = true;
      cache.set(specifier, module);
      return module.exports;
    }
    const id = specifier.startsWith("node:") ? specifier : `node:${specifier}`;
    return load("builtin", id, undefined);
  }

  // `require.cache`, as an object keyed by id, which deleting from forgets a module.
  const cacheView = new Proxy(Object.create(null), {
    get: (_, id) => cache.get(id),
    has: (_, id) => cache.has(id),
    deleteProperty: (_, id) => cache.delete(id),
    ownKeys: () => [...cache.keys()],
    getOwnPropertyDescriptor: (_, id) =>
      cache.has(id) ? { value: cache.get(id), enumerable: true, configurable: true, writable: true } : undefined,
  });

  // What the loader needs to write a facade: the exports of a module, and the names an ES
  // module may import from them (esbuild copies every own property; names that are not
  // identifiers cannot be written as `export { x as name }` here and are left to the default).
  function exportNames(exports) {
    if (exports === null || (typeof exports !== "object" && typeof exports !== "function")) return [];
    const names = [];
    for (const name of Object.getOwnPropertyNames(exports)) {
      if (name !== "default" && /^[A-Za-z_$][\w$]*$/.test(name)) names.push(name);
    }
    return names;
  }

  return {
    /// Loads (once) the module `id` of kind `kind` for an ES module's import.
    load: (kind, id) => load(kind, id, undefined),
    /// The exports of a module already loaded.
    exportsOf: (id) => cache.get(id).exports,
    exportNames,
    requireBuiltin,
    options: host.options,
  };
});
