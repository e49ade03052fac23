/**
 * Renders the user's return value as compact JSON text that also carries what plain JSON cannot (undefined, BigInt,
 * Map, Set, Date, NaN, -0, functions, symbols, circular references, class instances, errors, binary data) as
 * `{"$type": ...}` objects. Work and memory are bounded by the output: building stops once the text exceeds
 * maxBytes, long strings are cut before they are escaped, and the result is the first maxBytes UTF-8 bytes.
 * Nothing the value does (throwing getters, proxies, toJSON) can make rendering throw.
 */
import { describeThrown, isErrorLike, P } from './primordials.ts';
import { type Key, type Path, renderBuiltin, type Sink } from './render-builtins.ts';

export interface Rendered {
  /** Absent when the value is undefined. A prefix (not valid JSON) when truncated. */
  json?: string;
  truncated: boolean;
}

export interface RenderOptions {
  /** Applied to error stacks (the bootstrap removes its own frames and the data: URL). */
  cleanStack?: (stack: string) => string;
  /** Objects nested deeper than this render as {"$type":"MaxDepth"}. */
  maxDepth?: number;
}

const IDENT_START = /^[A-Za-z_$][\w$]*$/;
const identExec = P.uncurry(RegExp.prototype.exec);

/** Exact UTF-8 length of text that contains no lone surrogates (JSON.stringify output). */
function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = P.StringPrototypeCharCodeAt(s, i);
    if (c >= 0x80) n += c < 0x800 || (c >= 0xd800 && c <= 0xdfff) ? 1 : 2;
  }
  return n;
}

function formatPath(path: Path): string {
  const segments: string[] = [];
  for (let p = path; p !== undefined; p = p.parent) P.ArrayPrototypePush(segments, segment(p.key));
  let out = '$';
  for (let i = segments.length - 1; i >= 0; i--) out += segments[i];
  return out;
}

function segment(key: Key): string {
  if (typeof key === 'number') return `[${key}]`;
  const short = key.length > 200 ? `${P.StringPrototypeSlice(key, 0, 200)}…` : key;
  return identExec(IDENT_START, short) !== null ? `.${short}` : `[${P.JSONStringify(short)}]`;
}

function readProperty(obj: object, key: Key): { ok: true; value: unknown } | { ok: false; error: unknown } {
  try {
    return { ok: true, value: (obj as Record<Key, unknown>)[key] };
  } catch (error) {
    return { ok: false, error };
  }
}

class Renderer implements Sink {
  readonly parts: string[] = [];
  bytes = 0;
  full = false;
  readonly ancestors: object[] = [];
  readonly ancestorPaths: Path[] = [];

  constructor(
    readonly maxBytes: number,
    readonly maxDepth: number,
    readonly cleanStack: (stack: string) => string,
  ) {}

  emit(s: string): void {
    if (this.full) return;
    P.ArrayPrototypePush(this.parts, s);
    this.bytes += utf8Length(s);
    if (this.bytes > this.maxBytes) this.full = true;
  }

  /** A JSON string literal; a string longer than the remaining budget is cut first, so a huge one costs nothing. */
  string(s: string): void {
    if (this.full) return;
    const room = this.maxBytes - this.bytes + 1;
    this.emit(P.JSONStringify(s.length > room ? P.StringPrototypeSlice(s, 0, room) : s));
  }

  marker(type: string, fields: string): void {
    this.emit(`{"$type":"${type}"${fields}}`);
  }

  unreadable(error: unknown): void {
    this.emit('{"$type":"Unreadable","error":');
    this.string(describeThrown(error));
    this.emit('}');
  }

  value(v: unknown, key: Key, path: Path, depth: number, allowToJSON = true): void {
    if (this.full) return;
    switch (typeof v) {
      case 'string':
        return this.string(v);
      case 'number':
        if (P.NumberIsFinite(v) && !P.ObjectIs(v, -0)) return this.emit(P.StringCtor(v));
        return this.marker('Number', `,"value":"${P.ObjectIs(v, -0) ? '-0' : P.StringCtor(v)}"`);
      case 'boolean':
        return this.emit(v ? 'true' : 'false');
      case 'undefined':
        return this.marker('undefined', '');
      case 'bigint':
        return this.marker('BigInt', `,"value":"${P.BigIntPrototypeToString(v)}"`);
      case 'symbol': {
        const d = P.SymbolPrototypeGetDescription(v);
        const text =
          d === undefined ? '' : `,"description":${P.JSONStringify(P.StringPrototypeSlice(d, 0, 1000))}`;
        return this.marker('Symbol', text);
      }
      case 'function': {
        const name = readProperty(v, 'name');
        const text = name.ok && typeof name.value === 'string' ? name.value : '';
        return this.marker('Function', `,"name":${P.JSONStringify(P.StringPrototypeSlice(text, 0, 200))}`);
      }
    }
    if (v === null) return this.emit('null');
    const obj = v as object;
    for (let i = 0; i < this.ancestors.length; i++) {
      if (this.ancestors[i] === obj)
        return this.marker('Circular', `,"path":${P.JSONStringify(formatPath(this.ancestorPaths[i]))}`);
    }
    if (depth >= this.maxDepth) return this.marker('MaxDepth', '');
    try {
      this.ancestors[this.ancestors.length] = obj;
      this.ancestorPaths[this.ancestorPaths.length] = path;
      this.object(obj, key, path, depth, allowToJSON);
    } catch (error) {
      // Only reads before anything is emitted for this object may throw (see object()).
      this.unreadable(error);
    } finally {
      this.ancestors.length--;
      this.ancestorPaths.length--;
    }
  }

