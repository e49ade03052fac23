import { join } from 'node:path';
import type { ConductorSettings } from '../config/env.js';
import { loadImageConfig } from '../config/image-config.js';
import type { IssuerConfig } from '../config/oauth.js';
import { describePermissions } from '../config/deno-flags.js';
import { effectivePermissions, listPolicyNames, writesWorkspace } from '../config/load-policy.js';
import { PolicySchema } from '../config/policy.js';
import { isAppError } from '../core/index.js';
import { ownContainerCandidates, type DockerPort, type ReadText } from '../docker/index.js';
import {
  bomOfLabels,
  DENO_IN_IMAGE,
  IN_CONTAINER_IMAGE_HINT,
  lookUpImage,
  summarizeBom,
} from '../image/index.js';
import { createSilentLogger, type Logger } from '../obs/index.js';
import { createAdminInputs, type AdminInputs } from './admin-inputs.js';
import { checkOwnContainer, explainSocketAccess } from './doctor-container.js';
import { checkedContexts } from './doctor-contexts.js';
import { describeEgress, uselessGrants } from './doctor-egress.js';
import { describePlaybooks } from './doctor-playbooks.js';
import { brokenUpstreamChecks, upstreamChecks } from './doctor-upstreams.js';
import { describeWorkspaceAccess } from './workspace.js';
import { describeTracing } from './doctor-tracing.js';
import { checkQuotaHost, describeQuotaWorkspace, quotaWorkspaces } from './quota-check.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** passed, but something in it is probably not what the admin meant */
  warning?: boolean;
}

/** What the doctor asks of Docker: engine info, the images of the sandbox repository, its own container's mounts. */
export type DoctorDocker = Pick<DockerPort, 'info' | 'inspectImage' | 'listImages' | 'containerMounts'>;

