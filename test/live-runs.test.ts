/**
 * Live runs with real SDK clients over stdio and Streamable HTTP, against the real engine: cancellation frees the
 * container and its place at once, progress keeps a short client timeout alive, output streams line by line.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult, Progress } from '@modelcontextprotocol/sdk/types.js';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDockerClient, LABEL_EXECUTION } from '../src/docker/index.js';
import {
  collectLogs,
  executionPrinting,
  goneWithin,
  lineOf,
  until,
  type Log,
  expectNoLeftovers,
  fixturePolicy,
  repoRoot,
  startConductor,
  TRANSPORTS,
  type Conductor,
} from './helpers.js';

const docker = inject('docker');
const engine = createDockerClient();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const callOf = (client: Client, code: string, options: Parameters<Client['callTool']>[2] = {}) =>
  client.callTool({ name: 'run_deno_code', arguments: { deno_code: code, timeout: 60_000 } }, undefined, {
    timeout: 120_000,
    ...options,
  }) as Promise<CallToolResult>;

describe.skipIf(!docker).each(TRANSPORTS)('live runs over %s', (kind) => {
  let c: Conductor;
  let logs: Log[];

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-live-'));
    const mcpConfig = join(dir, 'mcp.json');
    const probe = join(repoRoot, 'test', 'fixtures', 'probe-server.mjs');
    await writeFile(
      mcpConfig,
      JSON.stringify({ mcpServers: { probe: { command: process.execPath, args: [probe] } } }),
    );
    c = await startConductor(kind, {
      MCP_CONDUCTOR_MAX_CONCURRENCY: '1',
      MCP_CONDUCTOR_POOL_SIZE: '0',
      MCP_CONDUCTOR_POLICY: fixturePolicy('live'),
      MCP_CONDUCTOR_MCP_CONFIG: mcpConfig,
    });
    logs = collectLogs(c.client);
    // Start the upstream once, so the cancellation below finds its call already there.
    await c.run(`await (await mcpFactory.load('probe')).callTool('cancelled', {})`);
  });
  afterAll(async () => {
    await c?.close();
    await expectNoLeftovers();
  });

  it("cancelling with the SDK's AbortSignal kills the container, its upstream call and frees its place", async () => {
    const stop = new AbortController();
    const pending = callOf(
      c.client,
      `const held = (await mcpFactory.load('probe')).callTool('hold', {});
      await new Promise((r) => setTimeout(r, 300));
      console.log('holding');
      await held;`,
      { signal: stop.signal },
    ).catch((e: unknown) => e);
    const executionId = await executionPrinting(logs, 'holding');
    const cancelledAt = performance.now();
    stop.abort('the user pressed Stop');
    expect(String(await pending)).toContain('Stop');
    // The contract: SIGKILLed and removed within 1 s of notifications/cancelled (the bench: p50 ~135 ms).
    expect(await goneWithin(executionId, cancelledAt)).toBeLessThan(1000);
    // With one place in all, the next call runs now; the upstream saw its request cancelled.
    const after = await c.run(`await (await mcpFactory.load('probe')).callTool('cancelled', {})`);
    expect(after.result.returnValue).toEqual({ cancelled: 1 });
  });

  it('a call cancelled while queued never gets a container', async () => {
    const first = new AbortController();
    const running = callOf(
      c.client,
      `console.log('first'); await new Promise(() => setInterval(() => {}, 1000));`,
      {
        signal: first.signal,
      },
    ).catch(() => undefined);
    const executionId = await executionPrinting(logs, 'first');
    const queued = new AbortController();
    const seen: Progress[] = [];
    const second = callOf(c.client, `console.log('second')`, {
      signal: queued.signal,
      onprogress: (p) => seen.push(p),
    }).catch(() => undefined);
    await until(() => seen.length > 0);
    queued.abort('changed my mind');
    await second;
    await sleep(300);
    const alive = await engine.listManaged();
    expect(alive.map((x) => x.labels[LABEL_EXECUTION])).toEqual([executionId]);
    expect(seen.map((p) => p.message)).toEqual(['queued']);
    first.abort('done');
    await running;
    await goneWithin(executionId);
    expect(logs.some((l) => lineOf(l).line === 'second')).toBe(false);
    if (c.url) {
      const metrics = await (await fetch(`${c.url}/metrics`)).text();
      expect(metrics).toContain('mcp_conductor_executions_total{tenant="local",status="cancelled"} 3');
    }
  });

  it('progress keeps a 3 s client timeout alive through a 6 s run, with the code’s own reports', async () => {
    const seen: (Progress & { at: number })[] = [];
    const r = await callOf(
      c.client,
      `await new Promise((r) => setTimeout(r, 4000));
      progress(1, 2, 'half way');
      await new Promise((r) => setTimeout(r, 2000));
      return 'done';`,
      {
        timeout: 3000,
        resetTimeoutOnProgress: true,
        onprogress: (p) => seen.push({ ...p, at: performance.now() }),
      },
    );
    expect(r.isError).toBeFalsy();
    expect((r.structuredContent as { returnValue: unknown }).returnValue).toBe('done');
    const messages = seen.map((p) => p.message ?? '');
    expect(messages.slice(0, 3)).toEqual(['queued', 'starting', 'running 0.0 s']);
    expect(messages.some((m) => /^running \d\.\d s: 1\/2 half way$/.test(m))).toBe(true);
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i]!.progress).toBeGreaterThan(seen[i - 1]!.progress);
      expect(seen[i]!.at - seen[i - 1]!.at).toBeLessThan(2000);
    }
  });

  it('streams each line as it is printed, escaped, capped, at the level the session set', async () => {
    await c.client.setLoggingLevel('info');
    const from = logs.length;
    const r = await callOf(
      c.client,
      `console.log('early');
      await new Promise((r) => setTimeout(r, 1000));
      console.error('careful \\x1b[31mred');
      // The engine keeps no order between the two streams: let stderr's line through before the burst and the cap.
      await new Promise((r) => setTimeout(r, 300));
      for (let i = 0; i < 10; i++) console.log('n' + i);
      return 1;`,
    );
    const answeredAt = performance.now();
    const mine = logs.slice(from);
    // Each stream in order (the engine does not keep the order between the two), five lines, then the notice.
    const lines = mine.slice(0, 5).map((l) => [l.level, lineOf(l).stream, lineOf(l).line]);
    expect(lines.filter((l) => l[1] === 'stderr')).toEqual([['warning', 'stderr', 'careful \\u001b[31mred']]);
    expect(lines.filter((l) => l[1] === 'stdout').map((l) => l[2])).toEqual(['early', 'n0', 'n1', 'n2']);
    expect(mine.slice(5).map((l) => l.level)).toEqual(['warning']);
    expect(lineOf(mine[5]!).notice).toContain('5 lines were streamed');
    expect(answeredAt - mine[0]!.at).toBeGreaterThan(700);
    // The result stays complete.
    expect((r.structuredContent as { stdout: string }).stdout).toContain('n9');

    await c.client.setLoggingLevel('error');
    const quiet = logs.length;
    await callOf(c.client, `console.log('a'); console.error('b'); 1`);
    await sleep(100);
    expect(logs.length).toBe(quiet);
    await c.client.setLoggingLevel('info');
  });

  it('streams nothing past what the result keeps (limits.maxOutputBytes)', async () => {
    const from = logs.length;
    const r = await callOf(c.client, `for (const c of 'ABC') console.log(c.repeat(600)); 1`);
    const stdout = (r.structuredContent as { stdout: string }).stdout;
    expect(stdout.length).toBe(1024);
    const streamed = logs.slice(from).map((l) => lineOf(l).line ?? '');
    // The first line whole, the second as far as it was kept, the third not at all.
    expect(streamed.map((l) => `${l[0]}${l.length}`)).toEqual(['A600', 'B423']);
    expect(streamed.join('\n')).toBe(stdout);
  });
});
