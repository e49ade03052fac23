import type { Policy } from '../config/policy.js';

/** What one caller's code may reach: the policy's allowlists (the server list already narrowed by the tenant). */
export interface Allowlist {
  server: (name: string) => boolean;
  tool: (server: string, tool: string) => boolean;
  resource: (server: string, uri: string) => boolean;
  prompt: (server: string, prompt: string) => boolean;
}

type Kind = 'tools' | 'resources' | 'prompts';
const KINDS: readonly Kind[] = ['tools', 'resources', 'prompts'];

/**
 * A server named in any of `mcp.tools`, `mcp.resources` or `mcp.prompts` is restricted: it serves exactly what those
 * lists name (`*` for all of a kind), so an admin who narrowed a server's tools did not leave its resources and
 * prompts open by saying nothing about them. A server named in none of them serves everything.
 */
export function createAllowlist(allow: Policy['mcp']): Allowlist {
  const lists = new Map(KINDS.map((kind) => [kind, new Map(Object.entries(allow[kind]))]));
  const restricted = new Set(KINDS.flatMap((kind) => Object.keys(allow[kind])));
  const allows = (kind: Kind) => (server: string, name: string) => {
    if (!restricted.has(server)) return true;
    const list = lists.get(kind)!.get(server) ?? [];
    return list.includes('*') || list.includes(name);
  };
  return {
    server: (name) => allow.servers === '*' || allow.servers.includes(name),
    tool: allows('tools'),
    resource: allows('resources'),
    prompt: allows('prompts'),
  };
}

/** Intersects the policy's server allowlist with a tenant's. */
export function narrowAllow(policy: Policy['mcp'], tenantServers: '*' | string[]): Policy['mcp'] {
  if (tenantServers === '*') return policy;
  const servers =
    policy.servers === '*' ? tenantServers : policy.servers.filter((s) => tenantServers.includes(s));
  return { ...policy, servers };
}
