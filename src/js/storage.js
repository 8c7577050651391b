// Workers KV, D1 and R2 bindings, the module `stepflare:storage`: evaluated after the prelude,
// and only in contexts whose `env` has one of them; it adds makers for the bindings to the
// prelude's `bindingMakers`, which its `makeEnv` uses. Every call goes to the host, which keeps
// the data in stepflare's state; this side only shapes values.
import { fromBase64, toBase64, viewBytes } from "stepflare:clone";

const { callBinding, bindingMakers } = globalThis.__stepflare;
/** A value as KV stores it: its bytes, from a string, a buffer, a view or a byte stream. */
const kvBytes = async (value) => {
  if (typeof value === "string") return new TextEncoder().encode(value);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return viewBytes(value);
  if (value && typeof value.getReader === "function") {
    return new Uint8Array(await new Response(value).arrayBuffer());
  }
  throw new TypeError("KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and ReadableStreams as values.");
};

const KV_TYPES = new Set(["text", "json", "arrayBuffer", "stream"]);

/** Stored bytes as the type `get` asked for. */
const kvValue = (base64, type) => {
  const bytes = fromBase64(base64);
  switch (type) {
    case "json":
      return JSON.parse(new TextDecoder().decode(bytes));
    case "arrayBuffer":
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    case "stream":
      return new Response(bytes).body;
    default:
      return new TextDecoder().decode(bytes);
  }
};

