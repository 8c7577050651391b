// node:assert: the assertion functions, AssertionError with Node's generated messages (line
// diffs of the inspected values for the strict comparisons), and the deep equality that
// util.isDeepStrictEqual shares. `assert.strict` (node:assert/strict) is the strict variant.
"use strict";

const { inspect } = require("node:util");
const types = require("node:util/types");
const { isDeepEqual } = require("node:internal/deep_equal");

const kStrict = true;
const kLoose = false;

function isObjectLike(value) {
  return value !== null && (typeof value === "object" || typeof value === "function");
}

// --- AssertionError and its messages ---------------------------------------------------------

const kReadableOperator = {
  deepStrictEqual: "Expected values to be strictly deep-equal:",
  strictEqual: "Expected values to be strictly equal:",
  strictEqualObject: 'Expected "actual" to be reference-equal to "expected":',
  deepEqual: "Expected values to be loosely deep-equal:",
  notDeepStrictEqual: 'Expected "actual" not to be strictly deep-equal to:',
  notStrictEqual: 'Expected "actual" to be strictly unequal to:',
  notStrictEqualObject: 'Expected "actual" not to be reference-equal to "expected":',
  notDeepEqual: 'Expected "actual" not to be loosely deep-equal to:',
  notIdentical: "Values have same structure but are not reference-equal:",
  notDeepEqualUnequal: "Expected values not to be loosely deep-equal:",
};

const kMaxShortStringLength = 12;
const kNopLinesToCollapse = 5;

function inspectValue(value) {
  return inspect(value, {
    compact: false,
    customInspect: false,
    depth: 1000,
    maxArrayLength: Infinity,
    showHidden: false,
    showProxy: false,
    sorted: true,
    getters: true,
  });
}

function areLinesEqual(actual, expected, checkCommaDisparity) {
  if (actual === expected) return true;
  if (checkCommaDisparity) return `${actual},` === expected || actual === `${expected},`;
  return false;
}

function myersDiff(actual, expected, checkCommaDisparity) {
  const actualLength = actual.length;
  const expectedLength = expected.length;
  const max = actualLength + expectedLength;
  const v = new Int32Array(2 * max + 2);
  const trace = [];
  for (let diffLevel = 0; diffLevel <= max; diffLevel++) {
    trace.push(new Int32Array(v));
    for (let diagonal = -diffLevel; diagonal <= diffLevel; diagonal += 2) {
      const offset = diagonal + max;
      let x;
      if (diagonal === -diffLevel || (diagonal !== diffLevel && v[offset - 1] < v[offset + 1])) x = v[offset + 1];
      else x = v[offset - 1] + 1;
      let y = x - diagonal;
      while (x < actualLength && y < expectedLength && areLinesEqual(actual[x], expected[y], checkCommaDisparity)) {
        x++;
        y++;
      }
      v[offset] = x;
      if (x >= actualLength && y >= expectedLength) return backtrack(trace, actual, expected, checkCommaDisparity);
    }
  }
  return [];
}

function backtrack(trace, actual, expected, checkCommaDisparity) {
  const max = actual.length + expected.length;
  let x = actual.length;
  let y = expected.length;
  const result = [];
  for (let diffLevel = trace.length - 1; diffLevel >= 0; diffLevel--) {
    const v = trace[diffLevel];
    const diagonal = x - y;
    const offset = diagonal + max;
    let previousDiagonal;
    if (diagonal === -diffLevel || (diagonal !== diffLevel && v[offset - 1] < v[offset + 1])) {
      previousDiagonal = diagonal + 1;
    } else {
      previousDiagonal = diagonal - 1;
    }
    const previousX = v[previousDiagonal + max];
    const previousY = previousX - previousDiagonal;
    while (x > previousX && y > previousY) {
      const actualItem = actual[x - 1];
      const value = checkCommaDisparity && !actualItem.endsWith(",") ? expected[y - 1] : actualItem;
      result.push(["nop", value]);
      x--;
      y--;
    }
    if (diffLevel > 0) {
      if (x > previousX) {
        result.push(["insert", actual[x - 1]]);
        x--;
      } else {
        result.push(["delete", expected[y - 1]]);
        y--;
      }
    }
  }
  return result;
}

