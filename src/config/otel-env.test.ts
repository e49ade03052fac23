import { describe, expect, it } from 'vitest';
import { readTracingSettings } from './otel-env.js';

describe('OTEL_* variables → tracing settings', () => {
  it('is off without an endpoint, or when the SDK is disabled', () => {
    expect(readTracingSettings({})).toBeUndefined();
    expect(
      readTracingSettings({ OTEL_SERVICE_NAME: 'x', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }),
    ).toBeUndefined();
    expect(
      readTracingSettings({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318',
        OTEL_SDK_DISABLED: 'TRUE',
      }),
    ).toBeUndefined();
  });

  it('takes the base endpoint with /v1/traces, the traces endpoint as it is, protobuf by default', () => {
    expect(readTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).toEqual({
      url: 'http://collector:4318/v1/traces',
      protocol: 'http/protobuf',
      serviceName: 'mcp-conductor',
      batch: {
        scheduledDelayMillis: 5000,
        maxQueueSize: 2048,
        maxExportBatchSize: 512,
        exportTimeoutMillis: 30000,
      },
    });
    expect(
      readTracingSettings({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ignored:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://tempo.example.com/otlp/traces',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
        OTEL_SERVICE_NAME: 'agents-conductor',
        OTEL_SDK_DISABLED: 'false',
      }),
    ).toMatchObject({
      url: 'https://tempo.example.com/otlp/traces',
      protocol: 'http/json',
      serviceName: 'agents-conductor',
    });
  });

  it('refuses grpc and URLs that are not http(s), naming the variable', () => {
    expect(() =>
      readTracingSettings({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      }),
    ).toThrow('OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or http/json (grpc is not supported)');
    expect(() => readTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(
      'OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL',
    );
  });

  it('takes the batch span processor’s OTEL_BSP_* variables, refusing what is not a usable count', () => {
    const base = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' };
    expect(
      readTracingSettings({
        ...base,
        OTEL_BSP_SCHEDULE_DELAY: '0',
        OTEL_BSP_MAX_QUEUE_SIZE: '100',
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE: ' 10 ',
        OTEL_BSP_EXPORT_TIMEOUT: '2500',
      })?.batch,
    ).toEqual({
      scheduledDelayMillis: 0,
      maxQueueSize: 100,
      maxExportBatchSize: 10,
      exportTimeoutMillis: 2500,
    });
    for (const [name, value] of [
      ['OTEL_BSP_SCHEDULE_DELAY', '-1'],
      ['OTEL_BSP_SCHEDULE_DELAY', '5s'],
      ['OTEL_BSP_MAX_QUEUE_SIZE', '0'],
      ['OTEL_BSP_MAX_EXPORT_BATCH_SIZE', '1.5'],
      ['OTEL_BSP_EXPORT_TIMEOUT', '1e3'],
    ] as const)
      expect(() => readTracingSettings({ ...base, [name]: value })).toThrow(`${name} must be a whole number`);
    expect(() =>
      readTracingSettings({ ...base, OTEL_BSP_MAX_QUEUE_SIZE: '10', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '11' }),
    ).toThrow('OTEL_BSP_MAX_EXPORT_BATCH_SIZE must not be larger than OTEL_BSP_MAX_QUEUE_SIZE');
  });
});
