import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type Conductor, type Reloader, type TenantContext } from '../conductor/index.js';
import type { Tenant, TenantsFile } from '../config/tenants.js';
import { ConfigError } from '../core/index.js';
import {
  createHttpApp,
  createTenantsAuthentication,
  createTokenResolver,
  listen,
  localAuthenticator,
  type TenantEndpoint,
  type TenantsAuthentication,
} from '../http/index.js';
import { countExecutions, createMetrics, type Logger } from '../obs/index.js';
import { observeExecutions, type Observers } from './observe.js';
import { keepConfigurationLive } from './reload.js';
import { basics, startFromBasics, tenantServers } from './runtime.js';
import { onShutdown } from './shutdown.js';

export interface ServeOptions {
  host: string;
  port: number;
  stateless?: boolean;
  allowedHost: string[];
  /** browser origins allowed to call /mcp; CORS is on for exactly these, off when empty */
  allowedOrigin: string[];
  auditLog?: string;
  /** a file holding the bearer token /metrics then requires */
  metricsTokenFile?: string;
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

/** Reads --metrics-token-file: one token (surrounding whitespace ignored), checked like tenants' tokens. */
async function metricsAuthFrom(
  file: string | undefined,
): Promise<((authorization: string | undefined) => boolean) | undefined> {
  if (!file) return undefined;
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new ConfigError(`cannot read the metrics token file ${file} (${error.code ?? error.message})`);
  });
  const token = text.trim();
  if (token.length < 16 || /\s/.test(token))
    throw new ConfigError(`the metrics token in ${file} must be one word of at least 16 characters`);
  const tokenSha256 = createHash('sha256').update(token).digest('hex');
  const resolve = createTokenResolver([{ tokenSha256, value: true }]);
  return (authorization) => resolve(authorization) === true;
}

/** One per tenant: an MCP server per session, all of them the tenant's (tenantServers). */
function endpoint(
  conductor: Conductor,
  ctx: TenantContext,
  maxSessions: () => number,
  logger: Logger,
): TenantEndpoint {
  return {
    id: ctx.id,
    get maxSessions() {
      return maxSessions();
    },
    createServer: tenantServers(conductor, ctx, logger),
  };
}

/** Who may call, and as which tenant; `update` follows a reloaded tenants file and says which tenants went. */
interface Access extends TenantsAuthentication {
  update: (file: TenantsFile) => Promise<string[]>;
}

/** The tenants file's tenants (tokens, an identity provider), or the one local tenant. */
async function access(
  conductor: Conductor,
  file: TenantsFile | undefined,
  options: ServeOptions,
  logger: Logger,
): Promise<Access> {
  if (!file) {
    const local = endpoint(conductor, await conductor.local(), () => options.maxSessions, logger);
    return { authenticate: localAuthenticator(local), update: () => Promise.resolve([]) };
  }
  let tenants = new Map<string, Tenant>();
  const endpoints = new Map<string, TenantEndpoint>();
  let auth: TenantsAuthentication | undefined;
  const update = async (next: TenantsFile) => {
    tenants = new Map(next.tenants.map((t) => [t.id, t]));
    for (const t of next.tenants)
      if (!endpoints.has(t.id)) {
        const max = () => tenants.get(t.id)?.maxSessions ?? t.maxSessions;
        endpoints.set(t.id, endpoint(conductor, await conductor.tenant(t), max, logger));
      }
    const gone = [...endpoints.keys()].filter((id) => !tenants.has(id));
    gone.forEach((id) => endpoints.delete(id));
    auth = createTenantsAuthentication(next, endpoints);
    return gone;
  };
  await update(file);
  return {
    authenticate: (authorization) => auth!.authenticate(authorization),
    ...(auth!.protectedResource ? { protectedResource: auth!.protectedResource } : {}),
    update,
  };
}

