import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { access, mkdtemp } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { PlaybookError } from '../core/index.js';
import { createCallDispatcher, NO_SERVERS } from './dispatcher.js';
import { createFrameDecoder, encodeFrame } from './frames.js';
import type { CallMessage, ReplyMessage } from './protocol.js';
import {
  createExecutionSocket,
  MAX_PLAYBOOK_IMPORTS,
  type CallHandler,
  type ExecutionSocketOptions,
} from './execution-socket.js';
import { isProtocolViolation } from './link.js';
import type { UpstreamPool } from './upstreams.js';

async function setup(options: Partial<ExecutionSocketOptions> = {}) {
  const baseDir = await mkdtemp(join(tmpdir(), 'sock-'));
  const sock = await createExecutionSocket({
    baseDir,
    maxFrameBytes: 1024,
    helloTimeoutMs: 2000,
    sandboxUid: 65534,
    ...options,
  });
  const client: Socket = await new Promise((resolve) => {
    const c = connect(join(sock.dir, 'mcp.sock'), () => resolve(c));
  });
  client.on('error', () => undefined);
  const decoder = createFrameDecoder(1 << 24);
  const inbox: unknown[] = [];
  let bytesIn = 0;
  client.on('data', (d: Buffer) => {
    bytesIn += d.length;
    inbox.push(...decoder.push(d));
  });
  client.write(encodeFrame({ t: 'hello', v: 1 }));
  await sock.ready;
  const replies = () => inbox.filter((m): m is ReplyMessage => (m as { t?: unknown }).t === 'reply');
  return { sock, client, inbox, replies, bytesIn: () => bytesIn };
}

/** A frame whose body is exactly this JSON text (JSON.stringify would drop or rewrite `__proto__`). */
function rawFrame(text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, body]);
}

