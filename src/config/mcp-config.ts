import { z } from 'zod';
import { issueLines, loadJsonConfig } from './json-config.js';

const ServerName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'server names are letters, digits, _ . - (at most 64)');

/** How clients name the transport, in `type` (VS Code, Cursor) or `transport` (the original project). */
const HTTP_TRANSPORTS = ['http', 'streamable-http', 'sse'] as const;

export const StdioServerSchema = z
  .object({
    type: z.literal('stdio').optional(),
    transport: z.literal('stdio').optional(),
    disabled: z.boolean().optional(),
    command: z.string().min(1),
    args: z.array(z.string()).default([]),
    env: z.record(z.string(), z.string()).default({}),
    cwd: z.string().min(1).optional(),
  })
  .strict();

export const HttpServerSchema = z
  .object({
    type: z.enum(HTTP_TRANSPORTS).optional(),
    transport: z.enum(HTTP_TRANSPORTS).optional(),
    disabled: z.boolean().optional(),
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

/** What start-up logs and doctor fails on for an entry that cannot be read: one line. */
export const brokenEntryLine = (name: string, problem: string) =>
  `server "${name}" is off (its entry is invalid; the other servers still work): ${problem}`;

type Parsed<S extends z.ZodType> = Omit<z.output<S>, 'type' | 'transport' | 'disabled'>;
type StdioServer = Parsed<typeof StdioServerSchema>;
/** `transport: 'sse'` for a server reached over the legacy HTTP+SSE transport; Streamable HTTP without it. */
type HttpServer = Parsed<typeof HttpServerSchema> & { transport?: 'sse' };

const quoted = (v: unknown) => JSON.stringify(v);

/**
 * The transport an entry names in `type` and/or `transport`, or a reason it cannot be read: the two disagree, or
 * name the other form than the keys present (`"type": "sse"` with a `command`). A value of the wrong kind is left
 * for the form's schema to name.
 */
function namedTransport(entry: Record<string, unknown>, hasCommand: boolean): string | { problem: string } {
  const named = [entry.type, entry.transport].filter((v): v is string => typeof v === 'string');
  const [first, second] = named.map((v) => (v === 'streamable-http' ? 'http' : v));
  if (first !== undefined && second !== undefined && first !== second)
    return {
      problem: `"type" (${quoted(entry.type)}) and "transport" (${quoted(entry.transport)}) disagree`,
    };
  const kind = named[0];
  if (kind === 'stdio' && !hasCommand)
    return { problem: '"stdio" is a server the conductor starts: it needs "command", not "url"' };
  if (hasCommand && (HTTP_TRANSPORTS as readonly string[]).includes(kind ?? ''))
    return { problem: `${quoted(kind)} is a server at a "url": "command" is for one the conductor starts` };
  return kind ?? (hasCommand ? 'stdio' : 'http');
}

/** The entry as the conductor uses it: what says which transport (and whether it is on) is read and dropped. */
function normalized(
  server: z.output<typeof StdioServerSchema> | z.output<typeof HttpServerSchema>,
  kind: string,
): StdioServer | HttpServer {
  const rest = Object.fromEntries(
    Object.entries(server).filter(([k]) => k !== 'type' && k !== 'transport' && k !== 'disabled'),
  ) as StdioServer | Parsed<typeof HttpServerSchema>;
  if ('command' in rest) return rest;
  return kind === 'sse' ? { ...rest, transport: 'sse' } : rest;
}

/**
 * One server: a stdio one has `command`, an HTTP one `url` (spoken to over Streamable HTTP, or SSE when `type` or
 * `transport` says `sse`). The form is decided by those keys first and the entry checked against that form only,
 * so a mistake is reported against the form meant (a bare union lists both forms' complaints, naming neither key).
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
  const kind = namedTransport(entry, hasCommand);
  if (typeof kind !== 'string') return fail(kind.problem);
  const parsed = (hasCommand ? StdioServerSchema : HttpServerSchema).safeParse(entry);
  if (parsed.success) return normalized(parsed.data, kind);
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
 * Entries are checked one by one (see loadMcpConfig), so here they are only objects.
 */
// Kept as parsed (not copied by z.record, which drops an own `__proto__` key unseen), so every entry is reported.
const Entries = z.custom<Record<string, unknown>>(
  (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
  'must be an object: server name → server',
);

export const McpConfigFileSchema = z
  .object({ mcpServers: Entries.optional(), servers: Entries.optional() })
  .loose();

export interface McpConfig {
  mcpServers: McpServers;
  /** what the admin should know about how the file was read (logged at start-up, shown by doctor) */
  warnings: string[];
  /** entries that cannot be read: each disables only its own server (logged at start-up, a failing doctor line) */
  broken: { name: string; problem: string }[];
}

/** The entries of either shape, the key they are under, and what to tell the admin about the shape. */
function serversOf(file: z.output<typeof McpConfigFileSchema>): {
  key: string;
  entries: Record<string, unknown>;
  warnings: string[];
} {
  if (file.mcpServers && file.servers)
    return {
      key: 'mcpServers',
      entries: file.mcpServers,
      warnings: ['it has both "mcpServers" and VS Code\'s "servers": only "mcpServers" is used'],
    };
  if (file.servers)
    return {
      key: 'servers',
      entries: file.servers,
      warnings: ['it uses VS Code\'s "servers" key: read as "mcpServers" (the Claude Desktop name)'],
    };
  if (!file.mcpServers)
    return {
      key: 'mcpServers',
      entries: {},
      warnings: ['it has no "mcpServers" (nor VS Code\'s "servers"): no upstream servers'],
    };
  return { key: 'mcpServers', entries: file.mcpServers, warnings: [] };
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
      missing.push(`${where}: the environment variable ${name} is not set`);
      return '';
    }
    return v;
  });
}

