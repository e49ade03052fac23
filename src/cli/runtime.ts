import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  createAdminInputs,
  startConductor,
  type AdminInputs,
  type Conductor,
  type TenantContext,
} from '../conductor/index.js';
import { readSettings, type ConductorSettings } from '../config/env.js';
import { createEventStream, type EventStream, type ExecutionEvent } from '../core/index.js';
import { createDockerClient, type DockerPort } from '../docker/index.js';
import { createServer, createTaskRegistry, liveServerContext } from '../mcp/index.js';
import { createLogger, type Logger } from '../obs/index.js';
import { conductorPaths, policiesDir, version } from './paths.js';

/** What every command builds first from the process's environment: the only place `process.env` is read. */
export interface Basics {
  env: Record<string, string | undefined>;
  settings: ConductorSettings;
  logger: Logger;
  docker: DockerPort;
  inputs: AdminInputs;
  /** every execution's events; a listener that throws is a bug, logged as such */
  bus: EventStream<ExecutionEvent>;
}

export function basics(env: Record<string, string | undefined> = process.env): Basics {
  const settings = readSettings(env);
  const logger = createLogger(settings.logLevel);
  for (const notice of settings.notices) logger.warn(notice);
  return {
    env,
    settings,
    logger,
    docker: createDockerClient(),
    inputs: createAdminInputs(settings, env, policiesDir),
    bus: createEventStream<ExecutionEvent>((err) =>
      logger.error({ err }, 'an execution event listener failed'),
    ),
  };
}

/** The conductor every serving command starts from its basics; only the warm pool's default size differs. */
export function startFromBasics(b: Basics, defaultPoolSize: number): Promise<Conductor> {
  const { docker, settings, inputs, logger, bus } = b;
  return startConductor({
    docker,
    settings,
    inputs,
    paths: conductorPaths(settings),
    logger,
    bus,
    defaultPoolSize,
    version,
  });
}

/**
 * The MCP servers of one tenant's sessions (stdio's one, or serve's per session): they share the tenant's tasks,
 * follow its context in use, which a reload may replace, and are told when one does (tools/list_changed).
 */
export function tenantServers(conductor: Conductor, ctx: TenantContext, logger: Logger): () => McpServer {
  const tasks = createTaskRegistry({ ttlMs: ctx.profile.policy.limits.taskTtlMs });
  let last = ctx;
  const current = () => (last = conductor.current(ctx.id) ?? last);
  const watchContext = (listener: () => void) => conductor.watch(ctx.id, listener);
  return () => createServer(liveServerContext(current, { tasks, logger, version, watchContext }));
}