const run = { t: 'run' as const, code: 'x', nonce: 'n', maxReturnBytes: 100, retainBytes: 0 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = async (check: () => boolean, ms = 2000) => {
  for (const end = Date.now() + ms; !check() && Date.now() < end;) await sleep(10);
  return check();
};
const call = (id: number, extra: Partial<CallMessage> = {}) =>
  encodeFrame({ t: 'call', id, op: 'callTool', server: 's', name: 'big', ...extra });

describe('execution socket', () => {
  it('serves only the first connection', async () => {
    const { sock } = await setup();
    const second: Socket = connect(join(sock.dir, 'mcp.sock'));
    const closed = await new Promise<boolean>((resolve) =>
      second.on('close', () => resolve(true)).on('error', () => undefined),
    );
    expect(closed).toBe(true);
    expect(sock.alive).toBe(true);
    await sock.close();
  });

  it('ends the run on an oversized frame without buffering it', async () => {
    const { sock, client } = await setup();
    const result = sock.run(run, NO_SERVERS);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(50 * 1024 * 1024, 0);
    client.write(header);
    const error = await result.catch((e: unknown) => e);
    expect(isProtocolViolation(error)).toBe(true);
    expect(String(error)).toContain('exceeds the limit');
    await sock.close();
  });

  it('answers a malformed call that has an id, and ends the link on garbage', async () => {
    const { sock, client, replies } = await setup();
    const result = sock.run(run, NO_SERVERS);
    client.write(rawFrame('{"t":"call","id":7,"op":"rm -rf","__proto__":{"polluted":true}}'));
    expect(await until(() => replies().length === 1)).toBe(true);
    expect(replies()[0]).toMatchObject({ t: 'reply', id: 7, ok: false, error: { code: 'bad_request' } });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    client.write(encodeFrame({ nonsense: true }));
    await expect(result).rejects.toThrow('invalid message');
    await sock.close();
  });

  it('hands value parts on within retainBytes, and ends the run on one byte more', async () => {
    const { sock, client } = await setup();
    const parts: string[] = [];
    const kept = sock.run({ ...run, retainBytes: 5 }, NO_SERVERS, (text) => parts.push(text));
    client.write(encodeFrame({ t: 'value_part', text: 'ab' }));
    client.write(encodeFrame({ t: 'value_part', text: 'é' }));
    client.write(encodeFrame({ t: 'result', ok: true, value: '"a', valueTruncated: true }));
    await expect(kept).resolves.toMatchObject({ t: 'result', valueTruncated: true });
    expect(parts).toEqual(['ab', 'é']);
    await sock.close();

    const next = await setup();
    const refused = next.sock.run({ ...run, retainBytes: 5 }, NO_SERVERS, () => undefined);
    next.client.write(encodeFrame({ t: 'value_part', text: 'abcd' }));
    next.client.write(encodeFrame({ t: 'value_part', text: 'é' }));
    await expect(refused).rejects.toThrow('past its retention limit');
    await next.sock.close();
  });

  it('ends the run on a result frame with more than the runtime ever sends, saying what', async () => {
    const { sock, client } = await setup({ maxFrameBytes: 1 << 20 });
    const result = sock.run(run, NO_SERVERS, () => undefined);
    const error = { name: 'Error', message: 'm'.repeat(40_000) };
    client.write(encodeFrame({ t: 'result', ok: false, error }));
    const thrown = await result.catch((e: unknown) => e);
    expect(isProtocolViolation(thrown)).toBe(true);
    expect((thrown as Error).message).toMatch(/^malformed result frame \(error\.message: Too big/);
    await sock.close();
  });

  it('lists no servers and names every server unknown when none is configured', async () => {
    const { sock, client, replies } = await setup();
    const result = sock.run(run, NO_SERVERS);
    client.write(encodeFrame({ t: 'call', id: 1, op: 'list' }));
    client.write(encodeFrame({ t: 'call', id: 2, op: 'load', server: 'github' }));
    expect(await until(() => replies().length === 2)).toBe(true);
    expect(replies().find((r) => r.id === 1)).toEqual({ t: 'reply', id: 1, ok: true, result: [] });
    expect(replies().find((r) => r.id === 2)).toMatchObject({
      ok: false,
      error: {
        code: 'unknown_server',
        message: expect.stringContaining('Unknown MCP server "github"') as string,
      },
    });
    client.write(encodeFrame({ t: 'result', ok: true, valueTruncated: false }));
    await result;
    await sock.close();
  });

  it('counts every message, answered or malformed, against the budget', async () => {
    for (const frame of [
      (id: number) => encodeFrame({ t: 'call', id, op: 'list' }),
      (id: number) => encodeFrame({ t: 'call', id, op: 'nope' }),
    ]) {
      const { sock, client, replies } = await setup({ maxMessages: 5 });
      const result = sock.run(run, NO_SERVERS);
      for (let id = 1; id <= 5; id++) client.write(frame(id));
      expect(await until(() => replies().length === 5)).toBe(true);
      expect(sock.alive).toBe(true);
      client.write(frame(6));
      await expect(result).rejects.toThrow('sent more than 5 messages');
      expect(replies()).toHaveLength(5);
      await sock.close();
    }
  });

  it('stops reading while replies pile up unread, and ends the run when they stay unread', async () => {
    let handled = 0;
    const big: CallHandler = {
      handle: (msg) => {
        handled++;
        return Promise.resolve({ t: 'reply', id: msg.id, ok: true, result: 'x'.repeat(100_000) });
      },
    };
    const { sock, client } = await setup({
      maxOutstandingCalls: 20,
      maxUnsentBytes: 200_000,
      stallTimeoutMs: 300,
    });
    client.pause();
    const result = sock.run(run, big);
    // 1,000 calls asking for 100 KB each: 100 MB if the host kept answering a peer that never reads.
    client.write(Buffer.concat(Array.from({ length: 1000 }, (_, i) => call(i + 1))));
    const error = await result.catch((e: unknown) => e);
    expect(isProtocolViolation(error)).toBe(true);
    expect(String(error)).toContain('stopped reading replies');
    // At most maxOutstandingCalls were taken on, plus the few replies the kernel buffers of the pair absorbed.
    expect(handled).toBeGreaterThanOrEqual(20);
    expect(handled).toBeLessThan(40);
    await sock.close();
  });

  it('serves a peer that reads slowly, holding back new calls rather than queueing them', async () => {
    let running = 0;
    let peak = 0;
    const slow: CallHandler = {
      handle: async (msg) => {
        peak = Math.max(peak, ++running);
        await sleep(5);
        running--;
        return { t: 'reply', id: msg.id, ok: true, result: 'y'.repeat(20_000) };
      },
    };
    const { sock, client, replies } = await setup({
      maxOutstandingCalls: 4,
      maxUnsentBytes: 50_000,
      stallTimeoutMs: 2000,
    });
    const result = sock.run(run, slow);
    client.write(Buffer.concat(Array.from({ length: 200 }, (_, i) => call(i + 1))));
    // Read in bursts with pauses, as a busy runtime would.
    const reader = setInterval(() => (client.isPaused() ? client.resume() : client.pause()), 20);
    expect(await until(() => replies().length === 200, 10_000)).toBe(true);
    clearInterval(reader);
    client.resume();
    expect(peak).toBe(4);
    expect(new Set(replies().map((r) => r.id)).size).toBe(200);
    client.write(encodeFrame({ t: 'result', ok: true, valueTruncated: false }));
    await result;
    await sock.close();
  });

  it('ends the run when a started frame does not complete in time, even if it dribbles', async () => {
    const { sock, client } = await setup({ frameTimeoutMs: 300 });
    const result = sock.run(run, NO_SERVERS);
    const frame = encodeFrame({ t: 'call', id: 1, op: 'list', server: 'x'.repeat(100) });
    let i = 0;
    const dribble = setInterval(() => i < frame.length && client.write(frame.subarray(i, ++i)), 30);
    const error = await result.catch((e: unknown) => e);
    clearInterval(dribble);
    expect(String(error)).toContain('a frame did not complete within 300 ms');
    expect(i).toBeLessThan(frame.length);
    await sock.close();
  });

  it('keeps an idle connection between complete frames', async () => {
    const { sock, client, replies } = await setup({ frameTimeoutMs: 100 });
    const result = sock.run(run, NO_SERVERS);
    await sleep(250);
    const frame = encodeFrame({ t: 'call', id: 1, op: 'list' });
    client.write(frame.subarray(0, 3));
    await sleep(50);
    client.write(frame.subarray(3));
    expect(await until(() => replies().length === 1)).toBe(true);
    expect(sock.alive).toBe(true);
    client.write(encodeFrame({ t: 'result', ok: true, valueTruncated: false }));
    await result;
    await sock.close();
  });

  it('aborts the calls of an execution when its result arrives or its link closes', async () => {
    for (const end of ['result', 'close'] as const) {
      const signals: AbortSignal[] = [];
      const hang: CallHandler = {
        handle: (msg, signal) => {
          signals.push(signal);
          return new Promise((resolve) =>
            signal.addEventListener('abort', () =>
              resolve({ t: 'reply', id: msg.id, ok: false, error: { message: 'aborted', code: 'aborted' } }),
            ),
          );
        },
      };
      const { sock, client } = await setup();
      const result = sock.run(run, hang);
      client.write(call(1));
      expect(await until(() => signals.length === 1)).toBe(true);
      expect(signals[0]!.aborted).toBe(false);
      if (end === 'result') {
        client.write(encodeFrame({ t: 'result', ok: true, valueTruncated: false }));
        await result;
      } else {
        client.destroy();
        await expect(result).rejects.toThrow('closed its connection');
      }
      expect(signals[0]!.aborted).toBe(true);
      await sock.close();
    }
  });

  it('delivers arguments with constructor and prototype keys intact; __proto__ cannot pollute', async () => {
    const server = new McpServer({ name: 'args', version: '1' });
    server.registerTool('keys', { inputSchema: { data: z.record(z.string(), z.unknown()) } }, ({ data }) => ({
      content: [{ type: 'text', text: JSON.stringify({ keys: Object.keys(data), data }) }],
    }));
    const [a, b] = InMemoryTransport.createLinkedPair();
    await server.connect(a);
    const upstream = new Client({ name: 't', version: '1' });
    await upstream.connect(b);
    const pool: UpstreamPool = {
      names: () => ['args'],
      get: () => Promise.resolve(upstream),
      use: (_name, fn) => fn(upstream),
      close: () => upstream.close(),
    };
    const calls = createCallDispatcher({
      pool,
      allow: { servers: '*', tools: {}, resources: {}, prompts: {} },
      limits: {
        maxMcpCalls: 10,
        maxConcurrentMcpCalls: 2,
        mcpCallTimeoutMs: 2000,
        maxMcpReplyBytes: 1 << 20,
      },
    });
    const { sock, client, replies } = await setup();
    const result = sock.run(run, calls);
    client.write(
      rawFrame(
        '{"t":"call","id":1,"op":"callTool","server":"args","name":"keys","args":{"data":{"constructor":"c","prototype":{"x":1},"__proto__":{"polluted":true},"ok":1}},"__proto__":{"polluted":true}}',
      ),
    );
    expect(await until(() => replies().length === 1)).toBe(true);
    const reply = replies()[0]!;
    expect(reply.ok).toBe(true);
    const text = (reply as { result: { content: { text: string }[] } }).result.content[0]!.text;
    expect(JSON.parse(text)).toEqual({
      keys: ['constructor', 'prototype', 'ok'],
      data: { constructor: 'c', prototype: { x: 1 }, ok: 1 },
    });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    client.write(encodeFrame({ t: 'result', ok: true, valueTruncated: false }));
    await result;
    await sock.close();
    await upstream.close();
  });

  it('resolves with the result and removes its directory on close', async () => {
    const { sock, client } = await setup();
    const result = sock.run(run, NO_SERVERS);
    client.write(encodeFrame({ t: 'result', ok: true, value: '42', valueTruncated: false }));
    expect(await result).toEqual({ t: 'result', ok: true, value: '42', valueTruncated: false });
    await sock.close();
    await expect(access(sock.dir)).rejects.toThrow();
  });

  it('hands on progress reports as they arrive, without their frame type', async () => {
    const { sock, client } = await setup();
    const seen: unknown[] = [];
    sock.progress.subscribe((r) => seen.push(r));
    const result = sock.run(run, NO_SERVERS);
    client.write(encodeFrame({ t: 'progress', progress: 1 }));
    client.write(encodeFrame({ t: 'progress', progress: 2.5, total: 10, message: 'files' }));
    client.write(encodeFrame({ t: 'result', ok: true, valueTruncated: false }));
    await result;
    expect(seen).toEqual([{ progress: 1 }, { progress: 2.5, total: 10, message: 'files' }]);
    await sock.close();
  });

  it('ends the run on a progress report out of bounds', async () => {
    const bad = [
      { t: 'progress', progress: '1' },
      { t: 'progress', progress: 1, total: 0 },
      { t: 'progress', progress: 1, message: 'x'.repeat(201) },
      { t: 'progress', progress: 1, extra: true },
    ];
    for (const frame of bad) {
      const { sock, client } = await setup({ maxFrameBytes: 4096 });
      const result = sock.run(run, NO_SERVERS);
      client.write(encodeFrame(frame));
      const error = await result.catch((e: unknown) => e);
      expect(isProtocolViolation(error), JSON.stringify(frame)).toBe(true);
      await sock.close();
    }
  });

  it('ends the run when progress reports come faster than the runtime ever sends them', async () => {
    const { sock, client } = await setup();
    let seen = 0;
    sock.progress.subscribe(() => seen++);
    const result = sock.run(run, NO_SERVERS);
    for (let i = 0; i < 40; i++) client.write(encodeFrame({ t: 'progress', progress: i }));
    const error = await result.catch((e: unknown) => e);
    expect(isProtocolViolation(error)).toBe(true);
    expect(String(error)).toContain('faster than 10 a second');
    expect(seen).toBe(20);
    await sock.close();
  });
});

describe('playbook frames', () => {
  const source = {
    code: (name: string) =>
      name === 'ok-book'
        ? Promise.resolve('export const x = 1;')
        : Promise.reject(new PlaybookError('not_found', `no playbook ${JSON.stringify(name)}`)),
  };
  const frame = (id: number, name: unknown) => encodeFrame({ t: 'playbook', id, name });

  it('answers each with the code or the source’s reason, and a malformed one with bad_request', async () => {
    const { sock, client, replies } = await setup();
    const done = sock.run(run, NO_SERVERS, undefined, source);
    client.write(frame(1, 'ok-book'));
    client.write(frame(2, '../etc'));
    client.write(frame(3, 'x'.repeat(201)));
    client.write(frame(4, 42));
    client.write(encodeFrame({ t: 'playbook', id: 5, name: 'ok-book', extra: true }));
    expect(await until(() => replies().length === 5)).toBe(true);
    const byId = new Map(replies().map((r) => [r.id, r]));
    expect(byId.get(1)).toEqual({ t: 'reply', id: 1, ok: true, result: { code: 'export const x = 1;' } });
    expect(byId.get(2)).toMatchObject({
      ok: false,
      error: { code: 'not_found', message: 'no playbook "../etc"' },
    });
    for (const id of [3, 4, 5])
      expect(byId.get(id)).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    expect(sock.alive).toBe(true);
    client.write(encodeFrame({ t: 'result', ok: true, valueTruncated: false }));
    await done;
    await sock.close();
  });

  it('refuses imports past the per-execution cap', async () => {
    const { sock, client, replies } = await setup({ maxFrameBytes: 4096 });
    void sock.run(run, NO_SERVERS, undefined, source).catch(() => undefined);
    for (let id = 1; id <= MAX_PLAYBOOK_IMPORTS + 1; id++) client.write(frame(id, 'ok-book'));
    expect(await until(() => replies().length === MAX_PLAYBOOK_IMPORTS + 1)).toBe(true);
    const refused = replies().filter((r) => !r.ok);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({
      id: MAX_PLAYBOOK_IMPORTS + 1,
      error: { code: 'limit', message: `at most ${MAX_PLAYBOOK_IMPORTS} importPlaybook calls per execution` },
    });
    await sock.close();
  });

  it('says playbooks are unavailable when the run has no source, and hides a bug’s details', async () => {
    const { sock, client, replies } = await setup();
    const buggy = { code: () => Promise.reject(new Error('/host/secret/path')) };
    void sock.run(run, NO_SERVERS, undefined, undefined).catch(() => undefined);
    client.write(frame(1, 'ok-book'));
    expect(await until(() => replies().length === 1)).toBe(true);
    expect(replies()[0]).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    await sock.close();
    const second = await setup();
    void second.sock.run(run, NO_SERVERS, undefined, buggy).catch(() => undefined);
    second.client.write(frame(1, 'ok-book'));
    expect(await until(() => second.replies().length === 1)).toBe(true);
    expect(JSON.stringify(second.replies()[0])).not.toContain('/host/secret');
    expect(second.replies()[0]).toMatchObject({ ok: false, error: { code: 'internal' } });
    await second.sock.close();
  });
});
