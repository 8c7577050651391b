// Service bindings (`services` in the config), the module `stepflare:services`: `fetch` and RPC
// method calls on another Worker's entrypoint (or this Worker's). It is evaluated before the
// prelude, and only in contexts whose `env` has a service binding; it adds a maker for the
// binding to `globalThis.__stepflare_binding_makers`, which the prelude's `makeEnv` uses.
// Requests and RPC arguments cross to the host as text; the host runs the target's handler in
// a fresh context of its own and answers with the response or the method's result.
import { decodeClone, encodeClone, fromBase64, toBase64 } from "stepflare:clone";

const bindingHost = globalThis.__stepflare_binding;

const call = async (request) => {
  const reply = JSON.parse(await bindingHost(JSON.stringify(request)));
  if (reply.error !== undefined) throw thrown(reply.error);
  return reply;
};

// What the callee threw, as the caller sees it: a built-in error class comes back as itself.
const ERROR_CLASSES = { TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError };
const thrown = ({ name, message }) => {
  const Class = ERROR_CLASSES[name];
  if (Class !== undefined) return new Class(message);
  const error = new Error(message);
  error.name = name;
  return error;
};

/** `env[binding]`: a `Fetcher` whose other properties are the entrypoint's RPC methods. */
const serviceBinding = ({ service, entrypoint }) => {
  const target = entrypoint ?? null;
  const fetcher = {
    async fetch(input, init) {
      const request = new Request(input, init);
      const bytes = request.body === null ? null : new Uint8Array(await request.arrayBuffer());
      const reply = await call({
        op: "serviceFetch",
        service,
        entrypoint: target,
        method: request.method,
        url: request.url,
        headers: [...request.headers],
        body: bytes === null || bytes.byteLength === 0 ? null : toBase64(bytes),
      });
      return new Response(reply.body === null ? null : fromBase64(reply.body), {
        status: reply.status,
        headers: reply.headers,
      });
    },
    connect() {
      throw new Error("stepflare does not emulate connect() on service bindings");
    },
  };
  const methods = new Map();
  return new Proxy(fetcher, {
    get(object, property) {
      // `then` stays undefined, so that `await env.SERVICE` is the binding itself.
      if (typeof property !== "string" || property in object || property === "then") return object[property];
      let method = methods.get(property);
      if (method === undefined) {
        method = async (...args) => {
          const reply = await call({ op: "serviceCall", service, entrypoint: target, method: property, args: encodeClone(args) });
          return reply.result === null ? undefined : decodeClone(reply.result);
        };
        methods.set(property, method);
      }
      return method;
    },
  });
};

globalThis.__stepflare_binding_makers ??= {};
globalThis.__stepflare_binding_makers.service = serviceBinding;
