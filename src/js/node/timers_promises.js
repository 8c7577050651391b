// node:timers/promises: promise forms of the timers, the `setInterval` async iterator, and
// `scheduler.wait`/`scheduler.yield`, each cancellable with an AbortSignal.
"use strict";

const timers = require("node:timers");

function abortError(signal) {
  const error = new Error("The operation was aborted", { cause: signal.reason });
  error.name = "AbortError";
  error.code = "ABORT_ERR";
  return error;
}

function invalidArgType(name, expected, value) {
  const kind = name.includes(".") ? "property" : "argument";
  const error = new TypeError(
    `The "${name}" ${kind} must be ${expected}. Received ${value === null ? "null" : typeof value}`,
  );
  error.code = "ERR_INVALID_ARG_TYPE";
  return error;
}

function checkOptions(options) {
  if (options === null || typeof options !== "object") {
    return Promise.reject(invalidArgType("options", "of type object", options));
  }
  const { signal, ref } = options;
  if (signal !== undefined && (signal === null || typeof signal !== "object" || !("aborted" in signal))) {
    return Promise.reject(invalidArgType("options.signal", "an instance of AbortSignal", signal));
  }
  if (ref !== undefined && typeof ref !== "boolean") {
    return Promise.reject(invalidArgType("options.ref", "of type boolean", ref));
  }
  return undefined;
}

function delayed(start, clear, value, options) {
  const invalid = checkOptions(options);
  if (invalid) return invalid;
  const { signal } = options;
  if (signal && signal.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    let onAbort;
    const handle = start(() => {
      if (signal) signal.removeEventListener("abort", onAbort);
      resolve(value);
    });
    if (signal) {
      onAbort = () => {
        clear(handle);
        reject(abortError(signal));
      };
      signal.addEventListener("abort", onAbort, { once: true });
    }
  });
}

function setTimeout(after, value, options = {}) {
  return delayed((fn) => timers.setTimeout(fn, after), timers.clearTimeout, value, options);
}

function setImmediate(value, options = {}) {
  return delayed((fn) => timers.setImmediate(fn), timers.clearImmediate, value, options);
}

async function* setInterval(after, value, options = {}) {
  const invalid = checkOptions(options);
  if (invalid) await invalid;
  const { signal } = options;
  if (signal && signal.aborted) throw abortError(signal);
  let pending = 0;
  let wake;
  const interval = timers.setInterval(() => {
    pending++;
    if (wake) {
      wake();
      wake = undefined;
    }
  }, after);
  let onAbort;
  if (signal) {
    onAbort = () => {
      if (wake) {
        wake();
        wake = undefined;
      }
    };
    signal.addEventListener("abort", onAbort, { once: true });
  }
  try {
    while (true) {
      if (signal && signal.aborted) throw abortError(signal);
      if (pending === 0) await new Promise((resolve) => (wake = resolve));
      if (signal && signal.aborted) throw abortError(signal);
      for (; pending > 0; pending--) yield value;
    }
  } finally {
    timers.clearInterval(interval);
    if (signal) signal.removeEventListener("abort", onAbort);
  }
}

const scheduler = {
  wait: (delay, options) => setTimeout(delay, undefined, options),
  yield: () => setImmediate(),
};

module.exports = { setTimeout, setImmediate, setInterval, scheduler };
