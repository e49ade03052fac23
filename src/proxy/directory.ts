import type { Policy } from '../config/policy.js';
import { UpstreamError } from '../core/index.js';
import { createAllowlist } from './allowlist.js';
import { createCallDispatcher, NO_SERVERS, type CallDispatcher, type McpLimits } from './dispatcher.js';
import type { UpstreamPool } from './upstreams.js';

/** The upstream MCP servers one caller may use: for the companion tools, the description and each execution. */
export interface McpDirectory {
  /** false when no upstream server is configured at all (as opposed to none being allowed) */
  readonly configured: boolean;
  servers(): string[];
  /** one line per tool, or the full input schemas of the named tools */
  tools(server: string, names?: string[]): Promise<string>;
  /** a fresh dispatcher (own call counters) for one execution */
  dispatcher(): CallDispatcher;
}

export interface DirectoryOptions {
  pool: UpstreamPool;
  /** the policy's allowlists, narrowed by the tenant's server list */
  allow: Policy['mcp'];
  limits: McpLimits;
}

function firstLine(text: string | undefined): string {
  const line = (text ?? '').split('\n')[0]!.trim();
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

/** No upstream servers configured: nothing to list, every name unknown. */
export const EMPTY_DIRECTORY: McpDirectory = {
  configured: false,
  servers: () => [],
  tools: (server) =>
    Promise.reject(
      new UpstreamError(`Unknown MCP server "${server}": no MCP servers are configured for this conductor.`),
    ),
  dispatcher: () => NO_SERVERS,
};

export function createMcpDirectory(opts: DirectoryOptions): McpDirectory {
  const allow = createAllowlist(opts.allow);
  const servers = () => opts.pool.names().filter(allow.server).sort();
  const dispatcher = () => createCallDispatcher(opts);

  return {
    configured: true,
    servers,
    dispatcher,
    async tools(server, names) {
      if (!servers().includes(server)) {
        throw new UpstreamError(
          `Unknown MCP server "${server}". Available: ${servers().join(', ') || 'none'}`,
        );
      }
      const reply = await dispatcher().handle(
        { t: 'call', id: 0, op: 'listTools', server },
        new AbortController().signal,
      );
      if (!reply.ok) throw new UpstreamError(reply.error.message);
      const tools = reply.result as { name: string; description?: string; inputSchema?: unknown }[];
      if (!names || names.length === 0) {
        return (
          tools.map((t) => `${t.name}${t.description ? ` — ${firstLine(t.description)}` : ''}`).join('\n') ||
          `${server} has no tools.`
        );
      }
      const missing = names.filter((n) => !tools.some((t) => t.name === n));
      const picked = tools.filter((t) => names.includes(t.name));
      const parts = picked.map(
        (t) => `## ${t.name}\n${t.description ?? ''}\ninputSchema: ${JSON.stringify(t.inputSchema)}`,
      );
      if (missing.length) parts.push(`Not found on ${server}: ${missing.join(', ')}`);
      return parts.join('\n\n');
    },
  };
}
