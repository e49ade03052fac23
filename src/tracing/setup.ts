import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace';
import type { BatchSettings, TracingSettings } from '../config/otel-env.js';
import type { EventStream, ExecutionEvent } from '../core/index.js';
import { PresetIds } from './preset-ids.js';
import { traceExecutions } from './spans.js';

export interface Tracing {
  /** Ends what is still open and exports every span not sent yet. */
  close(): Promise<void>;
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
): Promise<Tracing> {
  const ids = new PresetIds();
  const provider = new TracerProvider({
    idGenerator: ids,
    resource: resourceFromAttributes({
      'service.name': settings.serviceName,
      'service.version': serviceVersion,
    }),
    spanProcessors: [createBatchProcessor(await createExporter(settings), settings.batch)],
  });
  const stop = traceExecutions(bus, provider.getTracer('mcp-conductor', serviceVersion), ids);
  return {
    async close() {
      stop();
      await provider.shutdown();
    },
  };
}