function reason(error: unknown): string {
  return isAppError(error) || error instanceof Error ? error.message : String(error);
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/**
 * Reaches an issuer's metadata and keys now, with a short timeout, and says what it found; throws saying what
 * failed. The CLI passes the HTTP face's (the conductor does not fetch from identity providers itself).
 */
export type IssuerProbe = (issuer: IssuerConfig) => Promise<string>;

/** What the doctor reaches beyond the engine; each is left out when absent. */
export interface DoctorProbes {
  /** each identity provider of the tenants file's `oauth` section */
  issuer?: IssuerProbe;
  /** this process's /proc files, to find the container it runs in (the real ones by default) */
  readProc?: ReadText;
}

type CheckRunner = (name: string, fn: () => Promise<string> | string) => Promise<boolean>;

/** 0 when every check passed, 1 otherwise (the doctor command's exit status). */
export function doctorExitCode(checks: Check[]): 0 | 1 {
  return checks.every((c) => c.ok) ? 0 : 1;
}

/** The image check's line, and the labels of the image found (they hold its bill of materials). */
async function imageState(
  docker: DoctorDocker,
  imageDir: string,
): Promise<{ detail: string; labels: Record<string, string> }> {
  const look = await lookUpImage({ docker, imageDir });
  const deno = `Deno ${look.recipe.denoVersion}`;
  const build = 'run `mcp-conductor image` (make image)';
  switch (look.state) {
    case 'current':
      return {
        detail: `${look.found!.tag} present (${mb(look.found!.sizeBytes)}, ${deno})`,
        labels: look.found!.labels,
      };
    case 'compatible':
      return {
        detail: `${look.found!.tag} present (${mb(look.found!.sizeBytes)}, ${deno}), built from this recipe with other host files (imported, or this host's libraries changed since)${look.wanted ? `; a build here would give ${look.wanted}` : ''}`,
        labels: look.found!.labels,
      };
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
}

/**
 * Checks everything the conductor needs, in the order a person would fix it; never throws. The admin's own
 * files (policy, RUN_ARGS, mcp.json) are checked whether or not Docker answers; each upstream server is started
 * (and its stderr logged to `logger`) and asked for its tools.
 */
export async function runDoctor(
  docker: DoctorDocker,
  settings: ConductorSettings,
  paths: { imageDir: string; policiesDir: string; playbooksDir: string },
  env: Record<string, string | undefined>,
  probes: DoctorProbes = {},
  logger: Logger = createSilentLogger(),
): Promise<Check[]> {
  const checks: Check[] = [];
  // The same reader as the conductor's, so the doctor applies the same rules; each file is read once.
  const inputs = createAdminInputs(settings, env, paths.policiesDir);
  const policyNamed = inputs.policy;
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
    const info = await docker.info().catch(async (error: unknown) => {
      throw await explainSocketAccess(error, env);
    });
    runtimes = info.runtimes;
    return `engine ${info.serverVersion} (${info.architecture}) reachable`;
  });
  let policyRuntime: string | undefined;
  await check('policy', async () => {
    const policy = await policyNamed(settings.policy);
    policyRuntime = policy.container.runtime;
    return `"${settings.policy}" is valid (runtime ${policy.container.runtime}, network ${policy.container.network}); shipped: ${(await listPolicyNames(paths.policiesDir)).join(', ')}`;
  });
  if (dockerOk) await engineChecks(check, docker, settings, paths.imageDir, runtimes, policyRuntime, probes);
  else
    checks.push({
      name: 'image',
      ok: false,
      detail: 'not checked: the Docker engine is unreachable (see above)',
    });
  await check('permissions', async () => {
    const { permissions, source } = await inputs.localPermissions();
    return `${describePermissions(permissions)} (from ${source})`;
  });
  await check('workspace', () => workspaceCheck(inputs, settings));
  await check('playbooks', () => describePlaybooks(inputs, settings, paths.playbooksDir));
  checks.push(...(await egressChecks(inputs, settings, paths.imageDir)));
  if (settings.tenantsPath) {
    await check('tenants', async () => {
      const tenants = (await inputs.tenants()) ?? [];
      const problems: string[] = [];
      for (const t of tenants) {
        try {
          const policy = await policyNamed(t.policy);
          if (dockerOk && !runtimes.includes(policy.container.runtime))
            problems.push(`tenant ${t.id}: its policy needs the ${policy.container.runtime} runtime`);
          await inputs.egress(t.policy);
        } catch (error) {
          problems.push(`tenant ${t.id}: ${reason(error)}`);
        }
      }
      if (problems.length > 0) throw new Error(problems.join('; '));
      const reach = (t: { tokenSha256?: string }) => (t.tokenSha256 ? '' : ', OAuth only');
      return `${tenants.length} tenant(s): ${tenants.map((t) => `${t.id} (policy ${t.policy}, its own permissions${reach(t)})`).join(', ')}`;
    });
    const oauth = await inputs.tenantsFile().then(
      (f) => f?.oauth,
      () => undefined,
    );
    const { issuer: probeIssuer } = probes;
    if (probeIssuer)
      for (const issuer of oauth?.issuers ?? []) await check('oauth', () => probeIssuer(issuer));
  }
  const quotas = await quotaWorkspaces(inputs, settings).catch(() => []);
  if (quotas.length > 0) {
    const inContainer = (await ownContainerCandidates(probes.readProc)).length > 0;
    const hostOk = await check('quota host', () => checkQuotaHost(env.PATH ?? '', inContainer));
    await check('quotas', async () => {
      const lines = await Promise.all(quotas.map((q) => describeQuotaWorkspace(q.dir, q.sizeMb)));
      return `${hostOk ? '' : 'not usable on this host (see above); '}${lines.join('; ')}`;
    });
  }
  await check('traces', () => describeTracing(settings.tracing, env));
  const config = await inputs.mcpConfig('local').catch((error: unknown) => {
    checks.push({ name: 'mcp config', ok: false, detail: reason(error) });
    return null;
  });
  if (config === null) return checks;
  if (!config) {
    checks.push({ name: 'mcp config', ok: true, detail: 'none (no upstream MCP servers)' });
    return checks;
  }
  const names = Object.keys(config.mcpServers);
  checks.push({
    name: 'mcp config',
    ok: true,
    detail: [`${names.length} upstream server(s): ${names.join(', ') || '-'}`, ...config.warnings].join('; '),
    ...(config.warnings.length > 0 && { warning: true }),
  });
  // A broken policy is the policy check's to report; the upstreams are then checked with the default limit.
  const { limits } = await inputs.policy(settings.policy).catch(() => PolicySchema.parse({}));
  checks.push(...brokenUpstreamChecks(config.broken));
  checks.push(...(await upstreamChecks(config.mcpServers, logger, limits.maxMcpReplyBytes)));
  return checks;
}

/**
 * Each workspace a context mounts (the root for the local one, each tenant's subdirectory with a tenants file) and
 * whether the user code runs as can write it where the grant writes /workspace. A policy that does not load is the
 * policy check's to report.
 */
