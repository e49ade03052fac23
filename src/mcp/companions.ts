import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import type { ServerContext } from './context.js';
import { errorText } from './errors.js';

/**
 * `list_mcp_servers` and `get_tools` (the original project's names): they let a model discover what to call without
 * every schema sitting in its context. Always registered (DESIGN), saying plainly when no upstream is configured.
 */
export function registerCompanionTools(server: McpServer, ctx: ServerContext): void {
  const { directory } = ctx;
  server.registerTool(
    'list_mcp_servers',
    {
      title: 'List MCP servers',
      description: 'The MCP servers that code run by run_deno_code may use through mcpFactory, one per line.',
      inputSchema: {},
      annotations: { readOnlyHint: true },
    },
    () => {
      const names = directory.servers();
      const text = names.length
        ? names.join('\n')
        : directory.configured
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
      try {
        return { content: [{ type: 'text', text: await directory.tools(name, tools) }] };
      } catch (error) {
        return { content: [{ type: 'text', text: errorText(error, ctx.logger) }], isError: true };
      }
    },
  );
}
