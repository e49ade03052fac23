import { brokenEntryLine, type McpConfig, type McpServers } from '../config/mcp-config.js';
import type { Logger } from '../obs/index.js';
import { createUpstreamPool } from '../proxy/index.js';
import type { Check } from './doctor.js';

/** How long `doctor` waits for one upstream to start and answer; the conductor itself waits longer (30 s). */
const DOCTOR_CONNECT_TIMEOUT_MS = 15_000;

const describeServer = (server: McpServers[string]) =>
  'command' in server
    ? `started with ${server.command}`
    : `at ${new URL(server.url).origin}${server.transport === 'sse' ? ', over SSE' : ''}`;

/** A failing line for each entry that disabled itself, so `doctor` exits non-zero until it is fixed. */
export function brokenUpstreamChecks(broken: McpConfig['broken']): Check[] {
  return broken.map(({ name, problem }) => ({
    name: 'upstream',
    ok: false,
    detail: brokenEntryLine(name, problem),
  }));
}

/**
 * Starts (or reaches) every upstream server as the conductor would on first use, and asks for its tools: one check
 * each. A command that does not exist, a server that exits or an URL that does not answer fails here, not in the
 * middle of the model's first call.
 */
export async function upstreamChecks(
  servers: McpServers,
  logger: Logger,
  /** the policy's limits.maxMcpReplyBytes: a server whose tool list is larger fails here as it would in a run */
  maxReplyBytes: number,
  timeoutMs = DOCTOR_CONNECT_TIMEOUT_MS,
): Promise<Check[]> {
  const pool = createUpstreamPool({
    servers,
    logger,
    connectTimeoutMs: timeoutMs,
    version: 'doctor',
    maxReplyBytes,
  });
  try {
    return await Promise.all(
      pool.names().map(async (name): Promise<Check> => {
        try {
          const { tools } = await pool.use(name, (client) =>
            client.listTools(undefined, { timeout: timeoutMs }),
          );
          return {
            name: 'upstream',
            ok: true,
            detail: `"${name}" answers: ${tools.length} tool(s) (${describeServer(servers[name]!)})`,
          };
        } catch (error) {
          return {
            name: 'upstream',
            ok: false,
            detail: error instanceof Error ? error.message : String(error),
          };
        }
      }),
    );
  } finally {
    await pool.close();
  }
}
