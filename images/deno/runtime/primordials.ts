/**
 * The built-ins the runtime relies on, captured when this module is evaluated: before any user code runs, because the
 * bootstrap's static imports evaluate first. User code may monkeypatch globals and prototypes (JSON.stringify,
 * TextEncoder, Array.prototype.push, ...); the runtime only calls these captured originals, so the protocol keeps
 * working. Best effort: a determined user can still break their own run, never the host.
 */
// deno-lint-ignore no-explicit-any
type AnyFn = (this: any, ...args: any[]) => any;
type Uncurried<F extends AnyFn> = (self: ThisParameterType<F>, ...args: Parameters<F>) => ReturnType<F>;

const bindCall = Function.prototype.call.bind(Function.prototype.bind) as (fn: AnyFn, self: unknown) => AnyFn;
const FunctionPrototypeCall = Function.prototype.call;

/** `uncurry(Array.prototype.push)(arr, x)` calls the original push whatever happens to the prototype later. */
function uncurry<F extends AnyFn>(fn: F): Uncurried<F> {
  return bindCall(FunctionPrototypeCall, fn) as Uncurried<F>;
}

function getter(proto: object, key: PropertyKey): (self: unknown) => unknown {
  const get = Object.getOwnPropertyDescriptor(proto, key)?.get;
  if (get === undefined) throw new Error(`runtime: no getter ${String(key)}`);
  return uncurry(get);
}

const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
const lenientDecoder = new TextDecoder('utf-8');
const encode = uncurry(TextEncoder.prototype.encode);
const decode = uncurry(TextDecoder.prototype.decode);
const deno = Deno;
const stdout = deno.stdout;
const stderr = deno.stderr;
const stdoutWriteSync = uncurry(stdout.writeSync);
const stderrWriteSync = uncurry(stderr.writeSync);
const toBase64Native = (Uint8Array.prototype as { toBase64?: (this: Uint8Array) => string }).toBase64;
const btoa = globalThis.btoa;
const fromCharCode = String.fromCharCode;

/** Base64 of bytes; the fallback feeds btoa a binary string in chunks that stay under argument-count limits. */
function toBase64(bytes: Uint8Array): string {
  if (toBase64Native !== undefined) return bindCall(toBase64Native, bytes)() as string;
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += Reflect.apply(fromCharCode, undefined, Array.from(bytes.subarray(i, i + 0x8000)));
  }
  return btoa(binary);
}

const errorIsError = (Error as unknown as { isError?: (v: unknown) => boolean }).isError;

