import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { exportFailureKind, watchedExporter, watchExports } from './export-failures.js';

const servers: Server[] = [];
afterAll(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));

/** A loopback "collector" that answers every export with `status` (or never, for 0). */
async function collector(status: number): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    if (status > 0)
      req.on('end', () => res.writeHead(status, { 'content-type': 'application/json' }).end('{}'));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
}

/** One span, exported by the real OTLP/HTTP exporter to `url`; resolves with the result. */
function exportOne(url: string): Promise<ExportResult> {
  const memory = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: memory })] });
  provider.getTracer('t').startSpan('s').end();
  const exporter = new OTLPTraceExporter({ url, timeoutMillis: 400 });
  return new Promise((resolve) => exporter.export(memory.getFinishedSpans(), resolve));
}

describe('trace export failures', () => {
  it('names the kind of what the real exporter reports', async () => {
    const closed = await collector(200).then((url) => {
      const server = servers.pop()!;
      server.close();
      return url;
    });
    const kinds = await Promise.all(
      [closed, await collector(400), await collector(503), await collector(0)].map(async (url) => {
        const result = await exportOne(url);
        expect(result.code).toBe(ExportResultCode.FAILED);
        return exportFailureKind(result.error);
      }),
    );
    expect(kinds).toEqual(['network', 'http_400', 'unavailable', 'timeout']);
    expect(exportFailureKind(new Error('Timeout'))).toBe('timeout');
    expect(exportFailureKind('weird')).toBe('other');
  });

  it('counts every failure, logs the first of each kind with the endpoint, and once when exports work again', () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino(
      { level: 'info' },
      { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) },
    );
    const counted: string[] = [];
    const watch = watchExports(logger, 'http://collector:4318/v1/traces', (k) => counted.push(k));
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:4318'), { code: 'ECONNREFUSED' });
    for (let i = 0; i < 5; i++) watch.failed(refused);
    watch.failed(Object.assign(new Error('Internal Server Error'), { name: 'OTLPExporterError', code: 500 }));
    expect(counted).toEqual(['network', 'network', 'network', 'network', 'network', 'http_500']);
    expect(lines.map((l) => [l.kind, l.error, l.url])).toEqual([
      ['network', 'connect ECONNREFUSED 10.0.0.1:4318 (ECONNREFUSED)', 'http://collector:4318/v1/traces'],
      ['http_500', 'Internal Server Error (500)', 'http://collector:4318/v1/traces'],
    ]);
    expect(watch.seen(refused)).toBe(true);
    expect(watch.seen(new Error('other'))).toBe(false);
    watch.succeeded();
    watch.succeeded();
    watch.failed(refused);
    expect(lines.map((l) => l.msg)).toEqual([
      expect.stringContaining('trace export failed'),
      expect.stringContaining('trace export failed'),
      'trace export works again',
      expect.stringContaining('trace export failed'),
    ]);
  });

  it('passes every result on unchanged', async () => {
    const seen: string[] = [];
    const watch = { failed: () => seen.push('failed'), succeeded: () => seen.push('ok'), seen: () => false };
    const inner = new InMemorySpanExporter();
    const exporter = watchedExporter(inner, watch);
    const ok = await new Promise<ExportResult>((r) => exporter.export([], r));
    await inner.shutdown();
    const failed = await new Promise<ExportResult>((r) => exporter.export([], r));
    expect([ok.code, failed.code]).toEqual([ExportResultCode.SUCCESS, ExportResultCode.FAILED]);
    expect(seen).toEqual(['ok', 'failed']);
  });
});
