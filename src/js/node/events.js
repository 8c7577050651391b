// node:events: EventEmitter and the module's helpers (once, on, getEventListeners, ...), written
// after Node's documented behaviour. Listeners live in `this._events` as Node keeps them (one
// function, or an array of them), since some packages look there directly.
"use strict";

const kCapture = Symbol("kCapture");
const kRejection = Symbol.for("nodejs.rejection");
const errorMonitor = Symbol("events.errorMonitor");
let defaultMaxListeners = 10;
let captureRejections = false;

function lazyInspect(value, options) {
  return require("node:util").inspect(value, options);
}

function codedError(Kind, code, message) {
  const error = new Kind(message);
  error.code = code;
  return error;
}

function abortError(signal) {
  const error = new Error("The operation was aborted", signal ? { cause: signal.reason } : undefined);
  error.name = "AbortError";
  error.code = "ABORT_ERR";
  return error;
}

function checkListener(listener) {
  if (typeof listener !== "function") {
    throw codedError(
      TypeError,
      "ERR_INVALID_ARG_TYPE",
      `The "listener" argument must be of type function. Received ${describeReceived(listener)}`,
    );
  }
}

function describeReceived(value) {
  if (value === null || value === undefined) return String(value);
  if (typeof value === "function") return `function ${value.name}`;
  if (typeof value === "object") {
    const name = value.constructor && value.constructor.name;
    return name ? `an instance of ${name}` : lazyInspect(value, { depth: -1 });
  }
  let shown = lazyInspect(value, { colors: false });
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return `type ${typeof value} (${shown})`;
}

function checkMaxListeners(n, name) {
  if (typeof n !== "number" || n < 0 || Number.isNaN(n)) {
    throw codedError(
      RangeError,
      "ERR_OUT_OF_RANGE",
      `The value of "${name}" is out of range. It must be a non-negative number. Received ${lazyInspect(n)}`,
    );
  }
}

function EventEmitter(opts) {
  EventEmitter.init.call(this, opts);
}

EventEmitter.prototype._events = undefined;
EventEmitter.prototype._eventsCount = 0;
EventEmitter.prototype._maxListeners = undefined;

EventEmitter.init = function init(opts) {
  if (this._events === undefined || this._events === Object.getPrototypeOf(this)._events) {
    this._events = Object.create(null);
    this._eventsCount = 0;
  }
  this._maxListeners = this._maxListeners || undefined;
  if (opts && opts.captureRejections !== undefined) {
    if (typeof opts.captureRejections !== "boolean") {
      throw codedError(
        TypeError,
        "ERR_INVALID_ARG_TYPE",
        'The "options.captureRejections" property must be of type boolean.',
      );
    }
    this[kCapture] = Boolean(opts.captureRejections);
  } else {
    this[kCapture] = EventEmitter.prototype[kCapture];
  }
};

Object.defineProperty(EventEmitter.prototype, kCapture, { value: false, writable: true, enumerable: false });

Object.defineProperty(EventEmitter, "captureRejections", {
  enumerable: true,
  get: () => captureRejections,
  set(value) {
    if (typeof value !== "boolean") {
      throw codedError(
        TypeError,
        "ERR_INVALID_ARG_TYPE",
        'The "EventEmitter.captureRejections" property must be of type boolean.',
      );
    }
    captureRejections = value;
    EventEmitter.prototype[kCapture] = value;
  },
});

Object.defineProperty(EventEmitter, "defaultMaxListeners", {
  enumerable: true,
  get: () => defaultMaxListeners,
  set(value) {
    checkMaxListeners(value, "defaultMaxListeners");
    defaultMaxListeners = value;
  },
});

EventEmitter.prototype.setMaxListeners = function setMaxListeners(n) {
  checkMaxListeners(n, "n");
  this._maxListeners = n;
  return this;
};

function maxListenersOf(emitter) {
  return emitter._maxListeners === undefined ? defaultMaxListeners : emitter._maxListeners;
}

EventEmitter.prototype.getMaxListeners = function getMaxListeners() {
  return maxListenersOf(this);
};

