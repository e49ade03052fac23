import { randomUUID } from 'node:crypto';
import { availableParallelism, hostname } from 'node:os';
import { resolve, sep } from 'node:path';
import type { ConductorSettings } from '../config/env.js';
import { brokenEntryLine } from '../config/mcp-config.js';
import type { DenoPermissions } from '../config/permissions.js';
import type { Tenant } from '../config/tenants.js';
import {
  ConfigError,
  ImageMissingError,
  OverloadedError,
  type EventStream,
  type ExecutionEvent,
} from '../core/index.js';
import {
  assertSameHostPaths,
  findOwnContainer,
  LABEL_HOST,
  LABEL_OWNER,
  LABEL_OWNER_CONTAINER,
  LABEL_PID,
  ownContainerCandidates,
  type DockerPort,
  type OwnContainer,
} from '../docker/index.js';
import { findImage, importableSpecifiers, IN_CONTAINER_IMAGE_HINT } from '../image/index.js';
import { openRetentionStore, type RetentionStore } from '../retention/index.js';
import type { Logger } from '../obs/index.js';
import type { UpstreamPool } from '../proxy/index.js';
import {
  createColdSource,
  createContainerBudget,
  createLimiter,
  createWarmPool,
  isOwnerAliveOnEngine,
  nestLimiters,
  ownerToken,
  profileKey,
  reap,
  type Limiter,
  type WarmPool,
} from '../sandbox/index.js';
import { createWrapPool, type WrapPool } from '../wrap/index.js';
import type { AdminInputs } from './admin-inputs.js';
import { createTenantRates } from './quotas.js';
import { createTenantContext, type ContextDeps, type TenantContext } from './tenant-context.js';
import { createWorkspaceMounts, reapWorkspaceMounts } from './workspace-quota.js';
import { prepareSocketBaseDir } from './workspace.js';

export interface ConductorPaths {
  imageDir: string;
  policiesDir: string;
  /** the read-only playbooks shipped with the conductor */
  playbooksDir: string;
  socketBaseDir: string;
}

export interface ConductorOptions {
  docker: DockerPort;
  settings: ConductorSettings;
  inputs: AdminInputs;
  paths: ConductorPaths;
  logger: Logger;
  /** every execution's events (metrics, audit and traces subscribe) */
  bus: EventStream<ExecutionEvent>;
  /** idle pre-started containers per sandbox profile when MCP_CONDUCTOR_POOL_SIZE is not set */
  defaultPoolSize: number;
  /** the client version upstream MCP servers are told */
  version: string;
  /** a container whose runtime has not connected by then is given up (default 30 s) */
  startupTimeoutMs?: number;
  /** an idle pooled container older than this is recycled (default 5 min) */
  maxIdleAgeMs?: number;
}

/** What a reload puts in force (see reload-plan.ts). */
export interface ReloadPlan {
  /** the admin inputs read afresh */
  inputs: AdminInputs;
  /** serve's tenants; undefined: only the local context */
  tenants: Tenant[] | undefined;
  /** the contexts ('local', or tenant ids) whose tenant entry, policy or upstream servers changed */
  changed: ReadonlySet<string>;
}

export interface Conductor {
  /** the single-tenant context (stdio, or serve without a tenants file) */
  local(): Promise<TenantContext>;
  tenant(t: Tenant): Promise<TenantContext>;
  /**
   * Makes the contexts a reload changes or adds, and only once all of them are made puts them in use (local() and
   * tenant() give them from then on); a failure leaves everything as it was. A replaced or removed tenant's context
   * finishes its executions under way before it is closed, and its warm containers are removed.
   */
  reload(plan: ReloadPlan): Promise<void>;
  /** The context in use for 'local' or a tenant once it is made; a reload switches it the moment it succeeds. */
  current(id: string): TenantContext | undefined;
  /** Calls `listener` each time a reload puts another context in use for `id`; returns what stops that. */
  watch(id: string, listener: () => void): () => void;
  /** Problem that makes the conductor unable to run code right now, if any (for /readyz). */
  readiness(): Promise<string | undefined>;
  activeExecutions(): number;
  /**
   * Refuses new and queued executions at once, lets running ones finish for up to `graceMs`, then stops them and
   * removes everything this instance made.
   */
  close(graceMs?: number): Promise<void>;
}

