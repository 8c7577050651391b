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

// The helpers that rewritten async functions run through (the names are those of Babel's
// helpers, which oxc's rewrite calls). The helper that async functions, rewritten as
// generators, run through. Each `await` is a
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

// Async generators and `for await`, rewritten the same way: inside the generator, `yield
// awaitAsyncGenerator(x)` stands for `await x`, and a plain `yield` is a yield.
// `resumeWith` is how the generator goes on once `value` settles: "next" after an await; after a
// step of `yield*` that forwarded a `return`, "return", so that the delegation ends as one.
class AwaitMarker {
  constructor(value, resumeWith = "next") {
    this.value = value;
    this.resumeWith = resumeWith;
  }
}

const awaitAsyncGenerator = (value) => new AwaitMarker(value);

// The object an async generator function returns: requests (next, throw, return) queue up and
// are served one at a time, as the language's own async generators serve them.
class AsyncGenerator {
  #generator;
  #requests = [];
  #busy = false;
  #finished = false;

  constructor(generator) {
    this.#generator = generator;
  }

  next(value) {
    return this.#request("next", value);
  }

  throw(error) {
    return this.#request("throw", error);
  }

  return(value) {
    return this.#request("return", value);
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  #request(method, argument) {
    return new Promise((resolve, reject) => {
      this.#requests.push({ method, argument, resolve, reject });
      if (!this.#busy) this.#serve();
    });
  }

  #serve() {
    const request = this.#requests[0];
    if (!request) {
      this.#busy = false;
      return;
    }
    this.#busy = true;
    if (!this.#finished) {
      this.#resume(request.method, request.argument);
      return;
    }
    if (request.method === "next") this.#settle("resolve", { value: undefined, done: true });
    else if (request.method === "throw") this.#settle("reject", request.argument);
    else {
      Promise.resolve(request.argument).then(
        (value) => this.#settle("resolve", { value, done: true }),
        (error) => this.#settle("reject", error),
      );
    }
  }

  #resume(method, argument) {
    let result;
    try {
      result = this.#generator[method](argument);
    } catch (error) {
      this.#finished = true;
      this.#settle("reject", error);
      return;
    }
    const { value, done } = result;
    if (!done && value instanceof AwaitMarker) {
      Promise.resolve(value.value).then(
        (settled) => this.#resume(value.resumeWith, settled),
        (error) => this.#resume("throw", error),
      );
      return;
    }
    // What an async generator yields or returns is awaited first.
    Promise.resolve(value).then(
      (settled) => {
        if (done) this.#finished = true;
        this.#settle("resolve", { value: settled, done });
      },
      (error) => {
        if (done) {
          this.#finished = true;
          this.#settle("reject", error);
        } else {
          this.#resume("throw", error);
        }
      },
    );
  }

  #settle(outcome, value) {
    const request = this.#requests.shift();
    request[outcome](value);
    this.#serve();
  }
}

function wrapAsyncGenerator(makeGenerator) {
  return function (...args) {
    return new AsyncGenerator(Reflect.apply(makeGenerator, this, args));
  };
}

// `for await` over anything: an async iterable, or a sync one whose values are awaited.
function asyncIterator(iterable) {
  if (iterable != null) {
    const asyncMethod = iterable[Symbol.asyncIterator];
    if (asyncMethod != null) return Reflect.apply(asyncMethod, iterable, []);
    const syncMethod = iterable[Symbol.iterator];
    if (syncMethod != null) return fromSyncIterator(Reflect.apply(syncMethod, iterable, []));
  }
  throw new TypeError("Object is not async iterable");
}

function fromSyncIterator(iterator) {
  const settle = (step) => {
    try {
      const result = step();
      if (Object(result) !== result) throw new TypeError(`Iterator result ${result} is not an object`);
      const done = Boolean(result.done);
      return Promise.resolve(result.value).then((value) => ({ value, done }));
    } catch (error) {
      return Promise.reject(error);
    }
  };
  return {
    next: (value) => settle(() => iterator.next(value)),
    return: (value) =>
      typeof iterator.return === "function"
        ? settle(() => iterator.return(value))
        : Promise.resolve({ value, done: true }),
    throw: (error) =>
      typeof iterator.throw === "function" ? settle(() => iterator.throw(error)) : Promise.reject(error),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

// `yield*` inside an async generator: each step of `inner` is awaited through an AwaitMarker,
// and its result object is handed back to the generator's own `yield*`.
function asyncGeneratorDelegate(inner) {
  let waiting = false;
  const pump = (method, value) => {
    waiting = true;
    const step = new Promise((resolve) => {
      if (typeof inner[method] !== "function") {
        if (method === "throw") throw value;
        resolve({ value, done: true });
        return;
      }
      resolve(inner[method](value));
    });
    return { done: false, value: new AwaitMarker(step, method === "return" ? "return" : "next") };
  };
  const delegate = {
    next(value) {
      if (waiting) {
        waiting = false;
        return value;
      }
      return pump("next", value);
    },
    throw(error) {
      if (waiting) {
        waiting = false;
        throw error;
      }
      return pump("throw", error);
    },
    return(value) {
      if (waiting) {
        waiting = false;
        return value;
      }
      return pump("return", value);
    },
    [Symbol.iterator]() {
      return this;
    },
  };
  return delegate;
}

const helpers = globalThis.babelHelpers ?? {};
Object.assign(helpers, { asyncToGenerator, awaitAsyncGenerator, wrapAsyncGenerator, asyncIterator, asyncGeneratorDelegate });
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
