import { z } from 'zod';
import { ConfigError } from '../core/index.js';
import { loadJsonConfig } from './json-config.js';

const ServerName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'server names are letters, digits, _ . - (at most 64)');

export const StdioServerSchema = z
  .object({
    type: z.literal('stdio').optional(),
    command: z.string().min(1),
    args: z.array(z.string()).default([]),
    env: z.record(z.string(), z.string()).default({}),
    cwd: z.string().min(1).optional(),
  })
  .strict();

export const HttpServerSchema = z
  .object({
    type: z.enum(['http', 'streamable-http']).optional(),
    url: z
      .string()
      .url()
      .refine((u) => /^https?:\/\//.test(u), 'url must be http(s)'),
    headers: z.record(z.string(), z.string()).default({}),
  })
  .strict();

const SERVER_KEYS = [...Object.keys(StdioServerSchema.shape), ...Object.keys(HttpServerSchema.shape)];

/** Edits (insert, delete, replace, swap two neighbours) between two short keys, to catch `comand` for `command`. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      row[j] = Math.min(
        d[i - 1]![j]! + 1,
        row[j - 1]! + 1,
        d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  return d[a.length]![b.length]!;
}

/** `"comand" (did you mean "command"?)` for each unknown key close to a known one. */
function misspelt(entry: Record<string, unknown>): string[] {
  return Object.keys(entry)
    .filter((k) => !SERVER_KEYS.includes(k))
    .flatMap((k) => {
      const near = SERVER_KEYS.find(
        (known) => editDistance(k.toLowerCase(), known) <= (known.length > 4 ? 2 : 1),
      );
      return near ? [`"${k}" (did you mean "${near}"?)`] : [];
    });
}

type StdioServer = z.output<typeof StdioServerSchema>;
type HttpServer = z.output<typeof HttpServerSchema>;

/**
 * One server: a stdio one has `command`, an HTTP one `url`. The form is decided by those keys first and the entry
 * checked against that form only, so a mistake is reported against the form meant (a bare union lists both forms'
 * complaints, naming neither key).
 */
export const UpstreamServerSchema = z.looseObject({}).transform((entry, ctx): StdioServer | HttpServer => {
  const hasCommand = 'command' in entry;
  const typos = misspelt(entry);
  const unknown = typos.length > 0 ? `unknown key ${typos.join(', ')}` : '';
  const fail = (message: string) => {
    ctx.issues.push({ code: 'custom', input: entry, message });
    return z.NEVER;
  };
  if (hasCommand === 'url' in entry)
    return fail(
      hasCommand
        ? 'a server has "command" (one the conductor starts) or "url" (an HTTP server), not both'
        : `a server needs "command" (one the conductor starts) or "url" (an HTTP server)${unknown ? `; ${unknown}` : ''}`,
    );
  if (unknown) return fail(unknown);
  const parsed = (hasCommand ? StdioServerSchema : HttpServerSchema).safeParse(entry);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues)
    ctx.issues.push({ code: 'custom', path: issue.path, message: issue.message, input: entry });
  return z.NEVER;
});
export type UpstreamServer = z.infer<typeof UpstreamServerSchema>;

export const McpServersSchema = z.record(ServerName, UpstreamServerSchema);
export type McpServers = z.infer<typeof McpServersSchema>;

/**
 * The file: Claude Desktop's `mcpServers: { name: {command, args, env, cwd} | {url, headers} }`, or VS Code's
 * `servers` with the same entries. Other keys are the client's own settings (the file is often the client's).
 */
export const McpConfigFileSchema = z
  .object({ mcpServers: McpServersSchema.optional(), servers: McpServersSchema.optional() })
  .loose();

export interface McpConfig {
  mcpServers: McpServers;
  /** what the admin should know about how the file was read (logged at start-up, shown by doctor) */
  warnings: string[];
}

/** The servers of either shape, and what to tell the admin about the shape. */
function serversOf(file: z.output<typeof McpConfigFileSchema>): { servers: McpServers; warnings: string[] } {
  if (file.mcpServers && file.servers)
    return {
      servers: file.mcpServers,
      warnings: ['it has both "mcpServers" and VS Code\'s "servers": only "mcpServers" is used'],
    };
  if (file.servers)
    return {
      servers: file.servers,
      warnings: ['it uses VS Code\'s "servers" key: read as "mcpServers" (the Claude Desktop name)'],
    };
  if (!file.mcpServers)
    return {
      servers: {},
      warnings: ['it has no "mcpServers" (nor VS Code\'s "servers"): no upstream servers'],
    };
  return { servers: file.mcpServers, warnings: [] };
}

/** `${VAR}` from the conductor's environment; the value never appears in an error. */
function expand(
  value: string,
  env: Record<string, string | undefined>,
  where: string,
  missing: string[],
): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const v = env[name];
    if (v === undefined) {
      missing.push(`- ${where}: the environment variable ${name} is not set`);
      return '';
    }
    return v;
  });
}

export async function loadMcpConfig(
  path: string,
  env: Record<string, string | undefined>,
  read?: (p: string) => Promise<string>,
): Promise<McpConfig> {
  const file = await loadJsonConfig(McpConfigFileSchema, path, `MCP config ${path}`, read);
  const { servers: entries, warnings } = serversOf(file);
  const missing: string[] = [];
  const servers: McpServers = {};
  for (const [name, server] of Object.entries(entries)) {
    if ('command' in server) {
      const e = Object.fromEntries(
        Object.entries(server.env).map(([k, v]) => [
          k,
          expand(v, env, `mcpServers.${name}.env.${k}`, missing),
        ]),
      );
      servers[name] = { ...server, env: e };
    } else {
      const h = Object.fromEntries(
        Object.entries(server.headers).map(([k, v]) => [
          k,
          expand(v, env, `mcpServers.${name}.headers.${k}`, missing),
        ]),
      );
      servers[name] = { ...server, headers: h };
    }
  }
  if (missing.length > 0)
    throw new ConfigError(`the MCP config ${path} refers to unset variables:\n${missing.join('\n')}`);
  return { mcpServers: servers, warnings };
}
