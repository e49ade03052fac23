import type { Policy } from '../config/policy.js';

/** What one caller's code may reach: the policy's server and tool allowlists (already narrowed by the tenant). */
export interface Allowlist {
  server: (name: string) => boolean;
  tool: (server: string, tool: string) => boolean;
}

export function createAllowlist(allow: Policy['mcp']): Allowlist {
  const tools = new Map(Object.entries(allow.tools));
  return {
    server: (name) => allow.servers === '*' || allow.servers.includes(name),
    tool: (server, tool) => {
      const list = tools.get(server);
      return list === undefined || list.includes(tool);
    },
  };
}

/** Intersects the policy's server allowlist with a tenant's. */
export function narrowAllow(policy: Policy['mcp'], tenantServers: '*' | string[]): Policy['mcp'] {
  if (tenantServers === '*') return policy;
  const servers =
    policy.servers === '*' ? tenantServers : policy.servers.filter((s) => tenantServers.includes(s));
  return { ...policy, servers };
}
