import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * JSON logs on stderr (fd 2): in stdio mode stdout carries JSON-RPC and nothing else may be written there.
 * The level comes from the caller (cli.ts reads MCP_CONDUCTOR_LOG_LEVEL).
 */
export function createLogger(level: string = 'info'): Logger {
  return pino({ level, base: { app: 'mcp-conductor' } }, pino.destination({ fd: 2, sync: true }));
}

export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