EventEmitter.prototype.emit = function emit(type, ...args) {
  const events = this._events;
  let doError = type === "error";
  if (events !== undefined) {
    if (doError && events[errorMonitor] !== undefined) this.emit(errorMonitor, ...args);
    doError = doError && events.error === undefined;
  } else if (!doError) {
    return false;
  }

  if (doError) {
    const er = args.length > 0 ? args[0] : undefined;
    if (er instanceof Error) throw er;
    let shown;
    try {
      shown = lazyInspect(er);
    } catch {
      shown = String(er);
    }
    const error = codedError(Error, "ERR_UNHANDLED_ERROR", `Unhandled error. (${shown})`);
    error.context = er;
    throw error;
  }

  const handler = events[type];
  if (handler === undefined) return false;
  if (typeof handler === "function") {
    const result = handler.apply(this, args);
    if (result !== undefined && result !== null) addCatch(this, result, type, args);
  } else {
    const listeners = handler.slice();
    for (let i = 0; i < listeners.length; i++) {
      const result = listeners[i].apply(this, args);
      if (result !== undefined && result !== null) addCatch(this, result, type, args);
    }
  }
  return true;
};

function addCatch(that, promise, type, args) {
  if (!that[kCapture]) return;
  try {
    const then = promise.then;
    if (typeof then === "function") {
      then.call(promise, undefined, (error) => {
        queueMicrotask(() => emitUnhandledRejectionOrErr(that, error, type, args));
      });
    }
  } catch (error) {
    that.emit("error", error);
  }
}

function emitUnhandledRejectionOrErr(that, error, type, args) {
  if (typeof that[kRejection] === "function") {
    that[kRejection](error, type, ...args);
  } else {
    const previous = that[kCapture];
    try {
      that[kCapture] = false;
      that.emit("error", error);
    } finally {
      that[kCapture] = previous;
    }
  }
}

function addListener(target, type, listener, prepend) {
  checkListener(listener);
  let events = target._events;
  if (events === undefined) {
    events = target._events = Object.create(null);
    target._eventsCount = 0;
  } else {
    if (events.newListener !== undefined) {
      target.emit("newListener", type, listener.listener ? listener.listener : listener);
      events = target._events;
    }
  }
  let existing = events[type];
  if (existing === undefined) {
    events[type] = listener;
    ++target._eventsCount;
  } else {
    if (typeof existing === "function") {
      existing = events[type] = prepend ? [listener, existing] : [existing, listener];
    } else if (prepend) {
      existing.unshift(listener);
    } else {
      existing.push(listener);
    }
    const m = maxListenersOf(target);
    if (m > 0 && existing.length > m && !existing.warned) {
      existing.warned = true;
      let name;
      try {
        name = lazyInspect(target, { depth: -1 });
      } catch {
        name = "[EventEmitter]";
      }
      const warning = new Error(
        `Possible EventEmitter memory leak detected. ${existing.length} ${String(type)} listeners added to ${name}. MaxListeners is ${m}. Use emitter.setMaxListeners() to increase limit`,
      );
      warning.name = "MaxListenersExceededWarning";
      warning.emitter = target;
      warning.type = type;
      warning.count = existing.length;
      emitWarning(warning);
    }
  }
  return target;
}

function emitWarning(warning) {
  try {
    const process = require("node:process");
    if (typeof process.emitWarning === "function") {
      process.emitWarning(warning);
      return;
    }
  } catch {
    // no process: fall through to the console
  }
  console.warn(`(node) ${warning.name}: ${warning.message}`);
}

EventEmitter.prototype.addListener = function addListener_(type, listener) {
  return addListener(this, type, listener, false);
};
EventEmitter.prototype.on = EventEmitter.prototype.addListener;

EventEmitter.prototype.prependListener = function prependListener(type, listener) {
  return addListener(this, type, listener, true);
};

function onceWrapper(...args) {
  if (!this.fired) {
    this.target.removeListener(this.type, this.wrapFn);
    this.fired = true;
    return this.listener.apply(this.target, args);
  }
}