function printMyersDiff(diff) {
  let message = "";
  let skipped = false;
  let nopCount = 0;
  for (let i = diff.length - 1; i >= 0; i--) {
    const [operation, value] = diff[i];
    const previousOperation = i < diff.length - 1 ? diff[i + 1][0] : null;
    if (previousOperation === "nop" && operation !== previousOperation) {
      if (nopCount === kNopLinesToCollapse + 1) {
        message += `  ${diff[i + 1][1]}\n`;
      } else if (nopCount === kNopLinesToCollapse + 2) {
        message += `  ${diff[i + 2][1]}\n`;
        message += `  ${diff[i + 1][1]}\n`;
      } else if (nopCount >= kNopLinesToCollapse + 3) {
        message += "...\n";
        message += `  ${diff[i + 1][1]}\n`;
        skipped = true;
      }
      nopCount = 0;
    }
    if (operation === "insert") {
      message += `+ ${value}\n`;
    } else if (operation === "delete") {
      message += `- ${value}\n`;
    } else if (nopCount < kNopLinesToCollapse) {
      message += `  ${value}\n`;
      nopCount++;
    } else {
      nopCount++;
    }
  }
  return { message: `\n${message.trimEnd()}`, skipped };
}

function stackedDiff(actual, expected) {
  let message = `\n+ ${actual}\n- ${expected}`;
  if (actual.length + expected.length <= 80) {
    for (let i = 0; i < actual.length; i++) {
      if (actual[i] !== expected[i]) {
        if (i >= 3) message += `\n${" ".repeat(i + 2)}^`;
        break;
      }
    }
  }
  return message;
}

function createErrDiff(actual, expected, operator) {
  if (
    operator === "strictEqual" &&
    ((isObjectLike(actual) && isObjectLike(expected) && typeof actual === "object" && typeof expected === "object") ||
      (typeof actual === "function" && typeof expected === "function"))
  ) {
    operator = "strictEqualObject";
  }
  const inspectedActual = inspectValue(actual);
  const inspectedExpected = inspectValue(expected);
  if (inspectedActual === inspectedExpected && operator === "strictEqualObject") {
    return `${kReadableOperator.notIdentical}\n\n${inspectedActual}\n`;
  }
  const splitActual = inspectedActual.split("\n");
  const splitExpected = inspectedExpected.split("\n");
  let header = "+ actual - expected";
  let message;
  let skipped = false;
  const simple =
    splitActual.length === 1 &&
    splitExpected.length === 1 &&
    (typeof actual !== "object" || actual === null || typeof expected !== "object" || expected === null);
  if (simple) {
    let length = inspectedActual.length + inspectedExpected.length;
    if (typeof actual === "string") length -= 2;
    if (typeof expected === "string") length -= 2;
    if (length <= kMaxShortStringLength && (actual !== 0 || expected !== 0)) {
      header = "";
      message = `${inspectedActual} !== ${inspectedExpected}`;
    } else {
      message = stackedDiff(inspectedActual, inspectedExpected);
    }
  } else {
    const diff = myersDiff(splitActual, splitExpected, actual != null && typeof actual === "object");
    ({ message, skipped } = printMyersDiff(diff));
  }
  return `${kReadableOperator[operator]}\n${header}${skipped ? "\n... Skipped lines" : ""}\n${message}\n`;
}

