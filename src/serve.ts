import { serve } from '@hono/node-server';
import type { ConductorSettings } from './config/env.js';
import { loadTenants } from './config/tenants.js';
import { ConfigError } from './core/index.js';
import { startConductor, type ConductorPaths, type TenantContext } from './conductor.js';
import { createDockerClient } from './docker/index.js';
import { createHttpApp, createTokenResolver, type TenantEndpoint } from './http/index.js';
import { createServer } from './mcp/index.js';
import { SERVE_DEFAULTS } from './serve-options.js';
import { createAuditLog, createMetrics, type ExecutionOutcome, type Logger } from './obs/index.js';

export interface ServeOptions {
  host: string;
  port: number;
  stateless?: boolean;
  allowedHost: string[];
  /** browser origins allowed to call /mcp; CORS is on for exactly these, off when empty */
  allowedOrigin: string[];
  auditLog?: string;
  /** ms that running executions get to finish after SIGTERM/SIGINT */
  grace?: number;
  /** ms without requests after which a session is closed */
  sessionIdleTimeout?: number;
  /** open sessions across all tenants */
  maxSessions?: number;
  insecureNoAuth?: boolean;
}

/** Idle pre-started containers per sandbox profile when MCP_CONDUCTOR_POOL_SIZE is not set. */
const SERVE_POOL_SIZE = 4;
const MAX_BODY_BYTES = 4 * 1024 * 1024;

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** `mcp-conductor serve`: the hosting face — tenants, web safety, metrics, audit, graceful shutdown. */
export async function serveHttp(args: {
  settings: ConductorSettings;
  env: Record<string, string | undefined>;
  paths: ConductorPaths;
  logger: Logger;
  version: string;
  options: ServeOptions;
  onShutdown: (close: () => Promise<void>) => void;
}): Promise<void> {
  const { settings, logger } = args;
  const options = {
    ...args.options,
    grace: args.options.grace ?? SERVE_DEFAULTS.graceMs,
    sessionIdleTimeout: args.options.sessionIdleTimeout ?? SERVE_DEFAULTS.sessionIdleTimeoutMs,
    maxSessions: args.options.maxSessions ?? SERVE_DEFAULTS.maxSessions,
  };
  const tenants = settings.tenantsPath ? await loadTenants(settings.tenantsPath) : undefined;
  if (!tenants && !isLoopback(options.host) && !options.insecureNoAuth) {
    throw new ConfigError(
      `refusing to serve ${options.host} without authentication: set MCP_CONDUCTOR_TENANTS, bind to 127.0.0.1, or pass --insecure-no-auth`,
    );
  }
  let activeExecutions = () => 0;
  let openSessions = () => 0;
  const metrics = createMetrics({
    activeExecutions: () => activeExecutions(),
    openSessions: () => openSessions(),
  });
  const conductor = await startConductor(
    createDockerClient(),
    settings,
    args.env,
    args.paths,
    logger,
    SERVE_POOL_SIZE,
    {
      onMcpCall: (e) => metrics.mcpCalls.inc({ server: e.server, status: e.status }),
    },
  );
  activeExecutions = () => conductor.activeExecutions();
  const audit = createAuditLog(options.auditLog, (err) => logger.error({ err }, 'audit log write failed'));

  // Aborted first thing on shutdown: tool calls not yet running are refused from then on.
  const stopping = new AbortController();
  const onExecution = (tenant: string, outcome: ExecutionOutcome) => {
    metrics.executions.inc({ tenant, status: outcome.status });
    if (outcome.resources) metrics.duration.observe({ tenant }, outcome.durationMs / 1000);
    audit.record(tenant, outcome);
  };
  const endpoint = (ctx: TenantContext, maxSessions: number): TenantEndpoint => ({
    id: ctx.id,
    maxSessions,
    createServer: () =>
      createServer({
        executor: ctx.executor,
        profile: ctx.profile,
        dependencies: conductor.dependencies,
        directory: ctx.directory,
        logger,
        version: args.version,
        onExecution: (outcome) => onExecution(ctx.id, outcome),
        stopping: stopping.signal,
      }),
  });

  let authenticate: (authorization: string | undefined) => TenantEndpoint | undefined;
  if (tenants) {
    const contexts = await Promise.all(
      tenants.map(async (t) => ({
        tokenSha256: t.tokenSha256,
        value: endpoint(await conductor.tenant(t), t.maxSessions),
      })),
    );
    authenticate = createTokenResolver(contexts);
  } else {
    const local = endpoint(await conductor.local(), options.maxSessions);
    authenticate = () => local;
  }

  const port = options.port;
  const hostNames = new Set([options.host, 'localhost', '127.0.0.1', '[::1]', ...options.allowedHost]);
  const allowedHosts = [...hostNames].flatMap((h) => [h.toLowerCase(), `${h.toLowerCase()}:${port}`]);
  const http = createHttpApp({
    authenticate,
    authRequired: tenants !== undefined,
    ready: () => conductor.readiness(),
    metrics,
    allowedHosts,
    allowedOrigins: options.allowedOrigin,
    maxBodyBytes: MAX_BODY_BYTES,
    stateless: options.stateless === true,
    maxSessions: options.maxSessions,
    sessionIdleTimeoutMs: options.sessionIdleTimeout,
    logger,
  });
  openSessions = () => http.sessionCount();
  const server = serve({ fetch: http.app.fetch, hostname: options.host, port }, (info) =>
    logger.info(
      { address: info.address, port: info.port, tenants: tenants?.length ?? 0 },
      'listening on /mcp',
    ),
  );
  args.onShutdown(async () => {
    // Refuse new work first (503 on /mcp and /readyz; queued executions fail without a container), keep the port
    // open so refusals are clear, let running executions finish within the grace period, then remove everything.
    http.stopAccepting();
    stopping.abort();
    await conductor.close(options.grace);
    await http.close();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      if ('closeAllConnections' in server) server.closeAllConnections();
    });
    await audit.flush();
  });
}
