// node:url: the global URL and URLSearchParams, file URL conversions, and the legacy API
// (parse, format, resolve, Url) after Node's documented behaviour.
"use strict";
const { codedError } = require("node:internal/errors");

const querystring = require("node:querystring");
const path = require("node:path");

function invalidArgType(name, expected, value) {
  let received;
  if (value === null || value === undefined) received = String(value);
  else if (typeof value === "object")
    received = value.constructor ? `an instance of ${value.constructor.name}` : "an object";
  else received = `type ${typeof value} (${typeof value === "string" ? `'${value}'` : String(value)})`;
  return codedError(
    TypeError,
    "ERR_INVALID_ARG_TYPE",
    `The "${name}" argument must be ${expected}. Received ${received}`,
  );
}

// --- file URLs -----------------------------------------------------------------------------

function fileURLToPath(input) {
  let url = input;
  if (typeof url === "string") url = new URL(url);
  else if (!(url instanceof URL)) throw invalidArgType("path", "of type string or an instance of URL", input);
  if (url.protocol !== "file:") throw codedError(TypeError, "ERR_INVALID_URL_SCHEME", "The URL must be of scheme file");
  if (url.hostname !== "" && url.hostname !== "localhost") {
    throw codedError(TypeError, "ERR_INVALID_FILE_URL_HOST", 'File URL host must be "localhost" or empty on linux');
  }
  const pathname = url.pathname;
  for (let n = 0; n < pathname.length; n++) {
    if (pathname[n] === "%") {
      const third = pathname.codePointAt(n + 2) | 0x20;
      if (pathname[n + 1] === "2" && third === 102) {
        throw codedError(TypeError, "ERR_INVALID_FILE_URL_PATH", "File URL path must not include encoded / characters");
      }
    }
  }
  return decodeURIComponent(pathname);
}

function encodePathChars(filepath) {
  return filepath
    .replaceAll("%", "%25")
    .replaceAll("\\", "%5C")
    .replaceAll("\n", "%0A")
    .replaceAll("\r", "%0D")
    .replaceAll("\t", "%09")
    .replaceAll("#", "%23")
    .replaceAll("?", "%3F");
}

function pathToFileURL(filepath) {
  if (typeof filepath !== "string") throw invalidArgType("path", "of type string", filepath);
  let resolved = path.resolve(filepath);
  if (filepath.endsWith("/") && !resolved.endsWith("/")) resolved += "/";
  return new URL(`file://${encodePathChars(resolved)}`);
}

function urlToHttpOptions(url) {
  const { hostname, pathname, port, username, password, search } = url;
  const options = {
    __proto__: null,
    ...url,
    protocol: url.protocol,
    hostname: hostname && hostname[0] === "[" ? hostname.slice(1, -1) : hostname,
    hash: url.hash,
    search,
    pathname,
    path: `${pathname || ""}${search || ""}`,
    href: url.href,
  };
  if (port !== "") options.port = Number(port);
  if (username || password) options.auth = `${decodeURIComponent(username)}:${decodeURIComponent(password)}`;
  return options;
}

// --- domains (punycode) --------------------------------------------------------------------

function domainToASCII(domain) {
  try {
    return new URL(`ws://${domain}`).hostname;
  } catch {
    return "";
  }
}

function punycodeDecode(input) {
  const base = 36;
  const output = [];
  let i = 0;
  let n = 128;
  let bias = 72;
  let basic = input.lastIndexOf("-");
  if (basic < 0) basic = 0;
  for (let j = 0; j < basic; ++j) output.push(input.charCodeAt(j));
  for (let index = basic > 0 ? basic + 1 : 0; index < input.length;) {
    const oldi = i;
    for (let w = 1, k = base; ; k += base) {
      const code = input.charCodeAt(index++);
      const digit = code - 48 < 10 ? code - 22 : code - 65 < 26 ? code - 65 : code - 97 < 26 ? code - 97 : base;
      if (digit >= base) throw new RangeError("Invalid input");
      i += digit * w;
      const t = k <= bias ? 1 : k >= bias + 26 ? 26 : k - bias;
      if (digit < t) break;
      w *= base - t;
    }
    const out = output.length + 1;
    let delta = i - oldi;
    delta = oldi === 0 ? Math.floor(delta / 700) : delta >> 1;
    delta += Math.floor(delta / out);
    let k = 0;
    while (delta > ((base - 1) * 26) >> 1) {
      delta = Math.floor(delta / (base - 1));
      k += base;
    }
    bias = Math.floor(k + ((base - 1 + 1) * delta) / (delta + 38));
    n += Math.floor(i / out);
    i %= out;
    output.splice(i++, 0, n);
  }
  return String.fromCodePoint(...output);
}

