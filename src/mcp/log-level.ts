import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  LoggingLevelSchema,
  SetLevelRequestSchema,
  type LoggingLevel,
} from '@modelcontextprotocol/sdk/types.js';

const SEVERITY = new Map(LoggingLevelSchema.options.map((level, i) => [level, i]));

export interface LogLevelFilter {
  /** Whether a message at this level reaches the session: all do until the client sets a level. */
  allows(level: LoggingLevel): boolean;
}

/**
 * The session's `logging/setLevel`, kept by this server (one per session, so one level per session). It replaces
 * the SDK's own handler, whose level only filters messages sent without a request to relate them to: ours travel
 * on each call's own response stream.
 */
export function trackLogLevel(server: McpServer): LogLevelFilter {
  let min: number | undefined;
  server.server.setRequestHandler(SetLevelRequestSchema, (request) => {
    min = SEVERITY.get(request.params.level);
    return {};
  });
  return { allows: (level) => min === undefined || (SEVERITY.get(level) ?? 0) >= min };
}