class AssertionError extends Error {
  constructor(options) {
    if (options === null || typeof options !== "object") {
      const error = new TypeError(`The "options" argument must be of type object. Received ${inspect(options)}`);
      error.code = "ERR_INVALID_ARG_TYPE";
      throw error;
    }
    const { message, operator, actual, expected } = options;
    if (options.diff !== undefined && options.diff !== "simple" && options.diff !== "full") {
      const error = new TypeError(
        `The property 'options.diff' must be one of: 'simple', 'full'. Received ${inspect(options.diff)}`,
      );
      error.code = "ERR_INVALID_ARG_VALUE";
      throw error;
    }
    if (message != null) {
      super(String(message));
    } else if (operator === "deepStrictEqual" || operator === "strictEqual") {
      super(createErrDiff(actual, expected, operator));
    } else if (operator === "notDeepStrictEqual" || operator === "notStrictEqual") {
      let base = kReadableOperator[operator];
      const res = inspectValue(actual).split("\n");
      if (
        operator === "notStrictEqual" &&
        ((typeof actual === "object" && actual !== null) || typeof actual === "function")
      ) {
        base = kReadableOperator.notStrictEqualObject;
      }
      if (res.length > 50) {
        res[46] = "...";
        while (res.length > 47) res.pop();
      }
      if (res.length === 1) super(`${base}${res[0].length > 5 ? "\n\n" : " "}${res[0]}`);
      else super(`${base}\n\n${res.join("\n")}\n`);
    } else {
      let res = inspectValue(actual);
      let other = inspectValue(expected);
      const knownOperator = kReadableOperator[operator];
      if (operator === "notDeepEqual" && res === other) {
        res = `${knownOperator}\n\n${res}`;
        if (res.length > 1024) res = `${res.slice(0, 1021)}...`;
        super(res);
      } else {
        if (res.length > 512) res = `${res.slice(0, 509)}...`;
        if (other.length > 512) other = `${other.slice(0, 509)}...`;
        if (operator === "deepEqual") {
          res = `${knownOperator}\n\n${res}\n\nshould loosely deep-equal\n\n`;
        } else {
          const newOperator = kReadableOperator[`${operator}Unequal`];
          if (newOperator) res = `${newOperator}\n\n${res}\n\nshould not loosely deep-equal\n\n`;
          else other = ` ${operator} ${other}`;
        }
        super(`${res}${other}`);
      }
    }
    this.generatedMessage = !message;
    Object.defineProperty(this, "name", {
      value: "AssertionError",
      enumerable: false,
      writable: true,
      configurable: true,
    });
    this.code = "ERR_ASSERTION";
    this.actual = actual;
    this.expected = expected;
    this.operator = operator;
    this.diff = options.diff === undefined ? "simple" : options.diff;
  }

  toString() {
    return `${this.name} [${this.code}]: ${this.message}`;
  }
}

// --- the assertions ------------------------------------------------------------------------

function innerFail(obj) {
  if (obj.message instanceof Error) throw obj.message;
  throw new AssertionError(obj);
}

function invalidArgType(name, expected, actual) {
  const error = new TypeError(`The "${name}" argument must be ${expected}. Received ${inspect(actual)}`);
  error.code = "ERR_INVALID_ARG_TYPE";
  return error;
}

function missingArgs(...names) {
  const error = new TypeError(`The ${names.map((n) => `"${n}"`).join(" and ")} arguments must be specified`);
  error.code = "ERR_MISSING_ARGS";
  return error;
}

function innerOk(fn, argLen, value, message) {
  if (!value) {
    let generatedMessage = false;
    if (argLen === 0) {
      generatedMessage = true;
      message = "No value argument passed to `assert.ok()`";
    } else if (message instanceof Error) {
      throw message;
    }
    const error = new AssertionError({ actual: value, expected: true, message, operator: "==", stackStartFn: fn });
    error.generatedMessage = generatedMessage || message == null;
    throw error;
  }
}

function ok(...args) {
  innerOk(ok, args.length, ...args);
}

const assert = ok;

assert.fail = function fail(actual, expected, message, operator, stackStartFn) {
  const argsLen = arguments.length;
  let internalMessage = false;
  if (actual == null && argsLen <= 1) {
    internalMessage = true;
    message = "Failed";
  } else if (argsLen === 1) {
    message = actual;
    actual = undefined;
  } else {
    if (argsLen === 2) operator = "!=";
  }
  if (message instanceof Error) throw message;
  const errArgs = {
    actual,
    expected,
    operator: operator === undefined ? "fail" : operator,
    stackStartFn: stackStartFn || fail,
    message,
  };
  const error = new AssertionError(errArgs);
  if (internalMessage) error.generatedMessage = true;
  throw error;
};

