import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { TracerProvider, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import type { BatchSettings } from '../config/otel-env.js';
import { createBatchProcessor } from './setup.js';

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * An exporter that keeps each batch it is given. `answer: false` holds every answer (a collector that hangs) until
 * `release()`, after which it answers at once.
 */
function recorder(answer = true) {
  const batches: string[][] = [];
  const held: (() => void)[] = [];
  let answering = answer;
  const exporter: SpanExporter = {
    export(spans: ReadableSpan[], done: (r: ExportResult) => void) {
      batches.push(spans.map((s) => s.name));
      const reply = () => done({ code: ExportResultCode.SUCCESS });
      if (answering) reply();
      else held.push(reply);
    },
    shutdown: () => Promise.resolve(),
  };
  const release = () => {
    answering = true;
    held.splice(0).forEach((reply) => reply());
  };
  return { exporter, batches, release };
}

function tracerWith(exporter: SpanExporter, batch: Partial<BatchSettings>) {
  const processor = createBatchProcessor(exporter, {
    scheduledDelayMillis: 5000,
    maxQueueSize: 2048,
    maxExportBatchSize: 512,
    exportTimeoutMillis: 30000,
    ...batch,
  });
  const provider = new TracerProvider({ spanProcessors: [processor] });
  const tracer = provider.getTracer('t');
  const spans = (n: number) => {
    for (let i = 0; i < n; i++) tracer.startSpan(`s${i}`).end();
  };
  return { provider, spans };
}

describe('the batch span processor takes the OTEL_BSP_* settings', () => {
  it('schedule delay: nothing leaves before it, everything on shutdown', async () => {
    const slow = recorder();
    const s = tracerWith(slow.exporter, { scheduledDelayMillis: 60_000 });
    s.spans(3);
    await wait(100);
    expect(slow.batches).toEqual([]);
    await s.provider.shutdown();
    expect(slow.batches).toEqual([['s0', 's1', 's2']]);

    const fast = recorder();
    const f = tracerWith(fast.exporter, { scheduledDelayMillis: 10 });
    f.spans(1);
    await wait(150);
    expect(fast.batches).toEqual([['s0']]);
    await f.provider.shutdown();
  });

  it('queue size and batch size: a full batch leaves at once, spans past a full queue are dropped', async () => {
    const r = recorder(false);
    const s = tracerWith(r.exporter, {
      scheduledDelayMillis: 60_000,
      maxQueueSize: 5,
      maxExportBatchSize: 2,
    });
    // s0 and s1 leave as a batch (its export hangs); s2…s6 fill the queue; s7 and s8 find it full.
    s.spans(9);
    expect(r.batches).toEqual([['s0', 's1']]);
    r.release();
    await s.provider.shutdown();
    expect(r.batches).toEqual([['s0', 's1'], ['s2', 's3'], ['s4', 's5'], ['s6']]);
  });

  it('export timeout: a collector that never answers does not hold shutdown past it', async () => {
    const r = recorder(false);
    const s = tracerWith(r.exporter, { scheduledDelayMillis: 60_000, exportTimeoutMillis: 100 });
    s.spans(1);
    const t0 = performance.now();
    await expect(s.provider.shutdown()).rejects.toThrow('Timeout');
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(r.batches).toHaveLength(1);
  });
});
