import type { Logger } from '../obs/index.js';

/**
 * Runs `close` once, on SIGINT or SIGTERM (and, for stdio, when the client closes stdin), then exits 0; a failed
 * close is logged and the process still exits.
 */
export function onShutdown(logger: Logger, close: () => Promise<void>, stdinEnds: boolean): void {
  let closing = false;
  const stop = (why: string) => {
    if (closing) return;
    closing = true;
    logger.info({ why }, 'shutting down');
    close()
      .catch((error: unknown) => logger.error({ err: error }, 'shutdown failed'))
      .finally(() => process.exit(0));
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  if (stdinEnds) process.stdin.once('end', () => stop('stdin closed'));
}
