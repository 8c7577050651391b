// The JavaScript half of Durable Objects, the module `stepflare:durable`: a namespace binding in
// `env` (ids and stubs), the stub's `fetch` and RPC calls (arguments and results cross as
// structured clone text), and, in an object's own runtime, the `ctx` its class is constructed
// with (`id`, `storage`, `blockConcurrencyWhile`, `waitUntil`) and the dispatcher the host feeds
// calls to, one at a time. It is loaded only where a namespace is bound or an object runs, so
// workflow runs without Durable Objects never evaluate it. Storage is answered synchronously by
// the host (`storage(requestJson) -> answerJson`), as workerd's SQLite is.
import { decodeClone, encodeClone, fromBase64, toBase64 } from "stepflare:clone";
import { answerCall, encodeThrown, fetchCall, fetchResponse, rpcStub, settle } from "stepflare:rpc";

const sf = globalThis.__stepflare;
const callBinding = sf.callBinding;
// Set by the host before this module is evaluated: `(namespace, name) -> 64 hex digits`, and
// `() -> 64 random hex digits`.
const { idFromName: hashName, uniqueId } = globalThis.__stepflare_durable_ids;
delete globalThis.__stepflare_durable_ids;

const HEX_ID = /^[0-9a-f]{64}$/;
const MAX_KEYS = 128;
const MAX_KEY_BYTES = 2048;
// Cloudflare's limit on one value of the key-value API (SQLite-backed objects): 2 MiB.
const MAX_VALUE_BYTES = 2 * 1024 * 1024;

const idHex = new WeakMap();

class DurableObjectId {
  constructor(hex, name) {
    idHex.set(this, hex);
    if (name !== undefined) this.name = name;
  }
  toString() {
    return idHex.get(this);
  }
  equals(other) {
    return other instanceof DurableObjectId && idHex.get(other) === idHex.get(this);
  }
  toJSON() {
    return idHex.get(this);
  }
}

// An object's members that RPC does not reach.
const RESERVED = new Set(["fetch", "alarm", "constructor", "webSocketMessage", "webSocketClose", "webSocketError"]);

class DurableObjectNamespace {
  #script;
  #namespace;
  constructor(script, namespace) {
    this.#script = script;
    this.#namespace = namespace;
  }
  idFromName(name) {
    const text = String(name);
    return new DurableObjectId(hashName(`${this.#script}/${this.#namespace}`, text), text);
  }
  idFromString(text) {
    if (typeof text !== "string" || !HEX_ID.test(text)) {
      throw new TypeError("Invalid Durable Object ID. Durable Object IDs must be 64 hex digits.");
    }
    return new DurableObjectId(text);
  }
  newUniqueId(_options) {
    return new DurableObjectId(uniqueId());
  }
  jurisdiction(_name) {
    return this;
  }
  get(id, _options) {
    if (!(id instanceof DurableObjectId)) throw new TypeError("get() expects a DurableObjectId");
    return makeStub(this.#script, this.#namespace, id);
  }
  getByName(name, options) {
    return this.get(this.idFromName(name), options);
  }
}

const makeStub = (script, namespace, id) => {
  const call = async (body) =>
    settle(
      await callBinding({
        op: "durableObjectCall",
        script,
        namespace,
        id: id.toString(),
        name: id.name ?? null,
        call: body,
      }),
    );
  const stub = {
    id,
    name: id.name,
    async fetch(input, init) {
      return fetchResponse(await call(await fetchCall(input, init)));
    },
  };
  return rpcStub(stub, call);
};

const namespace = (binding) => new DurableObjectNamespace(binding.script, binding.namespace);

// ---- an object's own runtime ----

const checkKey = (key) => {
  if (typeof key !== "string") key = String(key);
  if (new TextEncoder().encode(key).length > MAX_KEY_BYTES) {
    throw new RangeError(`Keys cannot be larger than ${MAX_KEY_BYTES} bytes.`);
  }
  return key;
};
const checkKeys = (keys) => {
  if (keys.length > MAX_KEYS) throw new RangeError(`Maximum number of keys is ${MAX_KEYS}.`);
  return keys.map(checkKey);
};
const encodeValue = (value) => {
  if (value === undefined) throw new TypeError("Cannot store undefined");
  const text = encodeClone(value);
  if (text.length > MAX_VALUE_BYTES) throw new RangeError(`Values cannot be larger than ${MAX_VALUE_BYTES} bytes.`);
  return text;
};

// A row value as the host sends it: `{blob: base64}` for bytes, a string, a number or null.
const fromSql = (value) =>
  value !== null && typeof value === "object" ? fromBase64(value.blob).buffer : value;
const toSql = (value) => {
  if (value instanceof ArrayBuffer) return { blob: toBase64(new Uint8Array(value)) };
  if (ArrayBuffer.isView(value)) return { blob: toBase64(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)) };
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "bigint") return Number(value);
  if (value === undefined) return null;
  if (value !== null && typeof value === "object") throw new TypeError("Unsupported type for a SQL parameter");
  return value;
};