assert.AssertionError = AssertionError;
assert.ok = ok;

assert.equal = function equal(actual, expected, message) {
  if (arguments.length < 2) throw missingArgs("actual", "expected");
  // eslint-disable-next-line eqeqeq
  if (actual != expected && (!Number.isNaN(actual) || !Number.isNaN(expected))) {
    innerFail({ actual, expected, message, operator: "==", stackStartFn: equal });
  }
};

assert.notEqual = function notEqual(actual, expected, message) {
  if (arguments.length < 2) throw missingArgs("actual", "expected");
  // eslint-disable-next-line eqeqeq
  if (actual == expected || (Number.isNaN(actual) && Number.isNaN(expected))) {
    innerFail({ actual, expected, message, operator: "!=", stackStartFn: notEqual });
  }
};

assert.deepEqual = function deepEqual(actual, expected, message) {
  if (arguments.length < 2) throw missingArgs("actual", "expected");
  if (!isDeepEqual(actual, expected, kLoose)) {
    innerFail({ actual, expected, message, operator: "deepEqual", stackStartFn: deepEqual });
  }
};

assert.notDeepEqual = function notDeepEqual(actual, expected, message) {
  if (arguments.length < 2) throw missingArgs("actual", "expected");
  if (isDeepEqual(actual, expected, kLoose)) {
    innerFail({ actual, expected, message, operator: "notDeepEqual", stackStartFn: notDeepEqual });
  }
};

assert.deepStrictEqual = function deepStrictEqual(actual, expected, message) {
  if (arguments.length < 2) throw missingArgs("actual", "expected");
  if (!isDeepEqual(actual, expected, kStrict)) {
    innerFail({ actual, expected, message, operator: "deepStrictEqual", stackStartFn: deepStrictEqual });
  }
};

assert.notDeepStrictEqual = function notDeepStrictEqual(actual, expected, message) {
  if (arguments.length < 2) throw missingArgs("actual", "expected");
  if (isDeepEqual(actual, expected, kStrict)) {
    innerFail({ actual, expected, message, operator: "notDeepStrictEqual", stackStartFn: notDeepStrictEqual });
  }
};

assert.strictEqual = function strictEqual(actual, expected, message) {
  if (arguments.length < 2) throw missingArgs("actual", "expected");
  if (!Object.is(actual, expected)) {
    innerFail({ actual, expected, message, operator: "strictEqual", stackStartFn: strictEqual });
  }
};

assert.notStrictEqual = function notStrictEqual(actual, expected, message) {
  if (arguments.length < 2) throw missingArgs("actual", "expected");
  if (Object.is(actual, expected)) {
    innerFail({ actual, expected, message, operator: "notStrictEqual", stackStartFn: notStrictEqual });
  }
};

class Comparison {
  constructor(obj, keys, actual) {
    for (const key of keys) {
      if (key in obj) {
        if (
          actual !== undefined &&
          typeof actual[key] === "string" &&
          types.isRegExp(obj[key]) &&
          obj[key].exec(actual[key]) !== null
        ) {
          this[key] = actual[key];
        } else {
          this[key] = obj[key];
        }
      }
    }
  }
}

function compareExceptionKey(actual, expected, key, message, keys, fn) {
  if (!(key in actual) || !isDeepEqual(actual[key], expected[key], kStrict)) {
    if (!message) {
      const a = new Comparison(actual, keys);
      const b = new Comparison(expected, keys, actual);
      const error = new AssertionError({ actual: a, expected: b, operator: "deepStrictEqual", stackStartFn: fn });
      error.actual = actual;
      error.expected = expected;
      error.operator = fn.name;
      throw error;
    }
    innerFail({ actual, expected, message, operator: fn.name, stackStartFn: fn });
  }
}

