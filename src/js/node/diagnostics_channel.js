// node:diagnostics_channel: named channels with subscribers, stores bound to a channel, and
// tracing channels (start/end/asyncStart/asyncEnd/error) for sync, promise and callback work.
"use strict";

function invalidArgType(name, expected, value) {
  const error = new TypeError(
    `The "${name}" argument must be ${expected}. Received ${value === null ? "null" : typeof value}`,
  );
  error.code = "ERR_INVALID_ARG_TYPE";
  return error;
}

function checkName(name) {
  if (typeof name !== "string" && typeof name !== "symbol") {
    throw invalidArgType("channel", "of type string or symbol", name);
  }
}

function reportAsync(error) {
  queueMicrotask(() => {
    throw error;
  });
}

const defaultTransform = (data) => data;

class Channel {
  constructor(name) {
    this._subscribers = [];
    this._stores = new Map();
    this.name = name;
  }

  static [Symbol.hasInstance](instance) {
    return (
      instance !== null && typeof instance === "object" && Array.isArray(instance._subscribers) && "name" in instance
    );
  }

  get hasSubscribers() {
    return this._subscribers.length > 0 || this._stores.size > 0;
  }

  subscribe(subscription) {
    if (typeof subscription !== "function") throw invalidArgType("subscription", "of type function", subscription);
    this._subscribers = [...this._subscribers, subscription];
  }

  unsubscribe(subscription) {
    const index = this._subscribers.indexOf(subscription);
    if (index === -1) return false;
    const subscribers = this._subscribers.slice();
    subscribers.splice(index, 1);
    this._subscribers = subscribers;
    return true;
  }

  bindStore(store, transform) {
    this._stores.set(store, transform || defaultTransform);
  }

  unbindStore(store) {
    return this._stores.delete(store);
  }

  publish(data) {
    for (const onMessage of this._subscribers) {
      try {
        onMessage(data, this.name);
      } catch (error) {
        reportAsync(error);
      }
    }
  }

  runStores(data, fn, thisArg, ...args) {
    let run = () => {
      this.publish(data);
      return Reflect.apply(fn, thisArg, args);
    };
    for (const [store, transform] of this._stores) {
      const next = run;
      run = () => {
        let newStore;
        try {
          newStore = transform(data);
        } catch (error) {
          reportAsync(error);
          return next();
        }
        return store.run(newStore, next);
      };
    }
    return run();
  }
}

const channels = new Map();

function channel(name) {
  checkName(name);
  let found = channels.get(name);
  if (!found) {
    found = new Channel(name);
    channels.set(name, found);
  }
  return found;
}

function subscribe(name, subscription) {
  channel(name).subscribe(subscription);
}

function unsubscribe(name, subscription) {
  return channel(name).unsubscribe(subscription);
}

function hasSubscribers(name) {
  checkName(name);
  const found = channels.get(name);
  return found ? found.hasSubscribers : false;
}

const traceEvents = ["start", "end", "asyncStart", "asyncEnd", "error"];

class TracingChannel {
  constructor(nameOrChannels) {
    if (typeof nameOrChannels === "string") {
      for (const event of traceEvents) this[event] = channel(`tracing:${nameOrChannels}:${event}`);
    } else if (nameOrChannels !== null && typeof nameOrChannels === "object") {
      for (const event of traceEvents) {
        const found = nameOrChannels[event];
        if (!(found instanceof Channel))
          throw invalidArgType(`nameOrChannels.${event}`, "an instance of Channel", found);
        this[event] = found;
      }
    } else {
      throw invalidArgType(
        "nameOrChannels",
        "of type string or an instance of TracingChannel or Object",
        nameOrChannels,
      );
    }
  }

  get hasSubscribers() {
    return traceEvents.some((event) => this[event].hasSubscribers);
  }

  subscribe(handlers) {
    for (const event of traceEvents) if (handlers[event]) this[event].subscribe(handlers[event]);
  }

  unsubscribe(handlers) {
    let done = true;
    for (const event of traceEvents) {
      if (handlers[event] && !this[event].unsubscribe(handlers[event])) done = false;
    }
    return done;
  }

  traceSync(fn, context = {}, thisArg, ...args) {
    if (!this.hasSubscribers) return Reflect.apply(fn, thisArg, args);
    const { start, end, error } = this;
    return start.runStores(context, () => {
      try {
        const result = Reflect.apply(fn, thisArg, args);
        context.result = result;
        return result;
      } catch (err) {
        context.error = err;
        error.publish(context);
        throw err;
      } finally {
        end.publish(context);
      }
    });
  }

  tracePromise(fn, context = {}, thisArg, ...args) {
    if (!this.hasSubscribers) return Reflect.apply(fn, thisArg, args);
    const { start, end, asyncStart, asyncEnd, error } = this;
    function reject(err) {
      context.error = err;
      error.publish(context);
      asyncStart.publish(context);
      asyncEnd.publish(context);
      return Promise.reject(err);
    }
    function resolve(result) {
      context.result = result;
      asyncStart.publish(context);
      asyncEnd.publish(context);
      return result;
    }
    return start.runStores(context, () => {
      try {
        let promise = Reflect.apply(fn, thisArg, args);
        if (!(promise instanceof Promise)) promise = Promise.resolve(promise);
        return promise.then(resolve, reject);
      } catch (err) {
        context.error = err;
        error.publish(context);
        throw err;
      } finally {
        end.publish(context);
      }
    });
  }

  traceCallback(fn, position = -1, context = {}, thisArg, ...args) {
    if (!this.hasSubscribers) return Reflect.apply(fn, thisArg, args);
    const { start, end, asyncStart, asyncEnd, error } = this;
    const callback = args.at(position);
    if (typeof callback !== "function") throw invalidArgType("callback", "of type function", callback);
    function wrappedCallback(err, res) {
      if (err) {
        context.error = err;
        error.publish(context);
      } else {
        context.result = res;
      }
      return asyncStart.runStores(context, () => {
        try {
          return Reflect.apply(callback, this, arguments);
        } finally {
          asyncEnd.publish(context);
        }
      });
    }
    args.splice(position, 1, wrappedCallback);
    return start.runStores(context, () => {
      try {
        return Reflect.apply(fn, thisArg, args);
      } catch (err) {
        context.error = err;
        error.publish(context);
        throw err;
      } finally {
        end.publish(context);
      }
    });
  }
}

function tracingChannel(nameOrChannels) {
  return new TracingChannel(nameOrChannels);
}

module.exports = {
  channel,
  hasSubscribers,
  subscribe,
  tracingChannel,
  unsubscribe,
  Channel,
};
