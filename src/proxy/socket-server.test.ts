import { mkdtemp } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFrameDecoder, encodeFrame } from './frames.js';
import { createExecutionSocket, isProtocolViolation } from './socket-server.js';

async function setup(maxFrameBytes = 1024) {
  const baseDir = await mkdtemp(join(tmpdir(), 'sock-'));
  const sock = await createExecutionSocket({
    baseDir,
    maxFrameBytes,
    helloTimeoutMs: 2000,
    sandboxUid: 65534,
  });
  const client: Socket = await new Promise((resolve) => {
    const c = connect(join(sock.dir, 'mcp.sock'), () => resolve(c));
  });
  const decoder = createFrameDecoder(1 << 20);
  const inbox: unknown[] = [];
  client.on('data', (d: Buffer) => inbox.push(...decoder.push(d)));
  client.write(encodeFrame({ t: 'hello', v: 1 }));
  await sock.ready;
  return { sock, client, inbox };
}

const run = { t: 'run' as const, code: 'x', nonce: 'n', maxReturnBytes: 100 };

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
    const { sock, client } = await setup(1024);
    const result = sock.run(run, undefined);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(50 * 1024 * 1024, 0);
    client.write(header);
    const error = await result.catch((e: unknown) => e);
    expect(isProtocolViolation(error)).toBe(true);
    expect(String(error)).toContain('exceeds the limit');
    await sock.close();
  });

  it('answers a malformed call that has an id, and ends the link on garbage', async () => {
    const { sock, client, inbox } = await setup();
    const result = sock.run(run, undefined);
    client.write(encodeFrame({ t: 'call', id: 7, op: 'rm -rf', __proto__: { polluted: true } }));
    await new Promise((r) => setTimeout(r, 50));
    expect(inbox.at(-1)).toMatchObject({ t: 'reply', id: 7, ok: false, error: { code: 'bad_request' } });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    client.write(encodeFrame({ nonsense: true }));
    await expect(result).rejects.toThrow('invalid message');
    await sock.close();
  });

  it('resolves with the result and removes its directory on close', async () => {
    const { sock, client } = await setup();
    const result = sock.run(run, undefined);
    client.write(encodeFrame({ t: 'result', ok: true, value: '42', valueTruncated: false }));
    expect(await result).toEqual({ t: 'result', ok: true, value: '42', valueTruncated: false });
    await sock.close();
    const { access } = await import('node:fs/promises');
    await expect(access(sock.dir)).rejects.toThrow();
  });
});