function expectedException(actual, expected, message, fn) {
  let generatedMessage = false;
  let throwError = false;
  if (typeof expected !== "function") {
    if (types.isRegExp(expected)) {
      const str = String(actual);
      if (expected.exec(str) !== null) return;
      if (!message) {
        generatedMessage = true;
        message = `The input did not match the regular expression ${inspect(expected)}. Input:\n\n${inspect(str)}\n`;
      }
      throwError = true;
    } else if (typeof actual !== "object" || actual === null) {
      const error = new AssertionError({ actual, expected, message, operator: "deepStrictEqual", stackStartFn: fn });
      error.operator = fn.name;
      throw error;
    } else {
      const keys = Object.keys(expected);
      if (expected instanceof Error) keys.push("name", "message");
      else if (keys.length === 0) {
        const error = new TypeError(`The argument 'error' may not be an empty object. Received {}`);
        error.code = "ERR_INVALID_ARG_VALUE";
        throw error;
      }
      for (const key of keys) {
        if (
          typeof actual[key] === "string" &&
          types.isRegExp(expected[key]) &&
          expected[key].exec(actual[key]) !== null
        ) {
          continue;
        }
        compareExceptionKey(actual, expected, key, message, keys, fn);
      }
      return;
    }
  } else if (expected.prototype !== undefined && actual instanceof expected) {
    return;
  } else if (Error.isPrototypeOf(expected) || expected === Error) {
    if (!message) {
      generatedMessage = true;
      message = "The error is expected to be an instance of " + `"${expected.name}". Received `;
      if (types.isNativeError(actual) || actual instanceof Error) {
        const name = (actual.constructor && actual.constructor.name) || actual.name;
        if (expected.name === name) message += "an error with identical name but a different prototype.";
        else message += `"${name}"`;
        if (actual.message) message += `\n\nError message:\n\n${actual.message}`;
      } else {
        message += `"${inspect(actual, { depth: -1 })}"`;
      }
    }
    throwError = true;
  } else {
    const res = Reflect.apply(expected, {}, [actual]);
    if (res !== true) {
      if (!message) {
        generatedMessage = true;
        const name = expected.name ? `"${expected.name}" ` : "";
        message = `The ${name}validation function is expected to return "true". Received ${inspect(res)}`;
        if (types.isNativeError(actual) || actual instanceof Error) message += `\n\nCaught error:\n\n${actual}`;
      }
      throwError = true;
    }
  }
  if (throwError) {
    const error = new AssertionError({ actual, expected, message, operator: fn.name, stackStartFn: fn });
    error.generatedMessage = generatedMessage;
    throw error;
  }
}

const NO_EXCEPTION = Symbol("no exception");

function getActual(fn) {
  if (typeof fn !== "function") throw invalidArgType("fn", "of type function", fn);
  try {
    fn();
  } catch (error) {
    return error;
  }
  return NO_EXCEPTION;
}

function checkIsPromise(value) {
  return (
    types.isPromise(value) ||
    (value !== null &&
      typeof value === "object" &&
      typeof value.then === "function" &&
      typeof value.catch === "function")
  );
}

async function waitForActual(promiseFn) {
  let resultPromise;
  if (typeof promiseFn === "function") {
    resultPromise = promiseFn();
    if (!checkIsPromise(resultPromise)) {
      const error = new TypeError(
        `Expected instance of Promise to be returned from the "promiseFn" function but got ${resultPromise === null ? "null" : typeof resultPromise}.`,
      );
      error.code = "ERR_INVALID_RETURN_VALUE";
      throw error;
    }
  } else if (checkIsPromise(promiseFn)) {
    resultPromise = promiseFn;
  } else {
    throw invalidArgType("promiseFn", "of type function or an instance of Promise", promiseFn);
  }
  try {
    await resultPromise;
  } catch (error) {
    return error;
  }
  return NO_EXCEPTION;
}

function expectsError(stackStartFn, actual, error, message) {
  if (typeof error === "string") {
    if (arguments.length === 4) {
      throw invalidArgType("error", "of type function or an instance of Error, RegExp, or Object", error);
    }
    message = error;
    error = undefined;
  } else if (error != null && typeof error !== "object" && typeof error !== "function") {
    throw invalidArgType("error", "of type function or an instance of Error, RegExp, or Object", error);
  }
  if (actual === NO_EXCEPTION) {
    let details = "";
    if (error && error.name) details += ` (${error.name})`;
    details += message ? `: ${message}` : ".";
    const fnType = stackStartFn === assert.rejects ? "rejection" : "exception";
    innerFail({
      actual: undefined,
      expected: error,
      operator: stackStartFn.name,
      message: `Missing expected ${fnType}${details}`,
      stackStartFn,
    });
  }
  if (!error) return;
  expectedException(actual, error, message, stackStartFn);
}

