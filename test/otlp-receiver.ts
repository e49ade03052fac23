import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// A loopback OTLP/HTTP receiver for the tracing tests (the exporter is the real one) and readers of what it got.

export interface Export {
  path: string;
  contentType: string;
  body: Buffer;
}

/** Keeps every export request and answers as a collector does, with `status` (200 unless told otherwise). */
export async function startReceiver(
  status = 200,
): Promise<{ url: string; exports: Export[]; close: () => Promise<void> }> {
  const exports: Export[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const contentType = req.headers['content-type'] ?? '';
      exports.push({ path: req.url ?? '', contentType, body: Buffer.concat(chunks) });
      res.writeHead(status, { 'content-type': contentType });
      res.end(contentType.includes('json') ? '{}' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    exports,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export type AnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean };
export interface JsonSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: { key: string; value: AnyValue }[];
  /** code 2 is ERROR */
  status?: { code?: number };
}
export interface JsonExport {
  resourceSpans: { resource: { attributes: JsonSpan['attributes'] }; scopeSpans: { spans: JsonSpan[] }[] }[];
}

export const attrs = (list: JsonSpan['attributes']) =>
  Object.fromEntries(list.map((a) => [a.key, a.value.stringValue ?? a.value.intValue ?? a.value.boolValue]));

/** Every span in the receiver's JSON exports. */
export function jsonSpans(exports: Export[]): JsonSpan[] {
  return exports
    .filter((e) => e.contentType.includes('json'))
    .map((e) => JSON.parse(e.body.toString()) as JsonExport)
    .flatMap((p) => p.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)));
}
