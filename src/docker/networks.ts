import type Docker from 'dockerode';
import { ConfigError } from '../core/index.js';
import { guard } from './engine-errors.js';
import { LABEL_MANAGED } from './labels.js';

/** Docker's own networks: joining one would give up the isolation a network of the conductor's own gives. */
const RESERVED_NETWORKS = new Set(['host', 'bridge', 'none', 'default']);
const ICC_OPTION = 'com.docker.network.bridge.enable_icc';

async function ensure(docker: Docker, name: string): Promise<void> {
  if (RESERVED_NETWORKS.has(name))
    throw new ConfigError(
      `the policy's network "${name}" is one of Docker's own; name a network for the conductor to create (or use "none")`,
    );
  const existing = (await docker.listNetworks({ filters: { name: [name] } })).find((n) => n.Name === name);
  if (existing) {
    // Someone else's network may join other workloads, or let containers reach each other.
    if (existing.Labels?.[LABEL_MANAGED] !== 'true')
      throw new ConfigError(
        `the Docker network "${name}" exists but was not created by mcp-conductor (no ${LABEL_MANAGED} label); choose another name in the policy or remove that network`,
      );
    if (existing.Options?.[ICC_OPTION] !== 'false')
      throw new ConfigError(
        `the Docker network "${name}" lets containers reach each other (made by an older mcp-conductor); remove it (docker network rm ${name}) and the conductor makes it again`,
      );
    return;
  }
  await docker.createNetwork({
    Name: name,
    Driver: 'bridge',
    Labels: { [LABEL_MANAGED]: 'true' },
    CheckDuplicate: true,
    // Sandboxes get egress but cannot reach one another.
    Options: { [ICC_OPTION]: 'false' },
  });
}

/**
 * Creates the conductor's own egress network (labelled, no inter-container traffic), or checks an existing one is
 * such. Serialised per name: two tenants with the same policy must not race to create the same network.
 */
export function networkCalls(docker: Docker): { ensureNetwork(name: string): Promise<void> } {
  const networks = new Map<string, Promise<void>>();
  return {
    ensureNetwork(name) {
      const p = guard('create a network', () =>
        (networks.get(name) ?? Promise.resolve()).then(() => ensure(docker, name)),
      );
      networks.set(
        name,
        p.catch(() => undefined),
      );
      return p;
    },
  };
}
