import { serve } from '@hono/node-server';
import type { ConductorSettings } from './config/env.js';
import { loadTenants } from './config/tenants.js';
import { ConfigError } from './core/index.js';
import { startConductor, type ConductorPaths, type TenantContext } from './conductor.js';
import { createDockerClient } from './docker/index.js';
import { createHttpApp, createTokenResolver, type TenantEndpoint } from './http/index.js';
import { createServer } from './mcp/index.js';
import { createAuditLog, createMetrics, type Logger } from './obs/index.js';

export interface ServeOptions {
  host: string;
  port: number;
  stateless?: boolean;
  allowedHost: string[];
  allowedOrigin: string[];
  auditLog?: string;
  grace: number;
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
  const { settings, logger, options } = args;
  const tenants = settings.tenantsPath ? await loadTenants(settings.tenantsPath) : undefined;
  if (!tenants && !isLoopback(options.host) && !options.insecureNoAuth) {
    throw new ConfigError(
      `refusing to serve ${options.host} without authentication: set MCP_CONDUCTOR_TENANTS, bind to 127.0.0.1, or pass --insecure-no-auth`,
    );
  }
  let activeExecutions = () => 0;
  const metrics = createMetrics(() => activeExecutions());
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

  const endpoint = (ctx: TenantContext): TenantEndpoint => ({
    id: ctx.id,
    createServer: () =>
      createServer({
        executor: ctx.executor,
        profile: ctx.profile,
        dependencies: conductor.dependencies,
        directory: ctx.directory,
        logger,
        version: args.version,
        onExecution: (result, code) => {
          metrics.executions.inc({ tenant: ctx.id, status: result.status });
          metrics.duration.observe({ tenant: ctx.id }, result.durationMs / 1000);
          audit.record(ctx.id, code, result, result.resources.mcpCalls ?? 0);
        },
      }),
  });

  let authenticate: (authorization: string | undefined) => TenantEndpoint | undefined;
  if (tenants) {
    const contexts = await Promise.all(
      tenants.map(async (t) => ({ tokenSha256: t.tokenSha256, value: endpoint(await conductor.tenant(t)) })),
    );
    authenticate = createTokenResolver(contexts);
  } else {
    const local = endpoint(await conductor.local());
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
    maxSessions: 1000,
    logger,
  });
  const server = serve({ fetch: http.app.fetch, hostname: options.host, port }, (info) =>
    logger.info(
      { address: info.address, port: info.port, tenants: tenants?.length ?? 0 },
      'listening on /mcp',
    ),
  );
  args.onShutdown(async () => {
    // Stop accepting, let running executions finish within the grace period, then remove everything.
    server.close();
    await conductor.close(options.grace);
    await http.close();
    await audit.flush();
  });
}
