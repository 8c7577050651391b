// Service bindings (`services` in the config), the module `stepflare:services`: `fetch` and RPC
// on another Worker's entrypoint (or this Worker's), through the stubs of `stepflare:rpc`. It is
// evaluated after the prelude, and only in contexts whose `env` has a service binding; it adds
// a maker for the binding to the prelude's `bindingMakers`, which its `makeEnv` uses. The host
// runs the target's handler in a fresh context of its own.
import { fetchCall, fetchResponse, rpcStub, settle } from "stepflare:rpc";

const { callBinding, bindingMakers } = globalThis.__stepflare;

/** `env[binding]`: a `Fetcher` whose other properties are the entrypoint's RPC methods. */
const serviceBinding = ({ service, entrypoint }) => {
  const call = async (body) =>
    settle(await callBinding({ op: "serviceCall", service, entrypoint: entrypoint ?? null, call: body }));
  const fetcher = {
    async fetch(input, init) {
      return fetchResponse(await call(await fetchCall(input, init)));
    },
    connect() {
      throw new Error("stepflare does not emulate connect() on service bindings");
    },
  };
  return rpcStub(fetcher, call);
};

bindingMakers.service = serviceBinding;