/** A Workers KV namespace (`kv_namespaces`), kept in stepflare's state. */
class KvNamespace {
  #namespace;
  constructor(namespace) {
    this.#namespace = namespace;
  }
  async #get(keys, typeOrOptions, withMetadata) {
    const type = (typeof typeOrOptions === "string" ? typeOrOptions : typeOrOptions?.type) ?? "text";
    if (!KV_TYPES.has(type)) throw new TypeError(`Unknown response type. Possible types are "text", "arrayBuffer", "json", and "stream".`);
    const many = Array.isArray(keys);
    if (many && type !== "text" && type !== "json") {
      throw new TypeError("Bulk get only supports the \"text\" and \"json\" types.");
    }
    const names = (many ? keys : [keys]).map(String);
    const found = await callBinding({ op: "kvGet", namespace: this.#namespace, keys: names });
    const read = (entry) => {
      const value = entry === null ? null : kvValue(entry.value, type);
      return withMetadata ? { value, metadata: entry?.metadata ?? null, cacheStatus: null } : value;
    };
    if (!many) return read(found[0]);
    return new Map(names.map((name, index) => [name, read(found[index])]));
  }
  get(key, typeOrOptions) {
    return this.#get(key, typeOrOptions, false);
  }
  getWithMetadata(key, typeOrOptions) {
    return this.#get(key, typeOrOptions, true);
  }
  async put(key, value, options) {
    const bytes = await kvBytes(value);
    await callBinding({
      op: "kvPut",
      namespace: this.#namespace,
      key: String(key),
      value: toBase64(bytes),
      metadata: options?.metadata ?? null,
      expiration: options?.expiration ?? null,
      expirationTtl: options?.expirationTtl ?? null,
    });
  }
  async delete(key) {
    await callBinding({ op: "kvDelete", namespace: this.#namespace, key: String(key) });
  }
  async list(options) {
    return callBinding({
      op: "kvList",
      namespace: this.#namespace,
      prefix: options?.prefix ?? null,
      limit: options?.limit ?? null,
      cursor: options?.cursor ?? null,
    });
  }
}

// D1: a bound value as the host takes it (bytes as base64), and a stored value as D1 returns it
// (bytes as an array of numbers).
const d1Param = (value) => {
  if (value === undefined) throw new Error("D1_TYPE_ERROR: Type 'undefined' not supported for value 'undefined'");
  if (value instanceof ArrayBuffer) return { blob: toBase64(new Uint8Array(value)) };
  if (ArrayBuffer.isView(value)) return { blob: toBase64(viewBytes(value)) };
  if (typeof value === "bigint") throw new Error(`D1_TYPE_ERROR: Type 'bigint' not supported for value '${value}'`);
  return value;
};
const d1Value = (value) => (value !== null && typeof value === "object" ? Array.from(fromBase64(value.blob)) : value);
const d1Rows = ({ columns, rows }) =>
  rows.map((row) => {
    const object = {};
    columns.forEach((column, index) => (object[column] = d1Value(row[index])));
    return object;
  });
const d1Result = (result) => ({ results: d1Rows(result), success: true, meta: result.meta });
// What each prepared statement sends: its SQL and bound values, out of the user's sight.
const d1Statements = new WeakMap();

/** A D1 prepared statement: immutable; `bind` makes a new one. */
class D1PreparedStatement {
  #database;
  constructor(database, sql, params) {
    this.#database = database;
    d1Statements.set(this, { sql, params });
  }
  bind(...values) {
    return new D1PreparedStatement(this.#database, d1Statements.get(this).sql, values.map(d1Param));
  }
  async #run() {
    const [result] = await this.#database.__query([d1Statements.get(this)], false);
    return result;
  }
  async first(column) {
    const result = await this.#run();
    const [row] = d1Rows(result);
    if (row === undefined) return null;
    if (column === undefined) return row;
    if (!result.columns.includes(column)) throw new Error(`D1_COLUMN_NOTFOUND: Column not found (${column})`);
    return row[column];
  }
  async all() {
    return d1Result(await this.#run());
  }
  async run() {
    return d1Result(await this.#run());
  }
  async raw(options) {
    const result = await this.#run();
    const rows = result.rows.map((row) => row.map(d1Value));
    return options?.columnNames ? [result.columns, ...rows] : rows;
  }
}

/** A D1 database (`d1_databases`): a SQLite file in stepflare's state. */
class D1Database {
  #database;
  constructor(database) {
    this.#database = database;
  }
  __query(statements, batch) {
    return callBinding({ op: "d1Query", database: this.#database, statements, batch });
  }
  prepare(sql) {
    return new D1PreparedStatement(this, String(sql), []);
  }
  async batch(statements) {
    if (!Array.isArray(statements)) throw new TypeError("batch() takes an array of prepared statements");
    const sent = statements.map((statement) => {
      const sending = d1Statements.get(statement);
      if (!sending) throw new TypeError("batch() takes prepared statements of this database");
      return sending;
    });
    return (await this.__query(sent, true)).map(d1Result);
  }
  async exec(sql) {
    return callBinding({ op: "d1Exec", database: this.#database, sql: String(sql) });
  }
  /** Sessions (read replication) read and write the one local copy. */
  withSession() {
    return { prepare: (sql) => this.prepare(sql), batch: (s) => this.batch(s), getBookmark: () => null };
  }
}

// R2: the HTTP metadata fields, as `R2HTTPMetadata` names them and as headers.
const R2_HTTP_FIELDS = [
  ["contentType", "content-type"],
  ["contentLanguage", "content-language"],
  ["contentDisposition", "content-disposition"],
  ["contentEncoding", "content-encoding"],
  ["cacheControl", "cache-control"],
  ["cacheExpiry", "expires"],
];
const r2HttpMetadata = (given) => {
  if (given === undefined || given === null) return {};
  const read = (name, header) => (typeof given.get === "function" ? given.get(header) : given[name]);
  const metadata = {};
  for (const [name, header] of R2_HTTP_FIELDS) {
    const value = read(name, header);
    if (value !== undefined && value !== null) metadata[name] = value instanceof Date ? value.toISOString() : String(value);
  }
  return metadata;
};

/** What `head` and `list` give: an object's description. */
class R2Object {
  constructor(described, range) {
    this.key = described.key;
    this.version = described.version;
    this.size = described.size;
    this.etag = described.etag;
    this.httpEtag = described.httpEtag;
    this.uploaded = new Date(described.uploaded);
    this.httpMetadata = { ...described.httpMetadata };
    if (this.httpMetadata.cacheExpiry) this.httpMetadata.cacheExpiry = new Date(this.httpMetadata.cacheExpiry);
    this.customMetadata = { ...described.customMetadata };
    this.checksums = { md5: new Uint8Array(described.etag.match(/../g).map((hex) => parseInt(hex, 16))).buffer };
    this.storageClass = described.storageClass;
    if (range) this.range = range;
  }
  writeHttpMetadata(headers) {
    for (const [name, header] of R2_HTTP_FIELDS) {
      const value = this.httpMetadata[name];
      if (value !== undefined) headers.set(header, value instanceof Date ? value.toUTCString() : value);
    }
  }
}

/** What `get` gives: the description and the bytes, readable once. */
class R2ObjectBody extends R2Object {
  #bytes;
  #used = false;
  constructor(described, bytes, range) {
    super(described, range);
    this.#bytes = bytes;
  }
  #take() {
    if (this.#used) throw new TypeError("Body has already been used. It can only be used once.");
    this.#used = true;
    return this.#bytes;
  }
  get body() {
    return new Response(this.#bytes).body;
  }
  get bodyUsed() {
    return this.#used;
  }
  async arrayBuffer() {
    const bytes = this.#take();
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  }
  async bytes() {
    return new Uint8Array(this.#take());
  }
  async text() {
    return new TextDecoder().decode(this.#take());
  }
  async json() {
    return JSON.parse(await this.text());
  }
  async blob() {
    return new Blob([this.#take()], { type: this.httpMetadata.contentType ?? "" });
  }
}

/** An R2 bucket (`r2_buckets`): objects kept as files in stepflare's state. */
class R2Bucket {
  #bucket;
  constructor(bucket) {
    this.#bucket = bucket;
  }
  async head(key) {
    const described = await callBinding({ op: "r2Head", bucket: this.#bucket, key: String(key) });
    return described === null ? null : new R2Object(described);
  }
  async get(key, options) {
    const range = options?.range;
    let [offset, length, suffix] = [null, null, null];
    if (range !== undefined && range !== null) {
      if (typeof range.get === "function") throw new TypeError("get: a range given as Headers is not supported locally");
      ({ offset = null, length = null, suffix = null } = range);
    }
    const got = await callBinding({ op: "r2Get", bucket: this.#bucket, key: String(key), offset, length, suffix });
    return got === null ? null : new R2ObjectBody(got.object, fromBase64(got.body), got.range);
  }
  async put(key, value, options) {
    let bytes;
    if (value === null || value === undefined) bytes = new Uint8Array(0);
    else if (typeof value === "string") bytes = new TextEncoder().encode(value);
    else if (value instanceof ArrayBuffer) bytes = new Uint8Array(value);
    else if (ArrayBuffer.isView(value)) bytes = viewBytes(value);
    else if (typeof value.arrayBuffer === "function" || typeof value.getReader === "function") {
      bytes = new Uint8Array(await new Response(value).arrayBuffer());
    } else throw new TypeError("put: the value must be a string, an ArrayBuffer, an ArrayBufferView, a Blob, a ReadableStream or null");
    const described = await callBinding({
      op: "r2Put",
      bucket: this.#bucket,
      key: String(key),
      body: toBase64(bytes),
      httpMetadata: r2HttpMetadata(options?.httpMetadata),
      customMetadata: options?.customMetadata ?? {},
    });
    return new R2Object(described);
  }
  async delete(keys) {
    const list = (Array.isArray(keys) ? keys : [keys]).map(String);
    await callBinding({ op: "r2Delete", bucket: this.#bucket, keys: list });
  }
  async list(options) {
    const listed = await callBinding({
      op: "r2List",
      bucket: this.#bucket,
      prefix: options?.prefix ?? null,
      cursor: options?.cursor ?? null,
      limit: options?.limit ?? null,
      delimiter: options?.delimiter ?? null,
    });
    const include = new Set(options?.include ?? []);
    const objects = listed.objects.map((described) => {
      const object = new R2Object(described);
      // As production: metadata only when `include` asks for it.
      if (!include.has("httpMetadata")) object.httpMetadata = undefined;
      if (!include.has("customMetadata")) object.customMetadata = undefined;
      return object;
    });
    const result = { objects, truncated: listed.truncated, delimitedPrefixes: listed.delimitedPrefixes };
    if (listed.cursor) result.cursor = listed.cursor;
    return result;
  }
}

Object.assign(bindingMakers, {
  kv: (binding) => new KvNamespace(binding.namespace),
  d1: (binding) => new D1Database(binding.database),
  r2: (binding) => new R2Bucket(binding.bucket),
});