async function workspaceCheck(inputs: AdminInputs, settings: ConductorSettings): Promise<string> {
  const lines: string[] = [];
  for (const c of await checkedContexts(inputs, settings, settings.workspaceDir)) {
    const policy = await inputs.policy(c.policy).catch(() => undefined);
    // RUN_ARGS that do not parse are the permissions check's to report.
    if (!policy || (c.local && !(await inputs.localPermissions().catch(() => undefined)))) continue;
    if (policy.workspace.mode === 'none') {
      lines.push(`${c.dir} not mounted (policy "${c.policy}": workspace mode none)`);
      continue;
    }
    const permissions = c.local
      ? (await inputs.localPermissions()).permissions
      : effectivePermissions(policy, undefined);
    lines.push(await describeWorkspaceAccess(c.dir, writesWorkspace(policy, permissions)));
  }
  return lines.join('; ') || 'not checked: no policy loads (see above)';
}

/**
 * The egress rules in force (reading every secret source, as start-up would) and the grants that do nothing.
 * Only for a policy that loads: a broken one is the policy check's to report.
 */
async function egressChecks(
  inputs: AdminInputs,
  settings: ConductorSettings,
  imageDir: string,
): Promise<Check[]> {
  const policy = await inputs.policy(settings.policy).catch(() => undefined);
  if (!policy) return [];
  const checks: Check[] = [];
  try {
    const setup = await inputs.egress(settings.policy);
    checks.push({
      name: 'egress',
      ok: true,
      detail: setup
        ? describeEgress(setup)
        : 'none: code reaches no HTTP(S) API (a policy egress section would allow some)',
    });
  } catch (error) {
    checks.push({ name: 'egress', ok: false, detail: reason(error) });
  }
  try {
    const image = await loadImageConfig(join(imageDir, 'image.json'));
    const programs = ['deno', DENO_IN_IMAGE, ...image.tools.map((t) => t.program)];
    const warnings = uselessGrants(policy, (await inputs.localPermissions()).permissions, programs);
    if (warnings.length > 0)
      checks.push({ name: 'grants', ok: true, warning: true, detail: warnings.join('; ') });
  } catch {
    // RUN_ARGS or the image config is broken: their own checks say so.
  }
  return checks;
}

/**
 * The checks that need the engine, in order: runtimes, the conductor's own container (when it runs in one: the
 * paths it hands to sandboxes must be the same on the host), the image and what it holds.
 */
async function engineChecks(
  check: CheckRunner,
  docker: DoctorDocker,
  settings: ConductorSettings,
  imageDir: string,
  runtimes: string[],
  policyRuntime: string | undefined,
  probes: DoctorProbes,
): Promise<void> {
  await check('runtimes', () => {
    if (policyRuntime && !runtimes.includes(policyRuntime)) {
      throw new Error(
        `the policy needs the ${policyRuntime} runtime but the engine offers only: ${runtimes.join(', ')} (see scripts/docker-setup.sh for runsc)`,
      );
    }
    return `${runtimes.join(', ')}${runtimes.includes('runsc') ? '' : ' (runsc/gVisor not registered: the strict policy will not work)'}`;
  });
  const inContainer = await checkOwnContainer(
    docker,
    { socketDir: settings.socketDir, workspaceDir: settings.workspaceDir },
    probes.readProc,
  ).catch((error: unknown) => error as Error);
  if (inContainer !== undefined)
    await check('container', () => {
      if (typeof inContainer !== 'string') throw inContainer;
      return inContainer;
    });
  let labels: Record<string, string> | undefined;
  await check('image', async () => {
    try {
      const state = await imageState(docker, imageDir);
      labels = state.labels;
      return state.detail;
    } catch (error) {
      // In a container the conductor cannot build the sandbox image: say where it must come from.
      if (inContainer === undefined) throw error;
      throw new Error(`${reason(error)} ${IN_CONTAINER_IMAGE_HINT}`, { cause: error });
    }
  });
  // What the image holds, read from its own label: the same on a host that only imported it.
  const found = labels;
  if (found) {
    await check('packages', () => {
      const bom = bomOfLabels(found);
      if (!bom)
        throw new Error(
          'the image carries no readable bill of materials: rebuild it (`mcp-conductor image --force`)',
        );
      return summarizeBom(bom);
    });
  }
}
