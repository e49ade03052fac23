import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import type { ServerContext } from './context.js';
import { errorText } from './errors.js';
import { escapeControlChars } from './format.js';

/**
 * `list_mcp_servers` and `get_tools` (the original project's names): they let a model discover what to call without
 * every schema sitting in its context. Always registered (DESIGN), saying plainly when no upstream is configured.
 */
export function registerCompanionTools(server: McpServer, ctx: ServerContext): void {
  // Read at each call, not once: a reload may have switched the session to other servers (liveServerContext).
  server.registerTool(
    'list_mcp_servers',
    {
      title: 'List MCP servers',
      description: 'The MCP servers that code run by run_deno_code may use through mcpFactory, one per line.',
      inputSchema: {},
      annotations: { readOnlyHint: true },
    },
    () => {
      const names = ctx.directory.servers();
      const text = names.length
        ? names.join('\n')
        : ctx.directory.configured
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
        'The tools of one MCP server available through mcpFactory: names and one-line descriptions (format "summary", the default without `tools`), their full input and output JSON Schemas (format "schema", the default with `tools`), or TypeScript declarations of their inputs and outputs and of the typed `mcpFactory.load("<server>")` that run_deno_code checks code against with `check: true` (format "typescript").',
      inputSchema: {
        server: z.string().min(1).describe('server name from list_mcp_servers'),
        tools: z.array(z.string().min(1)).optional().describe('only these tools (by default: all of them)'),
        format: z
          .enum(['summary', 'schema', 'typescript'])
          .optional()
          .describe('summary: one line per tool; schema: JSON Schemas; typescript: TypeScript declarations'),
      },
      annotations: { readOnlyHint: true },
    },
    async ({ server: name, tools, format }) => {
      try {
        // Descriptions come from the upstream server: no terminal escapes through them either.
        const text = escapeControlChars(
          format === 'typescript'
            ? await ctx.toolTypes.forServer(name, tools)
            : await ctx.directory.tools(name, tools, format),
        );
        return { content: [{ type: 'text', text }] };
      } catch (error) {
        return { content: [{ type: 'text', text: errorText(error, ctx.logger) }], isError: true };
      }
    },
  );
}
