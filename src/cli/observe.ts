import { auditExecutions, createAuditLog } from '../obs/index.js';
import type { Basics } from './runtime.js';

/** What watches every execution in both serving modes (metrics stay serve's: only it has /metrics). */
export interface Observers {
  /** Flushes what is still buffered: audit lines not yet on disk. */
  close(): Promise<void>;
}

/**
 * Subscribes the audit log to the bus when a file is named: `serve --audit-log`, else MCP_CONDUCTOR_AUDIT_LOG (the
 * flag on the command line is the more specific, so it wins).
 */
export function observeExecutions(b: Basics, auditLogFlag?: string): Observers {
  const path = auditLogFlag ?? b.settings.auditLogPath;
  const audit = path
    ? createAuditLog(path, (err) => b.logger.error({ err }, 'audit log write failed'))
    : undefined;
  if (audit) auditExecutions(b.bus, audit);
  return {
    close: async () => {
      await audit?.flush();
    },
  };
}
