// node:async_hooks: AsyncLocalStorage and AsyncResource, as Workers offer them.
//
// The current context is a frame: an immutable Map from each AsyncLocalStorage to its store.
// A frame is captured wherever work is scheduled for later (a `then` callback, a timer, a
// microtask) and restored while that work runs. QuickJS's own `await` resumes without any hook,
// so projects that import this module have their async functions rewritten by stepflare into
// generators driven by `babelHelpers.asyncToGenerator` (below), whose every resumption is a
// `then` callback. Loading this module installs the capturing; it is loaded before any user code
// in a project that imports it.
"use strict";

const EMPTY = new Map();
let current = EMPTY;

function runIn(frame, fn, thisArg, args) {
  const outer = current;
  current = frame;
  try {
    return Reflect.apply(fn, thisArg, args);
  } finally {
    current = outer;
  }
}

function bindTo(frame, fn) {
  if (typeof fn !== "function" || frame === EMPTY) return fn;
  return function (...args) {
    return runIn(frame, fn, this, args);
  };
}

function bind(fn) {
  return bindTo(current, fn);
}

class AsyncLocalStorage {
  #enabled = true;

  static bind(fn) {
    return bind(fn);
  }

  static snapshot() {
    const frame = current;
    return (fn, ...args) => runIn(frame, fn, undefined, args);
  }

  getStore() {
    return this.#enabled ? current.get(this) : undefined;
  }

  run(store, callback, ...args) {
    this.#enabled = true;
    const frame = new Map(current);
    frame.set(this, store);
    return runIn(frame, callback, undefined, args);
  }

  exit(callback, ...args) {
    if (!current.has(this)) return Reflect.apply(callback, undefined, args);
    const frame = new Map(current);
    frame.delete(this);
    return runIn(frame, callback, undefined, args);
  }

  enterWith(store) {
    this.#enabled = true;
    const frame = new Map(current);
    frame.set(this, store);
    current = frame;
  }

  disable() {
    this.#enabled = false;
    if (current.has(this)) {
      const frame = new Map(current);
      frame.delete(this);
      current = frame;
    }
  }

  get name() {
    return "";
  }
}

let nextAsyncId = 1;

class AsyncResource {
  #frame = current;
  #asyncId = ++nextAsyncId;
  #triggerAsyncId;

  constructor(type, options = {}) {
    if (typeof type !== "string") throw new TypeError('The "type" argument must be of type string');
    this.type = type;
    this.#triggerAsyncId = typeof options === "number" ? options : (options.triggerAsyncId ?? 1);
  }

  static bind(fn, type, thisArg) {
    return new AsyncResource(type || fn.name || "bound-anonymous-fn").bind(fn, thisArg);
  }

  runInAsyncScope(fn, thisArg, ...args) {
    return runIn(this.#frame, fn, thisArg, args);
  }

  bind(fn, thisArg) {
    const resource = this;
    const bound = function (...args) {
      return resource.runInAsyncScope(fn, thisArg === undefined ? this : thisArg, ...args);
    };
    Object.defineProperty(bound, "length", { value: fn.length });
    bound.asyncResource = this;
    return bound;
  }

  emitDestroy() {
    return this;
  }

  asyncId() {
    return this.#asyncId;
  }

  triggerAsyncId() {
    return this.#triggerAsyncId;
  }
}

// Capture the frame wherever a callback is scheduled.
const nativeThen = Promise.prototype.then;
Object.defineProperty(Promise.prototype, "then", {
  configurable: true,
  writable: true,
  value: function then(onFulfilled, onRejected) {
    const frame = current;
    if (frame === EMPTY) return Reflect.apply(nativeThen, this, [onFulfilled, onRejected]);
    return Reflect.apply(nativeThen, this, [bindTo(frame, onFulfilled), bindTo(frame, onRejected)]);
  },
});

// (`setImmediate`, where Node's globals are set up lazily, is built on `setTimeout` when it is.)
for (const name of ["setTimeout", "setInterval"]) {
  const schedule = globalThis[name];
  if (typeof schedule !== "function") continue;
  globalThis[name] = function (callback, ...rest) {
    return Reflect.apply(schedule, this, [bind(callback), ...rest]);
  };
}
if (typeof globalThis.queueMicrotask === "function") {
  const queue = globalThis.queueMicrotask;
  globalThis.queueMicrotask = (callback) => queue(bind(callback));
}

// The helper that async functions, rewritten as generators, run through. Each `await` is a
// `then` on the awaited value, so the frame in force when the function awaited is the one it
// resumes in.
function asyncToGenerator(makeGenerator) {
  return function (...args) {
    return new Promise((resolve, reject) => {
      const generator = Reflect.apply(makeGenerator, this, args);
      const step = (method, argument) => {
        let result;
        try {
          result = generator[method](argument);
        } catch (error) {
          reject(error);
          return;
        }
        if (result.done) resolve(result.value);
        else Promise.resolve(result.value).then(next, fail);
      };
      const next = (value) => step("next", value);
      const fail = (error) => step("throw", error);
      next(undefined);
    });
  };
}

const helpers = globalThis.babelHelpers ?? {};
helpers.asyncToGenerator = asyncToGenerator;
Object.defineProperty(globalThis, "babelHelpers", { value: helpers, configurable: true, writable: true });
// stepflare's own code (`step.do` in the prelude) binds user callbacks to the caller's frame.
Object.defineProperty(globalThis, "__stepflare_async_context", { value: { bind }, configurable: true });

function createHook() {
  return { enable() { return this; }, disable() { return this; } };
}

module.exports = {
  AsyncLocalStorage,
  AsyncResource,
  createHook,
  executionAsyncId: () => 1,
  triggerAsyncId: () => 0,
  executionAsyncResource: () => ({}),
  asyncWrapProviders: {},
};
