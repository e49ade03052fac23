/**
 * Where a live run's notifications go and what ends a run besides notifications/cancelled: over HTTP they travel
 * on the call's own response stream, a dropped stream is not a cancellation, a DELETEd session cancels its runs;
 * a stdio conductor whose client goes away ends every call and leaves no container behind.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDockerClient, LABEL_EXECUTION } from '../src/docker/index.js';
import {
  baseEnv,
  cliPath,
  collectLogs,
  executionPrinting,
  expectNoLeftovers,
  goneWithin,
  startHttpServer,
  until,
} from './helpers.js';

const docker = inject('docker');
const engine = createDockerClient();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rpc = (id: number, method: string, params: unknown) => ({ jsonrpc: '2.0', id, method, params });
const initialize = rpc(1, 'initialize', {
  protocolVersion: '2025-11-25',
  capabilities: {},
  clientInfo: { name: 'raw', version: '1' },
});
const callCode = (id: number, code: string) =>
  rpc(id, 'tools/call', { name: 'run_deno_code', arguments: { deno_code: code, timeout: 60_000 } });

type Message = { id?: number; method?: string; params?: { data?: { line?: string; executionId?: string } } };

/** Reads the JSON-RPC messages of an SSE response as they arrive, until `done` says so (or the stream ends). */
async function readEvents(res: Response, done: (m: Message[]) => boolean): Promise<Message[]> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const messages: Message[] = [];
  let buffer = '';
  while (!done(messages)) {
    const { value, done: ended } = await reader.read();
    if (ended) break;
    buffer += value;
    const events = buffer.split('\n\n');
    buffer = events.pop() ?? '';
    for (const e of events) {
      const data = e
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trim())
        .join('');
      if (data) messages.push(JSON.parse(data) as Message);
    }
  }
  return messages;
}

describe.skipIf(!docker)('live runs and HTTP sessions', () => {
  let server: Awaited<ReturnType<typeof startHttpServer>>;
  let session: string;
  let audit: string;
  const post = (body: unknown, signal?: AbortSignal) =>
    fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...(session ? { 'mcp-session-id': session } : {}),
      },
      body: JSON.stringify(body),
      signal,
    });

  beforeAll(async () => {
    audit = join(await mkdtemp(join(tmpdir(), 'mcpc-live-audit-')), 'audit.jsonl');
    server = await startHttpServer({ MCP_CONDUCTOR_POOL_SIZE: '0' }, ['--audit-log', audit]);
    const init = await post(initialize);
    session = init.headers.get('mcp-session-id') ?? '';
    await init.text();
    await (await post({ jsonrpc: '2.0', method: 'notifications/initialized' })).text();
  });
  afterAll(async () => {
    await server?.stop();
    await expectNoLeftovers();
  });

  it("sends a call's log messages on its own response stream, before its answer, to its session only", async () => {
    const other = new Client({ name: 'other', version: '1' });
    await other.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`)));
    const overheard = collectLogs(other);
    const res = await post(
      callCode(
        2,
        `console.log('x'); await new Promise((r) => setTimeout(r, 800)); console.log('y'); return 2;`,
      ),
    );
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const messages = await readEvents(res, (m) => m.some((x) => x.id === 2));
    expect(messages.map((m) => m.params?.data?.line ?? m.id)).toEqual(['x', 'y', 2]);
    await sleep(100);
    expect(overheard).toEqual([]);
    await other.close();
  });

  it('lets a run go on when its response stream drops (not a cancellation)', async () => {
    const drop = new AbortController();
    const res = await post(
      callCode(3, `console.log('x'); await new Promise((r) => setTimeout(r, 2500)); return 3;`),
      drop.signal,
    );
    const [first] = await readEvents(res, (m) => m.length > 0);
    const executionId = first!.params!.data!.executionId!;
    drop.abort();
    await sleep(1000);
    expect((await engine.listManaged({ [LABEL_EXECUTION]: executionId })).length).toBe(1);
    await goneWithin(executionId);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain('mcp_conductor_executions_total{tenant="local",status="success"} 2');
    expect(metrics).not.toContain('status="cancelled"');
  });

  it('cancels the runs of a session ended by DELETE', async () => {
    const client = new Client({ name: 'ending', version: '1' });
    const transport = new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`));
    await client.connect(transport);
    const logs = collectLogs(client);
    const pending = client
      .callTool({
        name: 'run_deno_code',
        arguments: { deno_code: `console.log('up'); await new Promise(() => setInterval(() => {}, 1000));` },
      })
      .catch((e: unknown) => e);
    const executionId = await executionPrinting(logs, 'up');
    const endedAt = performance.now();
    await transport.terminateSession();
    expect(await goneWithin(executionId, endedAt)).toBeLessThan(1000);
    await client.close();
    expect(await pending).toBeInstanceOf(Error);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain('mcp_conductor_executions_total{tenant="local",status="cancelled"} 1');
    const audited = async () =>
      (await readFile(audit, 'utf8').catch(() => ''))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { executionId?: string; status: string });
    let records = await audited();
    for (let i = 0; i < 50 && !records.some((r) => r.executionId === executionId); i++) {
      await sleep(100);
      records = await audited();
    }
    expect(records.find((r) => r.executionId === executionId)?.status).toBe('cancelled');
  });
});

/** A stdio conductor driven by hand, so that its stdin can be closed at a chosen moment. */
async function rawStdio(poolSize: string) {
  const child = spawn(process.execPath, [cliPath, 'stdio'], {
    env: await baseEnv({ MCP_CONDUCTOR_POOL_SIZE: poolSize, MCP_CONDUCTOR_MAX_CONCURRENCY: '1' }),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const messages: Message[] = [];
  let buffer = '';
  child.stdout.on('data', (d: Buffer) => {
    buffer += d.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const l of lines) if (l.trim()) messages.push(JSON.parse(l) as Message);
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const send = (m: unknown) => child.stdin.write(`${JSON.stringify(m)}\n`);
  send(initialize);
  await until(() => messages.some((m) => m.id === 1));
  send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return { child, messages, send, exited, stderr: () => stderr };
}

describe.skipIf(!docker)('a stdio conductor whose client goes away', () => {
  afterAll(expectNoLeftovers);

  it('exits leaving no container, also one being created at that very moment', async () => {
    const c = await rawStdio('2');
    c.send(callCode(2, `await new Promise((r) => setTimeout(r, 30000))`));
    // The warm pool and this call are getting containers: the first one the engine shows is still starting.
    await waitForAny();
    c.child.stdin.end();
    expect(await c.exited, c.stderr()).toBe(0);
    expect(await engine.listManaged()).toEqual([]);
  });

  it('ends a running and a queued call and exits leaving no container', async () => {
    const c = await rawStdio('0');
    c.send(callCode(2, `console.log('up'); await new Promise((r) => setTimeout(r, 30000))`));
    await until(() => c.messages.some((m) => m.params?.data?.line === 'up'));
    c.send(callCode(3, `console.log('queued')`));
    await sleep(200);
    c.child.stdin.end();
    expect(await c.exited, c.stderr()).toBe(0);
    expect(await engine.listManaged()).toEqual([]);
    expect(c.messages.some((m) => m.params?.data?.line === 'queued')).toBe(false);
  });
});

async function waitForAny(): Promise<void> {
  for (let i = 0; i < 600 && (await engine.listManaged()).length === 0; i++) await sleep(10);
}