function expandAll(
  values: Record<string, string>,
  env: Record<string, string | undefined>,
  where: string,
  missing: string[],
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values).map(([k, v]) => [k, expand(v, env, `${where}.${k}`, missing)]),
  );
}

/** One entry read, validated and expanded; its problems as `mcpServers.name…: what` lines. */
function readEntry(
  where: string[],
  entry: unknown,
  env: Record<string, string | undefined>,
): UpstreamServer | string[] {
  const name = ServerName.safeParse(where[1]);
  const parsed = UpstreamServerSchema.safeParse(entry);
  const problems = [
    ...(name.success ? [] : issueLines(name.error.issues, where)),
    ...(parsed.success ? [] : issueLines(parsed.error.issues, where)),
  ];
  if (!parsed.success || problems.length > 0) return problems;
  const server = parsed.data;
  const missing: string[] = [];
  const at = where.join('.');
  const expanded =
    'command' in server
      ? { ...server, env: expandAll(server.env, env, `${at}.env`, missing) }
      : { ...server, headers: expandAll(server.headers, env, `${at}.headers`, missing) };
  return missing.length > 0 ? missing : expanded;
}

/** A name as it may be shown: a configured-looking one as is, anything else quoted, cut short, escaped. */
const shownName = (name: string) =>
  ServerName.safeParse(name).success ? name : JSON.stringify(name.slice(0, 64)).replace(/[^\x20-\x7e]/g, '?');

/**
 * mcp.json, each entry on its own: `"disabled": true` skips a server (with a warning, so it is said once), and an
 * entry that cannot be read (a bad name or key, an unset `${VAR}`) disables that server only. A file that is not
 * JSON, or whose server list is not an object, is still refused whole.
 */
export async function loadMcpConfig(
  path: string,
  env: Record<string, string | undefined>,
  read?: (p: string) => Promise<string>,
): Promise<McpConfig> {
  const file = await loadJsonConfig(McpConfigFileSchema, path, `MCP config ${path}`, read);
  const { key, entries, warnings } = serversOf(file);
  const servers: McpServers = {};
  const broken: McpConfig['broken'] = [];
  for (const [name, entry] of Object.entries(entries)) {
    if (typeof entry === 'object' && entry !== null && (entry as { disabled?: unknown }).disabled === true) {
      warnings.push(`server "${shownName(name)}" is disabled ("disabled": true): skipped`);
      continue;
    }
    const server = readEntry([key, name], entry, env);
    if (Array.isArray(server)) broken.push({ name: shownName(name), problem: server.join('; ') });
    else servers[name] = server;
  }
  return { mcpServers: servers, warnings, broken };
}
