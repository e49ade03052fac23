import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import type { Logger } from '../obs/index.js';

/**
 * Why an export failed, as a small fixed set (a metric label): `http_<status>` (the collector refused it),
 * `unavailable` (it kept answering 429/502/503/504 until the retries ran out), `timeout`, `network` (no connection:
 * refused, reset, no such host), `other`.
 */
export function exportFailureKind(error: unknown): string {
  if (!(error instanceof Error)) return 'other';
  const { code } = error as { code?: unknown };
  if (error.name === 'OTLPExporterError') {
    if (typeof code === 'number' && code >= 100 && code <= 599) return `http_${code}`;
    if (/retryable status/i.test(error.message)) return 'unavailable';
  }
  if (/^(request )?timed? ?out$/i.test(error.message) || code === 'ETIMEDOUT') return 'timeout';
  if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return 'network';
  return 'other';
}

/** The error as one line for the log: its message and code, never a collector's response body. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const { code } = error as { code?: unknown };
  return typeof code === 'string' || typeof code === 'number' ? `${error.message} (${code})` : error.message;
}

export interface ExportWatch {
  /** an export that failed, with the error the exporter (or the batch processor) gave */
  failed(error: unknown): void;
  succeeded(): void;
  /** whether this error was already counted (the batch processor rejects with the exporter's own error too) */
  seen(error: unknown): boolean;
}

/**
 * Counts every failed export (`count(kind)`) and logs the first of each kind with the endpoint and the error, not
 * one line per span or batch: a collector that is down fails every batch. An export that works again is logged
 * once, and a later failure of a kind seen before is logged again.
 */
export function watchExports(logger: Logger, url: string, count: (kind: string) => void): ExportWatch {
  const logged = new Set<string>();
  const seen = new WeakSet<object>();
  return {
    failed(error) {
      if (typeof error === 'object' && error !== null) seen.add(error);
      const kind = exportFailureKind(error);
      count(kind);
      if (logged.has(kind)) return;
      logged.add(kind);
      logger.warn(
        { url, kind, error: describe(error) },
        'trace export failed: its spans are lost; further failures of this kind are counted, not logged',
      );
    },
    succeeded() {
      if (logged.size === 0) return;
      logged.clear();
      logger.info({ url }, 'trace export works again');
    },
    seen: (error) => typeof error === 'object' && error !== null && seen.has(error),
  };
}

/** The exporter, its every result told to `watch`. */
export function watchedExporter(inner: SpanExporter, watch: ExportWatch): SpanExporter {
  return {
    export(spans: ReadableSpan[], done: (result: ExportResult) => void) {
      inner.export(spans, (result) => {
        if (result.code === ExportResultCode.SUCCESS) watch.succeeded();
        else watch.failed(result.error ?? new Error('export failed'));
        done(result);
      });
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
  };
}
