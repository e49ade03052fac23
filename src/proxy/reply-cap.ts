import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';

/** An upstream server sent one message larger than the policy lets through to the sandbox. */
export class ReplyTooLargeError extends Error {
  constructor(
    readonly server: string,
    readonly limitBytes: number,
    /** the conductor dropped the connection to the server for it (the next call reconnects) */
    readonly dropped: boolean,
  ) {
    super(
      `The reply of MCP server "${server}" was over the policy's limit of ${limitBytes} bytes (limits.maxMcpReplyBytes)` +
        (dropped ? '; the connection to it was dropped and the next call reconnects' : ''),
    );
    this.name = 'ReplyTooLargeError';
  }
}

/**
 * The size of the largest SSE event a chunk adds to or holds (a blank line ends one; `\r` is ignored so CRLF streams
 * count too): one chunk may end an event it wholly contains.
 */
function sseCounter() {
  let size = 0;
  let afterNewline = false;
  return (chunk: Uint8Array): number => {
    let largest = size;
    for (const byte of chunk) {
      if (byte === 0x0a) {
        if (afterNewline) size = 0;
        afterNewline = true;
      } else if (byte !== 0x0d) afterNewline = false;
      size++;
      if (size > largest) largest = size;
    }
    return largest;
  };
}

/**
 * A fetch for the SDK's Streamable HTTP transport whose response bodies fail as soon as one message passes
 * `maxBytes`: a JSON body as a whole, an SSE stream per event (a long-lived stream of small events is fine). The
 * SDK would otherwise buffer any amount (`response.json()`, its event parser). A JSON body fails its request with
 * the error; an SSE stream cannot fail one request, so `onSseOverflow` is told and the caller drops the connection.
 */
export function cappedFetch(
  server: string,
  maxBytes: number,
  onSseOverflow: () => void,
  base: FetchLike = fetch,
): FetchLike {
  return async (url, init) => {
    const response = await base(url, init);
    if (!response.body || !response.ok || response.status === 204) return response;
    const sse = /^\s*text\/event-stream/i.test(response.headers.get('content-type') ?? '');
    let total = 0;
    const count = sse ? sseCounter() : (chunk: Uint8Array) => (total += chunk.length);
    const body = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          if (count(chunk) <= maxBytes) return controller.enqueue(chunk);
          if (sse) onSseOverflow();
          controller.error(new ReplyTooLargeError(server, maxBytes, sse));
        },
      }),
    );
    return new Response(body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}
