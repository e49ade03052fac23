import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace';
import type { BatchSettings, TracingSettings } from '../config/otel-env.js';
import type { EventStream, ExecutionEvent } from '../core/index.js';
import type { Logger } from '../obs/index.js';
import { watchedExporter, watchExports } from './export-failures.js';
import { PresetIds } from './preset-ids.js';
import { traceExecutions } from './spans.js';

export interface Tracing {
  /** Ends what is still open and exports every span not sent yet (a failure is reported, never thrown). */
  close(): Promise<void>;
}

export interface TracingOptions {
  /** export failures go here, the first of each kind */
  logger: Logger;
  /** told of every failed export (serve counts them in its metrics) */
  onExportFailure?: (kind: string) => void;
}

/** Only the chosen exporter is loaded. Headers and timeouts come from the exporter's own OTEL_* variables. */
async function createExporter(settings: TracingSettings): Promise<SpanExporter> {
  const { url } = settings;
  if (settings.protocol === 'http/json') {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    return new OTLPTraceExporter({ url });
  }
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
  return new OTLPTraceExporter({ url });
}

/** The batch processor with the OTEL_BSP_* settings (the SDK does not read them itself). */
export function createBatchProcessor(exporter: SpanExporter, batch: BatchSettings): BatchSpanProcessor {
  return new BatchSpanProcessor({ exporter, ...batch });
}

/**
 * Exports one trace per execution (spans.ts) in batches. A provider of our own, not the global one: nothing else in
 * the process is instrumented, and tests can run several.
 */
export async function startTracing(
  bus: EventStream<ExecutionEvent>,
  settings: TracingSettings,
  serviceVersion: string,
  options: TracingOptions,
): Promise<Tracing> {
  const watch = watchExports(options.logger, settings.url, (kind) => options.onExportFailure?.(kind));
  const ids = new PresetIds();
  const provider = new TracerProvider({
    idGenerator: ids,
    resource: resourceFromAttributes({
      'service.name': settings.serviceName,
      'service.version': serviceVersion,
    }),
    spanProcessors: [
      createBatchProcessor(watchedExporter(await createExporter(settings), watch), settings.batch),
    ],
  });
  const stop = traceExecutions(bus, provider.getTracer('mcp-conductor', serviceVersion), ids);
  return {
    async close() {
      stop();
      // The processor rejects with the exporter's error (already reported) or its own export timeout.
      await provider.shutdown().catch((error: unknown) => {
        if (!watch.seen(error)) watch.failed(error);
      });
    },
  };
}
