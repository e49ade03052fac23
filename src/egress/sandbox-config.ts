import { isIPv6 } from 'node:net';
import { DEFAULT_PORTS } from '../config/egress-policy.js';
import type { DenoPermissions } from '../config/permissions.js';
import type { EgressSetup } from './setup.js';

/** The gateway's socket, beside the MCP socket in the execution's socket directory. */
export const EGRESS_SOCKET_NAME = 'egress.sock';

/**
 * What the sandbox needs for egress, given where its socket is inside the container: the proxy variables Deno's
 * fetch honours (`unix:` proxies get absolute-form plain requests, https: included), the runtime's settings
 * (placeholders, never values), and the grants: the socket itself, and `allow-net` for exactly the allowed hosts,
 * because Deno checks a fetch's target host even when a proxy carries it. With network none that grant reaches
 * nothing but the gateway, which checks every request again.
 */
export function sandboxEgress(
  setup: EgressSetup,
  placeholders: Readonly<Record<string, string>>,
  socketPath: string,
): { env: string[]; arg: string; permissions: DenoPermissions } {
  const hosts = setup.rules.flatMap((rule) => {
    const name =
      rule.kind === 'wildcard' ? `*.${rule.host}` : isIPv6(rule.host) ? `[${rule.host}]` : rule.host;
    return (rule.port === undefined ? DEFAULT_PORTS : [rule.port]).map((port) => `${name}:${port}`);
  });
  const settings = {
    socket: socketPath,
    hosts: setup.rules.map((r) => r.entry),
    secrets: placeholders,
    maxResponseBytes: setup.policy.maxResponseBytes,
    timeoutMs: setup.policy.timeoutMs,
  };
  return {
    env: [`HTTPS_PROXY=unix:${socketPath}`, `HTTP_PROXY=unix:${socketPath}`],
    arg: `--egress=${JSON.stringify(settings)}`,
    permissions: { read: [socketPath], write: [socketPath], net: [`unix:${socketPath}`, ...hosts] },
  };
}
