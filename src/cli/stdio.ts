import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { observeExecutions } from './observe.js';
import { keepConfigurationLive } from './reload.js';
import { basics, startFromBasics, tenantServers } from './runtime.js';
import { onShutdown } from './shutdown.js';

/** Idle pre-started containers per sandbox profile when MCP_CONDUCTOR_POOL_SIZE is not set. */
const STDIO_POOL_SIZE = 2;

/** `mcp-conductor stdio`: one local tenant, one MCP server on stdin/stdout. */
export async function runStdio(): Promise<void> {
  const b = basics();
  const { logger } = b;
  const observers = await observeExecutions(b);
  const conductor = await startFromBasics(b, STDIO_POOL_SIZE);
  // A context the policy refuses (a network that is Docker's own, say) must not leave the pool and workers running.
  const [local, reloader] = await (async () => {
    const made = await conductor.local();
    return [made, await keepConfigurationLive(b, { conductor, tenants: false })] as const;
  })().catch(async (error: unknown) => {
    await conductor.close();
    await observers.close();
    throw error;
  });
  // The one session follows the context in use: a reload switches its next call to the new configuration.
  const server = tenantServers(conductor, local, logger)();
  onShutdown(
    logger,
    async () => {
      reloader.close();
      await server.close();
      await conductor.close();
      await observers.close();
    },
    true,
  );
  await server.connect(new StdioServerTransport());
}
