import { basename } from 'node:path';
import type { DenoPermissions } from '../config/permissions.js';
import type { Policy } from '../config/policy.js';
import type { EgressSetup } from '../egress/index.js';

/** The egress rules in force, one line: hosts, secrets (names and sources, never values), CA, caps. */
export function describeEgress(setup: EgressSetup): string {
  const { policy } = setup;
  const secrets = Object.entries(policy.secrets).map(
    ([name, s]) => `${name} (${'env' in s ? `env ${s.env}` : `file ${s.file}`}) → ${s.hosts.join(', ')}`,
  );
  return [
    `allow ${policy.allow.join(', ') || 'nothing'}`,
    `secrets ${secrets.join('; ') || 'none'}`,
    policy.caFile ? `caFile ${policy.caFile} trusted beside the built-in store` : 'built-in CA store',
    `at most ${policy.maxRequests} requests per execution, ${policy.maxResponseBytes} bytes per response, ${policy.timeoutMs} ms per request`,
  ].join('; ');
}

/**
 * Grants that cannot do what they seem to: allow-net under network none reaches nothing (the gateway, not Deno,
 * is the way out), and allow-run of a program the image does not contain fails at run time.
 */
export function uselessGrants(
  policy: Policy,
  permissions: DenoPermissions,
  imagePrograms: string[],
): string[] {
  const warnings: string[] = [];
  if (permissions.net && policy.container.network === 'none') {
    warnings.push(
      `allow-net does nothing under network "none" (the container has no network)${policy.egress ? ': egress.allow decides which hosts code reaches' : '; add an egress section to reach HTTP(S) APIs'}`,
    );
  }
  if (Array.isArray(permissions.run)) {
    const inImage = new Set(imagePrograms.flatMap((p) => [p, basename(p)]));
    const missing = permissions.run.filter((p) => !inImage.has(p) && !inImage.has(basename(p)));
    if (missing.length > 0) {
      warnings.push(
        `allow-run grants ${missing.join(', ')}, which the image does not contain (add it to images/deno/image.json tools)`,
      );
    }
  }
  return warnings;
}