function hasMatchingError(actual, expected) {
  if (typeof expected !== "function") {
    if (types.isRegExp(expected)) return expected.exec(String(actual)) !== null;
    throw invalidArgType("expected", "of type function or an instance of RegExp", expected);
  }
  if (expected.prototype !== undefined && actual instanceof expected) return true;
  if (Error.isPrototypeOf(expected)) return false;
  return Reflect.apply(expected, {}, [actual]) === true;
}

function expectsNoError(stackStartFn, actual, error, message) {
  if (actual === NO_EXCEPTION) return;
  if (typeof error === "string") {
    message = error;
    error = undefined;
  }
  if (!error || hasMatchingError(actual, error)) {
    const details = message ? `: ${message}` : ".";
    const fnType = stackStartFn === assert.doesNotReject ? "rejection" : "exception";
    innerFail({
      actual,
      expected: error,
      operator: stackStartFn.name,
      message: `Got unwanted ${fnType}${details}\nActual message: "${actual && actual.message}"`,
      stackStartFn,
    });
  }
  throw actual;
}

assert.throws = function throws(promiseFn, ...args) {
  expectsError(throws, getActual(promiseFn), ...args);
};

assert.rejects = async function rejects(promiseFn, ...args) {
  expectsError(rejects, await waitForActual(promiseFn), ...args);
};

assert.doesNotThrow = function doesNotThrow(fn, ...args) {
  expectsNoError(doesNotThrow, getActual(fn), ...args);
};

assert.doesNotReject = async function doesNotReject(fn, ...args) {
  expectsNoError(doesNotReject, await waitForActual(fn), ...args);
};

assert.ifError = function ifError(err) {
  if (err !== null && err !== undefined) {
    let message = "ifError got unwanted exception: ";
    if (typeof err === "object" && typeof err.message === "string") {
      if (err.message.length === 0 && err.constructor) message += err.constructor.name;
      else message += err.message;
    } else {
      message += inspect(err);
    }
    const newErr = new AssertionError({
      actual: err,
      expected: null,
      operator: "ifError",
      message,
      stackStartFn: ifError,
    });
    throw newErr;
  }
};

function internalMatch(string, regexp, message, fn) {
  if (!types.isRegExp(regexp)) throw invalidArgType("regexp", "an instance of RegExp", regexp);
  const match = fn === assert.match;
  if (typeof string !== "string" || (regexp.exec(string) !== null) !== match) {
    if (message instanceof Error) throw message;
    const generatedMessage = !message;
    message =
      message ||
      (typeof string !== "string"
        ? `The "string" argument must be of type string. Received type ${typeof string} (${inspect(string)})`
        : (match
            ? "The input did not match the regular expression "
            : "The input was expected to not match the regular expression ") +
          `${inspect(regexp)}. Input:\n\n${inspect(string)}\n`);
    const error = new AssertionError({
      actual: string,
      expected: regexp,
      message,
      operator: fn.name,
      stackStartFn: fn,
    });
    error.generatedMessage = generatedMessage;
    throw error;
  }
}

assert.match = function match(string, regexp, message) {
  internalMatch(string, regexp, message, match);
};

assert.doesNotMatch = function doesNotMatch(string, regexp, message) {
  internalMatch(string, regexp, message, doesNotMatch);
};

function strict(...args) {
  innerOk(strict, args.length, ...args);
}

assert.strict = Object.assign(strict, assert, {
  equal: assert.strictEqual,
  deepEqual: assert.deepStrictEqual,
  notEqual: assert.notStrictEqual,
  notDeepEqual: assert.notDeepStrictEqual,
});
assert.strict.strict = assert.strict;

module.exports = assert;
