import type { Policy } from '../config/policy.js';
import { UpstreamError, type RateWindow } from '../core/index.js';
import { createAllowlist } from './allowlist.js';
import { createCallDispatcher, NO_SERVERS, type CallDispatcher, type McpLimits } from './dispatcher.js';
import type { UpstreamPool } from './upstreams.js';

/** One tool as a server lists it, after the caller's allowlist. */
export interface ListedTool {
  name: string;
  description: string;
  inputSchema?: unknown;
  outputSchema?: unknown;
}

/** How get_tools shows tools: one line each, or name, description and full schemas. */
export type ToolsFormat = 'summary' | 'schema';

/** The upstream MCP servers one caller may use: for the companion tools, the description and each execution. */
export interface McpDirectory {
  /** false when no upstream server is configured at all (as opposed to none being allowed) */
  readonly configured: boolean;
  servers(): string[];
  /** the server's tools this caller may call, as the server lists them now */
  listTools(server: string): Promise<ListedTool[]>;
  /** the tools as text: all of them or the named ones, as one line each or with their schemas */
  tools(server: string, names?: string[], format?: ToolsFormat): Promise<string>;
  /** a fresh dispatcher (own call counters) for one execution */
  dispatcher(): CallDispatcher;
}

export interface DirectoryOptions {
  pool: UpstreamPool;
  /** the policy's allowlists, narrowed by the tenant's server list */
  allow: Policy['mcp'];
  limits: McpLimits;
  /** the tenant's mcpFactory call rate; the companion tools (get_tools) do not count against it */
  callRate?: RateWindow;
}

function firstLine(text: string | undefined): string {
  const line = (text ?? '').split('\n')[0]!.trim();
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

const unknownServer = (server: string) =>
  Promise.reject(
    new UpstreamError(`Unknown MCP server "${server}": no MCP servers are configured for this conductor.`),
  );

/** No upstream servers configured: nothing to list, every name unknown. */
export const EMPTY_DIRECTORY: McpDirectory = {
  configured: false,
  servers: () => [],
  listTools: unknownServer,
  tools: unknownServer,
  dispatcher: () => NO_SERVERS,
};

/** The tools as get_tools shows them. */
export function formatTools(
  server: string,
  tools: ListedTool[],
  names?: string[],
  format?: ToolsFormat,
): string {
  const picked = names?.length ? tools.filter((t) => names.includes(t.name)) : tools;
  const missing = (names ?? []).filter((n) => !tools.some((t) => t.name === n));
  const parts =
    (format ?? (names?.length ? 'schema' : 'summary')) === 'summary'
      ? [picked.map((t) => `${t.name}${t.description ? ` — ${firstLine(t.description)}` : ''}`).join('\n')]
      : picked.map(
          (t) =>
            `## ${t.name}\n${t.description}\ninputSchema: ${JSON.stringify(t.inputSchema)}` +
            (t.outputSchema ? `\noutputSchema: ${JSON.stringify(t.outputSchema)}` : ''),
        );
  if (missing.length) parts.push(`Not found on ${server}: ${missing.join(', ')}`);
  return parts.filter(Boolean).join('\n\n') || `${server} has no tools.`;
}

export function createMcpDirectory(opts: DirectoryOptions): McpDirectory {
  const allow = createAllowlist(opts.allow);
  const servers = () => opts.pool.names().filter(allow.server).sort();
  const dispatcher = () => createCallDispatcher(opts);
  const listTools = async (server: string): Promise<ListedTool[]> => {
    if (!servers().includes(server)) {
      throw new UpstreamError(`Unknown MCP server "${server}". Available: ${servers().join(', ') || 'none'}`);
    }
    // The companion tools and typing list tools for the model: not the code's calls, not counted against its rate.
    const reply = await createCallDispatcher({ ...opts, callRate: undefined }).handle(
      { t: 'call', id: 0, op: 'listTools', server },
      new AbortController().signal,
    );
    if (!reply.ok) throw new UpstreamError(reply.error.message);
    return reply.result as ListedTool[];
  };

  return {
    configured: true,
    servers,
    dispatcher,
    listTools,
    tools: async (server, names, format) => formatTools(server, await listTools(server), names, format),
  };
}
