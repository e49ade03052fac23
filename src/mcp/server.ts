import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { ExecutionResultSchema, isAppError, type ExecutionResult } from '../core/index.js';
import type { Logger } from '../obs/index.js';
import type { McpDirectory } from '../proxy/directory.js';
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
  /** called once per finished execution (metrics, audit) */
  onExecution?: (result: ExecutionResult, code: string) => void;
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
      let result: ExecutionResult;
      try {
        result = await ctx.executor.execute({
          code: deno_code,
          timeoutMs: timeout,
          profile: ctx.profile,
          calls: ctx.directory ? (id) => ctx.directory!.callsFor(id) : undefined,
        });
      } catch (error) {
        return {
          content: [
            { type: 'text', text: `Execution failed\n--- error ---\n${errorText(error, ctx.logger)}` },
          ],
          isError: true,
        };
      }
      ctx.onExecution?.(result, deno_code);
      return {
        content: [{ type: 'text', text: formatResultText(result, limits) }],
        structuredContent: result,
        isError: result.status !== 'success',
      };
    },
  );

  if (ctx.directory) {
    const directory = ctx.directory;
    server.registerTool(
      'list_mcp_servers',
      {
        title: 'List MCP servers',
        description:
          'The MCP servers that code run by run_deno_code may use through mcpFactory, one per line.',
        inputSchema: {},
        annotations: { readOnlyHint: true },
      },
      () => {
        const names = directory.servers();
        const text = names.length ? names.join('\n') : 'No MCP servers are available.';
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
          tools: z
            .array(z.string().min(1))
            .optional()
            .describe('tool names whose full input schema you need'),
        },
        annotations: { readOnlyHint: true },
      },
      async ({ server: name, tools }) => {
        try {
          return { content: [{ type: 'text', text: await directory.tools(name, tools) }] };
        } catch (error) {
          return { content: [{ type: 'text', text: errorText(error, ctx.logger) }], isError: true };
        }
      },
    );
  }
  return server;
}
