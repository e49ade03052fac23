import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import { randomUUID } from 'node:crypto';
import type { Logger, Metrics } from '../obs/index.js';
import { createSessionStore, onResponseEnd, type Session } from './sessions.js';

/** What the HTTP face needs from one authenticated caller. */
export interface TenantEndpoint {
  id: string;
  /** open sessions this tenant may hold at once */
  maxSessions: number;
  createServer(): McpServer;
}

export interface HttpOptions {
  authenticate: (authorization: string | undefined) => TenantEndpoint | undefined;
  authRequired: boolean;
  ready: () => Promise<string | undefined>;
  metrics: Metrics;
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

export type AppEnv = { Variables: { hostAllowed: boolean } };

export interface HttpApp {
  app: Hono<AppEnv>;
  sessionCount(): number;
  /** From now on /mcp answers 503 and /readyz reports not ready; responses in progress continue. */
  stopAccepting(): void;
  /** Waits briefly for responses in progress, then closes every session. */
  close(): Promise<void>;
}

/** Probes a load balancer sends by IP address; they reveal nothing beyond up/ready. */
const PROBES = new Set(['/healthz', '/readyz']);
/** How long close() lets finished executions' responses reach their clients. */
const RESPONSE_FLUSH_MS = 5_000;

export function createHttpApp(opts: HttpOptions): HttpApp {
  const sessions = createSessionStore({
    maxSessions: opts.maxSessions,
    idleTimeoutMs: opts.sessionIdleTimeoutMs,
  });
  let closing = false;
  const app = new Hono<AppEnv>();

  app.onError((error, c) => {
    if (error instanceof HTTPException) return c.json({ error: error.message }, error.status);
    opts.logger.error({ err: error }, 'HTTP request failed');
    return c.json({ error: 'internal error' }, 500);
  });
  app.notFound((c) => c.json({ error: 'not found' }, 404));

  // DNS rebinding: a browser page on another origin must not reach a server bound to loopback.
  app.use('*', async (c, next) => {
    const host = c.req.header('host');
    const hostAllowed = host !== undefined && opts.allowedHosts.includes(host.toLowerCase());
    if (!hostAllowed && !PROBES.has(c.req.path))
      throw new HTTPException(403, { message: 'host not allowed' });
    c.set('hostAllowed', hostAllowed);
    const origin = c.req.header('origin');
    if (origin !== undefined && !opts.allowedOrigins.includes(origin))
      throw new HTTPException(403, { message: 'origin not allowed' });
    await next();
  });

  // CORS only for origins the operator named; preflights are answered here, before authentication.
  if (opts.allowedOrigins.length > 0) {
    app.use(
      '/mcp',
      cors({
        origin: opts.allowedOrigins,
        allowMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
        allowHeaders: [
          'Authorization',
          'Content-Type',
          'Accept',
          'Mcp-Session-Id',
          'Mcp-Protocol-Version',
          'Last-Event-ID',
        ],
        exposeHeaders: ['Mcp-Session-Id', 'Mcp-Protocol-Version', 'WWW-Authenticate'],
        maxAge: 600,
      }),
    );
  }

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
  app.get('/metrics', async (c) =>
    c.text(await opts.metrics.registry.metrics(), 200, { 'content-type': opts.metrics.registry.contentType }),
  );

  app.use(
    '/mcp',
    bodyLimit({
      maxSize: opts.maxBodyBytes,
      onError: (c) => c.json({ error: 'request body too large' }, 413),
    }),
  );
  app.all('/mcp', async (c) => {
    const tenant = opts.authenticate(c.req.header('authorization'));
    if (!tenant) {
      return c.json({ error: opts.authRequired ? 'missing or invalid bearer token' : 'unauthorized' }, 401, {
        'WWW-Authenticate': 'Bearer realm="mcp-conductor"',
      });
    }
    if (closing) throw new HTTPException(503, { message: 'shutting down: not accepting new requests' });

    if (opts.stateless) {
      const transport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: true,
      });
      const server = tenant.createServer();
      await server.connect(transport);
      try {
        return await transport.handleRequest(c.req.raw);
      } finally {
        void server.close();
      }
    }

    const sessionId = c.req.header('mcp-session-id');
    if (sessionId) {
      const session = sessions.get(sessionId);
      if (!session) throw new HTTPException(404, { message: 'unknown or expired session' });
      // A session id is not a credential: it only works with the token of the tenant that created it.
      if (session.tenant !== tenant.id)
        throw new HTTPException(403, { message: 'this session belongs to another tenant' });
      return handleInSession(session, c.req.raw);
    }
    if (c.req.method !== 'POST')
      throw new HTTPException(400, { message: 'a new session starts with an initialize POST' });
    const refusal = sessions.refusal(tenant.id, tenant.maxSessions);
    if (refusal) throw new HTTPException(refusal.status, { message: refusal.message });
    const release = sessions.reserve(tenant.id);
    // One server and transport per session, so responses cannot cross between clients using equal JSON-RPC ids.
    const server = tenant.createServer();
    const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        release();
        sessions.add(id, { tenant: tenant.id, transport, server });
      },
      onsessionclosed: (id) => sessions.remove(id),
    });
    try {
      await server.connect(transport);
      return await transport.handleRequest(c.req.raw);
    } finally {
      release();
      // Not an initialize that succeeded: nothing will ever reach this server again.
      if (!transport.sessionId || !sessions.get(transport.sessionId)) void server.close();
    }
  });

  async function handleInSession(session: Session, request: Request): Promise<Response> {
    sessions.touch(session);
    if (request.method !== 'POST') return session.transport.handleRequest(request);
    // A POST's response stays open until its tool call answers: the session is busy, not idle, until then.
    session.busy++;
    const done = () => {
      session.busy--;
      sessions.touch(session);
    };
    let response: Response;
    try {
      response = await session.transport.handleRequest(request);
    } catch (error) {
      done();
      throw error;
    }
    return onResponseEnd(response, done);
  }

  return {
    app,
    sessionCount: () => sessions.size,
    stopAccepting() {
      closing = true;
    },
    async close() {
      closing = true;
      await sessions.closeAll(RESPONSE_FLUSH_MS);
    },
  };
}
