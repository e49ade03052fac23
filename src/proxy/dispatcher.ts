import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Policy } from '../config/policy.js';
import type { CallMessage, CallOp, ReplyMessage } from './protocol.js';
import type { CallHandler } from './socket-server.js';
import type { UpstreamPool } from './upstreams.js';

export interface CallEvent {
  server: string;
  op: CallOp;
  status: 'ok' | 'error' | 'denied';
  durationMs: number;
}

/** Serves one execution's mcpFactory calls: allowlists, call and concurrency caps, per-call timeouts. */
export interface CallDispatcher extends CallHandler {
  readonly callCount: number;
}

export interface DispatcherOptions {
  pool: UpstreamPool;
  allow: Policy['mcp'];
  limits: Pick<Policy['limits'], 'maxMcpCalls' | 'maxConcurrentMcpCalls' | 'mcpCallTimeoutMs'>;
  onCall?: (e: CallEvent) => void;
}

class CallFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function allPages<T>(
  fetch: (cursor?: string) => Promise<{ nextCursor?: string } & Record<string, unknown>>,
  key: string,
): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 100; page++) {
    const r = await fetch(cursor);
    out.push(...((r[key] as T[] | undefined) ?? []));
    cursor = r.nextCursor;
    if (!cursor) break;
  }
  return out;
}

export function createCallDispatcher(opts: DispatcherOptions): CallDispatcher {
  const { allow, limits } = opts;
  let calls = 0;
  let inFlight = 0;
  // Calls beyond the concurrency cap wait their turn (Promise.all over many calls is normal code); the
  // per-execution call cap bounds how many can wait.
  const waiting: (() => void)[] = [];
  const slot = async () => {
    if (inFlight >= limits.maxConcurrentMcpCalls) await new Promise<void>((r) => waiting.push(r));
    inFlight++;
  };
  const release = () => {
    inFlight--;
    waiting.shift()?.();
  };
  const allowedServer = (name: string) => allow.servers === '*' || allow.servers.includes(name);
  const toolAllowlist = new Map(Object.entries(allow.tools));
  const allowedTool = (server: string, tool: string) => {
    const list = toolAllowlist.get(server);
    return list === undefined || list.includes(tool);
  };
  const need = (value: string | undefined, what: string): string => {
    if (value === undefined) throw new CallFailure('bad_request', `missing ${what}`);
    return value;
  };
  const serverFor = (name: string | undefined): string => {
    const server = need(name, 'server name');
    if (!opts.pool.names().includes(server)) {
      throw new CallFailure(
        'unknown_server',
        `Unknown MCP server "${server}". Available: ${opts.pool.names().filter(allowedServer).join(', ') || 'none'}`,
      );
    }
    if (!allowedServer(server))
      throw new CallFailure('denied', `MCP server "${server}" is not allowed by the policy`);
    return server;
  };

  const perform = async (
    msg: CallMessage,
    client: () => Promise<Client>,
    server: string,
  ): Promise<unknown> => {
    const o = { timeout: limits.mcpCallTimeoutMs };
    switch (msg.op) {
      case 'load':
        return { name: server };
      case 'listTools': {
        const tools = await allPages<{ name: string; description?: string; inputSchema: unknown }>(
          async (cursor) => (await client()).listTools(cursor ? { cursor } : undefined, o),
          'tools',
        );
        return tools
          .filter((t) => allowedTool(server, t.name))
          .map((t) => ({ name: t.name, description: t.description ?? '', inputSchema: t.inputSchema }));
      }
      case 'callTool': {
        const tool = need(msg.name, 'tool name');
        if (!allowedTool(server, tool))
          throw new CallFailure(
            'denied',
            `Tool "${tool}" of server "${server}" is not allowed by the policy`,
          );
        return (await client()).callTool({ name: tool, arguments: msg.args ?? {} }, undefined, o);
      }
      case 'listResources':
        return allPages(
          async (cursor) => (await client()).listResources(cursor ? { cursor } : undefined, o),
          'resources',
        );
      case 'readResource':
        return (await client()).readResource({ uri: need(msg.uri, 'resource uri') }, o);
      case 'listPrompts':
        return allPages(
          async (cursor) => (await client()).listPrompts(cursor ? { cursor } : undefined, o),
          'prompts',
        );
      case 'getPrompt': {
        const args = Object.fromEntries(
          Object.entries(msg.args ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
        );
        return (await client()).getPrompt({ name: need(msg.name, 'prompt name'), arguments: args }, o);
      }
      case 'list':
        throw new CallFailure('bad_request', 'list has no server');
    }
  };

  return {
    get callCount() {
      return calls;
    },
    async handle(msg): Promise<ReplyMessage> {
      const started = performance.now();
      let server = msg.server ?? '';
      const done = (status: CallEvent['status']) =>
        opts.onCall?.({ server: server || '-', op: msg.op, status, durationMs: performance.now() - started });
      try {
        if (msg.op === 'list') {
          done('ok');
          return { t: 'reply', id: msg.id, ok: true, result: opts.pool.names().filter(allowedServer) };
        }
        server = serverFor(msg.server);
        if (msg.op !== 'load') {
          if (calls >= limits.maxMcpCalls)
            throw new CallFailure(
              'limit',
              `MCP call limit reached (${limits.maxMcpCalls} calls per execution)`,
            );
          calls++;
        }
        await slot();
        try {
          const result = await perform(msg, () => opts.pool.get(server), server);
          done('ok');
          return { t: 'reply', id: msg.id, ok: true, result };
        } finally {
          release();
        }
      } catch (error) {
        if (error instanceof CallFailure) {
          done(error.code === 'denied' ? 'denied' : 'error');
          return { t: 'reply', id: msg.id, ok: false, error: { message: error.message, code: error.code } };
        }
        done('error');
        const message = (error as Error).message ?? String(error);
        const timedOut = /timed out|timeout/i.test(message);
        return {
          t: 'reply',
          id: msg.id,
          ok: false,
          error: {
            message: timedOut
              ? `MCP call to "${server}" timed out after ${limits.mcpCallTimeoutMs} ms`
              : `MCP server "${server}" failed: ${message}`,
            code: timedOut ? 'timeout' : 'upstream',
          },
        };
      }
    },
  };
}
