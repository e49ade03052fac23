import { startConductor, type TenantContext } from '../conductor/index.js';
import { ConfigError } from '../core/index.js';
import {
  createHttpApp,
  createTenantsAuthentication,
  listen,
  localAuthenticator,
  type TenantEndpoint,
  type TenantsAuthentication,
} from '../http/index.js';
import { createServer } from '../mcp/index.js';
import {
  auditExecutions,
  countExecutions,
  createAuditLog,
  createMetrics,
  type Logger,
} from '../obs/index.js';
import { conductorPaths, version } from './paths.js';
import { basics } from './runtime.js';
import { onShutdown } from './shutdown.js';

export interface ServeOptions {
  host: string;
  port: number;
  stateless?: boolean;
  allowedHost: string[];
  /** browser origins allowed to call /mcp; CORS is on for exactly these, off when empty */
  allowedOrigin: string[];
  auditLog?: string;
  /** how long running executions may finish after SIGTERM/SIGINT */
  graceMs: number;
  /** without requests for this long, a session is closed */
  sessionIdleTimeoutMs: number;
  /** open sessions across all tenants */
  maxSessions: number;
  insecureNoAuth?: boolean;
}

/** Idle pre-started containers per sandbox profile when MCP_CONDUCTOR_POOL_SIZE is not set. */
const SERVE_POOL_SIZE = 4;
const MAX_BODY_BYTES = 4 * 1024 * 1024;

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The Host header values the server answers to: its bind address, loopback names and the operator's, with the port. */
function allowedHosts(options: ServeOptions): string[] {
  const names = new Set([options.host, 'localhost', '127.0.0.1', '[::1]', ...options.allowedHost]);
  return [...names].flatMap((h) => [h.toLowerCase(), `${h.toLowerCase()}:${options.port}`]);
}

function endpoint(ctx: TenantContext, maxSessions: number, logger: Logger): TenantEndpoint {
  return { id: ctx.id, maxSessions, createServer: () => createServer({ ...ctx, logger, version }) };
}

/** `mcp-conductor serve`: the hosting face — tenants, web safety, metrics, audit, graceful shutdown. */
export async function runServe(options: ServeOptions): Promise<void> {
  const { docker, settings, inputs, logger, bus } = basics();
  const tenantsFile = await inputs.tenantsFile();
  if (!tenantsFile && !isLoopback(options.host) && !options.insecureNoAuth) {
    throw new ConfigError(
      `refusing to serve ${options.host} without authentication: set MCP_CONDUCTOR_TENANTS, bind to 127.0.0.1, or pass --insecure-no-auth`,
    );
  }
  let openSessions = () => 0;
  const conductor = await startConductor({
    docker,
    settings,
    inputs,
    paths: conductorPaths(),
    logger,
    bus,
    defaultPoolSize: SERVE_POOL_SIZE,
    version,
  });
  const metrics = createMetrics({
    activeExecutions: () => conductor.activeExecutions(),
    openSessions: () => openSessions(),
  });
  countExecutions(bus, metrics);
  const audit = options.auditLog
    ? createAuditLog(options.auditLog, (err) => logger.error({ err }, 'audit log write failed'))
    : undefined;
  if (audit) auditExecutions(bus, audit);

  let auth: TenantsAuthentication;
  if (tenantsFile) {
    const endpoints = new Map(
      await Promise.all(
        tenantsFile.tenants.map(
          async (t) => [t.id, endpoint(await conductor.tenant(t), t.maxSessions, logger)] as const,
        ),
      ),
    );
    auth = createTenantsAuthentication(tenantsFile, endpoints);
  } else {
    auth = {
      authenticate: localAuthenticator(endpoint(await conductor.local(), options.maxSessions, logger)),
    };
  }

  const http = createHttpApp({
    ...auth,
    ready: () => conductor.readiness(),
    metrics: { contentType: metrics.registry.contentType, render: () => metrics.registry.metrics() },
    allowedHosts: allowedHosts(options),
    allowedOrigins: options.allowedOrigin,
    maxBodyBytes: MAX_BODY_BYTES,
    stateless: options.stateless === true,
    maxSessions: options.maxSessions,
    sessionIdleTimeoutMs: options.sessionIdleTimeoutMs,
    logger,
  });
  openSessions = () => http.sessionCount();
  const { listener, address, port } = await listen(http.app, options.host, options.port);
  logger.info(
    {
      address,
      port,
      tenants: tenantsFile?.tenants.length ?? 0,
      issuers: tenantsFile?.oauth?.issuers.map((i) => i.issuer),
    },
    'listening on /mcp',
  );
  onShutdown(
    logger,
    async () => {
      // Refuse new work first (503 on /mcp and /readyz; queued executions fail without a container), keep the port
      // open so refusals are clear, let running executions finish within the grace period, then remove everything.
      http.stopAccepting();
      await conductor.close(options.graceMs);
      await http.close();
      await listener.close();
      await audit?.flush();
    },
    false,
  );
}
