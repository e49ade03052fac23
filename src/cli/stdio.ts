import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { startConductor } from '../conductor/index.js';
import { createServer, createTaskRegistry } from '../mcp/index.js';
import { observeExecutions } from './observe.js';
import { conductorPaths, version } from './paths.js';
import { basics } from './runtime.js';
import { onShutdown } from './shutdown.js';

/** Idle pre-started containers per sandbox profile when MCP_CONDUCTOR_POOL_SIZE is not set. */
const STDIO_POOL_SIZE = 2;

/** `mcp-conductor stdio`: one local tenant, one MCP server on stdin/stdout. */
export async function runStdio(): Promise<void> {
  const b = basics();
  const { docker, settings, inputs, logger, bus } = b;
  const observers = await observeExecutions(b);
  const conductor = await startConductor({
    docker,
    settings,
    inputs,
    paths: conductorPaths(settings),
    logger,
    bus,
    defaultPoolSize: STDIO_POOL_SIZE,
    version,
  });
  // A context the policy refuses (a network that is Docker's own, say) must not leave the pool and workers running.
  const local = await conductor.local().catch(async (error: unknown) => {
    await conductor.close();
    await observers.close();
    throw error;
  });
  const tasks = createTaskRegistry({ ttlMs: local.profile.policy.limits.taskTtlMs });
  const server = createServer({ ...local, tasks, logger, version });
  onShutdown(
    logger,
    async () => {
      await server.close();
      await conductor.close();
      await observers.close();
    },
    true,
  );
  await server.connect(new StdioServerTransport());
}
