import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { ExecutionResult } from '../src/core/index.js';
import { expectNoLeftovers, startConductor, startHttpServer, TRANSPORTS } from './helpers.js';
import { jsonSpans, startReceiver } from './otlp-receiver.js';

const docker = inject('docker');

const SPANS_OF_A_RUN = ['queue', 'run_deno_code', 'sandbox.acquire', 'sandbox.remove', 'sandbox.run'];

describe.skipIf(!docker)('trace batches, shutdown and export failures (real Docker, real exporter)', () => {
  afterAll(async () => {
    await expectNoLeftovers();
  });

  for (const kind of TRANSPORTS) {
    it(`${kind}: spans wait for OTEL_BSP_SCHEDULE_DELAY, in batches of OTEL_BSP_MAX_EXPORT_BATCH_SIZE, and none is lost at shutdown`, async () => {
      const receiver = await startReceiver();
      try {
        const c = await startConductor(kind, {
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
          OTEL_BSP_SCHEDULE_DELAY: '600000',
          OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '2',
          MCP_CONDUCTOR_POOL_SIZE: '0',
        });
        try {
          expect((await c.run('1 + 1')).result.returnValue).toBe(2);
          // Four spans ended (a batch of two left at once, and two are waiting); the removal is still open or waits.
          await new Promise((r) => setTimeout(r, 500));
          expect(jsonSpans(receiver.exports).length).toBeLessThan(SPANS_OF_A_RUN.length);
        } finally {
          // stdio: the client closes stdin; serve: SIGTERM. Either way the last batch is exported before exit.
          await c.close();
        }
        const spans = jsonSpans(receiver.exports);
        expect(spans.map((s) => s.name).sort()).toEqual(SPANS_OF_A_RUN);
        expect(new Set(spans.map((s) => s.traceId)).size).toBe(1);
        for (const e of receiver.exports) expect(jsonSpans([e]).length).toBeLessThanOrEqual(2);
      } finally {
        await receiver.close();
      }
    });
  }

  it('serve: a failing collector is logged once per kind with the endpoint, and every failed export is counted', async () => {
    const receiver = await startReceiver(400);
    const server = await startHttpServer({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '20',
      MCP_CONDUCTOR_POOL_SIZE: '0',
    });
    const client = new Client({ name: 'trace-failures', version: '1.0.0' });
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`)));
      for (const n of [1, 2, 3]) {
        const r = (await client.callTool(
          { name: 'run_deno_code', arguments: { deno_code: String(n) } },
          undefined,
          { timeout: 120_000 },
        )) as CallToolResult;
        expect((r.structuredContent as ExecutionResult).returnValue).toBe(n);
        await new Promise((r) => setTimeout(r, 300));
      }
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      const failed = /^mcp_conductor_trace_export_failures_total\{kind="http_400"\} (\d+)$/m.exec(metrics);
      expect(Number(failed?.[1])).toBeGreaterThanOrEqual(3);
      expect(Number(failed?.[1])).toBe(receiver.exports.length);
      const lines = server
        .stderr()
        .split('\n')
        .filter((l) => l.includes('trace export failed'));
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({
        level: 40,
        kind: 'http_400',
        url: `${receiver.url}/v1/traces`,
        error: expect.stringContaining('(400)') as string,
      });
    } finally {
      await client.close();
      await server.stop();
      await receiver.close();
    }
  });
});
