import { describe, expect, it } from 'vitest';
import { cappedFetch, ReplyTooLargeError } from './reply-cap.js';

/** A fetch answering with these chunks as the body, under this content type. */
const serving =
  (type: string, chunks: string[], status = 200) =>
  () => {
    const enc = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const chunk of chunks) c.enqueue(enc.encode(chunk));
        c.close();
      },
    });
    return Promise.resolve(new Response(body, { status, headers: { 'content-type': type } }));
  };

describe('cappedFetch', () => {
  it('passes a JSON body under the cap and fails one over it with the reason, buffering no more', async () => {
    let told = 0;
    const ok = cappedFetch('s', 20, () => told++, serving('application/json', ['{"a":', '"12345"}']));
    expect(await (await ok('http://x')).json()).toEqual({ a: '12345' });
    const big = cappedFetch(
      's',
      20,
      () => told++,
      serving('application/json', ['{"a":"', 'x'.repeat(30), '"}']),
    );
    const error = await (await big('http://x')).json().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReplyTooLargeError);
    expect((error as Error).message).toBe(
      `The reply of MCP server "s" was over the policy's limit of 20 bytes (limits.maxMcpReplyBytes)`,
    );
    // A JSON body fails only its own request: no reason to drop the connection.
    expect(told).toBe(0);
  });

  it('counts an SSE stream per event, so many small events pass and one large one does not', async () => {
    let told = 0;
    const events = Array.from({ length: 50 }, (_, i) => `data: {"n":${i}}\r\n\r\n`);
    const many = cappedFetch('s', 32, () => told++, serving('text/event-stream', events));
    expect((await (await many('http://x')).text()).length).toBeGreaterThan(500);
    const big = cappedFetch(
      's',
      32,
      () => told++,
      serving('text/event-stream', ['data: {"n":1}\n\n', `data: ${'x'.repeat(40)}\n\n`]),
    );
    const error = await (await big('http://x')).text().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReplyTooLargeError);
    expect((error as ReplyTooLargeError).dropped).toBe(true);
    expect(told).toBe(1);
  });

  it('leaves redirects, errors and empty answers as they are', async () => {
    const redirect = cappedFetch('s', 1, () => undefined, serving('text/html', ['moved'], 302));
    const r = await redirect('http://x');
    expect(r.status).toBe(302);
    expect(await r.text()).toBe('moved');
  });
});
