import type { Policy } from '../config/policy.js';
import type { CallDispatcher } from './dispatcher.js';
import { createCallDispatcher } from './dispatcher.js';
import type { UpstreamPool } from './upstreams.js';
import { UpstreamError } from '../core/index.js';

/** The upstream MCP servers one caller may use: for the companion tools, the description and each execution. */
export interface McpDirectory {
  servers(): string[];
  /** one line per tool, or the full input schemas of the named tools */
  tools(server: string, names?: string[]): Promise<string>;
  /** a fresh dispatcher (own call counters) for one execution */
  callsFor(executionId: string): CallDispatcher;
}

export interface DirectoryOptions {
  pool: UpstreamPool;
  /** the policy's allowlists, narrowed by the tenant's server list */
  allow: Policy['mcp'];
  limits: Pick<Policy['limits'], 'maxMcpCalls' | 'maxConcurrentMcpCalls' | 'mcpCallTimeoutMs'>;
  onCall?: Parameters<typeof createCallDispatcher>[0]['onCall'];
}

/** Intersects the policy's server allowlist with a tenant's. */
export function narrowAllow(policy: Policy['mcp'], tenantServers: '*' | string[]): Policy['mcp'] {
  if (tenantServers === '*') return policy;
  const servers =
    policy.servers === '*' ? tenantServers : policy.servers.filter((s) => tenantServers.includes(s));
  return { ...policy, servers };
}

function firstLine(text: string | undefined): string {
  const line = (text ?? '').split('\n')[0]!.trim();
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

export function createMcpDirectory(opts: DirectoryOptions): McpDirectory {
  const allowed = (name: string) => opts.allow.servers === '*' || opts.allow.servers.includes(name);
  const servers = () => opts.pool.names().filter(allowed).sort();
  const dispatcher = () =>
    createCallDispatcher({ pool: opts.pool, allow: opts.allow, limits: opts.limits, onCall: opts.onCall });

  return {
    servers,
    callsFor: () => dispatcher(),
    async tools(server, names) {
      if (!servers().includes(server)) {
        throw new UpstreamError(
          `Unknown MCP server "${server}". Available: ${servers().join(', ') || 'none'}`,
        );
      }
      const reply = await dispatcher().handle({ t: 'call', id: 0, op: 'listTools', server });
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
