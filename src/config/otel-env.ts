import { ConfigError } from '../core/index.js';

/** Where and how traces are exported, from the standard OTEL_* variables. */
export interface TracingSettings {
  /** the OTLP/HTTP traces URL */
  url: string;
  protocol: 'http/json' | 'http/protobuf';
  serviceName: string;
  /** the batch span processor's settings (OTEL_BSP_*), named as the SDK's BufferConfig names them */
  batch: BatchSettings;
}

export interface BatchSettings {
  scheduledDelayMillis: number;
  maxQueueSize: number;
  maxExportBatchSize: number;
  exportTimeoutMillis: number;
}

const PROTOCOLS = ['http/json', 'http/protobuf'] as const;

/**
 * The specification's variables and defaults. The trace SDK we use (@opentelemetry/sdk-trace 2.x) reads none of
 * them itself (only @opentelemetry/sdk-node does, which this conductor does not load), so they are read here.
 */
const BATCH_VARIABLES: Record<keyof BatchSettings, { name: string; min: number; default: number }> = {
  scheduledDelayMillis: { name: 'OTEL_BSP_SCHEDULE_DELAY', min: 0, default: 5000 },
  maxQueueSize: { name: 'OTEL_BSP_MAX_QUEUE_SIZE', min: 1, default: 2048 },
  maxExportBatchSize: { name: 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', min: 1, default: 512 },
  exportTimeoutMillis: { name: 'OTEL_BSP_EXPORT_TIMEOUT', min: 1, default: 30000 },
};

function readBatchSettings(v: (name: string) => string | undefined): BatchSettings {
  const read = ({ name, min, default: byDefault }: (typeof BATCH_VARIABLES)[keyof BatchSettings]) => {
    const text = v(name);
    if (text === undefined) return byDefault;
    const n = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min)
      throw new ConfigError(`${name} must be a whole number of at least ${min}`);
    return n;
  };
  const batch = {
    scheduledDelayMillis: read(BATCH_VARIABLES.scheduledDelayMillis),
    maxQueueSize: read(BATCH_VARIABLES.maxQueueSize),
    maxExportBatchSize: read(BATCH_VARIABLES.maxExportBatchSize),
    exportTimeoutMillis: read(BATCH_VARIABLES.exportTimeoutMillis),
  };
  if (batch.maxExportBatchSize > batch.maxQueueSize)
    throw new ConfigError('OTEL_BSP_MAX_EXPORT_BATCH_SIZE must not be larger than OTEL_BSP_MAX_QUEUE_SIZE');
  return batch;
}

/**
 * The OpenTelemetry SDK's configuration rules for traces over OTLP/HTTP: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is the
 * URL itself, OTEL_EXPORTER_OTLP_ENDPOINT a base that gets `/v1/traces`; the protocol defaults to http/protobuf (the
 * specification's default); OTEL_BSP_* shape the batches; OTEL_SDK_DISABLED=true turns it all off. Undefined: no
 * tracing, nothing is loaded.
 */
export function readTracingSettings(env: Record<string, string | undefined>): TracingSettings | undefined {
  const v = (name: string) => env[name]?.trim() || undefined;
  if (v('OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return undefined;
  const tracesEndpoint = v('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const base = v('OTEL_EXPORTER_OTLP_ENDPOINT');
  if (!tracesEndpoint && !base) return undefined;
  const url = tracesEndpoint ?? `${base!.replace(/\/+$/, '')}/v1/traces`;
  const urlName = tracesEndpoint ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT';
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
    throw new ConfigError(`${urlName} must be an http:// or https:// URL`);
  const protocolName = v('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL')
    ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'
    : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = v(protocolName) ?? 'http/protobuf';
  if (!(PROTOCOLS as readonly string[]).includes(protocol))
    throw new ConfigError(`${protocolName} must be http/protobuf or http/json (grpc is not supported)`);
  return {
    url,
    protocol: protocol as TracingSettings['protocol'],
    serviceName: v('OTEL_SERVICE_NAME') ?? 'mcp-conductor',
    batch: readBatchSettings(v),
  };
}
