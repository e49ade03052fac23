import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import type { AppEnv } from './types.js';

/** Probes a load balancer sends by IP address; they reveal nothing beyond up/ready. */
export const PROBES = new Set(['/healthz', '/readyz']);

const LOOPBACK_HOST_WITH_PORT = /^(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]):\d{1,5}$/;

/**
 * The server's own origins: `http://` and each accepted loopback Host with its port (http://localhost:8787,
 * http://127.0.0.1:8787, http://[::1]:8787). A page there is served by this very port, which serves no pages, so
 * such an Origin is the server's own or a same-machine client naming it (the MCP conformance suite does): never a
 * rebinding page, whose Origin carries the attacker's name.
 */
export function ownOrigins(allowedHosts: string[]): string[] {
  return allowedHosts.filter((h) => LOOPBACK_HOST_WITH_PORT.test(h)).map((h) => `http://${h}`);
}

/**
 * DNS rebinding: a browser page on another origin must not reach a server bound to loopback. The Host must be one
 * of ours (probes excepted), and a request with an Origin must come from a listed one or from the server's own.
 */
export function hostAndOriginGuard(
  allowedHosts: string[],
  allowedOrigins: string[],
): MiddlewareHandler<AppEnv> {
  const origins = new Set([...allowedOrigins, ...ownOrigins(allowedHosts)]);
  return async (c, next) => {
    const host = c.req.header('host');
    const hostAllowed = host !== undefined && allowedHosts.includes(host.toLowerCase());
    if (!hostAllowed && !PROBES.has(c.req.path))
      throw new HTTPException(403, { message: 'host not allowed' });
    c.set('hostAllowed', hostAllowed);
    const origin = c.req.header('origin');
    if (origin !== undefined && !origins.has(origin.toLowerCase()))
      throw new HTTPException(403, { message: 'origin not allowed' });
    await next();
  };
}

/** CORS only for the origins the operator named; preflights are answered before authentication. */
export function corsFor(allowedOrigins: string[]): MiddlewareHandler<AppEnv> {
  return cors({
    origin: allowedOrigins,
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
  });
}
