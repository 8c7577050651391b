// node:util/types: type checks by internal tags (Object.prototype.toString and brand checks), so
// they see through subclasses and objects of other realms as Node's do where JavaScript allows.
"use strict";

const toString = Object.prototype.toString;
const tagOf = (value) => toString.call(value);
const isObjectLike = (value) => value !== null && (typeof value === "object" || typeof value === "function");

const TypedArray = Object.getPrototypeOf(Uint8Array);
const typedArrayTag = Object.getOwnPropertyDescriptor(TypedArray.prototype, Symbol.toStringTag).get;

function typedArrayName(value) {
  return typedArrayTag.call(value);
}

function brand(check) {
  return (value) => {
    if (!isObjectLike(value)) return false;
    try {
      check(value);
      return true;
    } catch {
      return false;
    }
  };
}

const isDate = brand((v) => Date.prototype.getTime.call(v));
const isRegExp = brand((v) => Object.getOwnPropertyDescriptor(RegExp.prototype, "source").get.call(v));
const isMap = brand((v) => Object.getOwnPropertyDescriptor(Map.prototype, "size").get.call(v));
const isSet = brand((v) => Object.getOwnPropertyDescriptor(Set.prototype, "size").get.call(v));
const isWeakMap = brand((v) => WeakMap.prototype.has.call(v, {}));
const isWeakSet = brand((v) => WeakSet.prototype.has.call(v, {}));
const isArrayBuffer = brand((v) => Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "byteLength").get.call(v));
const isSharedArrayBuffer =
  typeof SharedArrayBuffer === "function"
    ? brand((v) => Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, "byteLength").get.call(v))
    : () => false;
const isDataView = brand((v) => Object.getOwnPropertyDescriptor(DataView.prototype, "byteLength").get.call(v));
const isNumberObject = (v) => isObjectLike(v) && brand((x) => Number.prototype.valueOf.call(x))(v);
const isStringObject = (v) => isObjectLike(v) && brand((x) => String.prototype.valueOf.call(x))(v);
const isBooleanObject = (v) => isObjectLike(v) && brand((x) => Boolean.prototype.valueOf.call(x))(v);
const isBigIntObject = (v) => isObjectLike(v) && brand((x) => BigInt.prototype.valueOf.call(x))(v);
const isSymbolObject = (v) => isObjectLike(v) && brand((x) => Symbol.prototype.valueOf.call(x))(v);
const isWeakRef = typeof WeakRef === "function" ? brand((v) => WeakRef.prototype.deref.call(v)) : () => false;

function isTypedArray(value) {
  return isObjectLike(value) && typedArrayName(value) !== undefined;
}

function typedArrayCheck(name) {
  return (value) => isObjectLike(value) && typedArrayName(value) === name;
}

function isPromise(value) {
  return isObjectLike(value) && tagOf(value) === "[object Promise]" && value instanceof Promise;
}

const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
const GeneratorFunction = Object.getPrototypeOf(function* () {}).constructor;
const AsyncGeneratorFunction = Object.getPrototypeOf(async function* () {}).constructor;
const GeneratorPrototype = Object.getPrototypeOf(function* () {}).prototype;
const AsyncGeneratorPrototype = Object.getPrototypeOf(async function* () {}).prototype;
const mapIteratorPrototype = Object.getPrototypeOf(new Map().entries());
const setIteratorPrototype = Object.getPrototypeOf(new Set().values());

function isAsyncFunction(value) {
  return typeof value === "function" && (value instanceof AsyncFunction || value instanceof AsyncGeneratorFunction);
}

function isGeneratorFunction(value) {
  return typeof value === "function" && (value instanceof GeneratorFunction || value instanceof AsyncGeneratorFunction);
}

function isGeneratorObject(value) {
  if (!isObjectLike(value)) return false;
  const tag = tagOf(value);
  return (
    tag === "[object Generator]" ||
    tag === "[object AsyncGenerator]" ||
    GeneratorPrototype.isPrototypeOf(value) ||
    AsyncGeneratorPrototype.isPrototypeOf(value)
  );
}

function isNativeError(value) {
  if (!isObjectLike(value)) return false;
  return tagOf(value) === "[object Error]" && value instanceof Error;
}

function isArgumentsObject(value) {
  return isObjectLike(value) && tagOf(value) === "[object Arguments]";
}

function isBoxedPrimitive(value) {
  return (
    isNumberObject(value) ||
    isStringObject(value) ||
    isBooleanObject(value) ||
    isBigIntObject(value) ||
    isSymbolObject(value)
  );
}

function isCryptoKey(value) {
  return typeof globalThis.CryptoKey === "function" && value instanceof globalThis.CryptoKey;
}

module.exports = {
  isAnyArrayBuffer: (v) => isArrayBuffer(v) || isSharedArrayBuffer(v),
  isArgumentsObject,
  isArrayBuffer,
  isArrayBufferView: (v) => ArrayBuffer.isView(v),
  isAsyncFunction,
  isBigInt64Array: typedArrayCheck("BigInt64Array"),
  isBigIntObject,
  isBigUint64Array: typedArrayCheck("BigUint64Array"),
  isBooleanObject,
  isBoxedPrimitive,
  isCryptoKey,
  isDataView,
  isDate,
  isExternal: () => false,
  isFloat16Array: typedArrayCheck("Float16Array"),
  isFloat32Array: typedArrayCheck("Float32Array"),
  isFloat64Array: typedArrayCheck("Float64Array"),
  isGeneratorFunction,
  isGeneratorObject,
  isInt16Array: typedArrayCheck("Int16Array"),
  isInt32Array: typedArrayCheck("Int32Array"),
  isInt8Array: typedArrayCheck("Int8Array"),
  isKeyObject: () => false,
  isMap,
  isMapIterator: (v) => isObjectLike(v) && mapIteratorPrototype.isPrototypeOf(v),
  isModuleNamespaceObject: (v) =>
    isObjectLike(v) && tagOf(v) === "[object Module]" && Object.getPrototypeOf(v) === null,
  isNativeError,
  isNumberObject,
  isPromise,
  isProxy: () => false,
  isRegExp,
  isSet,
  isSetIterator: (v) => isObjectLike(v) && setIteratorPrototype.isPrototypeOf(v),
  isSharedArrayBuffer,
  isStringObject,
  isSymbolObject,
  isTypedArray,
  isUint16Array: typedArrayCheck("Uint16Array"),
  isUint32Array: typedArrayCheck("Uint32Array"),
  isUint8Array: typedArrayCheck("Uint8Array"),
  isUint8ClampedArray: typedArrayCheck("Uint8ClampedArray"),
  isWeakMap,
  isWeakSet,
};
