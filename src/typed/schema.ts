/**
 * Tool schemas come from upstream MCP servers: untrusted input. Before they reach the TypeScript generator they are
 * rebuilt from a whitelist of JSON Schema keywords, bounded in depth, size and count. Everything else is dropped:
 * `tsType` and friends (the generator would paste them into the output as code), `$ref`s that leave the document
 * (the generator's resolver could read files or fetch URLs), `$id`, titles (they would become type names that can
 * shadow globals) and every unknown keyword.
 */

export interface SchemaBounds {
  /** nesting of schemas below the root; deeper ones become `unknown` */
  maxDepth: number;
  /** schema objects kept per tool schema; past it, the rest become `unknown` */
  maxNodes: number;
  /** properties per object and values per enum; the rest are dropped */
  maxEntries: number;
  /** characters of a description kept */
  maxDescription: number;
}

export const DEFAULT_BOUNDS: SchemaBounds = {
  maxDepth: 24,
  maxNodes: 2000,
  maxEntries: 300,
  maxDescription: 1000,
};

type Schema = Record<string, unknown>;

/** Keywords whose value is one schema. */
const ONE = ['items', 'additionalProperties', 'not', 'contains', 'propertyNames', 'additionalItems'] as const;
/** Keywords whose value is a list of schemas. */
const MANY = ['anyOf', 'oneOf', 'allOf', 'prefixItems'] as const;
/** Keywords whose value maps names to schemas. */
const MAPS = ['properties', 'patternProperties', 'definitions', '$defs'] as const;
/** Keywords kept as they are when their value has the expected shape. */
const SCALARS: Record<string, (v: unknown) => boolean> = {
  minimum: isNumber,
  maximum: isNumber,
  exclusiveMinimum: (v) => isNumber(v) || typeof v === 'boolean',
  exclusiveMaximum: (v) => isNumber(v) || typeof v === 'boolean',
  minLength: isNumber,
  maxLength: isNumber,
  format: isShortString,
  pattern: isShortString,
  deprecated: (v) => typeof v === 'boolean',
  readOnly: (v) => typeof v === 'boolean',
};
const TYPES = new Set(['string', 'number', 'integer', 'boolean', 'object', 'array', 'null']);

function isNumber(v: unknown): boolean {
  return typeof v === 'number' && Number.isFinite(v);
}

function isShortString(v: unknown): boolean {
  return typeof v === 'string' && v.length <= 200;
}

function isObject(v: unknown): v is Schema {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A JSON literal for enum/const: primitives only (objects there are rare and would be copied unbounded). */
function isLiteral(v: unknown): boolean {
  return v === null || typeof v === 'boolean' || isNumber(v) || (typeof v === 'string' && v.length <= 200);
}

/** Own enumerable entries, never the prototype's; `__proto__` from JSON.parse is an own key and stays a name. */
function entries(map: Schema): [string, unknown][] {
  return Object.keys(map).map((k) => [k, map[k]]);
}

class Sanitizer {
  nodes = 0;
  constructor(readonly bounds: SchemaBounds) {}

  schema(input: unknown, depth: number): Schema | boolean {
    if (typeof input === 'boolean') return input;
    if (!isObject(input) || depth > this.bounds.maxDepth || ++this.nodes > this.bounds.maxNodes) return {};
    const out: Schema = {};
    this.copyType(input, out);
    const doc = typeof input.description === 'string' ? input.description : input.title;
    if (typeof doc === 'string' && doc.trim() !== '')
      out.description = doc.slice(0, this.bounds.maxDescription);
    for (const [k, check] of Object.entries(SCALARS)) if (check(input[k])) out[k] = input[k];
    if (Array.isArray(input.enum)) out.enum = input.enum.filter(isLiteral).slice(0, this.bounds.maxEntries);
    if ('const' in input && isLiteral(input.const)) out.const = input.const;
    if (Array.isArray(input.required))
      out.required = input.required.filter((r) => typeof r === 'string').slice(0, this.bounds.maxEntries);
    // Only pointers into this same document: anything else could make the resolver read or fetch.
    if (typeof input.$ref === 'string' && /^#(\/[^#]*)?$/.test(input.$ref) && input.$ref.length <= 500)
      out.$ref = input.$ref;
    for (const k of ONE) if (k in input) out[k] = this.one(input[k], depth);
    for (const k of MANY) if (Array.isArray(input[k])) out[k] = this.many(input[k] as unknown[], depth);
    for (const k of MAPS) if (isObject(input[k])) out[k] = this.map(input[k], depth);
    return out;
  }

  copyType(input: Schema, out: Schema): void {
    const t = input.type;
    if (typeof t === 'string' && TYPES.has(t)) out.type = t;
    else if (Array.isArray(t)) {
      const kept = t.filter((x): x is string => typeof x === 'string' && TYPES.has(x));
      if (kept.length > 0) out.type = [...new Set(kept)];
    }
  }

  one(v: unknown, depth: number): unknown {
    // `items` may still be a tuple list in older drafts.
    return Array.isArray(v) ? this.many(v, depth) : this.schema(v, depth + 1);
  }

  many(list: unknown[], depth: number): unknown[] {
    return list.slice(0, this.bounds.maxEntries).map((s) => this.schema(s, depth + 1));
  }

  map(map: Schema, depth: number): Schema {
    const out: Schema = Object.create(null) as Schema;
    for (const [name, s] of entries(map).slice(0, this.bounds.maxEntries)) {
      Object.defineProperty(out, name, {
        value: this.schema(s, depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
}

/** A copy of `input` the generator can safely read: whitelisted keywords, local refs only, bounded everywhere. */
export function sanitizeSchema(input: unknown, bounds: SchemaBounds = DEFAULT_BOUNDS): Schema {
  const out = new Sanitizer(bounds).schema(input, 0);
  return typeof out === 'boolean' ? {} : out;
}
