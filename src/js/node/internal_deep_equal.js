// The deep equality of node:assert's deepEqual/deepStrictEqual and util.isDeepStrictEqual, after
// Node's documented rules: strict mode compares with Object.is, prototypes and own enumerable
// symbols; loose mode with ==. Cycles are followed once. Internal: users cannot import it.
"use strict";

const types = require("node:util/types");

function isDeepEqual(a, b, strict) {
  return innerDeepEqual(a, b, strict, undefined);
}

function tagOf(value) {
  return Object.prototype.toString.call(value);
}

function isObjectLike(value) {
  return value !== null && (typeof value === "object" || typeof value === "function");
}

function innerDeepEqual(val1, val2, strict, memos) {
  if (val1 === val2) return val1 !== 0 || Object.is(val1, val2) || !strict;
  if (strict) {
    if (typeof val1 !== "object") return typeof val1 === "number" && Number.isNaN(val1) && Number.isNaN(val2);
    if (typeof val2 !== "object" || val1 === null || val2 === null) return false;
    if (Object.getPrototypeOf(val1) !== Object.getPrototypeOf(val2)) return false;
  } else {
    if (val1 === null || typeof val1 !== "object") {
      if (val2 === null || typeof val2 !== "object") {
        // eslint-disable-next-line eqeqeq
        return val1 == val2 || (Number.isNaN(val1) && Number.isNaN(val2));
      }
      return false;
    }
    if (val2 === null || typeof val2 !== "object") return false;
  }
  const tag1 = tagOf(val1);
  const tag2 = tagOf(val2);
  if (tag1 !== tag2) return false;

  if (Array.isArray(val1)) {
    if (!Array.isArray(val2) || val1.length !== val2.length) return false;
    const keys1 = ownKeys(val1, strict).filter((k) => !isIndex(k));
    const keys2 = ownKeys(val2, strict).filter((k) => !isIndex(k));
    if (keys1.length !== keys2.length) return false;
    return keyCheck(val1, val2, strict, memos, kIsArray, keys1);
  }
  if (tag1 === "[object Object]" && !types.isBoxedPrimitive(val1)) {
    if (types.isMap(val1) || types.isSet(val1) || types.isDate(val1) || types.isRegExp(val1)) {
      // subclass instances with their own toStringTag fall through below
    } else {
      return keyCheck(val1, val2, strict, memos, kNoIterator);
    }
  }
  if (types.isDate(val1)) {
    if (!types.isDate(val2) || Date.prototype.getTime.call(val1) !== Date.prototype.getTime.call(val2)) return false;
  } else if (types.isRegExp(val1)) {
    if (
      !types.isRegExp(val2) ||
      val1.source !== val2.source ||
      val1.flags !== val2.flags ||
      val1.lastIndex !== val2.lastIndex
    ) {
      return false;
    }
  } else if (types.isNativeError(val1) || val1 instanceof Error) {
    if (!(types.isNativeError(val2) || val2 instanceof Error)) return false;
    if (val1.message !== val2.message || val1.name !== val2.name) return false;
    const cause1 = Object.prototype.hasOwnProperty.call(val1, "cause");
    const cause2 = Object.prototype.hasOwnProperty.call(val2, "cause");
    if (cause1 !== cause2 || (cause1 && !innerDeepEqual(val1.cause, val2.cause, strict, memos))) return false;
  } else if (ArrayBuffer.isView(val1)) {
    if (!ArrayBuffer.isView(val2)) return false;
    if (!strict && (types.isFloat32Array(val1) || types.isFloat64Array(val1))) {
      if (val1.length !== val2.length) return false;
      for (let i = 0; i < val1.length; i++) if (val1[i] !== val2[i]) return false;
    } else {
      if (val1.byteLength !== val2.byteLength) return false;
      const b1 = new Uint8Array(val1.buffer, val1.byteOffset, val1.byteLength);
      const b2 = new Uint8Array(val2.buffer, val2.byteOffset, val2.byteLength);
      for (let i = 0; i < b1.length; i++) if (b1[i] !== b2[i]) return false;
    }
    const keys1 = ownKeys(val1, strict).filter((k) => !isIndex(k));
    const keys2 = ownKeys(val2, strict).filter((k) => !isIndex(k));
    if (keys1.length !== keys2.length) return false;
    return keyCheck(val1, val2, strict, memos, kNoIterator, keys1);
  } else if (types.isSet(val1)) {
    if (!types.isSet(val2) || val1.size !== val2.size) return false;
    return keyCheck(val1, val2, strict, memos, kIsSet);
  } else if (types.isMap(val1)) {
    if (!types.isMap(val2) || val1.size !== val2.size) return false;
    return keyCheck(val1, val2, strict, memos, kIsMap);
  } else if (types.isAnyArrayBuffer(val1)) {
    if (!types.isAnyArrayBuffer(val2) || val1.byteLength !== val2.byteLength) return false;
    const b1 = new Uint8Array(val1);
    const b2 = new Uint8Array(val2);
    for (let i = 0; i < b1.length; i++) if (b1[i] !== b2[i]) return false;
  } else if (types.isBoxedPrimitive(val1)) {
    if (!types.isBoxedPrimitive(val2)) return false;
    if (!Object.is(val1.valueOf(), val2.valueOf())) return false;
  } else if (types.isWeakMap(val1) || types.isWeakSet(val1) || types.isPromise(val1)) {
    return false;
  } else if (
    Array.isArray(val2) ||
    ArrayBuffer.isView(val2) ||
    types.isSet(val2) ||
    types.isMap(val2) ||
    types.isDate(val2) ||
    types.isRegExp(val2) ||
    types.isAnyArrayBuffer(val2) ||
    types.isBoxedPrimitive(val2) ||
    types.isNativeError(val2) ||
    val2 instanceof Error
  ) {
    return false;
  }
  return keyCheck(val1, val2, strict, memos, kNoIterator);
}

