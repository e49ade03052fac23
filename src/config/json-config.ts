import { readFile } from 'node:fs/promises';
import type { core, z } from 'zod';
import { ConfigError } from '../core/index.js';

// Every admin file (policy, tenants, mcp.json, image.json) is read, parsed and validated the same way, so each
// failure reads alike: what file, what is wrong, and where (a JSON path, or a line and column).

/** `deno.permissions.read[0]` for `['deno', 'permissions', 'read', 0]`. */
function formatPath(path: readonly PropertyKey[]): string {
  const text = path
    .map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`))
    .join('')
    .replace(/^\./, '');
  return text || '(root)';
}

/**
 * One line per problem. zod reports a failed union as a bare "Invalid input"; say instead which forms were expected,
 * or, when only one form got past the type check, what is wrong inside it.
 */
export function issueLines(issues: readonly core.$ZodIssue[], prefix: readonly PropertyKey[] = []): string[] {
  return issues.flatMap((issue) => {
    const path = [...prefix, ...issue.path];
    if (issue.code !== 'invalid_union' || issue.errors.length === 0) {
      return [`${formatPath(path)}: ${issue.message}`];
    }
    const typeOnly = (b: core.$ZodIssue[]) =>
      b.length === 1 && b[0]?.code === 'invalid_type' && !b[0].path.length;
    const deeper = issue.errors.filter((b) => !typeOnly(b));
    const [only] = deeper;
    if (deeper.length === 1 && only) return issueLines(only, path);
    if (deeper.length === 0) {
      const expected = issue.errors.map((b) => (b[0]?.code === 'invalid_type' ? b[0].expected : '?'));
      const received = /received (\S+)/.exec(issue.errors[0]?.[0]?.message ?? '')?.[1];
      return [
        `${formatPath(path)}: Invalid input: expected ${expected.join(' or ')}${received ? `, received ${received}` : ''}`,
      ];
    }
    const forms = deeper.map((b) => b.map((i) => i.message).join(', '));
    return [`${formatPath(path)}: Invalid input: ${forms.join('; or ')}`];
  });
}

/** Node 20 says only "at position N"; an editor wants a line and a column. */
function jsonErrorText(error: unknown, text: string): string {
  const message = error instanceof Error ? error.message : String(error);
  const at = /at position (\d+)/.exec(message);
  if (!at || /line \d+/.test(message)) return message;
  const before = text.slice(0, Number(at[1]));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return `${message} (line ${line}, column ${column})`;
}

/** Reads a file as text; a missing or unreadable file is a ConfigError naming `label`. */
export async function readConfigText(
  path: string,
  label: string,
  read: (p: string) => Promise<string> = (p) => readFile(p, 'utf8'),
): Promise<string> {
  try {
    return await read(path);
  } catch (error) {
    const why = (error as { code?: unknown }).code === 'ENOENT' ? 'not found' : 'unreadable';
    throw new ConfigError(`the ${label} is ${why}`, { cause: error });
  }
}

/** JSON.parse with a byte-order mark allowed and the failure's line and column in the ConfigError. */
export function parseConfigJson(text: string, label: string): unknown {
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new ConfigError(`the ${label} is not valid JSON: ${jsonErrorText(error, text)}`, { cause: error });
  }
}

/** Validates against `schema`, listing every problem (plus `extra` lines) in one ConfigError. */
export function validateConfig<S extends z.ZodType>(
  schema: S,
  json: unknown,
  label: string,
  extra: string[] = [],
): z.output<S> {
  const parsed = schema.safeParse(json);
  const lines = [...(parsed.success ? [] : issueLines(parsed.error.issues)), ...extra];
  if (!parsed.success || lines.length > 0) {
    throw new ConfigError(`the ${label} is invalid:\n${lines.map((l) => `- ${l}`).join('\n')}`);
  }
  return parsed.data;
}

/** Reads, parses and validates one JSON config file. */
export async function loadJsonConfig<S extends z.ZodType>(
  schema: S,
  path: string,
  label: string,
  read?: (p: string) => Promise<string>,
): Promise<z.output<S>> {
  return validateConfig(schema, parseConfigJson(await readConfigText(path, label, read), label), label);
}
