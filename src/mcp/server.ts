import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { registerCompanionTools } from './companions.js';
import { registerPlaybookTools } from './playbook-tools.js';
import { registerPrompts } from './prompts.js';
import type { ServerContext } from './context.js';
import { trackLogLevel } from './log-level.js';
import { registerRetainedResources } from './resources.js';
import { registerRunDenoCode } from './run-deno-code.js';

/** One server factory for every transport: stdio, and one per HTTP session. */
export function createServer(ctx: ServerContext): McpServer {
  const server = new McpServer(
    { name: 'mcp-conductor', version: ctx.version },
    {
      capabilities: {
        tools: {},
        // execute_task and usage_guide, written from the live configuration at each request.
        prompts: {},
        // run_deno_code streams each output line as a log message, at the level the session sets.
        logging: {},
        tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } },
      },
      taskStore: ctx.tasks,
      instructions:
        'Run TypeScript in a sandbox with run_deno_code; call other MCP servers from that code through mcpFactory.',
    },
  );
  const redescribe = registerRunDenoCode(server, ctx, trackLogLevel(server));
  const unwatch = ctx.watchContext?.(redescribe);
  if (unwatch) {
    const closed = server.server.onclose;
    server.server.onclose = () => {
      unwatch();
      closed?.();
    };
  }
  registerCompanionTools(server, ctx);
  registerPlaybookTools(server, ctx);
  registerPrompts(server, ctx);
  if (ctx.retention) registerRetainedResources(server, ctx.retention, ctx.profile.tenant);
  return server;
}