const kNoIterator = 0;
const kIsArray = 1;
const kIsSet = 2;
const kIsMap = 3;

function isIndex(key) {
  return typeof key === "string" && /^(0|[1-9][0-9]*)$/.test(key) && Number(key) < 4294967295;
}

function ownKeys(value, strict) {
  const keys = Object.keys(value);
  if (strict) {
    for (const symbol of Object.getOwnPropertySymbols(value)) {
      if (Object.prototype.propertyIsEnumerable.call(value, symbol)) keys.push(symbol);
    }
  }
  return keys;
}

function keyCheck(val1, val2, strict, memos, iterationType, keys1) {
  if (keys1 === undefined) {
    keys1 = ownKeys(val1, strict);
    const keys2 = ownKeys(val2, strict);
    if (keys1.length !== keys2.length) return false;
  }
  for (const key of keys1) {
    if (!Object.prototype.propertyIsEnumerable.call(val2, key)) return false;
  }
  if (
    keys1.length === 0 &&
    (iterationType === kNoIterator || (iterationType === kIsArray && val1.length === 0) || val1.size === 0)
  ) {
    return true;
  }
  if (memos === undefined) {
    memos = { val1: new Map(), val2: new Map(), position: 0 };
  } else {
    const memoA = memos.val1.get(val1);
    if (memoA !== undefined) {
      const memoB = memos.val2.get(val2);
      if (memoB !== undefined) return memoA === memoB;
    }
    memos.position++;
  }
  memos.val1.set(val1, memos.position);
  memos.val2.set(val2, memos.position);
  const result = objEquiv(val1, val2, strict, keys1, memos, iterationType);
  memos.val1.delete(val1);
  memos.val2.delete(val2);
  return result;
}

function objEquiv(a, b, strict, keys, memos, iterationType) {
  if (iterationType === kIsSet) {
    if (!setEquiv(a, b, strict, memos)) return false;
  } else if (iterationType === kIsMap) {
    if (!mapEquiv(a, b, strict, memos)) return false;
  } else if (iterationType === kIsArray) {
    for (let i = 0; i < a.length; i++) {
      const hasA = Object.prototype.hasOwnProperty.call(a, i);
      const hasB = Object.prototype.hasOwnProperty.call(b, i);
      if (hasA !== hasB) return false;
      if (hasA && !innerDeepEqual(a[i], b[i], strict, memos)) return false;
    }
  }
  for (const key of keys) {
    if (!innerDeepEqual(a[key], b[key], strict, memos)) return false;
  }
  return true;
}

function setEquiv(a, b, strict, memos) {
  const unmatched = [];
  for (const value of b) {
    if (!a.has(value)) unmatched.push(value);
  }
  for (const value of a) {
    if (b.has(value)) continue;
    if (!isObjectLike(value) && strict) return false;
    const index = unmatched.findIndex((candidate) => innerDeepEqual(value, candidate, strict, memos));
    if (index === -1) return false;
    unmatched.splice(index, 1);
  }
  return unmatched.length === 0;
}

function mapEquiv(a, b, strict, memos) {
  const unmatched = [];
  for (const [key, value] of b) {
    if (!a.has(key)) unmatched.push([key, value]);
  }
  for (const [key, value] of a) {
    if (b.has(key)) {
      if (!innerDeepEqual(value, b.get(key), strict, memos)) {
        if (isObjectLike(key) || !strict) {
          unmatched.push([key, b.get(key)]);
          if (!matchEntry(key, value)) return false;
          continue;
        }
        return false;
      }
      continue;
    }
    if (!isObjectLike(key) && strict) return false;
    if (!matchEntry(key, value)) return false;
  }
  return unmatched.length === 0;

  function matchEntry(key, value) {
    const index = unmatched.findIndex(
      ([k, v]) => innerDeepEqual(key, k, strict, memos) && innerDeepEqual(value, v, strict, memos),
    );
    if (index === -1) return false;
    unmatched.splice(index, 1);
    return true;
  }
}

module.exports = { isDeepEqual };