  object(v: object, key: Key, path: Path, depth: number, allowToJSON: boolean): void {
    if (P.ArrayIsArray(v)) return this.list(v, (v as unknown[]).length, path, depth);
    if (isErrorLike(v)) return this.error(v, path, depth);
    const proto = P.ObjectGetPrototypeOf(v) as object | null;
    const plain = proto === P.ObjectPrototype || proto === null;
    if (!plain && renderBuiltin(this, v, path, depth)) return;
    if (allowToJSON) {
      const toJSON = (v as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') {
        const replaced: unknown = P.ReflectApply(toJSON, v, [P.StringCtor(key)]);
        this.ancestors.length--;
        this.ancestorPaths.length--;
        try {
          return this.value(replaced, key, path, depth, false);
        } finally {
          this.ancestors[this.ancestors.length] = v;
          this.ancestorPaths[this.ancestorPaths.length] = path;
        }
      }
    }
    const keys = P.ObjectKeys(v);
    let className = '';
    if (!plain) {
      const ctor = readProperty(proto, 'constructor');
      const name = ctor.ok && typeof ctor.value === 'function' ? readProperty(ctor.value, 'name') : undefined;
      className = name?.ok && typeof name.value === 'string' && name.value !== 'Object' ? name.value : '';
    }
    this.emit('{');
    if (className !== '') this.emit(`"$class":${P.JSONStringify(P.StringPrototypeSlice(className, 0, 200))}`);
    for (let i = 0; i < keys.length && !this.full; i++) {
      const k = keys[i] as string;
      if (i > 0 || className !== '') this.emit(',');
      this.string(k);
      this.emit(':');
      this.property(v, k, { parent: path, key: k }, depth);
    }
    this.emit('}');
  }

  property(obj: object, key: Key, path: Path, depth: number): void {
    const read = readProperty(obj, key);
    if (read.ok) this.value(read.value, key, path, depth + 1);
    else this.unreadable(read.error);
  }

  list(v: object, length: number, path: Path, depth: number): void {
    this.emit('[');
    for (let i = 0; i < length && !this.full; i++) {
      if (i > 0) this.emit(',');
      this.property(v, i, { parent: path, key: i }, depth);
    }
    this.emit(']');
  }

  error(e: Error, path: Path, depth: number): void {
    const name = readProperty(e, 'name');
    const message = readProperty(e, 'message');
    const stack = readProperty(e, 'stack');
    this.emit('{"$type":"Error","name":');
    this.string(name.ok && typeof name.value === 'string' ? name.value : 'Error');
    this.emit(',"message":');
    this.string(message.ok ? describeMessage(message.value) : '');
    if (stack.ok && typeof stack.value === 'string') {
      this.emit(',"stack":');
      this.string(this.cleanStack(stack.value));
    }
    const errors = readProperty(e, 'errors');
    if (errors.ok && P.ArrayIsArray(errors.value)) {
      this.emit(',"errors":');
      this.value(errors.value, 'errors', { parent: path, key: 'errors' }, depth + 1);
    }
    const cause = readProperty(e, 'cause');
    if (cause.ok && cause.value !== undefined) {
      this.emit(',"cause":');
      this.value(cause.value, 'cause', { parent: path, key: 'cause' }, depth + 1);
    }
    this.emit('}');
  }
}

function describeMessage(m: unknown): string {
  try {
    return P.StringCtor(m);
  } catch {
    return '';
  }
}

/** The first maxBytes UTF-8 bytes of `text`, never cutting a character in half; `cut` when that is not all. */
export function utf8Prefix(text: string, maxBytes: number): { text: string; cut: boolean } {
  const bytes = P.encodeUtf8(text);
  if (bytes.length <= maxBytes) return { text, cut: false };
  let cut = P.MathMin(maxBytes < 0 ? 0 : maxBytes, bytes.length);
  while (cut > 0 && cut < bytes.length && ((bytes[cut] as number) & 0xc0) === 0x80) cut--;
  return { text: P.decodeUtf8Lenient(P.TypedArrayPrototypeSubarray(bytes, 0, cut)), cut: true };
}

export function renderValue(value: unknown, maxBytes: number, options: RenderOptions = {}): Rendered {
  if (value === undefined) return { truncated: false };
  const r = new Renderer(maxBytes, options.maxDepth ?? 100, options.cleanStack ?? ((s) => s));
  r.value(value, '', undefined, 0);
  const text = P.ArrayPrototypeJoin(r.parts, '');
  if (!r.full) return { json: text, truncated: false };
  return { json: utf8Prefix(text, maxBytes).text, truncated: true };
}
