import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { randomUUID } from 'node:crypto';
import type { Logger, Metrics } from '../obs/index.js';

/** What the HTTP face needs from one authenticated caller. */
export interface TenantEndpoint {
  id: string;
  createServer(): McpServer;
}

export interface HttpOptions {
  /** undefined: no tenants file, every caller is the local tenant */
  authenticate: (authorization: string | undefined) => TenantEndpoint | undefined;
  authRequired: boolean;
  ready: () => Promise<string | undefined>;
  metrics: Metrics;
  /** Host header values accepted (DNS-rebinding defence) */
  allowedHosts: string[];
  /** Origins accepted besides none at all; `null` and anything else → 403 */
  allowedOrigins: string[];
  maxBodyBytes: number;
  stateless: boolean;
  maxSessions: number;
  logger: Logger;
}

interface Session {
  tenant: string;
  transport: WebStandardStreamableHTTPServerTransport;
  server: McpServer;
}

export interface HttpApp {
  app: Hono;
  sessionCount(): number;
  /** Stops accepting new sessions and closes the open ones. */
  close(): Promise<void>;
}

export function createHttpApp(opts: HttpOptions): HttpApp {
  const sessions = new Map<string, Session>();
  let closing = false;
  const app = new Hono();

  app.onError((error, c) => {
    if (error instanceof HTTPException) return c.json({ error: error.message }, error.status);
    opts.logger.error({ err: error }, 'HTTP request failed');
    return c.json({ error: 'internal error' }, 500);
  });
  app.notFound((c) => c.json({ error: 'not found' }, 404));

  // DNS rebinding: a browser page on another origin must not reach a server bound to loopback.
  app.use('*', async (c, next) => {
    const host = c.req.header('host');
    if (!host || !opts.allowedHosts.includes(host.toLowerCase()))
      throw new HTTPException(403, { message: 'host not allowed' });
    const origin = c.req.header('origin');
    if (origin !== undefined && !opts.allowedOrigins.includes(origin))
      throw new HTTPException(403, { message: 'origin not allowed' });
    await next();
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const problem = await opts.ready();
    return problem ? c.json({ status: 'not ready', reason: problem }, 503) : c.json({ status: 'ready' });
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
    if (closing) throw new HTTPException(503, { message: 'shutting down' });

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
      return session.transport.handleRequest(c.req.raw);
    }
    if (c.req.method !== 'POST')
      throw new HTTPException(400, { message: 'a new session starts with an initialize POST' });
    if (sessions.size >= opts.maxSessions)
      throw new HTTPException(503, { message: 'too many open sessions' });
    // One server and transport per session, so responses cannot cross between clients using equal JSON-RPC ids.
    const server = tenant.createServer();
    const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => void sessions.set(id, { tenant: tenant.id, transport, server }),
      onsessionclosed: (id) => {
        sessions.delete(id);
        void server.close();
      },
    });
    await server.connect(transport);
    return transport.handleRequest(c.req.raw);
  });

  return {
    app,
    sessionCount: () => sessions.size,
    async close() {
      closing = true;
      const all = [...sessions.values()];
      sessions.clear();
      await Promise.allSettled(all.map((s) => s.server.close()));
    },
  };
}