async function whileActive(limiter: { readonly active: number }, maxMs: number): Promise<void> {
  const until = Date.now() + maxMs;
  while (limiter.active > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
}

/**
 * The store for output past the caps, under the conductor's own directory and never in a workspace (the code could
 * read it there); directories left by conductors that died are removed first.
 */
async function openRetention(
  settings: ConductorSettings,
  instanceId: string,
  docker: DockerPort,
  own: OwnContainer | undefined,
): Promise<RetentionStore> {
  const inside = (a: string, b: string) => a === b || a.startsWith(`${b}${sep}`);
  const dir = resolve(settings.retainedDir);
  const workspace = resolve(settings.workspaceDir);
  if (inside(dir, workspace) || inside(workspace, dir)) {
    throw new ConfigError(
      `MCP_CONDUCTOR_RETAINED_DIR (${dir}) and the workspace (${workspace}) must not contain each other: sandboxed code could read kept outputs`,
    );
  }
  // Judged as reaping judges containers: replicas sharing the directory on one host (each pid 1 in its own
  // container) keep each other's, and a dead replica's goes once the engine says its container is gone.
  const owner = {
    [LABEL_HOST]: hostname(),
    [LABEL_PID]: String(process.pid),
    [LABEL_OWNER]: ownerToken(),
    ...(own ? { [LABEL_OWNER_CONTAINER]: own.id } : {}),
  };
  return openRetentionStore(dir, instanceId, owner, (labels) =>
    isOwnerAliveOnEngine(docker, labels, own?.id),
  );
}

/** Checks the admin's inputs, Docker and the image, reaps what a dead conductor left, and wires the execution machinery. */
export async function startConductor(opts: ConductorOptions): Promise<Conductor> {
  const { docker, settings, inputs, paths, logger } = opts;
  // The admin's own input first: a bad RUN_ARGS, mcp.json or policy is reported as such, whatever Docker's state.
  const runArgs = inputs.runArgs();
  const mcpConfig = await inputs.mcpConfig('local');
  for (const warning of mcpConfig?.warnings ?? [])
    logger.warn({ mcpConfig: settings.mcpConfigPath }, `MCP config: ${warning}`);
  for (const { name, problem } of mcpConfig?.broken ?? [])
    logger.warn({ mcpConfig: settings.mcpConfigPath }, `MCP config: ${brokenEntryLine(name, problem)}`);
  await inputs.policy(settings.policy);
  // Its secrets and CA file too: a missing one stops the conductor here, naming the policy and the secret.
  await inputs.egress(settings.policy);

  await docker.ping();
  // In a container, the engine resolves the sandboxes' bind mounts on the host: the paths must be the same there.
  const own = await findOwnContainer(docker);
  if (own) assertSameHostPaths(own, [{ what: 'MCP_CONDUCTOR_SOCKET_DIR', path: paths.socketBaseDir }]);
  // The image this host's inputs give, or one of the same recipe built elsewhere and imported.
  const plan = await findImage({ docker, imageDir: paths.imageDir }).catch((error: unknown) => {
    if (!own || !(error instanceof ImageMissingError)) throw error;
    throw new ImageMissingError(`${error.message} ${IN_CONTAINER_IMAGE_HINT}`, { cause: error });
  });
  const instanceId = randomUUID();
  await prepareSocketBaseDir(paths.socketBaseDir);
  const reaped = await reap(docker, {
    onlyDead: true,
    socketBaseDir: paths.socketBaseDir,
    ownContainerId: own?.id,
    logger,
  });
  const retention = await openRetention(settings, instanceId, docker, own);
  if (reaped > 0) logger.info({ reaped }, 'removed containers left by a conductor that died');
  // Their containers are gone now, so nothing holds a dead conductor's workspace images: unmount them (the tenants
  // that still have a quota mount theirs again as their contexts are made).
  const unmounted = await reapWorkspaceMounts(settings.workspaceDir, logger);
  if (unmounted > 0) logger.info({ unmounted }, 'unmounted workspace images left by a conductor that died');

  const owner = ownerToken();
  const prepareDeps = {
    docker,
    logger,
    instanceId,
    socketBaseDir: paths.socketBaseDir,
    startupTimeoutMs: opts.startupTimeoutMs ?? 30_000,
    ownerToken: owner,
    ownContainerId: own?.id,
  };
  const poolSize = settings.poolSize ?? opts.defaultPoolSize;
  // Every container, whatever its state, holds a place: at most this many exist at once (README, warm pool).
  const budget = createContainerBudget(settings.maxConcurrency + poolSize);
  const cold = createColdSource(prepareDeps, budget);
  const pool =
    poolSize > 0
      ? createWarmPool(prepareDeps, {
          size: poolSize,
          maxIdleAgeMs: opts.maxIdleAgeMs ?? 5 * 60_000,
          cold,
          budget,
        })
      : undefined;
  const global = createLimiter(settings.maxConcurrency, settings.maxQueued);
  const admission = new AbortController();
  const termination = new AbortController();
  const upstreamPools: UpstreamPool[] = [];
  const checkerDeps = {
    docker,
    instanceId,
    ownerToken: prepareDeps.ownerToken,
    acquireLease: () => budget.acquire(),
    dependencies: plan.config.dependencies,
  };
  // Code is parsed by admitted executions only, so more threads than running executions (or cores) would idle.
  const wrapPool = createWrapPool(Math.max(1, Math.min(settings.maxConcurrency, availableParallelism())));
  const deps: ContextDeps = {
    docker,
    logger,
    settings,
    inputs,
    image: { tag: plan.tag, dependencies: importableSpecifiers(plan.bom) },
    source: pool ?? cold,
    bus: opts.bus,
    admission: admission.signal,
    termination: termination.signal,
    // In a container the engine knows, or one it does not (a pod): either way no quota mount would reach sandboxes.
    mounts: createWorkspaceMounts({
      owner,
      logger,
      inContainer: own !== undefined || (await ownContainerCandidates()).length > 0,
    }),
    upstreamPools,
    checkerDeps,
    retention,
    wrap: (code) => wrapPool.wrap(code),
    version: opts.version,
    ownContainer: own,
    shippedPlaybooksDir: paths.playbooksDir,
  };
  logger.info({ image: plan.tag, policy: settings.policy, instanceId, poolSize }, 'conductor ready');
  return new RunningConductor(deps, {
    runArgs,
    global,
    pool,
    wrapPool,
    admission,
    termination,
    instanceId,
    socketBaseDir: paths.socketBaseDir,
  });
}

interface Machinery {
  runArgs: DenoPermissions | undefined;
  /** the conductor-wide concurrency cap every tenant's limiter nests in */
  global: Limiter;
  pool: WarmPool | undefined;
  wrapPool: WrapPool;
  admission: AbortController;
  termination: AbortController;
  instanceId: string;
  socketBaseDir: string;
}

class RunningConductor implements Conductor {
  #deps: ContextDeps;
  readonly #m: Machinery;
  readonly #contexts: Promise<TenantContext>[] = [];
  readonly #tenants = new Map<string, Promise<TenantContext>>();
  readonly #current = new Map<string, TenantContext>();
  readonly #watchers = new Map<string, Set<() => void>>();
  #local: Promise<TenantContext> | undefined;
  /** contexts a reload replaced, finishing their executions */
  readonly #retiring = new Set<Promise<void>>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(deps: ContextDeps, machinery: Machinery) {
    this.#deps = deps;
    this.#m = machinery;
    // Kept outputs expire after an hour; a sweep a minute keeps the disk from holding them longer.
    this.#sweeper = setInterval(() => void deps.retention.sweep().catch(() => undefined), 60_000).unref();
  }

  local(): Promise<TenantContext> {
    return (this.#local ??= this.#track(this.#makeLocal(this.#deps), 'local'));
  }

  #makeLocal(deps: ContextDeps): Promise<TenantContext> {
    const { settings } = deps;
    // Only the single local profile is warmed ahead; a tenant's pool fills after its first execution.
    return createTenantContext(deps, {
      id: 'local',
      policy: settings.policy,
      workspaceTenant: undefined,
      limiter: this.#m.global,
      servers: '*',
      rates: createTenantRates(settings.quotas, ''),
      workspaceQuotaMb: settings.quotas.workspaceQuotaMb,
      grant: this.#m.runArgs,
    }).then((ctx) => (this.#m.pool?.warm(ctx.profile), ctx));
  }

  tenant(t: Tenant): Promise<TenantContext> {
    let ctx = this.#tenants.get(t.id);
    if (!ctx) {
      if (this.#m.runArgs)
        this.#deps.logger.warn(
          { tenant: t.id },
          'MCP_CONDUCTOR_RUN_ARGS is ignored for tenants: each tenant runs with its own policy’s permissions',
        );
      if (Object.values(this.#deps.settings.quotas).some((v) => v !== undefined))
        this.#deps.logger.warn(
          { tenant: t.id },
          'the quota variables (MCP_CONDUCTOR_*_PER_MINUTE, MCP_CONDUCTOR_WORKSPACE_QUOTA_MB) are for the single-tenant deployment: tenants take theirs from the tenants file',
        );
      ctx = this.#track(this.#makeTenant(this.#deps, t), t.id);
      this.#tenants.set(t.id, ctx);
    }
    return ctx;
  }

  #makeTenant(deps: ContextDeps, t: Tenant): Promise<TenantContext> {
    const own = createLimiter(t.maxConcurrent, t.maxQueued, `executions for tenant ${t.id}`);
    return createTenantContext(deps, {
      id: t.id,
      policy: t.policy,
      workspaceTenant: t.id,
      limiter: nestLimiters(own, this.#m.global),
      servers: t.servers,
      rates: createTenantRates(t, ` for tenant ${t.id}`),
      workspaceQuotaMb: t.workspaceQuotaMb,
      grant: undefined,
    });
  }

  async reload(plan: ReloadPlan): Promise<void> {
    const deps: ContextDeps = { ...this.#deps, inputs: plan.inputs };
    const made = await this.#makeAll(deps, plan);
    this.#deps = deps;
    const replaced: [Promise<TenantContext>, TenantContext | undefined][] = [];
    for (const [id, ctx] of made) {
      const old = id === 'local' ? this.#local : this.#tenants.get(id);
      if (old) replaced.push([old, ctx]);
      const tracked = this.#track(Promise.resolve(ctx), id);
      if (id === 'local') this.#local = tracked;
      else this.#tenants.set(id, tracked);
      this.#current.set(id, ctx);
    }
    const kept = new Set(plan.tenants?.map((t) => t.id) ?? this.#tenants.keys());
    for (const [id, old] of this.#tenants)
      if (!kept.has(id)) {
        replaced.push([old, undefined]);
        this.#tenants.delete(id);
        this.#current.delete(id);
      }
    for (const [old, next] of replaced) this.#retire(old, next);
    for (const id of made.keys()) for (const listener of this.#watchers.get(id) ?? []) listener();
  }

  watch(id: string, listener: () => void): () => void {
    const listeners = this.#watchers.get(id) ?? new Set<() => void>();
    this.#watchers.set(id, listeners.add(listener));
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0) this.#watchers.delete(id);
    };
  }

  /** The contexts a reload changes or adds, all of them or none (those made are closed again). */
  async #makeAll(deps: ContextDeps, plan: ReloadPlan): Promise<Map<string, TenantContext>> {
    const specs: [string, () => Promise<TenantContext>][] = [];
    if (this.#local && plan.changed.has('local')) specs.push(['local', () => this.#makeLocal(deps)]);
    for (const t of plan.tenants ?? [])
      if (!this.#tenants.has(t.id) || plan.changed.has(t.id))
        specs.push([t.id, () => this.#makeTenant(deps, t)]);
    const settled = await Promise.allSettled(specs.map(([, make]) => make()));
    const made = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    // Shutting down meanwhile: close() has already taken stock of the contexts, so none may be added now.
    const failure = this.#m.admission.signal.aborted
      ? { reason: new OverloadedError('The conductor is shutting down.') }
      : settled.find((r) => r.status === 'rejected');
    if (failure) {
      await Promise.all(made.map((ctx) => ctx.retire()));
      throw failure.reason;
    }
    return new Map(made.map((ctx) => [ctx.id, ctx]));
  }

  /** A context out of use: its idle containers go now, the rest once its executions have finished. */
  #retire(old: Promise<TenantContext>, now: TenantContext | undefined): void {
    const i = this.#contexts.indexOf(old);
    if (i >= 0) void this.#contexts.splice(i, 1);
    const done = (async () => {
      const was = await old;
      const forget = () => {
        if (!now || profileKey(now.profile) !== profileKey(was.profile)) this.#m.pool?.forget(was.profile);
      };
      forget();
      await was.retire();
      forget();
    })().catch((err: unknown) =>
      this.#deps.logger.warn({ err }, 'could not close a replaced tenant context'),
    );
    this.#retiring.add(done);
    void done.finally(() => this.#retiring.delete(done));
  }

  async readiness(): Promise<string | undefined> {
    const { docker, image } = this.#deps;
    try {
      await docker.ping();
      return (await docker.inspectImage(image.tag))
        ? undefined
        : `image ${image.tag} is missing: run \`mcp-conductor image\``;
    } catch (error) {
      return (error as Error).message;
    }
  }

  activeExecutions(): number {
    return this.#m.global.active;
  }

  async close(graceMs = 0): Promise<void> {
    const { admission, termination, global, pool, wrapPool, instanceId, socketBaseDir } = this.#m;
    admission.abort(new OverloadedError('The conductor is shutting down.'));
    await whileActive(global, graceMs);
    // Past the grace period: stop what still runs (killed at once, answered as stopped) and undo containers still
    // being made; wait for all of it, so the reap below sees every container this instance will ever have.
    termination.abort(new Error('the conductor is shutting down'));
    await Promise.all([...this.#retiring]);
    const contexts = (await Promise.allSettled(this.#contexts))
      .filter((r) => r.status === 'fulfilled')
      .map((r) => r.value);
    await Promise.all([pool?.close(), ...contexts.map((c) => c.executor.drain())]);
    await Promise.all(contexts.map((c) => c.checker.close()));
    await wrapPool.close();
    await reap(this.#deps.docker, { instanceId, socketBaseDir, logger: this.#deps.logger });
    await this.#deps.mounts.close();
    await Promise.all(this.#deps.upstreamPools.map((p) => p.close()));
    clearInterval(this.#sweeper);
    await this.#deps.retention.close();
  }

  current(id: string): TenantContext | undefined {
    return this.#current.get(id);
  }

  #track(ctx: Promise<TenantContext>, id: string): Promise<TenantContext> {
    this.#contexts.push(ctx);
    void ctx.then(
      (made) => {
        const inUse = id === 'local' ? this.#local : this.#tenants.get(id);
        if (inUse === ctx) this.#current.set(id, made);
      },
      () => undefined,
    );
    return ctx;
  }
}
