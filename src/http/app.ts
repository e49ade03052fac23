import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { Logger } from '../obs/index.js';
import { corsFor, hostAndOriginGuard } from './guard.js';
import { jsonRpcError } from './json-rpc-error.js';
import { mcpHandler } from './mcp-route.js';
import { createSessionStore } from './sessions.js';
import type { AppEnv, Authenticate, MetricsSource, ProtectedResource } from './types.js';
import { METADATA_PATH, protectedResourceRoutes } from './well-known.js';

export interface HttpOptions {
  authenticate: Authenticate;
  /** with an identity provider: the RFC 9728 metadata, and challenges that point at it */
  protectedResource?: ProtectedResource;
  ready: () => Promise<string | undefined>;
  metrics: MetricsSource;
  /**
   * When set, /metrics answers only requests it accepts (a bearer token of its own: the metrics name every tenant,
   * and tenants' tokens do not open them); otherwise /metrics is open to any accepted Host.
   */
  metricsAuth?: (authorization: string | undefined) => boolean;
  /** Host header values accepted (DNS-rebinding defence); /healthz and /readyz answer any Host */
  allowedHosts: string[];
  /** browser origins accepted, and given CORS headers; any other `Origin` (and `null`) → 403; none: CORS off */
  allowedOrigins: string[];
  maxBodyBytes: number;
  stateless: boolean;
  /** open sessions across all tenants */
  maxSessions: number;
  sessionIdleTimeoutMs: number;
  logger: Logger;
}

export interface HttpApp {
  app: Hono<AppEnv>;
  sessionCount(): number;
  /** Closes the sessions of a tenant that is gone: idle ones now, those answering a request once they have. */
  endTenantSessions(tenant: string): void;
  /** From now on /mcp answers 503 and /readyz reports not ready; responses in progress continue. */
  stopAccepting(): void;
  /** Waits briefly for responses in progress, then closes every session. */
  close(): Promise<void>;
}

/** How long close() lets finished executions' responses reach their clients. */
const RESPONSE_FLUSH_MS = 5_000;

export function createHttpApp(opts: HttpOptions): HttpApp {
  const sessions = createSessionStore({
    maxSessions: opts.maxSessions,
    idleTimeoutMs: opts.sessionIdleTimeoutMs,
  });
  let closing = false;
  const app = new Hono<AppEnv>();

  // MCP clients show a JSON-RPC error's message; other paths keep a plain `{ error }`.
  const errorBody = (path: string, status: number, message: string) =>
    path === '/mcp' ? jsonRpcError(status, message) : { error: message };
  app.onError((error, c) => {
    if (error instanceof HTTPException)
      return c.json(errorBody(c.req.path, error.status, error.message), error.status);
    opts.logger.error({ err: error }, 'HTTP request failed');
    return c.json(errorBody(c.req.path, 500, 'internal error'), 500);
  });
  app.notFound((c) => c.json({ error: 'not found' }, 404));
  app.use('*', hostAndOriginGuard(opts.allowedHosts, opts.allowedOrigins));
  if (opts.allowedOrigins.length > 0) {
    app.use('/mcp', corsFor(opts.allowedOrigins));
    if (opts.protectedResource) app.use(`${METADATA_PATH}/*`, corsFor(opts.allowedOrigins));
  }
  if (opts.protectedResource) protectedResourceRoutes(app, opts.protectedResource);

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    if (closing) return c.json({ status: 'not ready', reason: 'shutting down' }, 503);
    const problem = await opts.ready();
    if (!problem) return c.json({ status: 'ready' });
    // The reason may name the image or the Docker socket: only for callers using an accepted Host name.
    return c.json(
      c.get('hostAllowed') ? { status: 'not ready', reason: problem } : { status: 'not ready' },
      503,
    );
  });
  app.get('/metrics', async (c) => {
    if (opts.metricsAuth && !opts.metricsAuth(c.req.header('authorization')))
      return c.json({ error: 'missing or invalid metrics token' }, 401, {
        'WWW-Authenticate': 'Bearer realm="mcp-conductor metrics"',
      });
    return c.text(await opts.metrics.render(), 200, { 'content-type': opts.metrics.contentType });
  });

  app.use(
    '/mcp',
    bodyLimit({
      maxSize: opts.maxBodyBytes,
      onError: (c) => c.json(jsonRpcError(413, 'request body too large'), 413),
    }),
  );
  app.all(
    '/mcp',
    mcpHandler({
      authenticate: opts.authenticate,
      protectedResource: opts.protectedResource,
      logger: opts.logger,
      stateless: opts.stateless,
      closing: () => closing,
      sessions,
    }),
  );

  return {
    app,
    sessionCount: () => sessions.size,
    endTenantSessions: (tenant) => sessions.endTenant(tenant),
    stopAccepting() {
      closing = true;
    },
    async close() {
      closing = true;
      await sessions.closeAll(RESPONSE_FLUSH_MS);
    },
  };
}
