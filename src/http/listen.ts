import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import type { AppEnv } from './types.js';

export interface Listener {
  /** Stops accepting connections and cuts the open ones. */
  close(): Promise<void>;
}

/** Serves the app on a TCP port (Node's HTTP server); resolves once it listens, rejects if it cannot. */
export function listen(
  app: Hono<AppEnv>,
  hostname: string,
  port: number,
): Promise<{ listener: Listener; address: string; port: number }> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname, port }, (info) =>
      resolve({
        address: info.address,
        port: info.port,
        listener: {
          close: () =>
            new Promise<void>((done) => {
              server.close(() => done());
              if ('closeAllConnections' in server) server.closeAllConnections();
            }),
        },
      }),
    );
    server.once('error', reject);
  });
}
