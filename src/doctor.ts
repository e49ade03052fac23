import { access } from 'node:fs/promises';
import type { ConductorSettings } from './config/env.js';
import { loadMcpConfig } from './config/mcp-config.js';
import { describePermissions } from './config/deno-flags.js';
import { createPolicyLoader, effectivePermissions, listPolicyNames } from './config/load-policy.js';
import { loadTenants } from './config/tenants.js';
import { parseRunArgs } from './config/run-args.js';
import { isAppError } from './core/index.js';
import type { DockerPort } from './docker/index.js';
import { lookUpImage } from './image/index.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** What the doctor asks of Docker: engine info and the images of the sandbox repository. */
export type DoctorDocker = Pick<DockerPort, 'info' | 'inspectImage' | 'listImages'>;

function reason(error: unknown): string {
  return isAppError(error) || error instanceof Error ? error.message : String(error);
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/** 0 when every check passed, 1 otherwise (the doctor command's exit status). */
export function doctorExitCode(checks: Check[]): 0 | 1 {
  return checks.every((c) => c.ok) ? 0 : 1;
}

/**
 * Checks everything the conductor needs, in the order a person would fix it; never throws. The admin's own
 * files (policy, RUN_ARGS, mcp.json) are checked whether or not Docker answers.
 */
export async function runDoctor(
  docker: DoctorDocker,
  settings: ConductorSettings,
  paths: { imageDir: string; policiesDir: string },
  env: Record<string, string | undefined>,
): Promise<Check[]> {
  const checks: Check[] = [];
  // The deployment's policy is looked at by several checks, and tenants may share one: read each file once.
  const policyNamed = createPolicyLoader(paths.policiesDir);
  const check = async (name: string, fn: () => Promise<string> | string) => {
    try {
      checks.push({ name, ok: true, detail: await fn() });
      return true;
    } catch (error) {
      checks.push({ name, ok: false, detail: reason(error) });
      return false;
    }
  };

  let runtimes: string[] = [];
  const dockerOk = await check('docker', async () => {
    const info = await docker.info();
    runtimes = info.runtimes;
    return `engine ${info.serverVersion} (${info.architecture}) reachable`;
  });
  let policyRuntime: string | undefined;
  await check('policy', async () => {
    const policy = await policyNamed(settings.policy);
    policyRuntime = policy.container.runtime;
    return `"${settings.policy}" is valid (runtime ${policy.container.runtime}, network ${policy.container.network}); shipped: ${(await listPolicyNames(paths.policiesDir)).join(', ')}`;
  });
  if (dockerOk) {
    await check('runtimes', () => {
      if (policyRuntime && !runtimes.includes(policyRuntime)) {
        throw new Error(
          `the policy needs the ${policyRuntime} runtime but the engine offers only: ${runtimes.join(', ')} (see scripts/docker-setup.sh for runsc)`,
        );
      }
      return `${runtimes.join(', ')}${runtimes.includes('runsc') ? '' : ' (runsc/gVisor not registered: the strict policy will not work)'}`;
    });
    await check('image', async () => {
      const look = await lookUpImage({ docker, imageDir: paths.imageDir, registries: settings.registries });
      const deno = `Deno ${look.recipe.denoVersion}`;
      const build = 'run `mcp-conductor image` (make image)';
      switch (look.state) {
        case 'current':
          return `${look.found!.tag} present (${mb(look.found!.sizeBytes)}, ${deno})`;
        case 'compatible':
          return `${look.found!.tag} present (${mb(look.found!.sizeBytes)}, ${deno}), built from this recipe with other host files (imported, or this host's libraries changed since)${look.wanted ? `; a build here would give ${look.wanted}` : ''}`;
        case 'stale':
          if (!look.wanted)
            throw look.planError instanceof Error ? look.planError : new Error('cannot plan the image');
          throw new Error(
            `stale: the engine has ${look.have.join(', ')}, but the inputs now give ${look.wanted} (image.json, the runtime, Deno or a host library changed): ${build}`,
          );
        case 'missing':
          if (!look.wanted)
            throw look.planError instanceof Error ? look.planError : new Error('cannot plan the image');
          throw new Error(
            `not built: ${look.wanted} is missing: ${build}, or load one with \`mcp-conductor image --import FILE\``,
          );
      }
    });
  } else {
    checks.push({
      name: 'image',
      ok: false,
      detail: 'not checked: the Docker engine is unreachable (see above)',
    });
  }
  await check('permissions', async () => {
    const runArgs = parseRunArgs(settings.runArgs);
    const policy = await policyNamed(settings.policy);
    const source =
      Object.keys(runArgs).length > 0 ? 'MCP_CONDUCTOR_RUN_ARGS' : `the policy "${settings.policy}"`;
    return `${describePermissions(effectivePermissions(policy, runArgs))} (from ${source})`;
  });
  if (settings.tenantsPath) {
    const tenantsPath = settings.tenantsPath;
    await check('tenants', async () => {
      const tenants = await loadTenants(tenantsPath);
      const problems: string[] = [];
      for (const t of tenants) {
        try {
          const policy = await policyNamed(t.policy);
          if (dockerOk && !runtimes.includes(policy.container.runtime))
            problems.push(`tenant ${t.id}: its policy needs the ${policy.container.runtime} runtime`);
        } catch (error) {
          problems.push(`tenant ${t.id}: ${reason(error)}`);
        }
      }
      if (problems.length > 0) throw new Error(problems.join('; '));
      return `${tenants.length} tenant(s): ${tenants.map((t) => `${t.id} (policy ${t.policy}, its own permissions)`).join(', ')}`;
    });
  }
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
