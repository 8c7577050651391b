// The module `stepflare:web`, evaluated in every fresh context before the prelude: the Fetch API
// (`Headers`, `Request`, `Response`, `fetch`) with byte and stream bodies, on the streams of
// `stepflare:streams`. The native half of `fetch` is `fetch.rs`; the host reads a
// Worker's response through `__stepflare_web.responseBody`.
(() => {
  const nativeFetch = globalThis.__stepflare_fetch;
  delete globalThis.__stepflare_fetch;

  // Encoders are made on first use: `TextEncoder` is one of the lazily set up globals, and a
  // request that only handles text never needs it.
  let encoder;
  let decoder;
  const encode = (text) => (encoder ??= new TextEncoder()).encode(text);
  const decode = (bytes) => (decoder ??= new TextDecoder()).decode(bytes);

  const isStream = (value) => value !== null && typeof value === "object" && typeof value.getReader === "function";

  const toBytes = (chunk) => {
    if (chunk instanceof Uint8Array) return chunk;
    if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
    if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    throw new TypeError("This ReadableStream did not return bytes.");
  };

  const concat = (chunks) => {
    if (chunks.length === 1) return chunks[0];
    const all = new Uint8Array(chunks.reduce((length, chunk) => length + chunk.byteLength, 0));
    let offset = 0;
    for (const chunk of chunks) {
      all.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return all;
  };

  // A body is kept as what it was made from until it is read: a string, a Uint8Array (a private
  // copy), a ReadableStream, or a source `{ read, cancel }` whose `read()` settles to the next
  // Uint8Array or to null at the end (a fetch response, a Blob). A ReadableStream is only made
  // when `.body` is asked for, so text bodies never pay for one.
  const onceSource = (load) => {
    let done = false;
    return {
      read: async () => {
        if (done) return null;
        done = true;
        return await load();
      },
      cancel: () => {
        done = true;
      },
    };
  };

  const streamSource = (stream) => {
    const reader = stream.getReader();
    return {
      read: async () => {
        const { done, value } = await reader.read();
        if (done) return null;
        try {
          return toBytes(value);
        } catch (error) {
          reader.cancel(error).catch(() => {});
          throw error;
        }
      },
      cancel: (reason) => reader.cancel(reason),
    };
  };

  const sourceStream = (source) =>
    new ReadableStream(
      {
        async pull(controller) {
          const chunk = await source.read();
          if (chunk === null) controller.close();
          else controller.enqueue(chunk);
        },
        cancel: (reason) => source.cancel(reason),
      },
      { highWaterMark: 0 },
    );

  const asStream = (source) => {
    if (isStream(source)) return source;
    if (typeof source === "string" || source instanceof Uint8Array) {
      const bytes = typeof source === "string" ? encode(source) : source;
      return new ReadableStream({
        start(controller) {
          if (bytes.byteLength > 0) controller.enqueue(bytes);
          controller.close();
        },
      });
    }
    return sourceStream(source);
  };

  /** Everything a source holds: the string itself, or the bytes. */
  const readAll = async (source) => {
    if (source === null) return new Uint8Array(0);
    if (typeof source === "string" || source instanceof Uint8Array) return source;
    const reader = isStream(source) ? streamSource(source) : source;
    const chunks = [];
    for (let chunk = await reader.read(); chunk !== null; chunk = await reader.read()) chunks.push(chunk);
    return concat(chunks);
  };

  /** `[source, default content-type]` of a body given to `Request` or `Response`. */
  const extractBody = (body) => {
    if (body === undefined || body === null) return [null, null];
    if (typeof body === "string") return [body, "text/plain;charset=UTF-8"];
    if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return [toBytes(body).slice(), null];
    if (isStream(body)) return [body, null];
    if (body instanceof URLSearchParams) return [body.toString(), "application/x-www-form-urlencoded;charset=UTF-8"];
    if (body instanceof Blob) return [onceSource(async () => new Uint8Array(await body.arrayBuffer())), body.type || null];
    return [String(body), "text/plain;charset=UTF-8"];
  };

  const USED = "Body has already been used. It can only be used once. Use tee() first if you need to read it twice.";

  // Set in Body's static block: the rest of this module reaches a body's source through them.
  let takeSource;
  let cloneSource;
  let adoptSource;

  class Body {
    #source;
    #used = false;
    constructor(source) {
      this.#source = source;
    }
    static {
      takeSource = (body) => body.#take();
      cloneSource = (body) => body.#clone();
      adoptSource = (body, source) => {
        body.#source = source;
      };
    }
    get body() {
      if (this.#source === null) return null;
      this.#source = asStream(this.#source);
      return this.#source;
    }
    get bodyUsed() {
      return this.#used || (isStream(this.#source) && this.#source.locked);
    }
    #take() {
      if (this.bodyUsed) throw new TypeError(USED);
      if (this.#source !== null) this.#used = true;
      return this.#source;
    }
    #clone() {
      if (this.bodyUsed) throw new TypeError("Cannot clone a body that has already been used.");
      const source = this.#source;
      if (source === null || typeof source === "string") return source;
      if (source instanceof Uint8Array) return source.slice();
      const [mine, theirs] = this.body.tee();
      this.#source = mine;
      return theirs;
    }
    async text() {
      const all = await readAll(this.#take());
      return typeof all === "string" ? all : decode(all);
    }
    async json() {
      return JSON.parse(await this.text());
    }
    async bytes() {
      const all = await readAll(this.#take());
      return typeof all === "string" ? encode(all) : all;
    }
    async arrayBuffer() {
      const bytes = await this.bytes();
      const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
      return whole ? bytes.buffer : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    }
    async blob() {
      return new Blob([await this.bytes()], { type: this.headers.get("content-type") ?? "" });
    }
  }

  class Headers {
    #map = new Map();
    constructor(init) {
      if (init instanceof Headers) init = [...init.entries()];
      else if (init && typeof init[Symbol.iterator] !== "function") init = Object.entries(init);
      for (const [name, value] of init ?? []) this.append(name, value);
    }
    append(name, value) {
      const key = String(name).toLowerCase();
      const old = this.#map.get(key);
      this.#map.set(key, old === undefined ? String(value) : `${old}, ${value}`);
    }
    set(name, value) {
      this.#map.set(String(name).toLowerCase(), String(value));
    }
    get(name) {
      return this.#map.get(String(name).toLowerCase()) ?? null;
    }
    has(name) {
      return this.#map.has(String(name).toLowerCase());
    }
    delete(name) {
      this.#map.delete(String(name).toLowerCase());
    }
    entries() {
      return this.#map.entries();
    }
    keys() {
      return this.#map.keys();
    }
    values() {
      return this.#map.values();
    }
    forEach(callback) {
      this.#map.forEach((value, key) => callback(value, key, this));
    }
    [Symbol.iterator]() {
      return this.#map.entries();
    }
  }

  const withDefaultType = (headers, type) => {
    if (type !== null && !headers.has("content-type")) headers.set("content-type", type);
    return headers;
  };

  const NULL_BODY_STATUSES = [101, 204, 205, 304];
  const REDIRECT_STATUSES = [301, 302, 303, 307, 308];

  class Response extends Body {
    constructor(body = null, init = {}) {
      init ??= {};
      const status = init.status === undefined ? 200 : Number(init.status);
      if (!Number.isInteger(status) || status < 200 || status > 599) {
        throw new RangeError("Responses may only be constructed with status codes in the range 200 to 599, inclusive.");
      }
      const [source, type] = extractBody(body);
      if (source !== null && NULL_BODY_STATUSES.includes(status)) {
        throw new TypeError(`Response with null body status (${status}) cannot have a body.`);
      }
      super(source);
      this.status = status;
      this.statusText = init.statusText ?? "";
      this.headers = withDefaultType(new Headers(init.headers), type);
      this.url = "";
      this.redirected = false;
      this.type = "default";
      this.webSocket = null;
    }
    get ok() {
      return this.status >= 200 && this.status < 300;
    }
    clone() {
      const copy = new Response(null, { headers: this.headers, statusText: this.statusText });
      adoptSource(copy, cloneSource(this));
      Object.assign(copy, { status: this.status, url: this.url, redirected: this.redirected, type: this.type });
      return copy;
    }
    static json(data, init = {}) {
      const headers = withDefaultType(new Headers(init?.headers), "application/json");
      return new Response(JSON.stringify(data), { ...init, headers });
    }
    static redirect(url, status = 302) {
      if (!REDIRECT_STATUSES.includes(status)) throw new RangeError(`Invalid redirect status ${status}.`);
      return new Response(null, { status, headers: { location: new URL(String(url)).href } });
    }
    static error() {
      const response = new Response(null);
      Object.assign(response, { status: 0, type: "error" });
      return response;
    }
  }

  let signalOf;

  class Request extends Body {
    #signal;
    constructor(input, init = {}) {
      init ??= {};
      const base = input instanceof Request ? input : null;
      const method = String(init.method ?? base?.method ?? "GET").toUpperCase();
      const [given, type] = extractBody(init.body);
      const source = given === null && init.body === undefined && base ? takeSource(base) : given;
      if (source !== null && (method === "GET" || method === "HEAD")) {
        throw new TypeError("Request with a GET or HEAD method cannot have a body.");
      }
      super(source);
      this.url = base ? base.url : String(input);
      this.method = method;
      this.headers = withDefaultType(new Headers(init.headers ?? base?.headers), type);
      this.redirect = init.redirect ?? base?.redirect ?? "follow";
      this.#signal = init.signal !== undefined ? init.signal : base ? base.#signal : null;
      this.cf = init.cf ?? base?.cf;
    }
    static {
      signalOf = (request) => request.#signal;
    }
    get signal() {
      return (this.#signal ??= new AbortController().signal);
    }
    clone() {
      const copy = new Request(this.url, {
        method: this.method,
        headers: this.headers,
        redirect: this.redirect,
        signal: this.#signal,
        cf: this.cf,
      });
      adoptSource(copy, cloneSource(this));
      return copy;
    }
  }

  const REDIRECT_MODES = ["follow", "manual", "error"];

  // The request body is read whole before it is sent; the response body streams as it arrives.
  const fetch = async (input, init) => {
    const request = new Request(input, init);
    if (!REDIRECT_MODES.includes(request.redirect)) {
      throw new TypeError(`Invalid redirect value, must be one of "follow", "manual" or "error".`);
    }
    const signal = signalOf(request);
    signal?.throwIfAborted();
    const body = await readAll(takeSource(request));
    const head = JSON.stringify({
      url: request.url,
      method: request.method,
      headers: [...request.headers],
      redirect: request.redirect,
    });
    const exchange = nativeFetch(head, body.length === 0 ? null : body);
    let aborted = null;
    if (signal) {
      aborted = new Promise((_, reject) => {
        signal.addEventListener("abort", () => {
          exchange.abort();
          reject(signal.reason);
        });
      });
      aborted.catch(() => {});
    }
    const orAbort = (promise) => (aborted ? Promise.race([promise, aborted]) : promise);
    const answer = JSON.parse(await orAbort(exchange.response));
    const source = { read: () => orAbort(exchange.read()), cancel: () => exchange.abort() };
    const response = new Response(null, { status: 200, statusText: answer.statusText, headers: answer.headers });
    const nullBody = NULL_BODY_STATUSES.includes(answer.status) || request.method === "HEAD";
    adoptSource(response, nullBody ? null : source);
    if (nullBody) exchange.abort();
    Object.assign(response, { status: answer.status, url: answer.url, redirected: answer.redirected });
    return response;
  };

  /** What the host sends for a Worker's response: null, a string, a Uint8Array, or a source. */
  const responseBody = (response) => {
    const source = takeSource(response);
    return isStream(source) ? streamSource(source) : source;
  };

  globalThis.Headers = Headers;
  globalThis.Request = Request;
  globalThis.Response = Response;
  globalThis.fetch = fetch;
  globalThis.__stepflare_web = { responseBody };
})();
