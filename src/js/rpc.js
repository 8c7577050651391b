// Calls from one runtime into another, the module `stepflare:rpc`: a Durable Object's stub
// (`durable.js`) and a service binding (`services.js`) on the calling side, and what the called
// object or entrypoint does with a call on the other. A call crosses to the host as
// `{kind: "fetch" | "rpc" | "get", …}`; its answer comes back as `{ok}`, `{threw}` (what the
// callee threw, as structured clone text) or `{error: {name, message}}` (an error the host
// made). Arguments, results and property values cross as structured clone text
// (`stepflare:clone`), so a Date stays a Date and a Map a Map.
import { decodeClone, encodeClone, fromBase64, toBase64 } from "stepflare:clone";

// What an error the host made becomes: a built-in error class comes back as itself.
const ERROR_CLASSES = { TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError };

/** The value of an answer, or what it says to throw. */
export const settle = (answer) => {
  if (answer.threw !== undefined) throw decodeClone(answer.threw);
  if (answer.error !== undefined) {
    const { name, message } = answer.error;
    const Class = ERROR_CLASSES[name];
    if (Class !== undefined) throw new Class(message);
    const error = new Error(message);
    error.name = name;
    throw error;
  }
  return answer.ok;
};

/** What the callee threw, as clone text; a value that cannot be cloned becomes an `Error`. */
export const encodeThrown = (error) => {
  try {
    return encodeClone(error);
  } catch {
    return encodeClone(new Error(String(error?.message ?? error)));
  }
};

/** A `fetch(input, init)` as the host takes it: the request, its body as base64. */
export const fetchCall = async (input, init) => {
  const request = new Request(input, init);
  const bytes = request.body === null ? null : new Uint8Array(await request.arrayBuffer());
  return {
    kind: "fetch",
    method: request.method,
    url: request.url,
    headers: [...request.headers],
    body: bytes === null || bytes.byteLength === 0 ? null : toBase64(bytes),
  };
};

/** The `Response` of a fetch's answer: `{status, headers, body}`, the body base64 or null. */
export const fetchResponse = ({ status, headers, body }) =>
  new Response(body === null ? null : fromBase64(body), { status, headers });

/**
 * `target` (the stub's own members: `fetch`, `id`, …) whose other properties are the callee's:
 * calling one calls its method, awaiting one reads its value, as production's stubs do. `call`
 * sends a call to the host and settles to its answer's value.
 */
export const rpcStub = (target, call) =>
  new Proxy(target, {
    get(object, key) {
      if (key in object) return object[key];
      // A stub is not a thenable, and symbols are no method names.
      if (typeof key === "symbol" || key === "then") return undefined;
      const method = async (...args) => decodeClone(await call({ kind: "rpc", method: key, args: encodeClone(args) }));
      method.then = (resolve, reject) =>
        call({ kind: "get", property: key })
          .then(decodeClone)
          .then(resolve, reject);
      return method;
    },
  });

/**
 * The callee's side of an `rpc` or `get` call on `object`, as clone text; `reserved` names the
 * members that are not reachable over RPC.
 */
export const answerCall = async (object, call, reserved) => {
  if (call.kind === "get") {
    const value = reserved.has(call.property) ? undefined : object[call.property];
    return encodeClone(typeof value === "function" ? undefined : value);
  }
  const method = reserved.has(call.method) ? undefined : object[call.method];
  if (typeof method !== "function") {
    throw new TypeError(`The RPC receiver does not implement the method "${call.method}".`);
  }
  return encodeClone(await method.apply(object, decodeClone(call.args)));
};

/** Members of a `WorkerEntrypoint` that RPC does not reach. */
const ENTRYPOINT_RESERVED = new Set(["fetch", "scheduled", "queue", "tail", "trace", "constructor"]);

/** A service binding's `rpc` or `get` call (JSON text) on an entrypoint, answered as JSON text. */
export const answerEntrypointCall = async (entrypoint, text) => {
  try {
    return JSON.stringify({ ok: await answerCall(entrypoint, JSON.parse(text), ENTRYPOINT_RESERVED) });
  } catch (error) {
    return JSON.stringify({ threw: encodeThrown(error) });
  }
};
