import { randomUUID } from 'node:crypto';
import { access, chown, lstat, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ConductorSettings } from './config/env.js';
import { createPolicyLoader, effectivePermissions } from './config/load-policy.js';
import { parseRunArgs } from './config/run-args.js';
import type { Tenant } from './config/tenants.js';
import { loadMcpConfig, type McpConfig } from './config/mcp-config.js';
import { createMcpDirectory, narrowAllow, type McpDirectory } from './proxy/directory.js';
import { createUpstreamPool, type UpstreamPool } from './proxy/upstreams.js';
import { ConfigError } from './core/index.js';
import type { DockerPort } from './docker/index.js';
import { findImage } from './image/index.js';
import type { Logger } from './obs/index.js';
import {
  createColdSource,
  createContainerBudget,
  createExecutor,
  createLimiter,
  createWarmPool,
  nestLimiters,
  ownerToken,
  reap,
  SANDBOX_UID,
  type Executor,
  type Limiter,
  type SandboxProfile,
} from './sandbox/index.js';

export interface ConductorPaths {
  imageDir: string;
  policiesDir: string;
  socketBaseDir: string;
}

/** One caller's view of the conductor: its policy, workspace and concurrency cap. */
export interface TenantContext {
  id: string;
  profile: SandboxProfile;
  executor: Executor;
  /** the upstream MCP servers this caller's code may use; undefined when none are configured */
  directory: McpDirectory | undefined;
}

export interface Conductor {
  docker: DockerPort;
  imageTag: string;
  dependencies: string[];
  instanceId: string;
  /** the single-tenant context (stdio, or serve without a tenants file) */
  local(): Promise<TenantContext>;
  tenant(t: Tenant): Promise<TenantContext>;
  /** Problem that makes the conductor unable to run code right now, if any (for /readyz). */
  readiness(): Promise<string | undefined>;
  activeExecutions(): number;
  /** Lets running executions finish for up to `graceMs`, then kills and removes everything this instance made. */
  close(graceMs?: number): Promise<void>;
}

async function readMcpConfig(
  settings: ConductorSettings,
  env: Record<string, string | undefined>,
): Promise<McpConfig | undefined> {
  if (!settings.mcpConfigPath) return undefined;
  if (
    !settings.mcpConfigExplicit &&
    !(await access(settings.mcpConfigPath).then(
      () => true,
      () => false,
    ))
  )
    return undefined;
  return loadMcpConfig(settings.mcpConfigPath, env);
}

async function prepareWorkspace(dir: string, logger: Logger): Promise<void> {
  await mkdir(dir, { recursive: true });
  if (process.getuid?.() === 0) await chown(dir, SANDBOX_UID, SANDBOX_UID);
  else
    logger.warn(
      { workspace: dir },
      'not running as root: the sandbox user (65534) may be unable to write the workspace',
    );
}

/**
 * The per-execution sockets live here, usually under the shared /tmp: the first process to listen on a socket path
 * wins, so a directory another user made (or can write) would let them intercept executions. Refuse it.
 */
async function prepareSocketBaseDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await lstat(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0) {
    throw new ConfigError(
      `the socket directory ${dir} must be a directory owned by this user with mode 0700 (remove it and restart)`,
    );
  }
}

