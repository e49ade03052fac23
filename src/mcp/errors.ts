import { isAppError } from '../core/index.js';
import type { Logger } from '../obs/index.js';

/** What a client may read of a conductor-side failure: an AppError's own message, never a bug's details. */
export function errorText(error: unknown, logger: Logger): string {
  if (isAppError(error)) return error.message;
  logger.error({ err: error }, 'tool call failed unexpectedly');
  return 'Internal error in the conductor while running the code; the administrator can find details in its logs.';
}