export const P = Object.freeze({
  uncurry,
  JSONStringify: JSON.stringify,
  JSONParse: JSON.parse,
  ObjectKeys: Object.keys,
  ObjectGetPrototypeOf: Object.getPrototypeOf,
  ObjectDefineProperty: Object.defineProperty,
  ObjectFreeze: Object.freeze,
  ObjectCreate: Object.create,
  ObjectIs: Object.is,
  ObjectHasOwn: Object.hasOwn,
  ObjectPrototype: Object.prototype,
  ObjectPrototypeIsPrototypeOf: uncurry(Object.prototype.isPrototypeOf),
  ArrayIsArray: Array.isArray,
  ArrayPrototypePush: uncurry(Array.prototype.push),
  ArrayPrototypeJoin: uncurry(Array.prototype.join),
  ArrayPrototypeIncludes: uncurry(Array.prototype.includes),
  StringCtor: String,
  NumberCtor: Number,
  StringFromCharCode: String.fromCharCode,
  StringPrototypeSlice: uncurry(String.prototype.slice),
  StringPrototypeIndexOf: uncurry(String.prototype.indexOf),
  StringPrototypeCharCodeAt: uncurry(String.prototype.charCodeAt),
  StringPrototypeValueOf: uncurry(String.prototype.valueOf),
  NumberPrototypeValueOf: uncurry(Number.prototype.valueOf),
  BooleanPrototypeValueOf: uncurry(Boolean.prototype.valueOf),
  BigIntPrototypeToString: uncurry(BigInt.prototype.toString),
  NumberIsFinite: Number.isFinite,
  NumberIsNaN: Number.isNaN,
  ReflectApply: Reflect.apply,
  NumberIsSafeInteger: Number.isSafeInteger,
  MathMin: Math.min,
  DatePrototypeGetTime: uncurry(Date.prototype.getTime),
  DatePrototypeToISOString: uncurry(Date.prototype.toISOString),
  MapPrototypeGetSize: getter(Map.prototype, 'size'),
  MapPrototypeForEach: uncurry(Map.prototype.forEach),
  SetPrototypeGetSize: getter(Set.prototype, 'size'),
  SetPrototypeForEach: uncurry(Set.prototype.forEach),
  WeakMapPrototypeHas: uncurry(WeakMap.prototype.has),
  WeakSetPrototypeHas: uncurry(WeakSet.prototype.has),
  DatePrototype: Date.prototype,
  MapPrototype: Map.prototype,
  SetPrototype: Set.prototype,
  WeakMapPrototype: WeakMap.prototype,
  WeakSetPrototype: WeakSet.prototype,
  ArrayBufferPrototype: ArrayBuffer.prototype,
  SharedArrayBufferPrototype: SharedArrayBuffer.prototype,
  DataViewPrototype: DataView.prototype,
  URLPrototype: URL.prototype,
  NumberPrototype: Number.prototype,
  StringPrototype: String.prototype,
  BooleanPrototype: Boolean.prototype,
  RegExpPrototype: RegExp.prototype,
  RegExpPrototypeGetGlobal: getter(RegExp.prototype, 'global'),
  RegExpPrototypeGetSource: getter(RegExp.prototype, 'source'),
  RegExpPrototypeGetFlags: getter(RegExp.prototype, 'flags'),
  TypedArrayPrototypeGetToStringTag: getter(TypedArrayPrototype, Symbol.toStringTag),
  TypedArrayPrototypeGetLength: getter(TypedArrayPrototype, 'length'),
  ArrayBufferPrototypeGetByteLength: getter(ArrayBuffer.prototype, 'byteLength'),
  SharedArrayBufferPrototypeGetByteLength: getter(SharedArrayBuffer.prototype, 'byteLength'),
  DataViewPrototypeGetByteLength: getter(DataView.prototype, 'byteLength'),
  SymbolPrototypeGetDescription: getter(Symbol.prototype, 'description'),
  URLPrototypeGetHref: getter(URL.prototype, 'href'),
  PromisePrototype: Promise.prototype,
  PromiseCtor: Promise,
  PromiseAll: Promise.all.bind(Promise),
  ErrorCtor: Error,
  TypeErrorCtor: TypeError,
  ErrorPrototype: Error.prototype,
  ErrorIsError: errorIsError,
  Uint8ArrayCtor: Uint8Array,
  TypedArrayPrototypeSet: uncurry((TypedArrayPrototype as Uint8Array).set),
  TypedArrayPrototypeSubarray: uncurry((TypedArrayPrototype as Uint8Array).subarray),
  toBase64,
  DateNow: Date.now,
  setTimeout: globalThis.setTimeout,
  clearTimeout: globalThis.clearTimeout,
  unrefTimer: Deno.unrefTimer,
  addEventListener: globalThis.addEventListener.bind(globalThis),
  globalThis,
  /** UTF-8 bytes of a string. */
  encodeUtf8: (s: string): Uint8Array => encode(encoder, s),
  /** Strict UTF-8 decoding: throws on invalid input. */
  decodeUtf8: (b: Uint8Array): string => decode(decoder, b),
  /** Lenient UTF-8 decoding (replacement characters), for output we cut ourselves. */
  decodeUtf8Lenient: (b: Uint8Array): string => decode(lenientDecoder, b),
  writeStdoutSync: (b: Uint8Array): number => stdoutWriteSync(stdout, b),
  writeStderrSync: (b: Uint8Array): number => stderrWriteSync(stderr, b),
  connect: deno.connect,
  exit: deno.exit,
  args: deno.args,
  envGet: deno.env.get.bind(deno.env),
  errors: deno.errors,
});

/**
 * Deno's own async-op glue calls `.call` on functions as looked up at call time, so code that replaces
 * Function.prototype.call breaks socket I/O. Once the user's code is done, the runtime puts these back.
 */
const intrinsicSlots: [object, PropertyKey][] = [
  [Function.prototype, 'call'],
  [Function.prototype, 'apply'],
  [Function.prototype, 'bind'],
  [Promise.prototype, 'then'],
  [Array.prototype, Symbol.iterator],
  [globalThis, 'Promise'],
];
const intrinsicDescriptors = intrinsicSlots.map(([o, k]) => Object.getOwnPropertyDescriptor(o, k));

export function restoreIntrinsics(): void {
  for (let i = 0; i < intrinsicSlots.length; i++) {
    const [o, k] = intrinsicSlots[i] as [object, PropertyKey];
    const d = intrinsicDescriptors[i];
    try {
      if (d !== undefined) P.ObjectDefineProperty(o, k, d);
    } catch {
      // Frozen or made non-configurable by the code: nothing more to do.
    }
  }
}

/** Error.isError where available; an object inheriting from Error.prototype (DOMException) counts too. */
export function isErrorLike(v: unknown): v is Error {
  if (typeof v !== 'object' || v === null) return false;
  try {
    if (P.ErrorIsError !== undefined && P.ErrorIsError(v)) return true;
    return P.ObjectPrototypeIsPrototypeOf(P.ErrorPrototype, v);
  } catch {
    return false;
  }
}

/** A short description of something thrown while reading a value. */
export function describeThrown(e: unknown): string {
  try {
    if (isErrorLike(e)) return `${P.StringCtor(e.name)}: ${P.StringCtor(e.message)}`;
    return P.StringCtor(e);
  } catch {
    return 'unknown error';
  }
}

/** Replaces every occurrence of `find` without consulting Symbol.replace (which user code could patch). */
export function replaceAllText(s: string, find: string, replacement: string): string {
  if (find === '') return s;
  let out = '';
  let from = 0;
  for (;;) {
    const at = P.StringPrototypeIndexOf(s, find, from);
    if (at < 0) return out + P.StringPrototypeSlice(s, from);
    out += P.StringPrototypeSlice(s, from, at) + replacement;
    from = at + find.length;
  }
}
