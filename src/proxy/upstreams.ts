import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { McpConfig } from '../config/mcp-config.js';
import { UpstreamError } from '../core/index.js';
import type { Logger } from '../obs/index.js';

/** SDK clients to the configured upstream MCP servers: started on first use, shared, restarted after a crash. */
export interface UpstreamPool {
  names(): string[];
  get(name: string): Promise<Client>;
  close(): Promise<void>;
}

export interface UpstreamPoolOptions {
  servers: McpConfig['mcpServers'];
  logger: Logger;
  connectTimeoutMs?: number;
  version?: string;
}

export function createUpstreamPool(opts: UpstreamPoolOptions): UpstreamPool {
  const servers = new Map(Object.entries(opts.servers));
  const clients = new Map<string, Promise<Client>>();
  let closed = false;

  const connect = async (name: string): Promise<Client> => {
    const server = servers.get(name)!;
    const log = opts.logger.child({ upstream: name });
    const client = new Client({ name: 'mcp-conductor', version: opts.version ?? '0' });
    let transport: StdioClientTransport | StreamableHTTPClientTransport;
    if ('command' in server) {
      // The upstream gets a minimal environment plus its own entry's, never the conductor's whole environment.
      const stdio = new StdioClientTransport({
        command: server.command,
        args: server.args,
        env: { ...getDefaultEnvironment(), ...server.env },
        cwd: server.cwd,
        stderr: 'pipe',
      });
      const stderr = stdio.stderr as Readable | null;
      if (stderr)
        createInterface({ input: stderr }).on('line', (line) =>
          log.info({ stderr: line }, 'upstream stderr'),
        );
      transport = stdio;
    } else {
      transport = new StreamableHTTPClientTransport(new URL(server.url), {
        requestInit: { headers: server.headers },
      });
    }
    // A closed transport (the process died, the server went away) drops the client so the next use reconnects.
    client.onclose = () => {
      log.warn('upstream connection closed');
      const current = clients.get(name);
      void current
        ?.then((c) => c === client && clients.get(name) === current && clients.delete(name))
        .catch(() => undefined);
    };
    try {
      await client.connect(transport, { timeout: opts.connectTimeoutMs ?? 30_000 });
    } catch (error) {
      await client.close().catch(() => undefined);
      throw new UpstreamError(`could not start MCP server "${name}": ${(error as Error).message}`, {
        cause: error,
      });
    }
    log.info('upstream connected');
    return client;
  };

  return {
    names: () => [...servers.keys()].sort(),
    get(name) {
      if (closed) return Promise.reject(new UpstreamError('the conductor is shutting down'));
      if (!servers.has(name)) return Promise.reject(new UpstreamError(`Unknown MCP server "${name}"`));
      let client = clients.get(name);
      if (!client) {
        client = connect(name);
        clients.set(name, client);
        client.catch(() => {
          if (clients.get(name) === client) clients.delete(name);
        });
      }
      return client;
    },
    async close() {
      closed = true;
      const all = [...clients.values()];
      clients.clear();
      await Promise.allSettled(all.map(async (c) => (await c).close()));
    },
  };
}
