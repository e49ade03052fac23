import { access } from 'node:fs/promises';
import type { ConductorSettings } from './config/env.js';
import { loadMcpConfig } from './config/mcp-config.js';
import { describePermissions } from './config/deno-flags.js';
import { effectivePermissions, listPolicyNames, loadPolicy } from './config/load-policy.js';
import { parseRunArgs } from './config/run-args.js';
import { isAppError } from './core/index.js';
import type { DockerPort } from './docker/index.js';
import { planImage } from './image/index.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

function reason(error: unknown): string {
  return isAppError(error) || error instanceof Error ? error.message : String(error);
}

/** Checks everything the conductor needs, in the order a person would fix it; never throws. */
export async function runDoctor(
  docker: DockerPort,
  settings: ConductorSettings,
  paths: { imageDir: string; policiesDir: string },
  env: Record<string, string | undefined>,
): Promise<Check[]> {
  const checks: Check[] = [];
  const check = async (name: string, fn: () => Promise<string> | string) => {
    try {
      checks.push({ name, ok: true, detail: await fn() });
      return true;
    } catch (error) {
      checks.push({ name, ok: false, detail: reason(error) });
      return false;
    }
  };

  const dockerOk = await check('docker', async () => {
    const info = await docker.info();
    return `engine ${info.serverVersion} (${info.architecture}) reachable`;
  });
  if (dockerOk) {
    let policyRuntime: string | undefined;
    await check('policy', async () => {
      const policy = await loadPolicy(settings.policy, { policiesDir: paths.policiesDir });
      policyRuntime = policy.container.runtime;
      return `"${settings.policy}" is valid (runtime ${policy.container.runtime}, network ${policy.container.network}); shipped: ${(await listPolicyNames(paths.policiesDir)).join(', ')}`;
    });
    await check('runtimes', async () => {
      const { runtimes } = await docker.info();
      if (policyRuntime && !runtimes.includes(policyRuntime)) {
        throw new Error(
          `the policy needs the ${policyRuntime} runtime but the engine offers only: ${runtimes.join(', ')} (see scripts/docker-setup.sh for runsc)`,
        );
      }
      return `${runtimes.join(', ')}${runtimes.includes('runsc') ? '' : ' (runsc/gVisor not registered: the strict policy will not work)'}`;
    });
    await check('image', async () => {
      const plan = await planImage({ docker, imageDir: paths.imageDir, registries: settings.registries });
      const found = await docker.inspectImage(plan.tag);
      if (!found)
        throw new Error(`${plan.tag} is not built (or is stale): run \`mcp-conductor image\` (make image)`);
      return `${plan.tag} present (${(found.sizeBytes / 1e6).toFixed(1)} MB, Deno ${plan.denoVersion})`;
    });
  }
  await check('permissions', async () => {
    const runArgs = parseRunArgs(settings.runArgs);
    const policy = await loadPolicy(settings.policy, { policiesDir: paths.policiesDir });
    const source =
      Object.keys(runArgs).length > 0 ? 'MCP_CONDUCTOR_RUN_ARGS' : `the policy "${settings.policy}"`;
    return `${describePermissions(effectivePermissions(policy, runArgs))} (from ${source}; tenants use their own policy)`;
  });
  await check('mcp config', async () => {
    if (!settings.mcpConfigPath) return 'none';
    try {
      await access(settings.mcpConfigPath);
    } catch {
      if (settings.mcpConfigExplicit)
        throw new Error(`MCP_CONDUCTOR_MCP_CONFIG points at ${settings.mcpConfigPath}, which does not exist`);
      return 'none (no upstream MCP servers)';
    }
    const config = await loadMcpConfig(settings.mcpConfigPath, env);
    const names = Object.keys(config.mcpServers);
    return `${names.length} upstream server(s): ${names.join(', ') || '-'}`;
  });
  return checks;
}