/** `mcp-conductor serve`: the hosting face — tenants, web safety, metrics, audit, graceful shutdown. */
export async function runServe(options: ServeOptions): Promise<void> {
  const b = basics();
  const { inputs, logger, bus } = b;
  const tenantsFile = await inputs.tenantsFile();
  if (!tenantsFile && !isLoopback(options.host) && !options.insecureNoAuth) {
    throw new ConfigError(
      `refusing to serve ${options.host} without authentication: set MCP_CONDUCTOR_TENANTS, bind to 127.0.0.1, or pass --insecure-no-auth`,
    );
  }
  const metricsAuth = await metricsAuthFrom(options.metricsTokenFile);
  if (tenantsFile && !metricsAuth && !isLoopback(options.host))
    logger.warn(
      { host: options.host },
      '/metrics names every tenant and is open to whoever reaches this address: consider --metrics-token-file',
    );
  // The port first: one that is taken is a one-line error before anything starts or "conductor ready" is said.
  // Until the app is in place every request gets 503, as /readyz would say.
  const bound = await listen(options.host, options.port);
  let conductor: Conductor | undefined;
  let observers: Observers | undefined;
  let reloader: Reloader | undefined;
  try {
    conductor = await startFromBasics(b, SERVE_POOL_SIZE);
    const running = conductor;
    let openSessions = () => 0;
    const metrics = createMetrics({
      activeExecutions: () => running.activeExecutions(),
      openSessions: () => openSessions(),
    });
    // The servers each tenant may use are the only server names that become metric labels.
    countExecutions(bus, metrics, (tenant) => running.current(tenant)?.directory.servers() ?? []);
    observers = await observeExecutions(b, {
      auditLogFlag: options.auditLog,
      onTraceExportFailure: (kind) => metrics.traceExportFailures.inc({ kind }),
    });
    const observing = observers;

    // A context the policy refuses (a network that is Docker's own, say) throws here and closes what started.
    const tenantAccess = await access(running, tenantsFile, options, logger);
    const http = createHttpApp({
      authenticate: tenantAccess.authenticate,
      ...(tenantAccess.protectedResource ? { protectedResource: tenantAccess.protectedResource } : {}),
      ready: () => running.readiness(),
      metrics: { contentType: metrics.registry.contentType, render: () => metrics.registry.metrics() },
      ...(metricsAuth ? { metricsAuth } : {}),
      allowedHosts: allowedHosts(options),
      allowedOrigins: options.allowedOrigin,
      maxBodyBytes: MAX_BODY_BYTES,
      stateless: options.stateless === true,
      maxSessions: options.maxSessions,
      sessionIdleTimeoutMs: options.sessionIdleTimeoutMs,
      logger,
    });
    openSessions = () => http.sessionCount();
    reloader = await keepConfigurationLive(b, {
      conductor: running,
      tenants: tenantsFile !== undefined,
      onApplied: async ({ tenantsFile: next }) => {
        for (const gone of next ? await tenantAccess.update(next) : []) http.endTenantSessions(gone);
      },
      onOutcome: ({ result }) => {
        if (result !== 'unchanged') metrics.configReloads.inc({ result });
      },
    });
    bound.serve(http.app);
    logger.info(
      {
        address: bound.address,
        port: bound.port,
        tenants: tenantsFile?.tenants.length ?? 0,
        issuers: tenantsFile?.oauth?.issuers.map((i) => i.issuer),
      },
      'listening on /mcp',
    );
    onShutdown(
      logger,
      async () => {
        // Refuse new work first (503 on /mcp and /readyz; queued executions fail without a container), keep the
        // port open so refusals are clear, let running executions finish within the grace period, then remove
        // everything.
        http.stopAccepting();
        reloader?.close();
        await running.close(options.graceMs);
        await http.close();
        await bound.listener.close();
        await observing.close();
      },
      false,
    );
  } catch (error) {
    // Nothing may outlive a failed start: no pooled container, no open port, no unflushed audit line.
    reloader?.close();
    await conductor?.close();
    await observers?.close();
    await bound.listener.close();
    throw error;
  }
}
