// node:timers: Node's Timeout and Immediate objects over the Worker's global timers.
// `setImmediate` is a zero-delay timeout (Workers have no separate check phase).
"use strict";

const globalSetTimeout = globalThis.setTimeout;
const globalClearTimeout = globalThis.clearTimeout;
const globalSetInterval = globalThis.setInterval;
const globalClearInterval = globalThis.clearInterval;

// Timeouts by the id they answer to as primitives, so `clearTimeout(+timeout)` finds them.
const active = new Map();

function checkCallback(callback) {
  if (typeof callback !== "function") {
    const error = new TypeError(
      `The "callback" argument must be of type function. Received ${callback === null ? "null" : typeof callback}`,
    );
    error.code = "ERR_INVALID_ARG_TYPE";
    throw error;
  }
}

function normalizeDelay(after) {
  after = Number(after);
  if (!(after >= 1 && after <= 2147483647)) after = 1;
  return after;
}

class Timeout {
  #callback;
  #args;
  #repeat;
  #handle;
  #ref = true;

  constructor(callback, after, args, repeat) {
    this.#callback = callback;
    this.#args = args;
    this.#repeat = repeat;
    this._idleTimeout = after;
    this._onTimeout = callback;
    this._repeat = repeat ? after : null;
    this._destroyed = false;
    this.#start();
    this.id = this.#handle;
    active.set(this.id, this);
  }

  #start() {
    const run = () => {
      if (!this.#repeat) {
        this._destroyed = true;
        active.delete(this.id);
      }
      this.#callback.apply(this, this.#args);
    };
    this.#handle = this.#repeat ? globalSetInterval(run, this._idleTimeout) : globalSetTimeout(run, this._idleTimeout);
  }

  #stop() {
    if (this.#repeat) globalClearInterval(this.#handle);
    else globalClearTimeout(this.#handle);
  }

  refresh() {
    if (!this._destroyed) {
      this.#stop();
      this.#start();
    }
    return this;
  }

  close() {
    this.#stop();
    this._destroyed = true;
    active.delete(this.id);
    return this;
  }

  ref() {
    this.#ref = true;
    return this;
  }

  unref() {
    this.#ref = false;
    return this;
  }

  hasRef() {
    return this.#ref;
  }

  [Symbol.toPrimitive]() {
    return this.id;
  }
}

class Immediate {
  #handle;
  #ref = true;

  constructor(callback, args) {
    this._onImmediate = callback;
    this._destroyed = false;
    this.#handle = globalSetTimeout(() => {
      this._destroyed = true;
      callback.apply(this, args);
    }, 0);
  }

  ref() {
    this.#ref = true;
    return this;
  }

  unref() {
    this.#ref = false;
    return this;
  }

  hasRef() {
    return this.#ref;
  }

  _clear() {
    globalClearTimeout(this.#handle);
    this._destroyed = true;
  }
}

function setTimeout(callback, after, ...args) {
  checkCallback(callback);
  return new Timeout(callback, normalizeDelay(after), args, false);
}

function setInterval(callback, repeat, ...args) {
  checkCallback(callback);
  return new Timeout(callback, normalizeDelay(repeat), args, true);
}

function clearTimeout(timer) {
  if (timer instanceof Timeout) {
    timer.close();
    return;
  }
  if (typeof timer === "number" || typeof timer === "string") {
    const found = active.get(Number(timer));
    if (found) found.close();
    else globalClearTimeout(Number(timer));
  }
}

function setImmediate(callback, ...args) {
  checkCallback(callback);
  return new Immediate(callback, args);
}

function clearImmediate(immediate) {
  if (immediate instanceof Immediate) immediate._clear();
}

module.exports = {
  setTimeout,
  clearTimeout,
  setInterval,
  clearInterval: clearTimeout,
  setImmediate,
  clearImmediate,
};
Object.defineProperty(module.exports, "promises", {
  enumerable: true,
  configurable: true,
  get: () => require("node:timers/promises"),
});
