/**
 * Rendering of the built-in objects that have internal slots (Date, Map, Set, RegExp, typed arrays, buffers, URL,
 * boxed primitives, ...). Each is recognised by a brand check (a built-in getter or method that throws for anything
 * else), after a cheap prototype test so ordinary objects never pay for a thrown exception.
 */
import { P } from './primordials.ts';

export type Key = string | number;
export type Path = { parent: Path; key: Key } | undefined;

/** The part of the renderer the built-ins write through. */
export interface Sink {
  readonly full: boolean;
  emit(s: string): void;
  string(s: string): void;
  marker(type: string, fields: string): void;
  value(v: unknown, key: Key, path: Path, depth: number): void;
  list(v: object, length: number, path: Path, depth: number): void;
}

const STOP = P.ObjectFreeze({});

function brand(check: (v: unknown) => unknown, v: unknown): boolean {
  try {
    check(v);
    return true;
  } catch {
    return false;
  }
}

/** Built-in objects with internal slots; true when v was one of them and has been rendered. */
export function renderBuiltin(r: Sink, v: object, path: Path, depth: number): boolean {
  const is = (proto: object, check: (v: unknown) => unknown) =>
    P.ObjectPrototypeIsPrototypeOf(proto, v) && brand(check, v);
  if (is(P.DatePrototype, P.DatePrototypeGetTime)) {
    const t = P.DatePrototypeGetTime(v);
    if (P.NumberIsNaN(t)) r.marker('Date', ',"value":"Invalid Date"');
    else r.emit(`"${P.DatePrototypeToISOString(v)}"`);
  } else if (is(P.MapPrototype, P.MapPrototypeGetSize)) {
    entries(r, v, true, path, depth);
  } else if (is(P.SetPrototype, P.SetPrototypeGetSize)) {
    entries(r, v, false, path, depth);
  } else if (v !== P.RegExpPrototype && is(P.RegExpPrototype, P.RegExpPrototypeGetGlobal)) {
    const text = `/${P.StringCtor(P.RegExpPrototypeGetSource(v))}/${P.StringCtor(P.RegExpPrototypeGetFlags(v))}`;
    r.emit('{"$type":"RegExp","value":');
    r.string(text);
    r.emit('}');
  } else if (P.TypedArrayPrototypeGetToStringTag(v) !== undefined) {
    // The getter is a brand check that answers undefined (rather than throwing) for anything but a typed array.
    const type = P.StringCtor(P.TypedArrayPrototypeGetToStringTag(v));
    r.emit(`{"$type":"${type}","values":`);
    r.list(v, P.TypedArrayPrototypeGetLength(v) as number, undefined, depth);
    r.emit('}');
  } else if (is(P.ArrayBufferPrototype, P.ArrayBufferPrototypeGetByteLength)) {
    r.marker('ArrayBuffer', `,"byteLength":${P.StringCtor(P.ArrayBufferPrototypeGetByteLength(v))}`);
  } else if (is(P.SharedArrayBufferPrototype, P.SharedArrayBufferPrototypeGetByteLength)) {
    r.marker(
      'SharedArrayBuffer',
      `,"byteLength":${P.StringCtor(P.SharedArrayBufferPrototypeGetByteLength(v))}`,
    );
  } else if (is(P.DataViewPrototype, P.DataViewPrototypeGetByteLength)) {
    r.marker('DataView', `,"byteLength":${P.StringCtor(P.DataViewPrototypeGetByteLength(v))}`);
  } else if (is(P.URLPrototype, P.URLPrototypeGetHref)) {
    r.string(P.StringCtor(P.URLPrototypeGetHref(v)));
  } else if (P.ObjectPrototypeIsPrototypeOf(P.PromisePrototype, v)) {
    r.marker('Promise', '');
  } else if (is(P.WeakMapPrototype, (w) => P.WeakMapPrototypeHas(w, STOP))) {
    r.marker('WeakMap', '');
  } else if (is(P.WeakSetPrototype, (w) => P.WeakSetPrototypeHas(w, STOP))) {
    r.marker('WeakSet', '');
  } else if (is(P.NumberPrototype, P.NumberPrototypeValueOf)) {
    r.value(P.NumberPrototypeValueOf(v), '', undefined, 0);
  } else if (is(P.StringPrototype, P.StringPrototypeValueOf)) {
    r.string(P.StringPrototypeValueOf(v));
  } else if (is(P.BooleanPrototype, P.BooleanPrototypeValueOf)) {
    r.emit(P.BooleanPrototypeValueOf(v) ? 'true' : 'false');
  } else {
    return false;
  }
  return true;
}

/** Map → {"$type":"Map","entries":[[k,v],...]}, Set → {"$type":"Set","values":[...]}; stops early when full. */
function entries(r: Sink, v: object, isMap: boolean, path: Path, depth: number): void {
  const listPath: Path = { parent: path, key: isMap ? 'entries' : 'values' };
  r.emit(isMap ? '{"$type":"Map","entries":[' : '{"$type":"Set","values":[');
  let i = 0;
  const each = (value: unknown, key: unknown) => {
    if (r.full) throw STOP;
    if (i > 0) r.emit(',');
    const itemPath: Path = { parent: listPath, key: i++ };
    if (isMap) {
      r.emit('[');
      r.value(key, '', { parent: itemPath, key: 0 }, depth + 1);
      r.emit(',');
      r.value(value, '', { parent: itemPath, key: 1 }, depth + 1);
      r.emit(']');
    } else {
      r.value(value, '', itemPath, depth + 1);
    }
  };
  try {
    if (isMap) P.MapPrototypeForEach(v as Map<unknown, unknown>, each);
    else P.SetPrototypeForEach(v as Set<unknown>, each);
  } catch (e) {
    if (e !== STOP) throw e;
  }
  r.emit(']}');
}