function domainToUnicode(domain) {
  const ascii = domainToASCII(domain);
  if (ascii === "" && domain !== "") return "";
  return ascii
    .split(".")
    .map((label) => {
      if (!label.startsWith("xn--")) return label;
      try {
        return punycodeDecode(label.slice(4));
      } catch {
        return label;
      }
    })
    .join(".");
}

// --- legacy Url ----------------------------------------------------------------------------

function Url() {
  this.protocol = null;
  this.slashes = null;
  this.auth = null;
  this.host = null;
  this.port = null;
  this.hostname = null;
  this.hash = null;
  this.search = null;
  this.query = null;
  this.pathname = null;
  this.path = null;
  this.href = null;
}

const protocolPattern = /^[a-z0-9.+-]+:/i;
const portPattern = /:[0-9]*$/;
const hostPattern = /^\/\/[^@/]+@[^@/]+/;
const simplePathPattern = /^(\/\/?(?!\/)[^?\s]*)(\?[^\s]*)?$/;
const hostnameMaxLen = 255;
const unsafeProtocol = new Set(["javascript", "javascript:"]);
const hostlessProtocol = new Set(["javascript", "javascript:"]);
const slashedProtocol = new Set([
  "http",
  "http:",
  "https",
  "https:",
  "ftp",
  "ftp:",
  "gopher",
  "gopher:",
  "file",
  "file:",
  "ws",
  "ws:",
  "wss",
  "wss:",
]);
// Characters that end a host, and characters escaped wherever they appear.
const hostEndingChars = new Set(["/", "?", "#"]);
const autoEscape = {
  "\t": "%09",
  "\n": "%0A",
  "\r": "%0D",
  " ": "%20",
  '"': "%22",
  "'": "%27",
  "<": "%3C",
  ">": "%3E",
  "\\": "%5C",
  "^": "%5E",
  "`": "%60",
  "{": "%7B",
  "|": "%7C",
  "}": "%7D",
};
const forbiddenHostChars = /[\0\t\n\r #%/:<>?@[\\\]^|]/;

function urlParse(url, parseQueryString, slashesDenoteHost) {
  if (url instanceof Url) return url;
  const urlObject = new Url();
  urlObject.parse(url, parseQueryString, slashesDenoteHost);
  return urlObject;
}

Url.prototype.parse = function parse(url, parseQueryString, slashesDenoteHost) {
  if (typeof url !== "string") throw invalidArgType("url", "of type string", url);
  // Leading and trailing whitespace go; backslashes before the query become slashes.
  let rest = url.trim();
  const queryIndex = rest.search(/[?#]/);
  const beforeQuery = queryIndex === -1 ? rest : rest.slice(0, queryIndex);
  rest = beforeQuery.replaceAll("\\", "/") + (queryIndex === -1 ? "" : rest.slice(queryIndex));

  if (!slashesDenoteHost && !rest.includes("#")) {
    const simplePath = simplePathPattern.exec(rest);
    if (simplePath) {
      this.path = rest;
      this.href = rest;
      this.pathname = simplePath[1];
      if (simplePath[2]) {
        this.search = simplePath[2];
        this.query = parseQueryString ? querystring.parse(this.search.slice(1)) : this.search.slice(1);
      } else if (parseQueryString) {
        this.search = null;
        this.query = { __proto__: null };
      }
      return this;
    }
  }

  let proto = protocolPattern.exec(rest);
  let lowerProto;
  if (proto) {
    proto = proto[0];
    lowerProto = proto.toLowerCase();
    this.protocol = lowerProto;
    rest = rest.slice(proto.length);
  }

  let slashes;
  if (slashesDenoteHost || proto || hostPattern.test(rest)) {
    slashes = rest.startsWith("//");
    if (slashes && !(proto && hostlessProtocol.has(lowerProto))) {
      rest = rest.slice(2);
      this.slashes = true;
    }
  }

  if (!hostlessProtocol.has(lowerProto) && (slashes || (proto && !slashedProtocol.has(proto)))) {
    let hostEnd = -1;
    let atSign = -1;
    let nonHost = -1;
    for (let i = 0; i < rest.length; ++i) {
      const ch = rest[i];
      if (ch in autoEscape && ch !== "\\") {
        if (nonHost === -1) nonHost = i;
      } else if (hostEndingChars.has(ch)) {
        if (nonHost === -1) nonHost = i;
        hostEnd = i;
        break;
      } else if (ch === "@") {
        atSign = i;
        nonHost = -1;
      }
    }
    let start = 0;
    if (atSign !== -1) {
      this.auth = decodeURIComponent(rest.slice(0, atSign));
      start = atSign + 1;
    }
    if (nonHost === -1) {
      this.host = rest.slice(start);
      rest = "";
    } else {
      this.host = rest.slice(start, nonHost);
      rest = rest.slice(nonHost);
    }
    this.parseHost();
    if (typeof this.hostname !== "string") this.hostname = "";
    const hostname = this.hostname;
    const ipv6Hostname = hostname.startsWith("[") && hostname.endsWith("]");
    if (!ipv6Hostname) {
      // A hostname with characters a host cannot hold ends there; the rest is path.
      const bad = hostname.search(forbiddenHostChars);
      if (bad !== -1) {
        rest = `/${hostname.slice(bad)}${rest}`;
        this.hostname = hostname.slice(0, bad);
      }
    }
    if (this.hostname.length > hostnameMaxLen) this.hostname = "";
    else this.hostname = this.hostname.toLowerCase();
    if (!ipv6Hostname && /[^\x00-\x7f]/.test(this.hostname)) {
      this.hostname = domainToASCII(this.hostname) || this.hostname;
    }
    const p = this.port ? `:${this.port}` : "";
    const h = this.hostname || "";
    this.host = h + p;
    if (ipv6Hostname) {
      this.hostname = this.hostname.slice(1, -1);
      if (rest[0] !== "/") rest = `/${rest}`;
    }
  }

  if (!unsafeProtocol.has(lowerProto)) {
    let escaped = "";
    for (const ch of rest) escaped += autoEscape[ch] || ch;
    rest = escaped;
  }

  const hash = rest.indexOf("#");
  if (hash !== -1) {
    this.hash = rest.slice(hash);
    rest = rest.slice(0, hash);
  }
  const questionIdx = rest.indexOf("?");
  if (questionIdx !== -1) {
    this.search = rest.slice(questionIdx);
    this.query = rest.slice(questionIdx + 1);
    if (parseQueryString) this.query = querystring.parse(this.query);
    rest = rest.slice(0, questionIdx);
  } else if (parseQueryString) {
    this.search = null;
    this.query = { __proto__: null };
  }

  if (rest.length > 0) this.pathname = rest;
  else if (slashedProtocol.has(lowerProto) && this.hostname) this.pathname = "/";

  if (this.pathname || this.search) this.path = (this.pathname || "") + (this.search || "");
  this.href = this.format();
  return this;
};

Url.prototype.parseHost = function parseHost() {
  let host = this.host;
  let port = portPattern.exec(host);
  if (port) {
    port = port[0];
    if (port !== ":") this.port = port.slice(1);
    host = host.slice(0, host.length - port.length);
  }
  if (host) this.hostname = host;
};

function isIpv6Hostname(hostname) {
  return hostname.startsWith("[") && hostname.endsWith("]");
}

Url.prototype.format = function format() {
  let auth = this.auth || "";
  if (auth) {
    auth = encodeURIComponent(auth).replace(/%3A/i, ":");
    auth += "@";
  }
  let protocol = this.protocol || "";
  let pathname = this.pathname || "";
  let hash = this.hash || "";
  let host = "";
  let query = "";
  if (this.host) {
    host = auth + this.host;
  } else if (this.hostname) {
    host =
      auth + (this.hostname.includes(":") && !isIpv6Hostname(this.hostname) ? `[${this.hostname}]` : this.hostname);
    if (this.port) host += `:${this.port}`;
  }
  if (this.query !== null && typeof this.query === "object") query = querystring.stringify(this.query);
  let search = this.search || (query && `?${query}`) || "";
  if (protocol && !protocol.endsWith(":")) protocol += ":";
  pathname = pathname.replaceAll("#", "%23").replaceAll("?", "%3F");
  if (this.slashes || slashedProtocol.has(protocol)) {
    if (this.slashes || host) {
      if (pathname && pathname[0] !== "/") pathname = `/${pathname}`;
      host = `//${host}`;
    } else if (protocol.length >= 4 && protocol.toLowerCase().startsWith("file")) {
      host = "//";
    }
  }
  search = search.replaceAll("#", "%23");
  if (hash && hash[0] !== "#") hash = `#${hash}`;
  if (search && search[0] !== "?") search = `?${search}`;
  return protocol + host + pathname + search + hash;
};

Url.prototype.resolve = function resolve(relative) {
  return urlResolve(this.format(), relative);
};

Url.prototype.resolveObject = function resolveObject(relative) {
  return urlParse(urlResolve(this.format(), typeof relative === "string" ? relative : urlFormat(relative)));
};

function urlFormat(urlObject, options) {
  if (typeof urlObject === "string") {
    urlObject = urlParse(urlObject);
  } else if (typeof urlObject !== "object" || urlObject === null) {
    throw invalidArgType("urlObject", "one of type object or string", urlObject);
  } else if (urlObject instanceof URL) {
    let fragment = true;
    let unicode = false;
    let search = true;
    let auth = true;
    if (options) {
      if (options.fragment !== undefined) fragment = Boolean(options.fragment);
      if (options.unicode !== undefined) unicode = Boolean(options.unicode);
      if (options.search !== undefined) search = Boolean(options.search);
      if (options.auth !== undefined) auth = Boolean(options.auth);
    }
    let out = urlObject.protocol;
    if (urlObject.host !== "" || urlObject.href.startsWith(`${urlObject.protocol}//`)) {
      out += "//";
      if (auth && (urlObject.username || urlObject.password)) {
        out += urlObject.username;
        if (urlObject.password) out += `:${urlObject.password}`;
        out += "@";
      }
      out += unicode ? domainToUnicode(urlObject.hostname) : urlObject.hostname;
      if (urlObject.port) out += `:${urlObject.port}`;
    }
    out += urlObject.pathname;
    if (search) out += urlObject.search;
    if (fragment) out += urlObject.hash;
    return out;
  }
  return Url.prototype.format.call(urlObject);
}

const RESOLVE_HOST = "stepflare-resolve.invalid";

function urlResolve(source, relative) {
  // (LLRT's URL takes a base only as a string.)
  const base = new URL(source, `resolve://${RESOLVE_HOST}/`);
  const resolved = new URL(relative, base.href);
  if (resolved.protocol === "resolve:") {
    const { pathname, search, hash } = resolved;
    if (resolved.host !== RESOLVE_HOST) return `//${resolved.host}${pathname}${search}${hash}`;
    const relativeSource = !source.startsWith("/") && !relative.startsWith("/");
    const full = pathname + search + hash;
    return relativeSource && base.pathname.startsWith("/") && !source.startsWith("/") ? full.slice(1) : full;
  }
  return resolved.toString();
}

function urlResolveObject(source, relative) {
  if (!source) return relative;
  return urlParse(source, false, true).resolveObject(relative);
}

module.exports = {
  Url,
  parse: urlParse,
  resolve: urlResolve,
  resolveObject: urlResolveObject,
  format: urlFormat,
  URL: globalThis.URL,
  URLSearchParams: globalThis.URLSearchParams,
  domainToASCII,
  domainToUnicode,
  pathToFileURL,
  fileURLToPath,
  urlToHttpOptions,
};