function onceWrap(target, type, listener) {
  const state = { fired: false, wrapFn: undefined, target, type, listener };
  const wrapped = onceWrapper.bind(state);
  wrapped.listener = listener;
  state.wrapFn = wrapped;
  return wrapped;
}

EventEmitter.prototype.once = function once(type, listener) {
  checkListener(listener);
  this.on(type, onceWrap(this, type, listener));
  return this;
};

EventEmitter.prototype.prependOnceListener = function prependOnceListener(type, listener) {
  checkListener(listener);
  this.prependListener(type, onceWrap(this, type, listener));
  return this;
};

EventEmitter.prototype.removeListener = function removeListener(type, listener) {
  checkListener(listener);
  const events = this._events;
  if (events === undefined) return this;
  const list = events[type];
  if (list === undefined) return this;

  if (list === listener || list.listener === listener) {
    this._eventsCount -= 1;
    if (this._eventsCount === 0) this._events = Object.create(null);
    else delete events[type];
    if (events.removeListener !== undefined) this.emit("removeListener", type, list.listener || listener);
  } else if (typeof list !== "function") {
    let position = -1;
    let original;
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i] === listener || list[i].listener === listener) {
        original = list[i].listener;
        position = i;
        break;
      }
    }
    if (position < 0) return this;
    if (position === 0) list.shift();
    else list.splice(position, 1);
    if (list.length === 1) events[type] = list[0];
    if (events.removeListener !== undefined) this.emit("removeListener", type, original || listener);
  }
  return this;
};
EventEmitter.prototype.off = EventEmitter.prototype.removeListener;

EventEmitter.prototype.removeAllListeners = function removeAllListeners(type) {
  const events = this._events;
  if (events === undefined) return this;

  if (events.removeListener === undefined) {
    if (arguments.length === 0) {
      this._events = Object.create(null);
      this._eventsCount = 0;
    } else if (events[type] !== undefined) {
      if (--this._eventsCount === 0) this._events = Object.create(null);
      else delete events[type];
    }
    return this;
  }

  if (arguments.length === 0) {
    for (const key of Reflect.ownKeys(events)) {
      if (key === "removeListener") continue;
      this.removeAllListeners(key);
    }
    this.removeAllListeners("removeListener");
    this._events = Object.create(null);
    this._eventsCount = 0;
    return this;
  }

  const listeners = events[type];
  if (typeof listeners === "function") {
    this.removeListener(type, listeners);
  } else if (listeners !== undefined) {
    for (let i = listeners.length - 1; i >= 0; i--) this.removeListener(type, listeners[i]);
  }
  return this;
};

function listenersOf(target, type, unwrap) {
  const events = target._events;
  if (events === undefined) return [];
  const listener = events[type];
  if (listener === undefined) return [];
  if (typeof listener === "function") return unwrap ? [listener.listener || listener] : [listener];
  return unwrap ? listener.map((l) => l.listener || l) : listener.slice();
}

EventEmitter.prototype.listeners = function listeners(type) {
  return listenersOf(this, type, true);
};

EventEmitter.prototype.rawListeners = function rawListeners(type) {
  return listenersOf(this, type, false);
};

function listenerCount(type, listener) {
  const events = this._events;
  if (events !== undefined) {
    const found = events[type];
    if (typeof found === "function") {
      if (listener != null) return listener === found || listener === found.listener ? 1 : 0;
      return 1;
    }
    if (found !== undefined) {
      if (listener != null) {
        let matching = 0;
        for (const l of found) if (l === listener || l.listener === listener) matching++;
        return matching;
      }
      return found.length;
    }
  }
  return 0;
}
EventEmitter.prototype.listenerCount = listenerCount;

EventEmitter.prototype.eventNames = function eventNames() {
  return this._eventsCount > 0 ? Reflect.ownKeys(this._events) : [];
};

EventEmitter.listenerCount = function (emitter, type) {
  if (typeof emitter.listenerCount === "function") return emitter.listenerCount(type);
  return listenerCount.call(emitter, type);
};

