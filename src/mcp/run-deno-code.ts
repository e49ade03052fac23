import type { CreateTaskRequestHandlerExtra } from '@modelcontextprotocol/sdk/experimental/tasks/interfaces.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  RELATED_TASK_META_KEY,
  type CallToolResult,
  type ServerNotification,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { ExecutionResultSchema } from '../core/index.js';
import type { ExecutionRequest } from '../sandbox/index.js';
import type { ServerContext } from './context.js';
import { describeTool } from './describe.js';
import { errorText } from './errors.js';
import { formatResultText } from './format.js';
import { followCall, type LiveRun } from './live.js';
import type { LogLevelFilter } from './log-level.js';
import { createRunTask } from './tasks.js';
import { traceContextOf } from './trace-meta.js';

/**
 * `run_deno_code`: the code runs in the tenant's executor; what it did comes back as text and structuredContent.
 * The call's signal (notifications/cancelled, the session's end) stops it wherever it is; while it runs the client
 * hears its progress and output (live.ts). Task-augmented calls run as tasks (tasks.ts).
 */
export function registerRunDenoCode(
  server: McpServer,
  ctx: ServerContext,
  logLevel: LogLevelFilter,
): () => void {
  const follow = (extra: CreateTaskRequestHandlerExtra, taskId: string | undefined): LiveRun =>
    followCall({
      progressToken: extra._meta?.progressToken,
      // A plain call's notifications go with its request; a task's outlive it, so they go to the session at once
      // (the SDK's relatedTask option would hold them back for tasks/result), marked with the task they belong to.
      notify:
        taskId === undefined
          ? (n) => extra.sendNotification(n)
          : (n) => server.server.notification(ofTask(n, taskId)),
      logs: (level) => logLevel.allows(level),
      // The limits in force now: a reload may have changed them since the session began.
      maxStreamedLines: ctx.profile.policy.limits.maxStreamedLines,
    });
  const tool = server.experimental.tasks.registerToolTask(
    'run_deno_code',
    {
      title: 'Run TypeScript in a sandbox',
      description: describeTool(ctx),
      inputSchema: inputShape(ctx),
      outputSchema: ExecutionResultSchema.shape,
      annotations: { openWorldHint: true },
      execution: { taskSupport: 'optional' },
    },
    {
      createTask: ({ deno_code, timeout, check }, extra) => {
        const trace = traceContextOf(extra._meta);
        const request = { code: deno_code, timeoutMs: timeout, check, ...(trace ? { trace } : {}) };
        return createRunTask(
          ctx.tasks,
          extra,
          (signal, taskId) => answer(ctx, request, signal, follow(extra, taskId)),
          (err) => ctx.logger.debug({ err }, 'a task result was stored, its status notification not sent'),
        );
      },
      getTask: (_args, extra) => extra.taskStore.getTask(extra.taskId),
      getTaskResult: async (_args, extra) =>
        (await extra.taskStore.getTaskResult(extra.taskId)) as CallToolResult,
    },
  );
  // After a reload the session's client lists the tool again (update() sends notifications/tools/list_changed).
  return () => tool.update({ description: describeTool(ctx), paramsSchema: inputShape(ctx) });
}

/** The tool's input, with the limits of the tenant's context in use now (a reload may change them). */
function inputShape(ctx: ServerContext) {
  const { limits } = ctx.profile.policy;
  return {
    deno_code: z.string().describe('TypeScript/JavaScript module source to run'),
    timeout: z
      .number()
      .int()
      .positive()
      // Advertised (JSON Schema `maximum`) and enforced: a larger value is refused, not clamped silently.
      .max(
        limits.maxTimeoutMs,
        `timeout is at most ${limits.maxTimeoutMs} ms (the policy's limits.maxTimeoutMs); leave it out for the default ${limits.defaultTimeoutMs} ms`,
      )
      .optional()
      .describe(`milliseconds; default ${limits.defaultTimeoutMs}, at most ${limits.maxTimeoutMs}`),
    check: z
      .boolean()
      .optional()
      .describe(
        `type-check the code first (about 0.1 s once warm); with type errors it does not run (default ${ctx.profile.policy.deno.check})`,
      ),
  };
}

function ofTask(n: ServerNotification, taskId: string): ServerNotification {
  const params = { ...n.params, _meta: { ...n.params?._meta, [RELATED_TASK_META_KEY]: { taskId } } };
  return { ...n, params } as ServerNotification;
}

/** Runs one call in the executor and answers it as the tool's result; a refusal or conductor failure is one too. */
async function answer(
  ctx: ServerContext,
  request: ExecutionRequest,
  signal: AbortSignal,
  live: LiveRun,
): Promise<CallToolResult> {
  const { limits } = ctx.profile.policy;
  try {
    const { result } = await ctx.executor.execute(request, { signal, events: live.events });
    const links = Object.values(result.retained ?? {}).map((r) => ({
      type: 'resource_link' as const,
      uri: r.uri,
      name: r.uri.slice(r.uri.lastIndexOf('/') + 1),
      mimeType: 'text/plain',
      description: `the whole ${r.uri.endsWith('/return') ? 'return value (JSON)' : 'output'}: ${r.bytes} bytes${r.complete ? '' : ', cut at the retention limit'}`,
    }));
    return {
      content: [{ type: 'text' as const, text: formatResultText(result, limits) }, ...links],
      structuredContent: result,
      isError: result.status !== 'success',
    };
  } catch (error) {
    const text = errorText(error, ctx.logger);
    return {
      content: [{ type: 'text', text: `Execution failed\n--- error ---\n${text}` }],
      isError: true,
    };
  } finally {
    // The client hears every line and report before the answer.
    await live.stop();
  }
}
