import { compile } from 'json-schema-to-typescript';
import { sanitizeSchema } from './schema.js';

/** One tool as an upstream server lists it (already filtered by the caller's allowlist). */
export interface ToolListing {
  name: string;
  description?: string;
  inputSchema?: unknown;
  outputSchema?: unknown;
}

/** Past these, a tool's types fall back to a loose shape: bounded output whatever the server sends. */
const MAX_TOOL_TS_CHARS = 32 * 1024;
const MAX_TOOLS = 300;
const MAX_DOC_CHARS = 1500;

/** A doc comment for text from an upstream server: `*\/` cannot close it early, and no line starts a tag. */
export function docComment(text: string | undefined, indent = ''): string {
  const clean = (text ?? '').trim().slice(0, MAX_DOC_CHARS).replace(/\*\//g, '*\\/');
  if (!clean) return '';
  const lines = clean.split(/\r\n|[\n\r\u2028\u2029]/).map((l) => l.replace(/^\s*@/, '\\@'));
  return `${indent}/**\n${lines.map((l) => `${indent} * ${l}`.trimEnd()).join('\n')}\n${indent} */\n`;
}

/** A TypeScript identifier for a tool's namespace: letters, digits and _ in PascalCase, made unique. */
function namespaceName(tool: string, used: Set<string>): string {
  const words = tool.split(/[^A-Za-z0-9]+/).filter(Boolean);
  let base = words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('') || 'Tool';
  if (/^[0-9]/.test(base)) base = `T${base}`;
  let name = base;
  for (let i = 2; used.has(name); i++) name = `${base}${i}`;
  used.add(name);
  return name;
}

const COMPILE_OPTIONS = {
  bannerComment: '',
  format: false,
  additionalProperties: false,
  // minItems/maxItems would expand into tuples: nested ones multiply without bound.
  ignoreMinAndMaxItems: true,
  unknownAny: true,
  strictIndexSignatures: false,
  declareExternallyReferenced: true,
  $refOptions: { resolve: { external: false, file: false, http: false } },
} as const;

/** `export interface Input {…}` (and the named types it needs) for one schema, indented to sit in a namespace. */
async function typesOf(schema: unknown, name: 'Input' | 'Output'): Promise<string> {
  const clean = sanitizeSchema(schema);
  if (name === 'Input' && clean.type === undefined) clean.type = 'object';
  const ts = await compile(clean, name, COMPILE_OPTIONS);
  return indentLines(ts.trim(), '    ');
}

function indentLines(text: string, indent: string): string {
  let depth = 0;
  return text
    .split('\n')
    .map((line) => {
      const t = line.trim();
      if (/^[}\]]/.test(t)) depth = Math.max(0, depth - 1);
      const out = t ? `${indent}${'  '.repeat(depth)}${t.startsWith('*') ? ' ' : ''}${t}` : '';
      depth +=
        (t.match(/[{[]/g)?.length ?? 0) - (t.match(/[}\]]/g)?.length ?? 0) + (/^[}\]]/.test(t) ? 1 : 0);
      depth = Math.max(0, depth);
      return out;
    })
    .join('\n');
}

/** The namespace of a server's tools under `McpTools` (two servers whose names differ only in punctuation share it). */
export function groupName(server: string): string {
  return namespaceName(server, new Set());
}

/** One tool's namespace: its input and output types, or loose ones when its schema cannot be turned into types. */
async function toolNamespace(tool: ToolListing, ns: string): Promise<string> {
  let body: string;
  try {
    const input = await typesOf(tool.inputSchema ?? {}, 'Input');
    const output = tool.outputSchema
      ? await typesOf(tool.outputSchema, 'Output')
      : '    export type Output = unknown;';
    body = `${input}\n${output}`;
    if (body.length > MAX_TOOL_TS_CHARS) throw new Error('too large');
  } catch {
    body =
      '    /** (its schema could not be turned into types) */\n    export type Input = Record<string, unknown>;\n    export type Output = unknown;';
  }
  return `${docComment(tool.description, '  ')}  export namespace ${ns} {\n${body}\n  }\n`;
}

/**
 * TypeScript declarations for one server's tools: a namespace per tool with its `Input` (from inputSchema) and
 * `Output` (from outputSchema, else unknown), and the server's entry in the global `McpServerTools`, which types
 * `mcpFactory.load("<server>")` (see images/deno/runtime/mcp-factory.d.ts). A script, not a module: it adds to
 * the globals the runtime declares.
 */
export async function toolDeclarations(server: string, tools: ToolListing[]): Promise<string> {
  const used = new Set<string>();
  const listed = tools.slice(0, MAX_TOOLS);
  const names = listed.map((t) => namespaceName(t.name, used));
  const group = `McpTools.${groupName(server)}`;
  const spaces = await Promise.all(listed.map((t, i) => toolNamespace(t, names[i]!)));
  const entries = listed.map(
    (t, i) =>
      `${docComment(t.description, '    ')}    ${JSON.stringify(t.name)}: { input: ${group}.${names[i]}.Input; output: ${group}.${names[i]}.Output };`,
  );
  const label = JSON.stringify(server).replace(/\*\//g, '*\\/');
  return [
    `// Tools of the MCP server ${label}, generated from their JSON Schemas.`,
    `// \`const s = await mcpFactory.load(${JSON.stringify(server)})\` is typed by these: s.callTool(name, args) takes`,
    `// the tool's Input and resolves to its Output (its structuredContent; unknown without an outputSchema).`,
    `declare namespace ${group} {`,
    spaces.join('\n').trimEnd(),
    '}',
    'interface McpServerTools {',
    `  ${JSON.stringify(server)}: {`,
    ...entries,
    '  };',
    '}',
    '',
  ].join('\n');
}
