import { auditExecutions, createAuditLog } from '../obs/index.js';
import { version } from './paths.js';
import type { Basics } from './runtime.js';

/** What watches every execution in both serving modes (metrics stay serve's: only it has /metrics). */
export interface Observers {
  /** Flushes what is still buffered: audit lines not yet on disk, spans not yet exported. */
  close(): Promise<void>;
}

/**
 * Subscribes the audit log to the bus when a file is named: `serve --audit-log`, else MCP_CONDUCTOR_AUDIT_LOG (the
 * flag on the command line is the more specific, so it wins); and traces when an OTLP endpoint is set, loading the
 * OpenTelemetry SDK only then.
 */
export async function observeExecutions(
  b: Basics,
  options: { auditLogFlag?: string; onTraceExportFailure?: (kind: string) => void } = {},
): Promise<Observers> {
  const path = options.auditLogFlag ?? b.settings.auditLogPath;
  const audit = path
    ? createAuditLog(path, (err) => b.logger.error({ err }, 'audit log write failed'))
    : undefined;
  if (audit) auditExecutions(b.bus, audit);
  const settings = b.settings.tracing;
  const tracing = settings
    ? await (
        await import('../tracing/index.js')
      ).startTracing(b.bus, settings, version, {
        logger: b.logger,
        ...(options.onTraceExportFailure ? { onExportFailure: options.onTraceExportFailure } : {}),
      })
    : undefined;
  if (settings) b.logger.info({ url: settings.url, protocol: settings.protocol }, 'exporting traces');
  return {
    close: async () => {
      await tracing?.close();
      await audit?.flush();
    },
  };
}
