import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import type { Policy } from '../config/policy.js';
import { UpstreamError, type McpCallStatus, type RateWindow } from '../core/index.js';
import { createAllowlist } from './allowlist.js';
import { CallGate } from './call-gate.js';
import type { CallHandler } from './execution-socket.js';
import { CallFailure, need, perform } from './operations.js';
import type { CallMessage, ReplyMessage } from './protocol.js';
import { ReplyTooLargeError } from './reply-cap.js';
import { describeUpstreamFailure, type UpstreamPool } from './upstreams.js';

/** Serves one execution's mcpFactory calls: allowlists, call and concurrency caps, per-call timeouts. */
export interface CallDispatcher extends CallHandler {
  /** calls that passed the allowlists and reached (or waited for) an upstream */
  readonly callCount: number;
}

export type McpLimits = Pick<
  Policy['limits'],
  'maxMcpCalls' | 'maxConcurrentMcpCalls' | 'mcpCallTimeoutMs' | 'maxMcpReplyBytes'
>;

export interface DispatcherOptions {
  pool: UpstreamPool;
  allow: Policy['mcp'];
  limits: McpLimits;
  /** the tenant's mcpCallsPerMinute, shared by all its executions */
  callRate?: RateWindow;
}

const reply = (id: number, result: unknown): ReplyMessage => ({ t: 'reply', id, ok: true, result });

/** Facts first: which of our own signals fired; then the SDK's own timeout code. */
function failure(
  error: unknown,
  server: string,
  execution: AbortSignal,
  deadline: AbortSignal,
  limits: McpLimits,
): CallFailure {
  if (error instanceof CallFailure) return error;
  if (execution.aborted) return new CallFailure('aborted', 'the execution ended before the call finished');
  if (
    deadline.aborted ||
    (error instanceof McpError && error.code === (ErrorCode.RequestTimeout as number))
  ) {
    return new CallFailure(
      'timeout',
      `MCP call to "${server}" timed out after ${limits.mcpCallTimeoutMs} ms`,
    );
  }
  if (error instanceof ReplyTooLargeError) return new CallFailure('too_large', error.message);
  if (error instanceof UpstreamError) return new CallFailure('upstream', error.message);
  return new CallFailure('upstream', `MCP server "${server}" failed: ${describeUpstreamFailure(error)}`);
}

export function createCallDispatcher(opts: DispatcherOptions): CallDispatcher {
  const { limits, pool } = opts;
  const allow = createAllowlist(opts.allow);
  const gate = new CallGate(limits.maxConcurrentMcpCalls);
  let calls = 0;

  const serverFor = (name: string | undefined): string => {
    const server = need(name, 'server name');
    if (!pool.names().includes(server)) {
      throw new CallFailure(
        'unknown_server',
        `Unknown MCP server "${server}". Available: ${pool.names().filter(allow.server).join(', ') || 'none'}`,
      );
    }
    if (!allow.server(server))
      throw new CallFailure('denied', `MCP server "${server}" is not allowed by the policy`);
    return server;
  };

  /** Everything before the upstream is asked: names, allowlists, the call cap. */
  const admit = (msg: CallMessage): string => {
    const server = serverFor(msg.server);
    const deny = (what: string) => {
      throw new CallFailure('denied', `${what} of server "${server}" is not allowed by the policy`);
    };
    if (msg.op === 'callTool') {
      const tool = need(msg.name, 'tool name');
      if (!allow.tool(server, tool)) deny(`Tool "${tool}"`);
    } else if (msg.op === 'readResource') {
      const uri = need(msg.uri, 'resource uri');
      if (!allow.resource(server, uri)) deny(`Resource "${uri}"`);
    } else if (msg.op === 'getPrompt') {
      const prompt = need(msg.name, 'prompt name');
      if (!allow.prompt(server, prompt)) deny(`Prompt "${prompt}"`);
    }
    if (calls >= limits.maxMcpCalls)
      throw new CallFailure('limit', `MCP call limit reached (${limits.maxMcpCalls} calls per execution)`);
    const overRate = opts.callRate?.take();
    if (overRate) throw new CallFailure('rate_limited', overRate.message);
    calls++;
    return server;
  };

  return {
    get callCount() {
      return calls;
    },
    async handle(msg, execution, trace) {
      // The per-call clock starts now, so waiting for a place or for a lazy connect counts against it.
      const deadline = new AbortController();
      const timer = setTimeout(
        () => deadline.abort(new Error('the per-call deadline passed')),
        limits.mcpCallTimeoutMs,
      );
      const onEnd = () => deadline.abort(execution.reason);
      execution.addEventListener('abort', onEnd, { once: true });
      let server = msg.server ?? '';
      try {
        if (execution.aborted) throw new CallFailure('aborted', 'the execution ended');
        if (msg.op === 'list') return reply(msg.id, pool.names().filter(allow.server));
        if (msg.op === 'load') return reply(msg.id, { name: serverFor(msg.server) });
        server = admit(msg);
        const signal = deadline.signal;
        await gate.enter(signal);
        try {
          const o = { signal, timeout: limits.mcpCallTimeoutMs };
          const result = await pool.use(
            server,
            (c) => perform(msg, c, server, allow, o, trace),
            signal,
            trace,
          );
          // The transport bounded the message as it arrived (to within one read); this makes the limit exact.
          if (Buffer.byteLength(JSON.stringify(result) ?? '') > limits.maxMcpReplyBytes)
            throw new ReplyTooLargeError(server, limits.maxMcpReplyBytes, false);
          return reply(msg.id, result);
        } finally {
          gate.leave();
        }
      } catch (error) {
        const f = failure(error, server, execution, deadline.signal, limits);
        return { t: 'reply', id: msg.id, ok: false, error: { message: f.message, code: f.code } };
      } finally {
        clearTimeout(timer);
        execution.removeEventListener('abort', onEnd);
      }
    },
  };
}

/** Answers when no MCP server is configured: nothing to list, every name unknown. */
export const NO_SERVERS: CallDispatcher = {
  callCount: 0,
  handle: (msg) =>
    Promise.resolve(
      msg.op === 'list'
        ? reply(msg.id, [])
        : {
            t: 'reply',
            id: msg.id,
            ok: false,
            error: {
              message: `Unknown MCP server "${msg.server ?? ''}". Available: none (no MCP servers are configured)`,
              code: 'unknown_server',
            },
          },
    ),
};

/** How a reply reads in metrics, audit and traces. */
export function callStatus(r: ReplyMessage): McpCallStatus {
  if (r.ok) return 'ok';
  const { code } = r.error;
  return code === 'denied' || code === 'timeout' || code === 'aborted' ? code : 'error';
}
