import { policyJsonSchema } from './policy-json-schema.js';

interface JsonSchemaNode {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchemaNode[];
  properties?: Record<string, JsonSchemaNode>;
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
}

function typeOf(n: JsonSchemaNode): string {
  if (n.enum) return n.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (n.const !== undefined) return JSON.stringify(n.const);
  if (n.anyOf) return n.anyOf.map(typeOf).join(' \\| ');
  const t = Array.isArray(n.type) ? n.type.join(' \\| ') : (n.type ?? 'any');
  // zod's positive() is an exclusive minimum: the first whole number above it, or "> x" for other numbers.
  const exclusive = n.exclusiveMinimum;
  const lo =
    n.minimum ?? (exclusive === undefined ? undefined : t === 'integer' ? exclusive + 1 : `> ${exclusive}`);
  const range = lo !== undefined || n.maximum !== undefined ? ` (${lo ?? ''}–${n.maximum ?? ''})` : '';
  return `${t}${range}`;
}

/** The README's policy reference, generated from the zod schema so it is never written twice. */
export function policyReferenceMarkdown(): string {
  const root = policyJsonSchema() as JsonSchemaNode;
  const rows: string[] = ['| field | type | default | meaning |', '|---|---|---|---|'];
  for (const [section, node] of Object.entries(root.properties ?? {})) {
    if (!node.properties) continue;
    for (const [field, leaf] of Object.entries(node.properties)) {
      const def = leaf.default === undefined ? '' : `\`${JSON.stringify(leaf.default)}\``;
      rows.push(`| \`${section}.${field}\` | ${typeOf(leaf)} | ${def} | ${leaf.description ?? ''} |`);
    }
  }
  return rows.join('\n');
}