function isEventTarget(value) {
  return (
    value !== null &&
    typeof value === "object" &&
    typeof value.addEventListener === "function" &&
    typeof value.removeEventListener === "function"
  );
}

function getEventListeners(emitterOrTarget, type) {
  if (emitterOrTarget && typeof emitterOrTarget.listeners === "function") return emitterOrTarget.listeners(type);
  if (isEventTarget(emitterOrTarget)) return [];
  throw codedError(
    TypeError,
    "ERR_INVALID_ARG_TYPE",
    `The "emitter" argument must be an instance of EventEmitter or EventTarget. Received ${describeReceived(emitterOrTarget)}`,
  );
}

function getMaxListeners(emitterOrTarget) {
  if (emitterOrTarget && typeof emitterOrTarget.getMaxListeners === "function") {
    return maxListenersOf(emitterOrTarget);
  }
  if (isEventTarget(emitterOrTarget)) return emitterOrTarget[kMaxEventTargetListeners] ?? defaultMaxListeners;
  throw codedError(
    TypeError,
    "ERR_INVALID_ARG_TYPE",
    `The "emitter" argument must be an instance of EventEmitter or EventTarget. Received ${describeReceived(emitterOrTarget)}`,
  );
}

const kMaxEventTargetListeners = Symbol("events.maxEventTargetListeners");
const kMaxEventTargetListenersWarned = Symbol("events.maxEventTargetListenersWarned");

function setMaxListeners(n = defaultMaxListeners, ...eventTargets) {
  checkMaxListeners(n, "n");
  if (eventTargets.length === 0) {
    defaultMaxListeners = n;
    return;
  }
  for (const target of eventTargets) {
    if (target && typeof target.setMaxListeners === "function") {
      target.setMaxListeners(n);
    } else if (isEventTarget(target)) {
      target[kMaxEventTargetListeners] = n;
      target[kMaxEventTargetListenersWarned] = false;
    } else {
      throw codedError(
        TypeError,
        "ERR_INVALID_ARG_TYPE",
        `The "eventTargets" argument must be an instance of EventEmitter or EventTarget. Received ${describeReceived(target)}`,
      );
    }
  }
}

function checkSignal(signal) {
  if (signal !== undefined && (signal === null || typeof signal !== "object" || !("aborted" in signal))) {
    throw codedError(
      TypeError,
      "ERR_INVALID_ARG_TYPE",
      `The "options.signal" property must be an instance of AbortSignal. Received ${describeReceived(signal)}`,
    );
  }
}

function listen(emitter, name, listener, flags) {
  if (typeof emitter.on === "function") {
    if (flags && flags.once) emitter.once(name, listener);
    else emitter.on(name, listener);
  } else if (isEventTarget(emitter)) {
    emitter.addEventListener(name, listener, flags);
  } else {
    throw codedError(
      TypeError,
      "ERR_INVALID_ARG_TYPE",
      `The "emitter" argument must be an instance of EventEmitter or EventTarget. Received ${describeReceived(emitter)}`,
    );
  }
}

function unlisten(emitter, name, listener) {
  if (typeof emitter.removeListener === "function") emitter.removeListener(name, listener);
  else if (isEventTarget(emitter)) emitter.removeEventListener(name, listener);
}

function once(emitter, name, options = {}) {
  const signal = options ? options.signal : undefined;
  checkSignal(signal);
  if (signal && signal.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    const errorListener = (error) => {
      unlisten(emitter, name, resolver);
      if (signal) signal.removeEventListener("abort", abortListener);
      reject(error);
    };
    const resolver = (...args) => {
      if (typeof emitter.removeListener === "function") emitter.removeListener("error", errorListener);
      if (signal) signal.removeEventListener("abort", abortListener);
      resolve(args);
    };
    const abortListener = () => {
      unlisten(emitter, name, resolver);
      unlisten(emitter, "error", errorListener);
      reject(abortError(signal));
    };
    listen(emitter, name, resolver, { once: true, passive: false });
    if (name !== "error" && typeof emitter.once === "function") emitter.once("error", errorListener);
    if (signal) signal.addEventListener("abort", abortListener, { once: true });
  });
}

