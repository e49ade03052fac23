import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../obs/index.js';
import { jsonRpcError } from './json-rpc-error.js';
import { createSessionStore, endResponseAt, onResponseEnd, type Session } from './sessions.js';
import type { AppEnv, Authenticate, Caller, ProtectedResource, TenantEndpoint } from './types.js';
import { challenge, metadataUrl } from './well-known.js';

export interface McpRouteOptions {
  authenticate: Authenticate;
  protectedResource: ProtectedResource | undefined;
  logger: Logger;
  stateless: boolean;
  /** true from the first moment of a shutdown: new requests get 503 */
  closing: () => boolean;
  sessions: ReturnType<typeof createSessionStore>;
}

/** One request of a stateless deployment: a fresh server and transport, no session id, a JSON answer. */
async function handleStateless(tenant: TenantEndpoint, request: Request): Promise<Response> {
  const transport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
  });
  const server = tenant.createServer();
  await server.connect(transport);
  try {
    return await transport.handleRequest(request);
  } finally {
    void server.close();
  }
}

/** `/mcp`: authenticate, then serve the request in its session, open a new one, or (stateless) a fresh server. */
export function mcpHandler(opts: McpRouteOptions): (c: Context<AppEnv>) => Promise<Response> {
  const { sessions } = opts;

  const handleInSession = async (session: Session, caller: Caller, request: Request): Promise<Response> => {
    sessions.touch(session);
    // The standing GET stream lasts as long as the token that opened it; the client reconnects with a fresh one.
    if (request.method === 'GET' && caller.expiresAtMs !== undefined)
      return endResponseAt(await session.transport.handleRequest(request), caller.expiresAtMs);
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
  };

  const openSession = async (caller: Caller, request: Request): Promise<Response> => {
    const tenant = caller.endpoint;
    const { refusal, evicted } = sessions.admit(tenant.id, tenant.maxSessions);
    if (refusal) throw new HTTPException(refusal.status, { message: refusal.message });
    if (evicted)
      opts.logger.info(
        { tenant: tenant.id, maxSessions: tenant.maxSessions, idleMs: evicted.idleMs },
        'closed the least recently used idle session of the tenant to open a new one',
      );
    const release = sessions.reserve(tenant.id);
    // One server and transport per session, so responses cannot cross between clients using equal JSON-RPC ids.
    const server = tenant.createServer();
    const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        release();
        sessions.add(id, { tenant: tenant.id, identity: caller.identity, transport, server });
      },
      onsessionclosed: (id) => sessions.remove(id),
    });
    try {
      await server.connect(transport);
      return await transport.handleRequest(request);
    } finally {
      release();
      // Not an initialize that succeeded: nothing will ever reach this server again.
      if (!transport.sessionId || !sessions.get(transport.sessionId)) void server.close();
    }
  };

  return async (c) => {
    const { caller, refusal } = await opts.authenticate(c.req.header('authorization'));
    if (refusal) {
      opts.logger.debug({ status: refusal.status, reason: refusal.message }, 'request to /mcp refused');
      const metadata = opts.protectedResource ? metadataUrl(c, opts.protectedResource) : undefined;
      // A challenge asks for (other) credentials: not for an IdP that is down, nor for a token valid but tenant-less.
      const headers: Record<string, string> =
        refusal.status === 401 || refusal.error ? { 'WWW-Authenticate': challenge(refusal, metadata) } : {};
      return c.json(jsonRpcError(refusal.status, refusal.message), refusal.status, headers);
    }
    if (opts.closing())
      throw new HTTPException(503, { message: 'shutting down: not accepting new requests' });
    if (opts.stateless) return handleStateless(caller.endpoint, c.req.raw);

    const sessionId = c.req.header('mcp-session-id');
    if (sessionId) {
      const session = sessions.get(sessionId);
      if (!session) throw new HTTPException(404, { message: 'unknown or expired session' });
      // A session id is not a credential: it only works for the identity (and tenant) that created it.
      if (session.tenant !== caller.endpoint.id)
        throw new HTTPException(403, { message: 'this session belongs to another tenant' });
      if (session.identity !== caller.identity)
        throw new HTTPException(403, { message: 'this session belongs to another identity' });
      return handleInSession(session, caller, c.req.raw);
    }
    if (c.req.method !== 'POST')
      throw new HTTPException(400, { message: 'a new session starts with an initialize POST' });
    return openSession(caller, c.req.raw);
  };
}
