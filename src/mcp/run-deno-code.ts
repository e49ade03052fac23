import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { ExecutionResultSchema } from '../core/index.js';
import type { ServerContext } from './context.js';
import { describeTool } from './describe.js';
import { errorText } from './errors.js';
import { formatResultText } from './format.js';
import { traceContextOf } from './trace-meta.js';

/** `run_deno_code`: the code runs in the tenant's executor; what it did comes back as text and structuredContent. */
export function registerRunDenoCode(server: McpServer, ctx: ServerContext): void {
  const { limits } = ctx.profile.policy;
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
        check: z
          .boolean()
          .optional()
          .describe(
            `type-check the code first (about 0.1 s once warm); with type errors it does not run (default ${ctx.profile.policy.deno.check})`,
          ),
      },
      outputSchema: ExecutionResultSchema.shape,
      annotations: { openWorldHint: true },
    },
    async ({ deno_code, timeout, check }, extra) => {
      try {
        const trace = traceContextOf(extra._meta);
        const { result } = await ctx.executor.execute({
          code: deno_code,
          timeoutMs: timeout,
          check,
          ...(trace ? { trace } : {}),
        });
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
      }
    },
  );
}
