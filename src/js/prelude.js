// The JavaScript half of stepflare's workflow API: the module `stepflare:prelude`, evaluated in
// every fresh context before the user's module. It defines the classes `cloudflare:workers` and `cloudflare:workflows`
// export and the `WorkflowStep` handed to `run()`. Every decision is the host's: this code only
// runs callbacks, checks that results can be stored, and follows the host's replies.
import { queueApi } from "stepflare:queues";

(() => {
  const host = globalThis.__stepflare_host;
  const log = globalThis.__stepflare_log;
  delete globalThis.__stepflare_host;
  delete globalThis.__stepflare_log;
  const bindingHost = globalThis.__stepflare_binding;
  delete globalThis.__stepflare_binding;

  const call = async (request) => JSON.parse(await host(JSON.stringify(request)));

  class NonRetryableError extends Error {
    constructor(message, name = "NonRetryableError") {
      super(message);
      this.name = name;
    }
  }
  class WorkflowEntrypoint {
    constructor(ctx, env) {
      this.ctx = ctx;
      this.env = env;
    }
  }
  class WorkerEntrypoint {
    constructor(ctx, env) {
      this.ctx = ctx;
      this.env = env;
    }
  }
  class DurableObject {
    constructor(ctx, env) {
      this.ctx = ctx;
      this.env = env;
    }
  }
  class RpcTarget {}
  // Exported so that code importing these names as values still loads; they are types in
  // production and have no behaviour of their own.
  class WorkflowStep {}
  class WorkflowEvent {}

  const toError = (info) => {
    const error = info.name === "NonRetryableError" ? new NonRetryableError(info.message) : new Error(info.message);
    error.name = info.name;
    return error;
  };

  const describeError = (error) => {
    if (error !== null && typeof error === "object" && "message" in error) {
      return { name: String(error.name ?? "Error"), message: String(error.message ?? "") };
    }
    return { name: "Error", message: String(error) };
  };

  // Step results must survive storage: functions, symbols, bigints and cycles cannot.
  const unserializable = (value, stack) => {
    const type = typeof value;
    if (type === "function" || type === "symbol" || type === "bigint") return true;
    if (value === null || type !== "object") return false;
    if (stack.includes(value)) return true;
    stack.push(value);
    const found = Object.values(value).some((child) => unserializable(child, stack));
    stack.pop();
    return found;
  };

  // `undefined` is a valid result and is kept distinct from `null`.
  const encode = (value) => (value === undefined ? undefined : JSON.stringify(value));
  const decode = (text) => (text === undefined || text === null ? undefined : JSON.parse(text));

  const withTimeout = (promise, ms) => {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => {
        const error = new Error(`Execution timed out after ${ms}ms`);
        error.name = "WorkflowTimeoutError";
        reject(error);
      }, ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  };

  const checkName = (method, name) => {
    if (typeof name !== "string") throw new TypeError(`step.${method}: the step name must be a string`);
  };

  class Step {
    async do(name, configOrCallback, maybeCallback) {
      checkName("do", name);
      let [config, callback] =
        typeof configOrCallback === "function" ? [null, configOrCallback] : [configOrCallback ?? null, maybeCallback];
      if (typeof callback !== "function") {
        throw new TypeError(`step.do("${name}"): the last argument must be a callback function`);
      }
      // With node:async_hooks loaded, the callback runs in the caller's AsyncLocalStorage frame.
      const asyncContext = globalThis.__stepflare_async_context;
      if (asyncContext) callback = asyncContext.bind(callback);
      let reply = await call({ op: "do.begin", name, config });
      for (;;) {
        if (reply.kind === "cached") return decode(reply.output);
        if (reply.kind === "failed") throw toError(reply.error);
        const context = { step: { name, count: reply.count }, attempt: reply.attempt, config: reply.config };
        let outcome;
        try {
          const value = await withTimeout(Promise.resolve().then(() => callback(context)), reply.timeoutMs);
          if (unserializable(value, [])) {
            await call({
              op: "fatal",
              error: {
                name: "Error",
                message: `The execution of the Workflow instance was terminated, as the step "${name}" returned a value which is not serialisable`,
              },
            });
          }
          outcome = { status: "ok", output: encode(value) };
        } catch (error) {
          outcome = {
            status: "err",
            error: describeError(error),
            nonRetryable: error instanceof NonRetryableError || error?.name === "NonRetryableError",
          };
        }
        const token = reply.token;
        reply = await call({ op: "do.end", token, attempt: reply.attempt, outcome });
        if (reply.kind === "resolved") return decode(outcome.output);
      }
    }

    async sleep(name, duration) {
      checkName("sleep", name);
      const reply = await call({ op: "sleep", name, duration: duration ?? null });
      if (reply.kind === "failed") throw toError(reply.error);
    }

    async sleepUntil(name, timestamp) {
      checkName("sleepUntil", name);
      const until = timestamp instanceof Date ? timestamp.getTime() : Number(timestamp);
      const reply = await call({ op: "sleepUntil", name, until });
      if (reply.kind === "failed") throw toError(reply.error);
    }

    async waitForEvent(name, options) {
      checkName("waitForEvent", name);
      const reply = await call({
        op: "waitForEvent",
        name,
        type: options?.type ?? null,
        timeout: options?.timeout ?? null,
      });
      if (reply.kind === "failed") throw toError(reply.error);
      if (reply.kind === "cached") {
        const event = decode(reply.output);
        return { payload: event.payload, timestamp: new Date(event.timestamp), type: event.type };
      }
      const event = reply.event;
      return { payload: event.payload, timestamp: new Date(event.timestamp), type: event.type };
    }
  }

  const format = (value) => {
    if (typeof value === "string") return value;
    if (value instanceof Error) return value.stack ? `${value.name}: ${value.message}\n${value.stack}` : `${value.name}: ${value.message}`;
    if (typeof value === "function") return `[Function ${value.name || "anonymous"}]`;
    if (value === undefined) return "undefined";
    try {
      return JSON.stringify(value) ?? String(value);
    } catch {
      return String(value);
    }
  };
  const logger = (level) => (...args) => log(level, args.map(format).join(" "));
  globalThis.console = {
    log: logger("info"),
    info: logger("info"),
    debug: logger("debug"),
    trace: logger("debug"),
    warn: logger("warn"),
    error: logger("error"),
  };

  // The binding API (spec §1): every call goes to the engine; refusals come back as Errors
  // carrying Cloudflare's messages.
  const callBinding = async (request) => JSON.parse(await bindingHost(JSON.stringify(request)));

  class WorkflowInstance {
    #workflow;
    constructor(workflow, id) {
      this.#workflow = workflow;
      this.id = id;
    }
    #call(op, extra = {}) { return callBinding({ op, workflow: this.#workflow, id: this.id, ...extra }); }
    async status() { return this.#call("status"); }
    async pause() { await this.#call("pause"); }
    async resume() { await this.#call("resume"); }
    async terminate(options) { await this.#call("terminate", { options: options ?? null }); }
    async restart(options) { await this.#call("restart", { options: options ?? null }); }
    async sendEvent(event) { await this.#call("sendEvent", { event: event ?? null }); }
  }

  class Workflow {
    #workflow;
    constructor(workflow) { this.#workflow = workflow; }
    async create(options) {
      const created = await callBinding({ op: "create", workflow: this.#workflow, options: options ?? null });
      return new WorkflowInstance(this.#workflow, created.id);
    }
    async createBatch(batch) {
      if (!Array.isArray(batch)) throw new TypeError("createBatch expects an array of instance options");
      const created = await callBinding({ op: "createBatch", workflow: this.#workflow, batch });
      return created.map((instance) => new WorkflowInstance(this.#workflow, instance.id));
    }
    async get(id) {
      const found = await callBinding({ op: "get", workflow: this.#workflow, id: String(id) });
      return new WorkflowInstance(this.#workflow, found.id);
    }
  }

  const { Queue, newMessageBatch } = queueApi(callBinding);

  /** The Worker's `env`: its vars, a `Workflow` per workflow binding, a `Queue` per producer. */
  const makeEnv = (vars, bindings) => {
    const env = { ...vars };
    for (const binding of bindings) {
      env[binding.binding] =
        binding.type === "queue" ? new Queue(binding.queue, binding.deliveryDelay) : new Workflow(binding.workflow);
    }
    return env;
  };

  // The structured clone algorithm for the values Workers pass around: primitives, plain
  // objects, arrays, Date, RegExp, Map, Set, ArrayBuffer, typed arrays and Error, with cycles.
  const structuredCloneValue = (value, seen = new Map()) => {
    const type = typeof value;
    if (type === "function" || type === "symbol") {
      const error = new Error(`${String(value)} could not be cloned`);
      error.name = "DataCloneError";
      throw error;
    }
    if (value === null || type !== "object") return value;
    if (seen.has(value)) return seen.get(value);
    let copy;
    if (value instanceof Date) copy = new Date(value.getTime());
    else if (value instanceof RegExp) copy = new RegExp(value.source, value.flags);
    else if (value instanceof ArrayBuffer) copy = value.slice(0);
    else if (ArrayBuffer.isView(value)) copy = new value.constructor(value);
    else if (value instanceof Map) {
      copy = new Map();
      seen.set(value, copy);
      for (const [k, v] of value) copy.set(structuredCloneValue(k, seen), structuredCloneValue(v, seen));
      return copy;
    } else if (value instanceof Set) {
      copy = new Set();
      seen.set(value, copy);
      for (const v of value) copy.add(structuredCloneValue(v, seen));
      return copy;
    } else if (value instanceof Error) {
      copy = new Error(value.message);
      copy.name = value.name;
    } else copy = Array.isArray(value) ? [] : {};
    seen.set(value, copy);
    if (!(copy instanceof Date || copy instanceof RegExp || ArrayBuffer.isView(copy) || copy instanceof ArrayBuffer)) {
      for (const key of Object.keys(value)) copy[key] = structuredCloneValue(value[key], seen);
    }
    return copy;
  };
  globalThis.structuredClone ??= (value) => structuredCloneValue(value);

  /** The `ctx` of a handler. `waitUntil` work is awaited after the response is sent. */
  const newExecutionContext = () => {
    const pending = [];
    const ctx = {
      waitUntil(promise) {
        pending.push(Promise.resolve(promise).catch((error) => console.error("a waitUntil promise rejected:", error)));
      },
      passThroughOnException() {},
    };
    Object.defineProperty(ctx, "__stepflare_drain", { value: () => Promise.all(pending), enumerable: false });
    return ctx;
  };

  globalThis.__stepflare = {
    newExecutionContext,
    NonRetryableError,
    WorkflowEntrypoint,
    WorkerEntrypoint,
    DurableObject,
    RpcTarget,
    WorkflowStep,
    WorkflowEvent,
    env: {},
    makeEnv,
    newMessageBatch,
    newStep: () => new Step(),
    describeError,
    unserializable,
  };
})();
