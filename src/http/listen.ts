import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { ConfigError } from '../core/index.js';
import type { AppEnv } from './types.js';

export interface Listener {
  /** Stops accepting connections and cuts the open ones. */
  close(): Promise<void>;
}

export interface BoundPort {
  listener: Listener;
  address: string;
  port: number;
  /** From now on requests go to `app`; until then every request gets 503 (the conductor is starting). */
  serve(app: Hono<AppEnv>): void;
}

/** Why the port cannot be had, in one line a person can act on. */
export function listenError(error: unknown, hostname: string, port: number): ConfigError {
  const code = (error as { code?: unknown }).code;
  const where = `${hostname}:${port}`;
  const why =
    code === 'EADDRINUSE'
      ? `${where} is already in use (another conductor or server?): stop it, or pass another --port`
      : code === 'EACCES'
        ? `not allowed to listen on ${where} (ports below 1024 need root): pass another --port`
        : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN'
          ? `${hostname} is not an address of this machine: pass another --host`
          : `cannot listen on ${where}: ${error instanceof Error ? error.message : String(error)}`;
  return new ConfigError(why, { cause: error });
}

const STARTING = JSON.stringify({ error: 'starting' });

/**
 * Takes the TCP port first (Node's HTTP server), so a port in use is reported before anything else starts; rejects
 * with a one-line ConfigError when it cannot.
 */
export function listen(hostname: string, port: number): Promise<BoundPort> {
  let app: Hono<AppEnv> | undefined;
  const fetch = (request: Request) =>
    app
      ? app.fetch(request)
      : new Response(STARTING, { status: 503, headers: { 'content-type': 'application/json' } });
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, hostname, port }, (info) =>
      resolve({
        address: info.address,
        port: info.port,
        serve: (a) => (app = a),
        listener: {
          close: () =>
            new Promise<void>((done) => {
              server.close(() => done());
              if ('closeAllConnections' in server) server.closeAllConnections();
            }),
        },
      }),
    );
    server.once('error', (error) => reject(listenError(error, hostname, port)));
  });
}
