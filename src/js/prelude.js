// The JavaScript half of stepflare's workflow API: the module `stepflare:prelude`, evaluated in
// every fresh context before the user's module. It defines the classes `cloudflare:workers` and `cloudflare:workflows`
// export and the `WorkflowStep` handed to `run()`. Every decision is the host's: this code only
// runs callbacks, checks that results can be stored, and follows the host's replies.
import {
  decodeStored as decode,
  encodeStored as encode,
  InvalidStreamOutput,
  isStream,
  readStreamStored,
} from "stepflare:clone";

(() => {
  const host = globalThis.__stepflare_host;
  const log = globalThis.__stepflare_log;
  delete globalThis.__stepflare_host;
  delete globalThis.__stepflare_log;
  const bindingHost = globalThis.__stepflare_binding;
  delete globalThis.__stepflare_binding;
  // Makers of the bindings of other kinds, by type: their modules (`queues.js`, `storage.js`,
  // `services.js`, `durable.js`) are evaluated after this one, only where `env` has such a
  // binding, and add theirs here before `makeEnv` runs.
  const bindingMakers = {};

  // The host's side of the steps (see `host_calls.rs`): the `do` calls, and `request` for the rest.
  const { doBegin, attemptOk, attemptErr, attemptErrDelayed, attemptSettled, request: requestJson, now } = host;
  const call = (request) => requestJson(JSON.stringify(request));
  const { setTimeout, clearTimeout, queueMicrotask, Promise } = globalThis;

  class NonRetryableError extends Error {
    constructor(message, name = "NonRetryableError") {
      super(message);
      this.name = name;
    }
  }
  // What a step fails with when its `retries.delay` function throws, takes over 5 seconds or
  // returns something that is no duration (the host words the message).
  class NonRetryableDelayError extends Error {
    constructor(message) {
      super(message);
      this.name = "NonRetryableDelayError";
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
    let error;
    if (info.name === "NonRetryableError") error = new NonRetryableError(info.message);
    else if (info.name === "NonRetryableDelayError") error = new NonRetryableDelayError(info.message);
    else error = new Error(info.message);
    error.name = info.name;
    return error;
  };

  // A step's delay function has this long to settle (production's local engine: 5 s; the host's
  // `DELAY_FUNCTION_TIMEOUT_MS` words the error).
  const DELAY_FUNCTION_TIMEOUT_MS = 5000;
  /**
   * Calls a step's `retries.delay` function with `{ctx, error}` and gives what it did, as the
   * host reads it: `{kind: "returned", value}`, `{kind: "threw", value: message}` or
   * `{kind: "timedOut"}`. Never rejects.
   */
  const callDelayFunction = (delayFunction, input) =>
    new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ kind: "timedOut" }), DELAY_FUNCTION_TIMEOUT_MS);
      const settle = (outcome) => {
        clearTimeout(timer);
        resolve(outcome);
      };
      const threw = (error) => settle({ kind: "threw", value: describeError(error).message });
      try {
        Promise.resolve(delayFunction(input)).then((value) => settle({ kind: "returned", value }), threw);
      } catch (error) {
        threw(error);
      }
    });

  // Rollback options (the trailing argument of `step.do`) are checked as production checks them;
  // `rollbackConfig` is checked by the host with the step config's rules.
  const checkRollbackOptions = (name, options) => {
    if (options === null || typeof options !== "object" || Array.isArray(options)) {
      return `Rollback options for "${name}" must be an object`;
    }
    if (typeof options.rollback !== "function") return `Rollback for "${name}" must be a function`;
    return undefined;
  };

  const hasFunction = (object) => {
    for (const key in object) if (typeof object[key] === "function") return true;
    return false;
  };
  const nullingFunctions = (object) => {
    const copy = {};
    for (const key of Object.keys(object)) copy[key] = typeof object[key] === "function" ? null : object[key];
    return copy;
  };
  // The `retries.delay` function that `hostConfig` took out of the config it was given, if any
  // (a variable rather than a second result, which would cost an array per step).
  let delayFunctionFound;
  /**
   * `config` as the host reads it: without its `retries.delay` if that is a function (left in
   * `delayFunctionFound`), and any other function in it sent as `null`, which no field accepts,
   * rather than left out as JSON would.
   */
  const hostConfig = (config) => {
    delayFunctionFound = undefined;
    if (config === null || typeof config !== "object") return config;
    const retries = config.retries;
    const retriesHaveFunction = retries !== null && typeof retries === "object" && hasFunction(retries);
    if (!retriesHaveFunction && !hasFunction(config)) return config;
    const sent = nullingFunctions(config);
    if (!retriesHaveFunction) return sent;
    sent.retries = nullingFunctions(retries);
    if (typeof retries.delay === "function") {
      delayFunctionFound = retries.delay;
      delete sent.retries.delay;
    }
    return sent;
  };

  const describeError = (error) => {
    if (error !== null && typeof error === "object" && "message" in error) {
      return { name: String(error.name ?? "Error"), message: String(error.message ?? "") };
    }
    return { name: "Error", message: String(error) };
  };

  // Step results are stored as structured clone (`stepflare:clone`). A value that cannot be
  // cloned is a `DataCloneError`; anything else a getter or the memory limit throws is the
  // attempt's own error.
  const cannotClone = (error) => error?.name === "DataCloneError";
  // What a replay of the step returns, for the first run: a clone of an object (a fresh stream
  // for a stream), the primitive itself.
  const stored = (value, output) => (value !== null && typeof value === "object" ? decode(output) : value);

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
      // The step's `retries.delay` when it is a function, and its rollback options, if any (kept
      // for the rollback of a failed instance).
      this.delayFunction = undefined;
      this.rollbackOptions = undefined;
      // The fields of the host's replies: for `run`, the attempt to run (its token, the step's
      // count, the attempt's number, timeout and config); for `cached`, the step's result as
      // stored; for `failed`, the error.
      this.token = "";
      this.count = 0;
      this.attempt = 0;
      this.timeoutMs = 0;
      this.configText = "";
      this.output = undefined;
      this.error = undefined;
      // The attempt running now: a number no other attempt of any step has (this object serves
      // one step after another), the `ctx` its callback gets, its deadline on the clock of
      // `now`, and what it returned (the value and its stored form).
      this.serial = 0;
      this.context = undefined;
      this.deadline = Infinity;
      this.result = undefined;
      this.resultStored = undefined;
      // Made once per object rather than once per attempt.
      this.runCallbackNow = () => this.runCallback(this.serial, this.context);
    }

    /** The state of a new call, made of a spare object if there is one. */
    static begin(name, callback, resolve, reject, delayFunction, rollbackOptions) {
      const step = spareSteps.pop() ?? new DoStep();
      step.name = name;
      step.callback = callback;
      step.resolve = resolve;
      step.reject = reject;
      step.delayFunction = delayFunction;
      step.rollbackOptions = rollbackOptions;
      return step;
    }

    /** The call settled: let go of what it holds, and keep the object for another. */
    finish() {
      this.callback = this.resolve = this.reject = this.delayFunction = this.rollbackOptions = undefined;
      this.output = this.error = this.result = this.resultStored = this.context = undefined;
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
          this.resolve(stored(this.result, this.resultStored));
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
      this.context = stepContext(this.name, this.count, this.attempt, this.configText);
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
      if (isStream(value)) {
        readStreamStored(value).then(
          (output) => this.guarded(() => this.report(value, output)),
          (error) => {
            if (!(error instanceof InvalidStreamOutput)) return this.guarded(this.failed, error);
            const message = `The execution of the Workflow instance was terminated, as the step "${this.name}" returned an invalid ReadableStream output. ${error.message}`;
            this.fatal(error.name, message);
          },
        );
        return;
      }
      let output;
      try {
        output = encode(value);
      } catch (error) {
        if (!cannotClone(error)) return this.failed(error);
        const message = `The execution of the Workflow instance was terminated, as the step "${this.name}" returned a value which is not serialisable`;
        this.fatal("Error", message);
        return;
      }
      this.report(value, output);
    }

    /** The attempt returned what cannot be stored: that ends the instance, whatever catches it. */
    fatal(name, message) {
      // The host ends the instance and never answers.
      Promise.resolve()
        .then(() => call({ op: "fatal", error: { name, message } }))
        .then(
          () => this.guarded(this.failed, new Error(message)),
          (error) => this.guarded(this.failed, error),
        );
    }

    /** Reports what the attempt returned, and its stored form. */
    report(value, output) {
      this.result = value;
      this.resultStored = output;
      this.follow(attemptOk(this, this.token, this.attempt, output));
    }

    /**
     * Reports what the attempt threw (or that it timed out). When another attempt follows and
     * the step's delay is a function, the function says how long to wait first: it runs now,
     * once for this failure (a replay answers from what the host stored, and never calls it).
     */
    failed(error) {
      const { name, message } = describeError(error);
      const nonRetryable = error instanceof NonRetryableError || error?.name === "NonRetryableError";
      const delayFunction = this.delayFunction;
      if (delayFunction === undefined || nonRetryable || !(this.attempt <= JSON.parse(this.configText).retries.limit)) {
        this.follow(attemptErr(this, this.token, this.attempt, name, message, nonRetryable));
        return;
      }
      const { token, attempt } = this;
      attemptSettled(token);
      const ctx = stepContext(this.name, this.count, attempt, this.configText);
      callDelayFunction(delayFunction, { ctx, error }).then((delay) =>
        this.guarded(() => this.follow(attemptErrDelayed(this, token, attempt, name, message, delay))),
      );
    }
  }

  /**
   * The `ctx` of a step's callback (or delay function): `config` comes as the host's JSON text
   * and is parsed when first read, as most callbacks never read it; it is an own enumerable
   * property all the same, so keys, spreading and `JSON.stringify` see it.
   */
  const stepContext = (name, count, attempt, configText) => ({
    step: { name, count },
    attempt,
    get config() {
      return ownConfig(this, JSON.parse(configText));
    },
    set config(value) {
      ownConfig(this, value);
    },
  });
  const ownConfig = (ctx, value) => {
    Object.defineProperty(ctx, "config", { value, writable: true, enumerable: true, configurable: true });
    return value;
  };

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

  // Where the run is: running `run()`; replaying it only to register rollback handlers again
  // (its steps answer from history, or `undefined`); or running the rollback handlers, when no
  // step may be called.
  let phase = "run";
  const ROLLBACK_PHASE = "Cannot execute steps during rollback phase";
  // How many `do` calls each name had, as the host counts them, and the rollback options the
  // calls registered, by `${count}:${name}`.
  const doCounts = new Map();
  const rollbacks = new Map();

  /** Ends the instance with `WorkflowFatalError: message`; the host never answers. */
  const fatal = (message) => call({ op: "fatal", error: { name: "WorkflowFatalError", message } });

  class Step {
    /**
     * `step.do(name, callback, rollbackOptions?)` or `step.do(name, config, callback,
     * rollbackOptions?)`.
     */
    do(name, configOrCallback, maybeCallback, maybeRollbackOptions) {
      const promise = new Promise(capture);
      const resolve = capturedResolve;
      const reject = capturedReject;
      try {
        checkName("do", name);
        if (phase === "rollback") throw new Error(ROLLBACK_PHASE);
        let config = null;
        let callback = configOrCallback;
        let rollbackOptions = maybeCallback;
        if (typeof configOrCallback !== "function") {
          config = configOrCallback ?? null;
          callback = maybeCallback;
          rollbackOptions = maybeRollbackOptions;
        }
        let invalid = typeof callback !== "function" ? `Step "${name}" requires a callback function` : undefined;
        if (invalid === undefined && rollbackOptions !== undefined) {
          invalid = checkRollbackOptions(name, rollbackOptions);
        }
        if (invalid !== undefined) {
          fatal(invalid).catch(reject);
          return promise;
        }
        const count = (doCounts.get(name) ?? 0) + 1;
        doCounts.set(name, count);
        if (rollbackOptions !== undefined) rollbacks.set(`${count}:${name}`, { name, count, options: rollbackOptions });
        // With node:async_hooks loaded, the callback runs in the caller's AsyncLocalStorage frame.
        const asyncContext = globalThis.__stepflare_async_context;
        if (asyncContext) callback = asyncContext.bind(callback);
        const sentConfig = hostConfig(config);
        const delayFunction = delayFunctionFound;
        const step = DoStep.begin(name, callback, resolve, reject, delayFunction, rollbackOptions);
        if (rollbackOptions === undefined || rollbackOptions.rollbackConfig === undefined) {
          step.guarded(step.follow, doBegin(step, name, sentConfig, delayFunction !== undefined));
        } else {
          const rollbackConfig = hostConfig(rollbackOptions.rollbackConfig);
          const rollbackDelay = delayFunctionFound !== undefined;
          step.guarded(step.follow, doBegin(step, name, sentConfig, delayFunction !== undefined, rollbackConfig, rollbackDelay));
        }
      } catch (error) {
        reject(error);
      }
      return promise;
    }

    async sleep(name, duration) {
      checkName("sleep", name);
      if (phase === "rollback") throw new Error(ROLLBACK_PHASE);
      const reply = await call({ op: "sleep", name, duration: duration ?? null });
      if (reply.kind === "failed") throw toError(reply.error);
    }

    async sleepUntil(name, timestamp) {
      checkName("sleepUntil", name);
      if (phase === "rollback") throw new Error(ROLLBACK_PHASE);
      const until = timestamp instanceof Date ? timestamp.getTime() : Number(timestamp);
      const reply = await call({ op: "sleepUntil", name, until });
      if (reply.kind === "failed") throw toError(reply.error);
    }

    async waitForEvent(name, options) {
      checkName("waitForEvent", name);
      if (phase === "rollback") throw new Error(ROLLBACK_PHASE);
      const reply = await call({
        op: "waitForEvent",
        name,
        type: options?.type ?? null,
        timeout: options?.timeout ?? null,
      });
      if (reply.kind === "failed") throw toError(reply.error);
      if (reply.kind === "cached") {
        // A wait that never got its event, replayed for a rollback.
        if (reply.output === undefined) return undefined;
        const event = decode(reply.output);
        return { payload: event.payload, timestamp: new Date(event.timestamp), type: event.type };
      }
      const event = reply.event;
      return { payload: event.payload, timestamp: new Date(event.timestamp), type: event.type };
    }
  }

  /**
   * Calls `workflow.run(event, step)`; when it fails, the rollback handlers the host names run,
   * newest start first, each a step of its own, before the error is thrown on (the host then
   * ends the instance as its rollback says). `replaying`: the instance's rollback is under way,
   * so `run()` is replayed only to register the handlers again, whatever it does.
   */
  const runWorkflow = async (workflow, event, step, replaying) => {
    phase = replaying ? "replay" : "run";
    let failure;
    let failed = false;
    try {
      const value = await workflow.run(event, step);
      if (!replaying) return value;
    } catch (error) {
      if (!replaying) {
        failure = error;
        failed = true;
      }
    }
    const registered = [];
    for (const { name, count } of rollbacks.values()) registered.push({ name, count });
    const plan = await call({ op: "rollback.begin", error: failed ? describeError(failure) : null, steps: registered });
    if (plan.steps.length === 0) {
      if (failed) throw failure;
      throw new Error("the rollback has no handler to run");
    }
    phase = "rollback";
    const error = toError(plan.error);
    for (const [name, count] of plan.steps) {
      if (!(await rollBack(rollbacks.get(`${count}:${name}`), name, count, error))) break;
    }
    throw error;
  };

  /**
   * Runs the rollback handler of the `do` step `(name, count)` (`registered` is what the run
   * registered for it, if anything) as the host's replies say; whether it completed.
   */
  const rollBack = async (registered, name, count, error) => {
    const rollbackConfig = registered?.options.rollbackConfig;
    const config = rollbackConfig === undefined ? null : hostConfig(rollbackConfig);
    const delayFunction = rollbackConfig === undefined ? undefined : delayFunctionFound;
    let reply = await call({
      op: "rollback.step",
      name,
      count,
      config,
      delayFunction: delayFunction !== undefined,
      missing: registered === undefined,
    });
    for (;;) {
      if (reply.kind === "cached" || reply.kind === "resolved") return true;
      if (reply.kind === "failed") return false;
      const { token, attempt, timeoutMs, context } = reply;
      const input = {
        ctx: context,
        error,
        output: reply.output === undefined ? undefined : decode(reply.output),
        stepName: `${name}-${count}`,
      };
      const outcome = await attemptRollback(registered.options.rollback, input, timeoutMs);
      if (outcome.returned) {
        reply = await call({ op: "do.end", token, attempt, outcome: { status: "ok", output: null } });
        continue;
      }
      const thrown = describeError(outcome.error);
      const nonRetryable = outcome.error instanceof NonRetryableError || outcome.error?.name === "NonRetryableError";
      let delay = null;
      if (delayFunction !== undefined && !nonRetryable && attempt <= reply.config.retries.limit) {
        attemptSettled(token);
        const ctx = { step: { name, count }, attempt, config: reply.config };
        delay = await callDelayFunction(delayFunction, { ctx, error: outcome.error });
      }
      reply = await call({
        op: "do.end",
        token,
        attempt,
        outcome: { status: "err", error: thrown, nonRetryable, delay },
      });
    }
  };

  /** One attempt of a rollback handler: `{returned: true}`, or `{returned: false, error}`. */
  const attemptRollback = (handler, input, timeoutMs) =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        const error = new Error(`Execution timed out after ${timeoutMs}ms`);
        error.name = "WorkflowTimeoutError";
        resolve({ returned: false, error });
      }, timeoutMs);
      const settle = (outcome) => {
        clearTimeout(timer);
        resolve(outcome);
      };
      try {
        Promise.resolve(handler(input)).then(
          () => settle({ returned: true }),
          (error) => settle({ returned: false, error }),
        );
      } catch (error) {
        settle({ returned: false, error });
      }
    });

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
    // there is none; `rollback` is null unless rollback handlers ran. The output comes as the
    // engine stored it, so that it is the value `run()` returned.
    async status() {
      const { status, error, storedOutput, rollback } = await this.#call("status");
      const output = storedOutput === undefined ? null : decode(storedOutput);
      return { status, error, output: output ?? null, rollback: rollback ?? null };
    }
    async pause() { await this.#call("pause"); }
    async resume() { await this.#call("resume"); }
    async terminate(options) { await this.#call("terminate", { options: options ?? null }); }
    async restart(options) { await this.#call("restart", { options: options ?? null }); }
    async sendEvent(event) { await this.#call("sendEvent", { event: event ?? null }); }
    async delete() { await this.#call("delete"); }
    async subscribe(options) {
      const { cursor, filter } = subscribeOptions(options);
      // The host checks the filter's types and that the instance exists now (`next()` says
      // when it is deleted later).
      await this.#call("subscribe", { filter }).catch((error) => {
        throw error.message === "Invalid Workflow subscription options" ? invalidSubscription() : error;
      });
      return new WorkflowSubscription(this.#workflow, this.id, cursor, filter);
    }
  }

  // `subscribe()`'s event types (production's 29, and the `*_failed` names of an early local
  // engine); `internal` is not one.
  const SUBSCRIBE_KEYS = new Set(["cursor", "filter"]);
  const invalidSubscription = () => new Error("Invalid Workflow subscription options");
  const subscribeOptions = (options) => {
    if (options === undefined) return { cursor: 0, filter: [] };
    if (options === null || typeof options !== "object" || Array.isArray(options)) throw invalidSubscription();
    if (Object.keys(options).some((key) => !SUBSCRIBE_KEYS.has(key))) throw invalidSubscription();
    const { cursor = 0, filter = [] } = options;
    if (!Number.isSafeInteger(cursor) || cursor < 0) throw invalidSubscription();
    if (!Array.isArray(filter) || filter.some((type) => typeof type !== "string" || type === "internal")) {
      throw invalidSubscription();
    }
    return { cursor, filter };
  };

  /**
   * What `subscribe()` returns: `next()` gives the events after the cursor, in order, waiting for
   * new ones, and `{done: true}` once the instance's terminal event is passed. Calls of `next()`
   * are answered one after another.
   */
  class WorkflowSubscription {
    #workflow;
    #id;
    #cursor;
    #filter;
    #done = false;
    #line = Promise.resolve();
    constructor(workflow, id, cursor, filter) {
      this.#workflow = workflow;
      this.#id = id;
      this.#cursor = cursor;
      this.#filter = filter;
    }
    next() {
      const result = this.#line.then(() => this.#next());
      this.#line = result.catch(() => {});
      return result;
    }
    async #next() {
      if (this.#done) return { done: true, value: undefined };
      let reply;
      try {
        reply = await callBinding({
          op: "subscribeNext",
          workflow: this.#workflow,
          id: this.#id,
          cursor: this.#cursor,
          filter: this.#filter,
        });
      } catch (error) {
        this.#done = true;
        throw error;
      }
      if (reply.done) {
        this.#done = true;
        return { done: true, value: undefined };
      }
      this.#cursor = reply.event.eventId;
      if (reply.last) this.#done = true;
      return { done: false, value: reply.event };
    }
    [Symbol.dispose ?? Symbol.for("Symbol.dispose")]() {
      this.#done = true;
    }
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

  // `ctx.exports`: a `Workflow` per workflow the config declares in `exports`, by class name.
  let workflowExports = {};

  /**
   * The Worker's `env`: its vars, a `Workflow` per workflow binding, and what the binding
   * modules make of the other kinds (a `Queue` per producer, …). Exported workflows go to
   * `ctx.exports` instead.
   */
  const makeEnv = (vars, bindings) => {
    const env = { ...vars };
    const exported = {};
    for (const binding of bindings) {
      if (binding.type === "export") exported[binding.className] = new Workflow(binding.workflow);
      else if (binding.type === "workflow") env[binding.binding] = new Workflow(binding.workflow);
      else env[binding.binding] = bindingMakers[binding.type](binding);
    }
    workflowExports = Object.freeze(exported);
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
      exports: workflowExports,
    };
    Object.defineProperty(ctx, "__stepflare_drain", { value: () => Promise.all(pending), enumerable: false });
    return ctx;
  };

  globalThis.__stepflare = {
    newExecutionContext,
    NonRetryableError,
    NonRetryableDelayError,
    WorkflowEntrypoint,
    WorkerEntrypoint,
    DurableObject,
    RpcTarget,
    WorkflowStep,
    WorkflowEvent,
    env: {},
    makeEnv,
    callBinding,
    bindingMakers,
    newStep: () => new Step(),
    runWorkflow,
    describeError,
    // The stored form of what `run()` returned; `false` when it cannot be cloned.
    encodeOutput: (value) => {
      try {
        return encode(value);
      } catch (error) {
        if (cannotClone(error)) return false;
        throw error;
      }
    },
  };
})();