class SqlStorageCursor {
  #columns;
  #rows;
  #next = 0;
  constructor(answer) {
    this.#columns = answer.columns;
    this.#rows = answer.rows;
    this.rowsRead = answer.rowsRead;
    this.rowsWritten = answer.rowsWritten;
  }
  get columnNames() {
    return [...this.#columns];
  }
  #object(row) {
    const object = {};
    this.#columns.forEach((column, index) => {
      object[column] = fromSql(row[index]);
    });
    return object;
  }
  next() {
    if (this.#next >= this.#rows.length) return { done: true, value: undefined };
    return { done: false, value: this.#object(this.#rows[this.#next++]) };
  }
  toArray() {
    const rows = [];
    for (let row = this.next(); !row.done; row = this.next()) rows.push(row.value);
    return rows;
  }
  one() {
    const rows = this.toArray();
    if (rows.length === 0) throw new Error("Expected exactly one result from SQL query, but got no results.");
    if (rows.length > 1) throw new Error("Expected exactly one result from SQL query, but got multiple results.");
    return rows[0];
  }
  raw() {
    const rows = this.#rows;
    const cursor = this;
    return {
      next() {
        if (cursor.#next >= rows.length) return { done: true, value: undefined };
        return { done: false, value: rows[cursor.#next++].map(fromSql) };
      },
      toArray() {
        const all = [];
        for (let row = this.next(); !row.done; row = this.next()) all.push(row.value);
        return all;
      },
      [Symbol.iterator]() {
        return this;
      },
    };
  }
  [Symbol.iterator]() {
    return this;
  }
}

const makeStorage = (ask, sqlite) => {
  const get = (keys) => {
    const found = new Map(ask({ op: "get", keys }).entries.map(([key, text]) => [key, decodeClone(text)]));
    return found;
  };
  const api = {
    get(keyOrKeys, _options) {
      return Promise.resolve().then(() => {
        if (Array.isArray(keyOrKeys)) return get(checkKeys(keyOrKeys));
        const key = checkKey(keyOrKeys);
        return get([key]).get(key);
      });
    },
    put(keyOrEntries, value, _options) {
      return Promise.resolve().then(() => {
        let entries;
        if (typeof keyOrEntries === "object" && keyOrEntries !== null) {
          entries = Object.entries(keyOrEntries);
          if (entries.length > MAX_KEYS) throw new RangeError(`Maximum number of pairs is ${MAX_KEYS}.`);
        } else entries = [[keyOrEntries, value]];
        ask({ op: "put", entries: entries.map(([key, v]) => [checkKey(key), encodeValue(v)]) });
      });
    },
    delete(keyOrKeys, _options) {
      return Promise.resolve().then(() => {
        const many = Array.isArray(keyOrKeys);
        const keys = many ? checkKeys(keyOrKeys) : [checkKey(keyOrKeys)];
        const { count } = ask({ op: "delete", keys });
        return many ? count : count > 0;
      });
    },
    list(options = {}) {
      return Promise.resolve().then(() => {
        if (options.start !== undefined && options.startAfter !== undefined) {
          throw new TypeError("list() cannot be called with both start and startAfter values.");
        }
        const request = { op: "list", reverse: Boolean(options.reverse) };
        for (const field of ["start", "startAfter", "end", "prefix"]) {
          if (options[field] !== undefined) request[field] = String(options[field]);
        }
        if (options.limit !== undefined) {
          const limit = Number(options.limit);
          if (!Number.isInteger(limit) || limit <= 0) throw new TypeError("List limit must be a positive integer.");
          request.limit = limit;
        }
        return new Map(ask(request).entries.map(([key, text]) => [key, decodeClone(text)]));
      });
    },
    deleteAll(_options) {
      return Promise.resolve().then(() => {
        ask({ op: "deleteAll" });
      });
    },
    getAlarm(_options) {
      return Promise.resolve().then(() => ask({ op: "getAlarm" }).time);
    },
    setAlarm(time, _options) {
      return Promise.resolve().then(() => {
        const ms = time instanceof Date ? time.getTime() : Number(time);
        if (!Number.isFinite(ms)) throw new TypeError("setAlarm() expects a Date or a number of milliseconds");
        ask({ op: "setAlarm", time: Math.floor(ms) });
      });
    },
    deleteAlarm(_options) {
      return Promise.resolve().then(() => {
        ask({ op: "deleteAlarm" });
      });
    },
    sync() {
      return Promise.resolve();
    },
    // The whole callback is one transaction: it commits when the callback settles, and rolls
    // back when it throws or calls `txn.rollback()`.
    async transaction(closure) {
      ask({ op: "begin" });
      let rolledBack = false;
      const txn = Object.create(api);
      txn.rollback = () => {
        if (!rolledBack) ask({ op: "rollback" });
        rolledBack = true;
      };
      try {
        const result = await closure(txn);
        if (!rolledBack) ask({ op: "commit" });
        return result;
      } catch (error) {
        if (!rolledBack) ask({ op: "rollback" });
        throw error;
      }
    },
    transactionSync(closure) {
      if (!sqlite) throw new Error("transactionSync() is only available on SQLite-backed Durable Objects.");
      ask({ op: "begin" });
      try {
        const result = closure();
        ask({ op: "commit" });
        return result;
      } catch (error) {
        ask({ op: "rollback" });
        throw error;
      }
    },
  };
  const sql = {
    exec(query, ...bindings) {
      const answer = ask({ op: "sql", query: String(query), bindings: bindings.map(toSql) });
      return new SqlStorageCursor(answer);
    },
    get databaseSize() {
      return ask({ op: "databaseSize" }).size;
    },
  };
  // The synchronous key-value API of SQLite-backed objects (`ctx.storage.kv`): the same keys
  // as the asynchronous one.
  const kv = {
    get(key) {
      const checked = checkKey(key);
      return get([checked]).get(checked);
    },
    put(key, value) {
      ask({ op: "put", entries: [[checkKey(key), encodeValue(value)]] });
    },
    delete(key) {
      return ask({ op: "delete", keys: [checkKey(key)] }).count > 0;
    },
    list(options = {}) {
      const request = { op: "list", reverse: Boolean(options.reverse) };
      for (const field of ["start", "startAfter", "end", "prefix"]) {
        if (options[field] !== undefined) request[field] = String(options[field]);
      }
      if (options.limit !== undefined) request.limit = Number(options.limit);
      return ask(request).entries.map(([key, text]) => [key, decodeClone(text)])[Symbol.iterator]();
    },
  };
  Object.defineProperty(api, "kv", {
    get() {
      if (!sqlite) throw new Error("The synchronous KV API is only available on SQLite-backed Durable Objects.");
      return kv;
    },
  });
  Object.defineProperty(api, "sql", {
    get() {
      if (!sqlite) {
        throw new Error(
          "SQL is not enabled for this Durable Object class. Declare it in new_sqlite_classes of a migration.",
        );
      }
      return sql;
    },
  });
  return api;
};

/**
 * Constructs the object `new Class(ctx, env)` and returns the dispatcher the host calls with each
 * call (JSON text), one at a time: it settles to the answer as JSON text, `{ok}` or `{threw}`.
 */
const serve = (Class, env, hex, name, sqlite, storageHost) => {
  const blockers = [];
  const pending = [];
  const ask = (request) => JSON.parse(storageHost(JSON.stringify(request)));
  const ctx = {
    id: new DurableObjectId(hex, name ?? undefined),
    storage: makeStorage(ask, sqlite),
    blockConcurrencyWhile(callback) {
      const blocked = Promise.resolve().then(callback);
      blockers.push(blocked.catch(() => {}));
      return blocked;
    },
    waitUntil(promise) {
      pending.push(Promise.resolve(promise).catch((error) => console.error("a waitUntil promise rejected:", error)));
    },
    exports: {},
    abort(reason) {
      throw reason ?? new Error("Durable Object was aborted");
    },
  };
  const object = new Class(ctx, env);
  const handle = async (call) => {
    if (call.kind === "fetch") {
      if (typeof object.fetch !== "function") throw new TypeError("Handler does not export a fetch() function.");
      const body = call.body === null || call.method === "GET" || call.method === "HEAD" ? undefined : fromBase64(call.body);
      const response = await object.fetch(new Request(call.url, { method: call.method, headers: call.headers, body }));
      if (!(response instanceof Response)) throw new TypeError("Incorrect type for Promise: the Promise did not resolve to 'Response'.");
      const bytes = new Uint8Array(await response.arrayBuffer());
      return { status: response.status, headers: [...response.headers], body: bytes.length ? toBase64(bytes) : null };
    }
    if (call.kind === "alarm") {
      // While its handler runs, the alarm is no longer set (`getAlarm()` is null) unless the
      // handler sets another.
      ask({ op: "alarmStarted", time: call.scheduledAt });
      if (typeof object.alarm !== "function") return null;
      await object.alarm({ retryCount: call.retryCount, isRetry: call.retryCount > 0 });
      return null;
    }
    return answerCall(object, call, RESERVED);
  };
  return async (text) => {
    while (blockers.length) await blockers.shift();
    let answer;
    try {
      answer = { ok: await handle(JSON.parse(text)) };
    } catch (error) {
      answer = { threw: encodeThrown(error) };
    }
    while (blockers.length) await blockers.shift();
    return JSON.stringify(answer);
  };
};

sf.bindingMakers.durableObject = namespace;
sf.durable = { serve, DurableObjectId, DurableObjectNamespace };
