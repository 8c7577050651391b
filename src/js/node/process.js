// node:process: the process object of a Worker, an EventEmitter. `env` holds the Worker's vars
// when the Worker's Node.js options populate it (strings as they are, other values as JSON
// text); nothing else of the host leaks in. `exit()` cannot stop a Worker and throws.
"use strict";

const EventEmitter = require("node:events");
const { populateProcessEnv } = require("stepflare:options");

const NODE_VERSION = "22.14.0";

function invalidArgType(name, expected, value) {
  const error = new TypeError(
    `The "${name}" argument must be of type ${expected}. Received ${value === null ? "null" : typeof value}`,
  );
  error.code = "ERR_INVALID_ARG_TYPE";
  return error;
}

function makeEnv() {
  const target = {};
  const vars = populateProcessEnv && globalThis.__stepflare ? globalThis.__stepflare.vars : undefined;
  if (vars && typeof vars === "object") {
    for (const [key, value] of Object.entries(vars)) {
      target[key] = typeof value === "string" ? value : JSON.stringify(value);
    }
  }
  return new Proxy(target, {
    set(object, key, value) {
      if (typeof key === "symbol") return Reflect.set(object, key, value);
      object[key] = String(value);
      return true;
    },
    defineProperty(object, key, descriptor) {
      if ("value" in descriptor && typeof key !== "symbol") {
        object[key] = String(descriptor.value);
        return true;
      }
      return Reflect.defineProperty(object, key, descriptor);
    },
  });
}

// As in workerd, a tick is a microtask: it runs after the promise callbacks queued before it.
function nextTick(callback, ...args) {
  if (typeof callback !== "function") throw invalidArgType("callback", "function", callback);
  queueMicrotask(() => callback(...args));
}

function now() {
  return globalThis.performance && typeof performance.now === "function" ? performance.now() : Date.now();
}

function hrtime(previous) {
  const ms = now();
  let seconds = Math.floor(ms / 1000);
  let nanoseconds = Math.floor((ms % 1000) * 1e6);
  if (previous !== undefined) {
    if (!Array.isArray(previous)) throw invalidArgType("time", "an instance of Array", previous);
    seconds -= previous[0];
    nanoseconds -= previous[1];
    if (nanoseconds < 0) {
      seconds -= 1;
      nanoseconds += 1e9;
    }
  }
  return [seconds, nanoseconds];
}
hrtime.bigint = () => BigInt(Math.floor(now() * 1e6));

function memoryUsage() {
  return { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
}
memoryUsage.rss = () => 0;

class process extends EventEmitter {}

const proc = new process();

function emitWarning(warning, type, code) {
  let detail;
  if (type !== null && typeof type === "object" && !Array.isArray(type)) {
    code = type.code;
    if (typeof type.detail === "string") detail = type.detail;
    type = type.type || "Warning";
  } else if (typeof type === "function") {
    code = undefined;
    type = "Warning";
  }
  if (type !== undefined && typeof type !== "string") throw invalidArgType("type", "string", type);
  if (typeof code === "function") {
    code = undefined;
  } else if (code !== undefined && typeof code !== "string") {
    throw invalidArgType("code", "string", code);
  }
  if (typeof warning === "string") {
    const error = new Error(warning);
    error.name = String(type || "Warning");
    if (code !== undefined) error.code = code;
    if (detail !== undefined) error.detail = detail;
    warning = error;
  } else if (!(warning instanceof Error)) {
    throw invalidArgType("warning", "string or an instance of Error", warning);
  }
  if (warning.name === "DeprecationWarning" && proc.noDeprecation) return;
  nextTick(() => {
    proc.emit("warning", warning);
    const prefix = warning.code ? `[${warning.code}] ` : "";
    let text = `(node) ${prefix}${warning.name}: ${warning.message}`;
    if (typeof warning.detail === "string") text += `\n${warning.detail}`;
    console.warn(text);
  });
}

function exit(code) {
  if (code !== undefined) proc.exitCode = code;
  const error = new Error(
    `process.exit(${code === undefined ? "" : code}) was called, but a Worker cannot exit: throw an error or return instead`,
  );
  error.code = "ERR_WORKER_EXIT";
  throw error;
}

function unavailable(name) {
  return () => {
    const error = new Error(`process.${name}() is not supported in a Worker`);
    error.code = "ERR_METHOD_NOT_IMPLEMENTED";
    throw error;
  };
}

function stream(fd, log) {
  const out = new EventEmitter();
  out.fd = fd;
  out.isTTY = false;
  out.writable = true;
  out.write = (chunk, encoding, callback) => {
    if (typeof encoding === "function") callback = encoding;
    let text = typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
    if (text.endsWith("\n")) text = text.slice(0, -1);
    log(text);
    if (typeof callback === "function") nextTick(callback);
    return true;
  };
  out.end = (chunk, encoding, callback) => {
    if (typeof chunk === "function") callback = chunk;
    else if (chunk !== undefined && chunk !== null) out.write(chunk, encoding);
    if (typeof encoding === "function") callback = encoding;
    if (typeof callback === "function") nextTick(callback);
    return out;
  };
  return out;
}

function getBuiltinModule(id) {
  if (typeof id !== "string") throw invalidArgType("id", "string", id);
  if (id.startsWith("stepflare:") || id.includes("internal/")) return undefined;
  try {
    return require(id.startsWith("node:") ? id : `node:${id}`);
  } catch {
    return undefined;
  }
}

Object.assign(proc, {
  title: "node",
  version: `v${NODE_VERSION}`,
  versions: { node: NODE_VERSION },
  release: { name: "node", lts: "Jod" },
  arch: "x64",
  platform: "linux",
  argv: [],
  argv0: "node",
  execArgv: [],
  execPath: "",
  pid: 1,
  ppid: 0,
  exitCode: undefined,
  env: makeEnv(),
  config: { target_defaults: {}, variables: {} },
  features: {
    inspector: false,
    debug: false,
    uv: false,
    ipv6: true,
    tls_alpn: true,
    tls_sni: true,
    tls_ocsp: true,
    tls: true,
    cached_builtins: true,
    require_module: true,
    typescript: false,
  },
  nextTick,
  emitWarning,
  exit,
  abort: unavailable("abort"),
  kill: unavailable("kill"),
  chdir: unavailable("chdir"),
  cwd: () => "/",
  umask: () => 0o22,
  hrtime,
  uptime: () => now() / 1000,
  memoryUsage,
  cpuUsage: () => ({ user: 0, system: 0 }),
  resourceUsage: () => ({}),
  getBuiltinModule,
  getuid: () => 0,
  getgid: () => 0,
  geteuid: () => 0,
  getegid: () => 0,
  ref: () => {},
  unref: () => {},
});
proc.stdout = stream(1, (text) => console.log(text));
proc.stderr = stream(2, (text) => console.error(text));
proc.stdin = Object.assign(new EventEmitter(), { fd: 0, isTTY: false, readable: false });

module.exports = proc;
