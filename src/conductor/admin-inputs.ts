import { access } from 'node:fs/promises';
import type { ConductorSettings } from '../config/env.js';
import { createPolicyLoader, effectivePermissions } from '../config/load-policy.js';
import { loadMcpConfig, type McpConfig } from '../config/mcp-config.js';
import type { DenoPermissions } from '../config/permissions.js';
import type { Policy } from '../config/policy.js';
import { parseRunArgs } from '../config/run-args.js';
import { withSecretFiles } from '../config/secret-files.js';
import { loadTenantsFile, type Tenant, type TenantsFile } from '../config/tenants.js';
import { ConfigError } from '../core/index.js';
import { loadEgressSetup, type EgressSetup } from '../egress/index.js';

/**
 * Everything the admin gives the conductor besides the environment itself: MCP_CONDUCTOR_RUN_ARGS, the policies,
 * mcp.json and the policies' egress secrets (with the secret files they may use) and the tenants file. One reader
 * for `stdio`, `serve` and `doctor`, so the rules (which file must exist, which permissions are in force) are
 * written once. Each input is read and validated once; a failure is remembered too, and every caller gets the same
 * ConfigError.
 */
export interface AdminInputs {
  /** MCP_CONDUCTOR_RUN_ARGS parsed; undefined when it is unset or blank */
  runArgs(): DenoPermissions | undefined;
  policy: (nameOrPath: string) => Promise<Policy>;
  /**
   * The permissions the deployment's own executions (stdio, serve without tenants) run with, and what they come
   * from: RUN_ARGS replaces the policy's own when it grants anything (see effectivePermissions).
   */
  localPermissions(): Promise<{ permissions: DenoPermissions; source: string }>;
  /**
   * A policy's egress section made ready: its secrets read from the environment (or MCP_CONDUCTOR_SECRETS_DIR) or
   * files, its caFile loaded; undefined when the policy has none. A missing source is a ConfigError naming the
   * policy and the secret.
   */
  egress(policyName: string): Promise<EgressSetup | undefined>;
  /**
   * mcp.json, with `${NAME}` filled from the environment and the files of MCP_CONDUCTOR_SECRETS_DIR, and
   * `${MCP_CONDUCTOR_TENANT}` expanded for this tenant; undefined when there is none
   */
  mcpConfig(tenant: string): Promise<McpConfig | undefined>;
  /** the tenants of `serve`'s tenants file; undefined without one */
  tenants(): Promise<Tenant[] | undefined>;
  /** the whole tenants file (tenants and the `oauth` section); undefined without one */
  tenantsFile(): Promise<TenantsFile | undefined>;
}

export function createAdminInputs(
  settings: ConductorSettings,
  env: Record<string, string | undefined>,
  policiesDir: string,
): AdminInputs {
  const policy = createPolicyLoader(policiesDir);
  const mcpConfigs = new Map<string, Promise<McpConfig | undefined>>();
  const egressSetups = new Map<string, Promise<EgressSetup | undefined>>();
  let tenantsFile: Promise<TenantsFile | undefined> | undefined;
  const readTenantsFile = () => {
    const path = settings.tenantsPath;
    return (tenantsFile ??= path ? loadTenantsFile(path) : Promise.resolve(undefined));
  };

  // Secrets mounted as files (Docker and Kubernetes secrets), read once, for mcp.json's `${NAME}` and the policies'
  // egress secrets with an `env` source: an explicit variable wins over a file.
  let expansion: Promise<Record<string, string | undefined>> | undefined;
  const expansionEnv = () => (expansion ??= withSecretFiles(env, settings.secretsDir));

  const runArgs = () => (settings.runArgs?.trim() ? parseRunArgs(settings.runArgs) : undefined);

  const readMcpConfig = async (tenant: string): Promise<McpConfig | undefined> => {
    const path = settings.mcpConfigPath;
    if (!path) return undefined;
    const exists = await access(path).then(
      () => true,
      () => false,
    );
    if (!exists) {
      if (settings.mcpConfigExplicit)
        throw new ConfigError(`MCP_CONDUCTOR_MCP_CONFIG points at ${path}, which does not exist`);
      return undefined;
    }
    // `${MCP_CONDUCTOR_TENANT}` in an upstream's env/headers names the tenant, so file-backed state can be per tenant.
    return loadMcpConfig(path, { ...(await expansionEnv()), MCP_CONDUCTOR_TENANT: tenant });
  };

  return {
    runArgs,
    policy,
    async localPermissions() {
      const grant = runArgs();
      const permissions = effectivePermissions(await policy(settings.policy), grant);
      const source = grant ? 'MCP_CONDUCTOR_RUN_ARGS' : `the policy "${settings.policy}"`;
      return { permissions, source };
    },
    egress(name) {
      let p = egressSetups.get(name);
      if (!p) {
        p = policy(name).then(async ({ egress }) =>
          egress
            ? loadEgressSetup(`"${name}"`, egress, await expansionEnv(), { secretsDir: settings.secretsDir })
            : undefined,
        );
        egressSetups.set(name, p);
      }
      return p;
    },
    mcpConfig(tenant) {
      let p = mcpConfigs.get(tenant);
      if (!p) mcpConfigs.set(tenant, (p = readMcpConfig(tenant)));
      return p;
    },
    tenants: async () => (await readTenantsFile())?.tenants,
    tenantsFile: readTenantsFile,
  };
}
