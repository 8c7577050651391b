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

  // The host's side of the steps (see `host_calls.rs`): the `do` calls, and `request` for the rest.
  const { doBegin, attemptOk, attemptErr, request: requestJson, now } = host;
  const call = (request) => requestJson(JSON.stringify(request));
  const { setTimeout, clearTimeout, queueMicrotask, Promise } = globalThis;

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
  const storable = (value) => {
    const type = typeof value;
    if (type === "object") return value === null || !unserializable(value, []);
    return type !== "function" && type !== "symbol" && type !== "bigint";
  };

  // `undefined` is a valid result and is kept distinct from `null`. A number or a boolean is
  // written as `JSON.stringify` writes it, without the work of a general call, unless a `toJSON`
  // it would call is defined.
  const { prototype: numberPrototype } = Number;
  const { prototype: booleanPrototype } = Boolean;
  const encode = (value) => {
    switch (typeof value) {
      case "undefined":
        return undefined;
      case "number":
        if (numberPrototype.toJSON === undefined) return value - value === 0 ? `${value}` : "null";
        break;
      case "boolean":
        if (booleanPrototype.toJSON === undefined) return value ? "true" : "false";
        break;
    }
    return JSON.stringify(value);
  };
  const decode = (text) => (text === undefined || text === null ? undefined : JSON.parse(text));
  // What `decode(encode(value))` gives, which is what a replay of the step returns, without
  // parsing text for a primitive: JSON keeps strings and booleans, makes -0 0, and makes NaN and
  // the infinities null (for those `value - value` is NaN, not 0).
  const stored = (value, output) => {
    switch (typeof value) {
      case "object":
        return value === null ? null : decode(output);
      case "number":
        return value - value === 0 ? value + 0 : null;
      default:
        return value;
    }
  };

  // The `do` steps whose attempts run now, watched by one timer set for the earliest of their
  // deadlines: an attempt whose callback never settles fails at its deadline, and an attempt
  // costs no timer of its own. The timer stays set when its attempt ends early; it then finds
  // nothing due and sets itself for the next deadline, if any. (Code that never yields is the
  // watchdog's.)
  const running = new Set();
  let attempts = 0;
  let timer;
  let timerAt = Infinity;
  const watchUntil = (at) => {
    if (timer !== undefined) clearTimeout(timer);
    timerAt = at;
    timer = setTimeout(expire, Math.max(0, Math.ceil(at - now())));
  };
  const expire = () => {
    const due = timerAt;
    timer = undefined;
    timerAt = Infinity;
    let next = Infinity;
    for (const step of running) {
      if (step.deadline <= due) {
        const error = new Error(`Execution timed out after ${step.timeoutMs}ms`);
        error.name = "WorkflowTimeoutError";
        step.settle(step.serial, false, error);
      } else if (step.deadline < next) {
        next = step.deadline;
      }
    }
    if (next !== Infinity) watchUntil(next);
  };

  /**
   * One `step.do` call: a small state machine that the host's replies drive. It runs the
   * attempt a reply asks for, reports how it settled, and settles as the next reply says. The
   * host writes each reply's fields into this object and returns the reply's kind. It is written
   * with callbacks, not as an async function, because in QuickJS each promise, each closure and
   * each field of a new object costs an allocation or several, and those were most of what a
   * step cost; for the same reason a finished object is kept for the next step.
   */
  class DoStep {
    constructor() {
      this.name = "";
      this.callback = undefined;
      this.resolve = undefined;
      this.reject = undefined;
      // The fields of the host's replies: for `run`, the attempt to run (its token, the step's
      // count, the attempt's number, timeout and config); for `cached`, the step's result as
      // JSON; for `failed`, the error.
      this.token = "";
      this.count = 0;
      this.attempt = 0;
      this.timeoutMs = 0;
      this.config = null;
      this.output = undefined;
      this.error = undefined;
      // The attempt running now: a number no other attempt of any step has (this object serves
      // one step after another), the `ctx` its callback gets, its deadline on the clock of
      // `now`, and what it returned (the value and its JSON).
      this.serial = 0;
      this.context = undefined;
      this.deadline = Infinity;
      this.result = undefined;
      this.resultJson = undefined;
      // Made once per object rather than once per attempt.
      this.runCallbackNow = () => this.runCallback(this.serial, this.context);
    }

    /** The state of a new call, made of a spare object if there is one. */
    static begin(name, callback, resolve, reject) {
      const step = spareSteps.pop() ?? new DoStep();
      step.name = name;
      step.callback = callback;
      step.resolve = resolve;
      step.reject = reject;
      return step;
    }

    /** The call settled: let go of what it holds, and keep the object for another. */
    finish() {
      this.callback = this.resolve = this.reject = undefined;
      this.config = this.output = this.error = this.result = this.resultJson = this.context = undefined;
      if (spareSteps.length < SPARE_STEPS) spareSteps.push(this);
    }

    /**
     * Acts on a reply of the host, given as its kind; `undefined` when the host answers later,
     * through `answered`.
     */
    follow(kind) {
      switch (kind) {
        case undefined:
          break;
        case "cached":
          this.resolve(decode(this.output));
          this.finish();
          break;
        case "failed":
          this.reject(toError(this.error));
          this.finish();
          break;
        case "resolved":
          this.resolve(stored(this.result, this.resultJson));
          this.finish();
          break;
        default:
          this.run();
      }
    }

    /** The host's reply, when it came after the call that asked for it returned. */
    answered(kind) {
      this.guarded(this.follow, kind);
    }

    /** `method(argument)`, rejecting the step's promise if it throws. */
    guarded(method, argument) {
      try {
        method.call(this, argument);
      } catch (error) {
        this.reject(error);
      }
    }

    /** Starts the attempt a `run` reply asks for; the callback runs a turn later. */
    run() {
      this.serial = ++attempts;
      this.deadline = now() + this.timeoutMs;
      running.add(this);
      if (this.deadline < timerAt) watchUntil(this.deadline);
      this.context = { step: { name: this.name, count: this.count }, attempt: this.attempt, config: this.config };
      queueMicrotask(this.runCallbackNow);
    }

    /** Runs the callback for attempt `serial` and waits for it to settle. */
    async runCallback(serial, context) {
      let value;
      try {
        value = await this.callback(context);
      } catch (error) {
        this.settle(serial, false, error);
        return;
      }
      this.settle(serial, true, value);
    }

    /** Attempt `serial` returned or threw `result` (or timed out); later news of it is ignored. */
    settle(serial, returned, result) {
      if (serial !== this.serial || !running.has(this)) return;
      running.delete(this);
      this.guarded(returned ? this.returned : this.failed, result);
    }

    /** The attempt returned `value`: report it, unless it cannot be stored. */
    returned(value) {
      let canStore;
      try {
        canStore = storable(value);
      } catch (error) {
        this.failed(error);
        return;
      }
      if (canStore) {
        this.report(value);
        return;
      }
      const message = `The execution of the Workflow instance was terminated, as the step "${this.name}" returned a value which is not serialisable`;
      // The host ends the instance and never answers.
      Promise.resolve()
        .then(() => call({ op: "fatal", error: { name: "Error", message } }))
        .then(
          () => this.guarded(this.report, value),
          (error) => this.guarded(this.failed, error),
        );
    }

    /** Reports what the attempt returned, as JSON. */
    report(value) {
      let output;
      try {
        output = encode(value);
      } catch (error) {
        this.failed(error);
        return;
      }
      this.result = value;
      this.resultJson = output;
      this.follow(attemptOk(this, this.token, this.attempt, output));
    }

    /** Reports what the attempt threw (or that it timed out). */
    failed(error) {
      const { name, message } = describeError(error);
      const nonRetryable = error instanceof NonRetryableError || error?.name === "NonRetryableError";
      this.follow(attemptErr(this, this.token, this.attempt, name, message, nonRetryable));
    }
  }

  // Finished `DoStep`s, for the steps to come.
  const spareSteps = [];
  const SPARE_STEPS = 64;

  // `new Promise(capture)` leaves its resolving functions here: cheaper than a closure per promise.
  let capturedResolve;
  let capturedReject;
  const capture = (resolve, reject) => {
    capturedResolve = resolve;
    capturedReject = reject;
  };

  const checkName = (method, name) => {
    if (typeof name !== "string") throw new TypeError(`step.${method}: the step name must be a string`);
  };

  class Step {
    do(name, configOrCallback, maybeCallback) {
      const promise = new Promise(capture);
      const resolve = capturedResolve;
      const reject = capturedReject;
      try {
        checkName("do", name);
        let config = null;
        let callback = configOrCallback;
        if (typeof configOrCallback !== "function") {
          config = configOrCallback ?? null;
          callback = maybeCallback;
        }
        if (typeof callback !== "function") {
          throw new TypeError(`step.do("${name}"): the last argument must be a callback function`);
        }
        // With node:async_hooks loaded, the callback runs in the caller's AsyncLocalStorage frame.
        const asyncContext = globalThis.__stepflare_async_context;
        if (asyncContext) callback = asyncContext.bind(callback);
        const step = DoStep.begin(name, callback, resolve, reject);
        step.guarded(step.follow, doBegin(step, name, config));
      } catch (error) {
        reject(error);
      }
      return promise;
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
    // The keys `wrangler dev` answers (spec §10.3): `error` is undefined and `output` null when
    // there is none; `rollback` is null unless rollback handlers ran.
    async status() {
      const { status, error, output, rollback } = await this.#call("status");
      return { status, error, output: output ?? null, rollback: rollback ?? null };
    }
    async pause() { await this.#call("pause"); }
    async resume() { await this.#call("resume"); }
    async terminate(options) { await this.#call("terminate", { options: options ?? null }); }
    async restart(options) { await this.#call("restart", { options: options ?? null }); }
    async sendEvent(event) { await this.#call("sendEvent", { event: event ?? null }); }
    async delete() { await this.#call("delete"); }
  }

  class Workflow {
    #workflow;
    constructor(workflow) { this.#workflow = workflow; }
    async create(options) {
      const created = await callBinding({ op: "create", workflow: this.#workflow, options: options ?? null });
      return new WorkflowInstance(this.#workflow, created.id);
    }
    // `createBatch({count})` / `createBatch({instances})` answer `{created, errors}`; the
    // deprecated array form answers the instances it created.
    async createBatch(batch) {
      const answer = await callBinding({ op: "createBatch", workflow: this.#workflow, batch: batch ?? null });
      const handle = (created) => new WorkflowInstance(this.#workflow, created.id);
      if (Array.isArray(batch)) return answer.map(handle);
      return { created: answer.created.map(handle), errors: answer.errors };
    }
    async deleteBatch(instanceIds) {
      return callBinding({ op: "deleteBatch", workflow: this.#workflow, ids: instanceIds ?? null });
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
