import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import type { Policy } from '../config/policy.js';
import { UpstreamError } from '../core/index.js';
import type { CallMessage, CallOp, ReplyMessage } from './protocol.js';
import type { CallHandler } from './socket-server.js';
import { describeUpstreamFailure, type UpstreamPool } from './upstreams.js';

export interface CallEvent {
  server: string;
  op: CallOp;
  status: 'ok' | 'error' | 'denied' | 'timeout' | 'aborted';
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
  // per-execution call cap bounds how many can wait. A freed slot passes straight to the next waiter.
  const waiting: (() => void)[] = [];
  const slot = async (signal: AbortSignal) => {
    if (inFlight < limits.maxConcurrentMcpCalls) {
      inFlight++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = waiting.indexOf(wake);
        if (i >= 0) waiting.splice(i, 1);
        reject(signal.reason as Error);
      };
      const wake = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      waiting.push(wake);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  };
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else inFlight--;
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
    client: Client,
    server: string,
    signal: AbortSignal,
  ): Promise<unknown> => {
    // The dispatcher's own deadline (via `signal`) started when the call arrived; the SDK's is a backstop.
    const o = { signal, timeout: limits.mcpCallTimeoutMs };
    switch (msg.op) {
      case 'listTools': {
        const tools = await allPages<{ name: string; description?: string; inputSchema: unknown }>(
          (cursor) => client.listTools(cursor ? { cursor } : undefined, o),
          'tools',
        );
        return tools
          .filter((t) => allowedTool(server, t.name))
          .map((t) => ({ name: t.name, description: t.description ?? '', inputSchema: t.inputSchema }));
      }
      case 'callTool':
        return client.callTool({ name: msg.name!, arguments: msg.args ?? {} }, undefined, o);
      case 'listResources':
        return allPages((cursor) => client.listResources(cursor ? { cursor } : undefined, o), 'resources');
      case 'readResource':
        return client.readResource({ uri: need(msg.uri, 'resource uri') }, o);
      case 'listPrompts':
        return allPages((cursor) => client.listPrompts(cursor ? { cursor } : undefined, o), 'prompts');
      case 'getPrompt': {
        const args = Object.fromEntries(
          Object.entries(msg.args ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
        );
        return client.getPrompt({ name: need(msg.name, 'prompt name'), arguments: args }, o);
      }
      case 'list':
      case 'load':
        throw new CallFailure('bad_request', `${msg.op} does not reach a server`);
    }
  };

  const failure = (
    error: unknown,
    server: string,
    execution: AbortSignal | undefined,
    deadline: AbortSignal,
  ): CallFailure => {
    if (error instanceof CallFailure) return error;
    // Facts first: which of our own signals fired; then the SDK's own timeout code.
    if (execution?.aborted) return new CallFailure('aborted', 'the execution ended before the call finished');
    if (
      deadline.aborted ||
      (error instanceof McpError && error.code === (ErrorCode.RequestTimeout as number))
    ) {
      return new CallFailure(
        'timeout',
        `MCP call to "${server}" timed out after ${limits.mcpCallTimeoutMs} ms`,
      );
    }
    if (error instanceof UpstreamError) return new CallFailure('upstream', error.message);
    return new CallFailure('upstream', `MCP server "${server}" failed: ${describeUpstreamFailure(error)}`);
  };

  return {
    get callCount() {
      return calls;
    },
    async handle(msg, execution): Promise<ReplyMessage> {
      const started = performance.now();
      let server = msg.server ?? '';
      const done = (status: CallEvent['status']) =>
        opts.onCall?.({ server: server || '-', op: msg.op, status, durationMs: performance.now() - started });
      // The per-call clock starts now, so waiting for a slot or for a lazy connect counts against it.
      const deadline = new AbortController();
      const timer = setTimeout(
        () => deadline.abort(new Error('the per-call deadline passed')),
        limits.mcpCallTimeoutMs,
      );
      const onEnd = () => deadline.abort(execution?.reason);
      execution?.addEventListener('abort', onEnd, { once: true });
      try {
        if (execution?.aborted) throw new CallFailure('aborted', 'the execution ended');
        if (msg.op === 'list') {
          done('ok');
          return { t: 'reply', id: msg.id, ok: true, result: opts.pool.names().filter(allowedServer) };
        }
        server = serverFor(msg.server);
        if (msg.op === 'load') {
          done('ok');
          return { t: 'reply', id: msg.id, ok: true, result: { name: server } };
        }
        if (msg.op === 'callTool') {
          const tool = need(msg.name, 'tool name');
          if (!allowedTool(server, tool))
            throw new CallFailure(
              'denied',
              `Tool "${tool}" of server "${server}" is not allowed by the policy`,
            );
        }
        if (calls >= limits.maxMcpCalls)
          throw new CallFailure(
            'limit',
            `MCP call limit reached (${limits.maxMcpCalls} calls per execution)`,
          );
        calls++;
        await slot(deadline.signal);
        try {
          const signal = deadline.signal;
          const result = await opts.pool.use(server, (c) => perform(msg, c, server, signal), signal);
          done('ok');
          return { t: 'reply', id: msg.id, ok: true, result };
        } finally {
          release();
        }
      } catch (error) {
        const f = failure(error, server, execution, deadline.signal);
        done(f.code === 'denied' || f.code === 'timeout' || f.code === 'aborted' ? f.code : 'error');
        return { t: 'reply', id: msg.id, ok: false, error: { message: f.message, code: f.code } };
      } finally {
        clearTimeout(timer);
        execution?.removeEventListener('abort', onEnd);
      }
    },
  };
}
