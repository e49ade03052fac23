import { createHash } from 'node:crypto';
import type { DenoPermissions } from '../config/permissions.js';
import type { Policy } from '../config/policy.js';
import type { EgressSetup } from '../egress/index.js';

/**
 * Everything that makes two sandbox containers interchangeable: a pooled container prepared for one profile may
 * serve any execution of the same profile, and never one of another.
 */
export interface SandboxProfile {
  image: string;
  policy: Policy;
  /** effective Deno permissions (policy or MCP_CONDUCTOR_RUN_ARGS, clamped by the workspace mode) */
  permissions: DenoPermissions;
  tenant: string;
  /** host directory mounted at /workspace; undefined when the policy's workspace mode is `none` */
  workspaceDir: string | undefined;
  /** the policy's egress section made ready (secrets read): not part of the key, which the policy already is */
  egress?: EgressSetup;
  /** the size of the workspace's own filesystem (the tenant's workspaceQuotaMb), when it has one */
  workspaceQuotaMb?: number;
}

/** Where the workspace is mounted in the container. */
export const WORKSPACE_IN_CONTAINER = '/workspace';

/** Whether the container gets a workspace at WORKSPACE_IN_CONTAINER (what WORKSPACE_DIR tells the code). */
export function mountsWorkspace(p: SandboxProfile): boolean {
  return p.workspaceDir !== undefined && p.workspaceDir !== '' && p.policy.workspace.mode !== 'none';
}

export function profileKey(p: SandboxProfile): string {
  const { image, policy, permissions, tenant, workspaceDir, workspaceQuotaMb } = p;
  const material = JSON.stringify({
    image,
    policy,
    permissions,
    tenant,
    workspaceDir: workspaceDir ?? null,
    workspaceQuotaMb: workspaceQuotaMb ?? null,
  });
  return createHash('sha256').update(material).digest('hex').slice(0, 24);
}
