import { ConfigError } from '../core/index.js';

/** Where and how traces are exported, from the standard OTEL_* variables. */
export interface TracingSettings {
  /** the OTLP/HTTP traces URL */
  url: string;
  protocol: 'http/json' | 'http/protobuf';
  serviceName: string;
}

const PROTOCOLS = ['http/json', 'http/protobuf'] as const;

/**
 * The OpenTelemetry SDK's configuration rules for traces over OTLP/HTTP: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is the
 * URL itself, OTEL_EXPORTER_OTLP_ENDPOINT a base that gets `/v1/traces`; the protocol defaults to http/protobuf (the
 * specification's default); OTEL_SDK_DISABLED=true turns it all off. Undefined: no tracing, nothing is loaded.
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
  };
}
