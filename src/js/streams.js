// The module `stepflare:streams`, evaluated when a context first uses one of its globals: the
// web streams Workers use, shaped after the WHATWG Streams standard: `ReadableStream` (default
// controller and reader, `tee`, `pipeTo`, `pipeThrough`, async iteration, `ReadableStream.from`),
// `WritableStream` with its default writer, `TransformStream`, and the queuing strategies. Byte
// streams are read as default streams (no BYOB readers). Written in JavaScript so that QuickJS's collector
// sees every reference and a dropped context frees them all.
(() => {
  const deferred = () => {
    let resolve;
    let reject;
    const promise = new Promise((yes, no) => {
      resolve = yes;
      reject = no;
    });
    return { promise, resolve, reject };
  };
  const rejected = (reason) => {
    const promise = Promise.reject(reason);
    promise.catch(() => {});
    return promise;
  };
  const attempt = (fn) => {
    try {
      return Promise.resolve(fn());
    } catch (error) {
      return Promise.reject(error);
    }
  };
  const ILLEGAL = "Illegal constructor";
  const INTERNAL = Symbol("internal");

  const strategyOf = (strategy, defaultHighWaterMark) => {
    const highWaterMark = strategy?.highWaterMark === undefined ? defaultHighWaterMark : Number(strategy.highWaterMark);
    if (Number.isNaN(highWaterMark) || highWaterMark < 0) throw new RangeError("Invalid highWaterMark");
    const size = strategy?.size;
    return { highWaterMark, size: typeof size === "function" ? size : () => 1 };
  };

  // ---- ReadableStream ----

  const desiredSize = (s) => (s.state === "errored" ? null : s.state === "closed" ? 0 : s.highWaterMark - s.queueSize);

  const shouldPull = (s) => {
    if (s.state !== "readable" || s.closeRequested || !s.started) return false;
    if (s.reader && s.reader.requests.length > 0) return true;
    return desiredSize(s) > 0;
  };

  const callPullIfNeeded = (s) => {
    if (!shouldPull(s)) return;
    if (s.pulling) {
      s.pullAgain = true;
      return;
    }
    s.pulling = true;
    attempt(() => s.source.pull?.call(s.source, s.controller)).then(
      () => {
        s.pulling = false;
        if (s.pullAgain) {
          s.pullAgain = false;
          callPullIfNeeded(s);
        }
      },
      (error) => errorStream(s, error),
    );
  };

  const finishClose = (s) => {
    s.state = "closed";
    const reader = s.reader;
    if (!reader) return;
    for (const request of reader.requests.splice(0)) request.resolve({ value: undefined, done: true });
    reader.closed.resolve();
  };

  const errorStream = (s, error) => {
    if (s.state !== "readable") return;
    s.queue = [];
    s.queueSize = 0;
    s.state = "errored";
    s.storedError = error;
    const reader = s.reader;
    if (!reader) return;
    for (const request of reader.requests.splice(0)) request.reject(error);
    reader.closed.reject(error);
  };

  const enqueue = (s, chunk) => {
    if (s.closeRequested || s.state !== "readable") throw new TypeError("Cannot enqueue a chunk into a closed stream");
    const reader = s.reader;
    if (reader && reader.requests.length > 0) {
      reader.requests.shift().resolve({ value: chunk, done: false });
    } else {
      let size;
      try {
        size = Number(s.size(chunk));
        if (Number.isNaN(size) || size < 0 || size === Infinity) throw new RangeError("Invalid chunk size");
      } catch (error) {
        errorStream(s, error);
        throw error;
      }
      s.queue.push({ chunk, size });
      s.queueSize += size;
    }
    callPullIfNeeded(s);
  };

  const cancelStream = (s, reason) => {
    s.disturbed = true;
    if (s.state === "closed") return Promise.resolve();
    if (s.state === "errored") return rejected(s.storedError);
    s.queue = [];
    s.queueSize = 0;
    finishClose(s);
    return attempt(() => s.source.cancel?.call(s.source, reason)).then(() => undefined);
  };

  class ReadableStreamDefaultController {
    #s;
    constructor(key, s) {
      if (key !== INTERNAL) throw new TypeError(ILLEGAL);
      this.#s = s;
    }
    get desiredSize() {
      return desiredSize(this.#s);
    }
    enqueue(chunk) {
      enqueue(this.#s, chunk);
    }
    close() {
      const s = this.#s;
      if (s.closeRequested || s.state !== "readable") throw new TypeError("The stream is already closed");
      s.closeRequested = true;
      if (s.queue.length === 0) finishClose(s);
    }
    error(error) {
      errorStream(this.#s, error);
    }
  }

  let streamState;

  class ReadableStreamDefaultReader {
    #r;
    constructor(stream) {
      const s = streamState(stream);
      if (s.reader) throw new TypeError("ReadableStream is locked");
      const closed = deferred();
      closed.promise.catch(() => {});
      this.#r = { stream: s, requests: [], closed };
      s.reader = this.#r;
      if (s.state === "closed") closed.resolve();
      else if (s.state === "errored") closed.reject(s.storedError);
    }
    get closed() {
      return this.#r.closed.promise;
    }
    read() {
      const r = this.#r;
      const s = r.stream;
      if (!s) return rejected(new TypeError("This reader has been released"));
      s.disturbed = true;
      if (s.state === "closed") return Promise.resolve({ value: undefined, done: true });
      if (s.state === "errored") return rejected(s.storedError);
      if (s.queue.length > 0) {
        const { chunk, size } = s.queue.shift();
        s.queueSize -= size;
        if (s.closeRequested && s.queue.length === 0) finishClose(s);
        else callPullIfNeeded(s);
        return Promise.resolve({ value: chunk, done: false });
      }
      const request = deferred();
      r.requests.push(request);
      callPullIfNeeded(s);
      return request.promise;
    }
    cancel(reason) {
      const s = this.#r.stream;
      if (!s) return rejected(new TypeError("This reader has been released"));
      return cancelStream(s, reason);
    }
    releaseLock() {
      const r = this.#r;
      const s = r.stream;
      if (!s) return;
      const error = new TypeError("The reader was released");
      for (const request of r.requests.splice(0)) request.reject(error);
      if (s.state === "readable") r.closed.reject(error);
      else {
        r.closed = deferred();
        r.closed.promise.catch(() => {});
        r.closed.reject(error);
      }
      s.reader = null;
      r.stream = null;
    }
  }

  class ReadableStream {
    #s;
    constructor(source = {}, strategy = {}) {
      source ??= {};
      const { highWaterMark, size } = strategyOf(strategy, 1);
      const s = {
        state: "readable",
        storedError: undefined,
        queue: [],
        queueSize: 0,
        reader: null,
        disturbed: false,
        closeRequested: false,
        pulling: false,
        pullAgain: false,
        started: false,
        highWaterMark,
        size,
        source,
        controller: null,
      };
      this.#s = s;
      s.controller = new ReadableStreamDefaultController(INTERNAL, s);
      const started = source.start?.call(source, s.controller);
      Promise.resolve(started).then(
        () => {
          s.started = true;
          callPullIfNeeded(s);
        },
        (error) => errorStream(s, error),
      );
    }
    static {
      streamState = (stream) => {
        if (!(stream instanceof ReadableStream)) throw new TypeError("Expected a ReadableStream");
        return stream.#s;
      };
    }
    get locked() {
      return this.#s.reader !== null;
    }
    getReader(options) {
      if (options?.mode === "byob") throw new TypeError("BYOB readers are not supported");
      return new ReadableStreamDefaultReader(this);
    }
    cancel(reason) {
      if (this.locked) return rejected(new TypeError("Cannot cancel a locked ReadableStream"));
      return cancelStream(this.#s, reason);
    }
    tee() {
      const reader = this.getReader();
      const controllers = [];
      const canceled = [false, false];
      const reasons = [];
      const cancelled = deferred();
      let reading = false;
      let done = false;
      const pull = () => {
        if (reading || done) return Promise.resolve();
        reading = true;
        reader.read().then(
          ({ value, done: ended }) => {
            reading = false;
            if (ended) {
              done = true;
              controllers.forEach((c, i) => canceled[i] || c.close());
              cancelled.resolve();
              return;
            }
            controllers.forEach((c, i) => canceled[i] || c.enqueue(value));
          },
          () => {
            reading = false;
          },
        );
        return Promise.resolve();
      };
      const cancel = (index) => (reason) => {
        canceled[index] = true;
        reasons[index] = reason;
        if (canceled[0] && canceled[1]) cancelled.resolve(reader.cancel(reasons));
        return cancelled.promise;
      };
      const branches = [0, 1].map(
        (index) => new ReadableStream({ start: (c) => void (controllers[index] = c), pull, cancel: cancel(index) }),
      );
      reader.closed.catch((error) => {
        controllers.forEach((c) => c.error(error));
        cancelled.resolve();
      });
      return branches;
    }
    async pipeTo(destination, { preventClose = false, preventAbort = false, preventCancel = false, signal } = {}) {
      if (this.locked) throw new TypeError("Cannot pipe a locked ReadableStream");
      if (destination.locked) throw new TypeError("Cannot pipe to a locked WritableStream");
      const reader = this.getReader();
      const writer = destination.getWriter();
      const onAbort = () => reader.cancel(signal.reason).catch(() => {});
      signal?.addEventListener?.("abort", onAbort);
      try {
        for (;;) {
          if (signal?.aborted) throw { aborted: signal.reason };
          await writer.ready;
          let step;
          try {
            step = await reader.read();
          } catch (error) {
            if (!preventAbort) await writer.abort(error).catch(() => {});
            throw error;
          }
          if (signal?.aborted) throw { aborted: signal.reason };
          if (step.done) break;
          try {
            await writer.write(step.value);
          } catch (error) {
            if (!preventCancel) await reader.cancel(error).catch(() => {});
            throw error;
          }
        }
        if (!preventClose) await writer.close();
      } catch (error) {
        if (error && typeof error === "object" && "aborted" in error) {
          if (!preventAbort) await writer.abort(error.aborted).catch(() => {});
          if (!preventCancel) await reader.cancel(error.aborted).catch(() => {});
          throw error.aborted;
        }
        throw error;
      } finally {
        signal?.removeEventListener?.("abort", onAbort);
        reader.releaseLock();
        writer.releaseLock();
      }
    }
    pipeThrough({ writable, readable }, options) {
      this.pipeTo(writable, options).catch(() => {});
      return readable;
    }
    async *values({ preventCancel = false } = {}) {
      const reader = this.getReader();
      let finished = false;
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) {
            finished = true;
            return;
          }
          yield value;
        }
      } catch (error) {
        finished = true;
        throw error;
      } finally {
        if (!finished && !preventCancel) await reader.cancel();
        reader.releaseLock();
      }
    }
    [Symbol.asyncIterator](options) {
      return this.values(options);
    }
    static from(iterable) {
      const iterator = (iterable[Symbol.asyncIterator] ?? iterable[Symbol.iterator]).call(iterable);
      return new ReadableStream(
        {
          async pull(controller) {
            const { value, done } = await iterator.next();
            if (done) controller.close();
            else controller.enqueue(await value);
          },
          async cancel(reason) {
            await iterator.return?.(reason);
          },
        },
        { highWaterMark: 0 },
      );
    }
  }

  // ---- WritableStream ----

  const writableDesiredSize = (w) =>
    w.state === "errored" ? null : w.state === "closed" ? 0 : w.highWaterMark - w.queueSize;

  const updateBackpressure = (w) => {
    const backpressure = w.state === "writable" && !w.closeRequest && writableDesiredSize(w) <= 0;
    if (backpressure === w.backpressure) return;
    w.backpressure = backpressure;
    if (!w.writer) return;
    if (backpressure) {
      w.writer.ready = deferred();
      w.writer.ready.promise.catch(() => {});
    } else w.writer.ready.resolve();
  };

  const errorWritable = (w, error) => {
    if (w.state === "errored" || w.state === "closed") return;
    w.state = "errored";
    w.storedError = error;
    for (const write of w.queue.splice(0)) write.reject(error);
    w.queueSize = 0;
    w.closeRequest?.reject(error);
    if (w.writer) {
      w.writer.closed.reject(error);
      w.writer.ready = deferred();
      w.writer.ready.promise.catch(() => {});
      w.writer.ready.reject(error);
    }
  };

  const advance = (w) => {
    if (!w.started || w.inFlight || w.state !== "writable") return;
    if (w.queue.length > 0) {
      const write = w.queue[0];
      w.inFlight = true;
      attempt(() => w.sink.write?.call(w.sink, write.chunk, w.controller)).then(
        () => {
          w.inFlight = false;
          w.queue.shift();
          w.queueSize -= write.size;
          write.resolve();
          updateBackpressure(w);
          advance(w);
        },
        (error) => {
          w.inFlight = false;
          errorWritable(w, error);
        },
      );
    } else if (w.closeRequest) {
      w.inFlight = true;
      attempt(() => w.sink.close?.call(w.sink)).then(
        () => {
          w.inFlight = false;
          w.state = "closed";
          w.closeRequest.resolve();
          w.writer?.closed.resolve();
        },
        (error) => {
          w.inFlight = false;
          errorWritable(w, error);
        },
      );
    }
  };

  const abortWritable = (w, reason) => {
    if (w.state === "closed" || w.state === "errored") return Promise.resolve();
    errorWritable(w, reason);
    return attempt(() => w.sink.abort?.call(w.sink, reason)).then(() => undefined);
  };

  class WritableStreamDefaultController {
    #w;
    constructor(key, w) {
      if (key !== INTERNAL) throw new TypeError(ILLEGAL);
      this.#w = w;
    }
    error(error) {
      errorWritable(this.#w, error);
    }
  }

  let writableState;

  class WritableStreamDefaultWriter {
    #w;
    constructor(stream) {
      const w = writableState(stream);
      if (w.writer) throw new TypeError("WritableStream is locked");
      this.#w = w;
      const closed = deferred();
      closed.promise.catch(() => {});
      const ready = deferred();
      ready.promise.catch(() => {});
      w.writer = { closed, ready };
      if (w.state === "closed") closed.resolve();
      if (w.state === "errored") {
        closed.reject(w.storedError);
        ready.reject(w.storedError);
      } else if (!w.backpressure) ready.resolve();
    }
    get closed() {
      return this.#w.writer?.closed.promise ?? rejected(new TypeError("This writer has been released"));
    }
    get ready() {
      return this.#w.writer?.ready.promise ?? rejected(new TypeError("This writer has been released"));
    }
    get desiredSize() {
      return writableDesiredSize(this.#w);
    }
    write(chunk) {
      const w = this.#w;
      if (!w.writer) return rejected(new TypeError("This writer has been released"));
      if (w.state === "errored") return rejected(w.storedError);
      if (w.state === "closed" || w.closeRequest) return rejected(new TypeError("The stream is closing or closed"));
      let size;
      try {
        size = Number(w.size(chunk));
      } catch (error) {
        errorWritable(w, error);
        return rejected(error);
      }
      const write = deferred();
      write.chunk = chunk;
      write.size = size;
      w.queue.push(write);
      w.queueSize += size;
      updateBackpressure(w);
      advance(w);
      return write.promise;
    }
    close() {
      const w = this.#w;
      if (!w.writer) return rejected(new TypeError("This writer has been released"));
      if (w.state !== "writable" || w.closeRequest) return rejected(new TypeError("The stream is closing or closed"));
      w.closeRequest = deferred();
      updateBackpressure(w);
      advance(w);
      return w.closeRequest.promise;
    }
    abort(reason) {
      return abortWritable(this.#w, reason);
    }
    releaseLock() {
      this.#w.writer = null;
    }
  }

  class WritableStream {
    #w;
    constructor(sink = {}, strategy = {}) {
      sink ??= {};
      const { highWaterMark, size } = strategyOf(strategy, 1);
      const w = {
        state: "writable",
        storedError: undefined,
        queue: [],
        queueSize: 0,
        writer: null,
        backpressure: false,
        closeRequest: null,
        inFlight: false,
        started: false,
        highWaterMark,
        size,
        sink,
        controller: null,
      };
      this.#w = w;
      w.controller = new WritableStreamDefaultController(INTERNAL, w);
      w.backpressure = highWaterMark <= 0;
      const started = sink.start?.call(sink, w.controller);
      Promise.resolve(started).then(
        () => {
          w.started = true;
          advance(w);
        },
        (error) => errorWritable(w, error),
      );
    }
    static {
      writableState = (stream) => {
        if (!(stream instanceof WritableStream)) throw new TypeError("Expected a WritableStream");
        return stream.#w;
      };
    }
    get locked() {
      return this.#w.writer !== null;
    }
    getWriter() {
      return new WritableStreamDefaultWriter(this);
    }
    abort(reason) {
      if (this.locked) return rejected(new TypeError("Cannot abort a locked WritableStream"));
      return abortWritable(this.#w, reason);
    }
    close() {
      if (this.locked) return rejected(new TypeError("Cannot close a locked WritableStream"));
      const writer = this.getWriter();
      return writer.close().finally(() => writer.releaseLock());
    }
  }

  // ---- TransformStream ----

  // A writable side that hands each chunk to `transform`, and a readable side it enqueues to;
  // a write waits while the readable side has not asked for more (the standard backpressure).
  class TransformStream {
    constructor(transformer = {}, writableStrategy, readableStrategy = { highWaterMark: 0 }) {
      transformer ??= {};
      let readable;
      let backpressure = true;
      let relief = deferred();
      const setBackpressure = (value) => {
        if (value === backpressure) return;
        if (value) relief = deferred();
        else relief.resolve();
        backpressure = value;
      };
      const controller = {
        enqueue(chunk) {
          readable.enqueue(chunk);
          if (readable.desiredSize <= 0) setBackpressure(true);
        },
        error(reason) {
          readable.error(reason);
        },
        terminate() {
          readable.close();
        },
        get desiredSize() {
          return readable.desiredSize;
        },
      };
      this.readable = new ReadableStream(
        {
          start: (c) => void (readable = c),
          pull: () => setBackpressure(false),
          cancel: (reason) => transformer.cancel?.(reason),
        },
        readableStrategy,
      );
      const started = transformer.start?.(controller);
      this.writable = new WritableStream(
        {
          start: () => started,
          async write(chunk) {
            if (backpressure) await relief.promise;
            if (transformer.transform) await transformer.transform(chunk, controller);
            else controller.enqueue(chunk);
          },
          async close() {
            await transformer.flush?.(controller);
            readable.close();
          },
          abort(reason) {
            readable.error(reason);
          },
        },
        writableStrategy,
      );
    }
  }

  class CountQueuingStrategy {
    constructor({ highWaterMark }) {
      this.highWaterMark = highWaterMark;
    }
    get size() {
      return () => 1;
    }
  }

  class ByteLengthQueuingStrategy {
    constructor({ highWaterMark }) {
      this.highWaterMark = highWaterMark;
    }
    get size() {
      return (chunk) => chunk.byteLength;
    }
  }

  Object.assign(globalThis, {
    ReadableStream,
    ReadableStreamDefaultReader,
    ReadableStreamDefaultController,
    WritableStream,
    WritableStreamDefaultWriter,
    WritableStreamDefaultController,
    TransformStream,
    CountQueuingStrategy,
    ByteLengthQueuingStrategy,
  });
})();
