import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import type { AppEnv } from './types.js';

/** Probes a load balancer sends by IP address; they reveal nothing beyond up/ready. */
export const PROBES = new Set(['/healthz', '/readyz']);

/**
 * DNS rebinding: a browser page on another origin must not reach a server bound to loopback. The Host must be one
 * of ours (probes excepted), and a request with an Origin must come from a listed one.
 */
export function hostAndOriginGuard(
  allowedHosts: string[],
  allowedOrigins: string[],
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const host = c.req.header('host');
    const hostAllowed = host !== undefined && allowedHosts.includes(host.toLowerCase());
    if (!hostAllowed && !PROBES.has(c.req.path))
      throw new HTTPException(403, { message: 'host not allowed' });
    c.set('hostAllowed', hostAllowed);
    const origin = c.req.header('origin');
    if (origin !== undefined && !allowedOrigins.includes(origin))
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