function on(emitter, event, options = {}) {
  const signal = options ? options.signal : undefined;
  checkSignal(signal);
  if (signal && signal.aborted) throw abortError(signal);
  const closeEvents = (options && options.close) || [];
  const unconsumedEvents = [];
  const unconsumedPromises = [];
  let error = null;
  let finished = false;

  const eventHandler = (...args) => {
    const pending = unconsumedPromises.shift();
    if (pending) pending.resolve({ value: args, done: false });
    else unconsumedEvents.push(args);
  };
  const errorHandler = (err) => {
    const pending = unconsumedPromises.shift();
    if (pending) pending.reject(err);
    else error = err;
    iterator.return();
  };
  const abortListener = () => errorHandler(abortError(signal));
  const closeHandler = () => {
    finished = true;
    cleanup();
    for (const pending of unconsumedPromises.splice(0)) pending.resolve({ value: undefined, done: true });
  };

  function cleanup() {
    unlisten(emitter, event, eventHandler);
    unlisten(emitter, "error", errorHandler);
    for (const name of closeEvents) unlisten(emitter, name, closeHandler);
    if (signal) signal.removeEventListener("abort", abortListener);
  }

  const iterator = Object.setPrototypeOf(
    {
      next() {
        const value = unconsumedEvents.shift();
        if (value) return Promise.resolve({ value, done: false });
        if (error) {
          const p = Promise.reject(error);
          error = null;
          return p;
        }
        if (finished) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => unconsumedPromises.push({ resolve, reject }));
      },
      return() {
        finished = true;
        cleanup();
        for (const pending of unconsumedPromises.splice(0)) pending.resolve({ value: undefined, done: true });
        return Promise.resolve({ value: undefined, done: true });
      },
      throw(err) {
        error = err;
        cleanup();
        return Promise.reject(err);
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    },
    Object.getPrototypeOf(Object.getPrototypeOf(async function* () {}).prototype),
  );

  listen(emitter, event, eventHandler);
  if (event !== "error" && typeof emitter.on === "function") emitter.on("error", errorHandler);
  for (const name of closeEvents) listen(emitter, name, closeHandler);
  if (signal) signal.addEventListener("abort", abortListener, { once: true });
  return iterator;
}

function addAbortListener(signal, listener) {
  checkSignal(signal);
  checkListener(listener);
  let removed = false;
  const dispose = () => {
    if (!removed) {
      removed = true;
      signal.removeEventListener("abort", listener);
    }
  };
  if (signal.aborted) queueMicrotask(() => listener());
  else signal.addEventListener("abort", listener, { once: true });
  const disposable = { [Symbol.dispose || Symbol.for("nodejs.dispose")]: dispose };
  return disposable;
}

class EventEmitterAsyncResource extends EventEmitter {
  constructor(options) {
    super(options);
  }
}

EventEmitter.EventEmitter = EventEmitter;
EventEmitter.EventEmitterAsyncResource = EventEmitterAsyncResource;
EventEmitter.usingDomains = false;
EventEmitter.captureRejectionSymbol = kRejection;
EventEmitter.errorMonitor = errorMonitor;
EventEmitter.once = once;
EventEmitter.on = on;
EventEmitter.getEventListeners = getEventListeners;
EventEmitter.getMaxListeners = getMaxListeners;
EventEmitter.setMaxListeners = setMaxListeners;
EventEmitter.addAbortListener = addAbortListener;
EventEmitter.kMaxEventTargetListeners = kMaxEventTargetListeners;
EventEmitter.kMaxEventTargetListenersWarned = kMaxEventTargetListenersWarned;
if (typeof globalThis.EventTarget === "function") EventEmitter.EventTarget = globalThis.EventTarget;
if (typeof globalThis.Event === "function") EventEmitter.Event = globalThis.Event;

module.exports = EventEmitter;
