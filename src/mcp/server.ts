import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { ExecutionResultSchema, isAppError, OverloadedError, type ExecutionResult } from '../core/index.js';
import type { ExecutionOutcome, Logger, McpCallRecord } from '../obs/index.js';
import type { McpDirectory } from '../proxy/directory.js';
import type { CallHandler } from '../proxy/socket-server.js';
import type { Executor } from '../sandbox/index.js';
import type { SandboxProfile } from '../sandbox/profile.js';
import { describeTool } from './describe.js';
import { formatResultText } from './format.js';

export interface ServerContext {
  executor: Executor;
  profile: SandboxProfile;
  /** specifiers pre-cached in the image */
  dependencies: string[];
  directory: McpDirectory | undefined;
  logger: Logger;
  version: string;
  /** called once per run_deno_code call, however it ended (metrics, audit) */
  onExecution?: (outcome: ExecutionOutcome) => void;
  /** aborted when the conductor starts shutting down: calls not yet running are refused */
  stopping?: AbortSignal;
}

const MAX_AUDITED_CALLS = 1000;

function shuttingDown(): OverloadedError {
  return new OverloadedError('The conductor is shutting down; this execution was not started. Try again.');
}

/** Wraps one execution's mcpFactory dispatcher to keep a record of the calls it served. */
function recordingCalls<T extends CallHandler & { readonly callCount: number }>(
  inner: T,
  log: McpCallRecord[],
): CallHandler & { readonly callCount: number } {
  return {
    get callCount() {
      return inner.callCount;
    },
    async handle(msg, signal) {
      const reply = await inner.handle(msg, signal);
      if (log.length < MAX_AUDITED_CALLS)
        log.push({
          server: msg.server ?? '-',
          op: msg.op,
          ...(msg.name ? { name: msg.name } : {}),
          ok: reply.ok,
          ...(reply.ok ? {} : { errorCode: reply.error.code }),
        });
      return reply;
    },
  };
}

/**
 * Runs `execute` unless shutdown begins before the execution got a slot: then the caller is refused at once and the
 * execution, when it reaches the front of the queue, is refused by `admit` without taking a container.
 */
async function untilStopped<T>(
  stopping: AbortSignal | undefined,
  execute: (admit: () => void) => Promise<T>,
): Promise<T> {
  if (stopping?.aborted) throw shuttingDown();
  let admitted = false;
  const run = execute(() => {
    if (stopping?.aborted) throw shuttingDown();
    admitted = true;
  });
  if (!stopping) return run;
  let onAbort = () => {};
  const refused = new Promise<never>((_, reject) => {
    onAbort = () => {
      if (!admitted) reject(shuttingDown());
    };
    stopping.addEventListener('abort', onAbort, { once: true });
  });
  run.catch(() => undefined);
  try {
    return await Promise.race([run, refused]);
  } finally {
    stopping.removeEventListener('abort', onAbort);
  }
}

const OutputShape = ExecutionResultSchema.shape;

function errorText(error: unknown, logger: Logger): string {
  if (isAppError(error)) return error.message;
  logger.error({ err: error }, 'run_deno_code failed unexpectedly');
  return 'Internal error in the conductor while running the code; the administrator can find details in its logs.';
}

/** One server factory for every transport: stdio, and one per HTTP session. */
export function createServer(ctx: ServerContext): McpServer {
  const server = new McpServer(
    { name: 'mcp-conductor', version: ctx.version },
    {
      capabilities: { tools: {} },
      instructions:
        'Run TypeScript in a sandbox with run_deno_code; call other MCP servers from that code through mcpFactory.',
    },
  );
  const { limits } = ctx.profile.policy;

  const directory = ctx.directory;
  server.registerTool(
    'run_deno_code',
    {
      title: 'Run TypeScript in a sandbox',
      description: describeTool(ctx),
      inputSchema: {
        deno_code: z.string().describe('TypeScript/JavaScript module source to run'),
        timeout: z
          .number()
          .int()
          .positive()
          .optional()
          .describe(`milliseconds; default ${limits.defaultTimeoutMs}, at most ${limits.maxTimeoutMs}`),
      },
      outputSchema: OutputShape,
      annotations: { openWorldHint: true },
    },
    async ({ deno_code, timeout }) => {
      const started = performance.now();
      const mcpCalls: McpCallRecord[] = [];
      let executionId: string | undefined;
      let result: ExecutionResult;
      try {
        result = await untilStopped(ctx.stopping, (admit) =>
          ctx.executor.execute({
            code: deno_code,
            timeoutMs: timeout,
            profile: ctx.profile,
            calls: directory ? (id) => recordingCalls(directory.callsFor(id), mcpCalls) : undefined,
            admit,
            onStart: (id) => (executionId = id),
          }),
        );
      } catch (error) {
        const refused = isAppError(error) && error.code === 'overloaded';
        const text = errorText(error, ctx.logger);
        ctx.onExecution?.({
          status: refused ? 'rejected' : 'failed',
          code: deno_code,
          executionId,
          durationMs: Math.round(performance.now() - started),
          error: { code: isAppError(error) ? error.code : 'internal', message: text },
          mcpCalls,
        });
        return {
          content: [{ type: 'text', text: `Execution failed\n--- error ---\n${text}` }],
          isError: true,
        };
      }
      ctx.onExecution?.({
        status: result.status,
        code: deno_code,
        executionId,
        durationMs: result.durationMs,
        resources: result.resources,
        mcpCalls,
      });
      return {
        content: [{ type: 'text', text: formatResultText(result, limits) }],
        structuredContent: result,
        isError: result.status !== 'success',
      };
    },
  );

  // The companion tools are always there (DESIGN), and say so plainly when no upstream server is configured.
  server.registerTool(
    'list_mcp_servers',
    {
      title: 'List MCP servers',
      description: 'The MCP servers that code run by run_deno_code may use through mcpFactory, one per line.',
      inputSchema: {},
      annotations: { readOnlyHint: true },
    },
    () => {
      const names = directory?.servers() ?? [];
      const text = names.length
        ? names.join('\n')
        : directory
          ? 'No MCP servers are available.'
          : 'No MCP servers are configured for this conductor.';
      return { content: [{ type: 'text', text }] };
    },
  );
  server.registerTool(
    'get_tools',
    {
      title: 'Get the tools of an MCP server',
      description:
        'The tools of one MCP server available through mcpFactory: names and one-line descriptions, or the full input schemas of the named tools.',
      inputSchema: {
        server: z.string().min(1).describe('server name from list_mcp_servers'),
        tools: z.array(z.string().min(1)).optional().describe('tool names whose full input schema you need'),
      },
      annotations: { readOnlyHint: true },
    },
    async ({ server: name, tools }) => {
      if (!directory) {
        const text = `Unknown MCP server "${name}": no MCP servers are configured for this conductor.`;
        return { content: [{ type: 'text', text }], isError: true };
      }
      try {
        return { content: [{ type: 'text', text: await directory.tools(name, tools) }] };
      } catch (error) {
        return { content: [{ type: 'text', text: errorText(error, ctx.logger) }], isError: true };
      }
    },
  );
  return server;
}