/** Checks Docker and the image, reaps what a dead conductor left, and wires the execution machinery. */
export async function startConductor(
  docker: DockerPort,
  settings: ConductorSettings,
  env: Record<string, string | undefined>,
  paths: ConductorPaths,
  logger: Logger,
  defaultPoolSize: number,
  hooks: { onMcpCall?: (e: { server: string; status: string }) => void } = {},
): Promise<Conductor> {
  // The admin's own input first: a bad RUN_ARGS, mcp.json or policy is reported as such, whatever Docker's state.
  const runArgs = settings.runArgs?.trim() ? parseRunArgs(settings.runArgs) : undefined;
  // `${MCP_CONDUCTOR_TENANT}` in an upstream's env/headers names the tenant, so file-backed state can be per tenant.
  const mcpConfigFor = (tenant: string) => readMcpConfig(settings, { ...env, MCP_CONDUCTOR_TENANT: tenant });
  const mcpConfig = await mcpConfigFor('local');
  const policy = createPolicyLoader(paths.policiesDir);
  await policy(settings.policy);

  await docker.ping();
  // The image this host's inputs give, or one of the same recipe built elsewhere and imported.
  const plan = await findImage({ docker, imageDir: paths.imageDir, registries: settings.registries });
  const upstreamPools: UpstreamPool[] = [];
  const instanceId = randomUUID();
  await prepareSocketBaseDir(paths.socketBaseDir);
  const reaped = await reap(docker, { onlyDead: true, socketBaseDir: paths.socketBaseDir });
  if (reaped > 0) logger.info({ reaped }, 'removed containers left by a conductor that died');

  const prepareDeps = {
    docker,
    logger,
    instanceId,
    socketBaseDir: paths.socketBaseDir,
    startupTimeoutMs: 30_000,
    ownerToken: ownerToken(),
  };
  const poolSize = settings.poolSize ?? defaultPoolSize;
  // Every container, whatever its state, holds a place: at most this many exist at once (README, warm pool).
  const budget = createContainerBudget(settings.maxConcurrency + poolSize);
  const cold = createColdSource(prepareDeps, budget);
  const pool =
    poolSize > 0
      ? createWarmPool(prepareDeps, { size: poolSize, maxIdleAgeMs: 5 * 60_000, cold, budget })
      : undefined;
  const global = createLimiter(settings.maxConcurrency, settings.maxQueued);
  const executors: Executor[] = [];

  /**
   * `grant` is MCP_CONDUCTOR_RUN_ARGS for the deployment's own (local) context only: a tenant of `serve` runs with
   * exactly its policy's permissions, so one environment variable can never widen every tenant's grant.
   */
  const context = async (
    id: string,
    policyName: string,
    workspaceDir: string,
    limiter: Limiter,
    servers: Tenant['servers'],
    grant: typeof runArgs,
  ) => {
    const pol = await policy(policyName);
    if (pol.workspace.mode !== 'none') await prepareWorkspace(workspaceDir, logger);
    if (pol.container.network !== 'none') await docker.ensureNetwork(pol.container.network);
    const profile: SandboxProfile = {
      image: plan.tag,
      policy: pol,
      permissions: effectivePermissions(pol, grant),
      tenant: id,
      workspaceDir: pol.workspace.mode === 'none' ? undefined : workspaceDir,
    };
    const executor = createExecutor({
      docker,
      logger: logger.child({ tenant: id }),
      source: pool ?? cold,
      limiter,
    });
    executors.push(executor);
    let directory: McpDirectory | undefined;
    if (mcpConfig && Object.keys(mcpConfig.mcpServers).length > 0) {
      // Each tenant gets its own upstream processes, so state in one (a memory server, say) never leaks to another.
      const upstreams = createUpstreamPool({
        servers: (id === 'local' ? mcpConfig : ((await mcpConfigFor(id)) ?? mcpConfig)).mcpServers,
        logger: logger.child({ tenant: id }),
      });
      upstreamPools.push(upstreams);
      directory = createMcpDirectory({
        pool: upstreams,
        allow: narrowAllow(pol.mcp, servers),
        limits: pol.limits,
        onCall: (e) => hooks.onMcpCall?.(e),
      });
    }
    return { id, profile, executor, directory };
  };

  let local: Promise<TenantContext> | undefined;
  const tenants = new Map<string, Promise<TenantContext>>();
  logger.info({ image: plan.tag, policy: settings.policy, instanceId, poolSize }, 'conductor ready');
  return {
    docker,
    imageTag: plan.tag,
    dependencies: plan.config.dependencies,
    instanceId,
    local() {
      // Only the single local profile is warmed ahead; a tenant's pool fills after its first execution.
      return (local ??= context('local', settings.policy, settings.workspaceDir, global, '*', runArgs).then(
        (ctx) => (pool?.warm(ctx.profile), ctx),
      ));
    },
    tenant(t) {
      let ctx = tenants.get(t.id);
      if (!ctx) {
        const limiter = nestLimiters(
          createLimiter(t.maxConcurrent, t.maxQueued, `executions for tenant ${t.id}`),
          global,
        );
        if (runArgs)
          logger.warn(
            { tenant: t.id },
            'MCP_CONDUCTOR_RUN_ARGS is ignored for tenants: each tenant runs with its own policy’s permissions',
          );
        ctx = context(t.id, t.policy, join(settings.workspaceDir, t.id), limiter, t.servers, undefined);
        tenants.set(t.id, ctx);
      }
      return ctx;
    },
    async readiness() {
      try {
        await docker.ping();
        return (await docker.inspectImage(plan.tag))
          ? undefined
          : `image ${plan.tag} is missing: run \`mcp-conductor image\``;
      } catch (error) {
        return (error as Error).message;
      }
    },
    activeExecutions: () => global.active,
    async close(graceMs = 0) {
      const until = Date.now() + graceMs;
      while (global.active > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      await pool?.close();
      await Promise.all(executors.map((e) => e.drain()));
      await reap(docker, { instanceId, socketBaseDir: paths.socketBaseDir });
      await Promise.all(upstreamPools.map((p) => p.close()));
    },
  };
}
