// node:internal/errors: the shapes of Node's argument errors, shared by the built-ins (not
// importable by user code).
"use strict";

/// An error of class `Kind` with Node's `code` property.
function codedError(Kind, code, message) {
  const error = new Kind(message);
  error.code = code;
  return error;
}

/// The " Received …" tail of Node's ERR_INVALID_ARG_TYPE messages, without util.inspect.
function received(value) {
  if (value === null || value === undefined) return ` Received ${value}`;
  if (typeof value === "function") return ` Received function ${value.name}`;
  if (typeof value === "object") {
    if (value.constructor && value.constructor.name) return ` Received an instance of ${value.constructor.name}`;
    return " Received an object";
  }
  let shown = typeof value === "string" ? `'${value}'` : String(value);
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return ` Received type ${typeof value} (${shown})`;
}

module.exports = { codedError, received };
