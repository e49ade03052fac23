/**
 * A minimal Language Server Protocol client: Content-Length framed JSON-RPC over a byte stream. The server runs in
 * a sandbox container and reads hostile code, so what it sends is hostile too: headers and messages are bounded
 * before they are buffered, and anything malformed ends the session.
 */

export interface LspLimits {
  /** one message's body, in bytes */
  maxMessageBytes: number;
}

const MAX_HEADER_BYTES = 1024;
const SEPARATOR = Buffer.from('\r\n\r\n');

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

/** What a server may ask of its client: answered here so the server never waits on us. */
function answerServerRequest(method: string, params: unknown): unknown {
  if (method === 'workspace/configuration') {
    const items = (params as { items?: unknown[] } | undefined)?.items;
    return Array.isArray(items) ? items.slice(0, 100).map(() => ({ enable: true, lint: false })) : [];
  }
  return null;
}

export class LspClient {
  #buffer: Buffer = Buffer.alloc(0);
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #closed: Error | undefined;

  constructor(
    readonly write: (bytes: Buffer) => void,
    readonly limits: LspLimits,
  ) {}

  get closed(): Error | undefined {
    return this.#closed;
  }

  /** Bytes the server wrote to its stdout. */
  push(chunk: Buffer): void {
    if (this.#closed) return;
    this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, chunk]) : chunk;
    for (;;) {
      const end = this.#buffer.indexOf(SEPARATOR);
      if (end < 0) {
        if (this.#buffer.length > MAX_HEADER_BYTES)
          this.close(new Error('the language server sent a bad header'));
        return;
      }
      if (end > MAX_HEADER_BYTES) return this.close(new Error('the language server sent a bad header'));
      const length = Number(
        /^Content-Length: *(\d{1,10})\r?$/im.exec(this.#buffer.subarray(0, end).toString())?.[1],
      );
      if (!Number.isSafeInteger(length) || length > this.limits.maxMessageBytes) {
        return this.close(new Error('the language server sent a message over the size limit'));
      }
      const start = end + SEPARATOR.length;
      if (this.#buffer.length < start + length) return;
      const body = this.#buffer.subarray(start, start + length);
      this.#buffer = Buffer.from(this.#buffer.subarray(start + length));
      let message: unknown;
      try {
        message = JSON.parse(body.toString('utf8'));
      } catch {
        return this.close(new Error('the language server sent invalid JSON'));
      }
      this.#dispatch(message);
    }
  }

  request<T>(method: string, params: unknown): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closed);
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#send({ jsonrpc: '2.0', id, method, params });
    });
  }

  notify(method: string, params: unknown): void {
    if (!this.#closed) this.#send({ jsonrpc: '2.0', method, params });
  }

  /** Fails every request still waiting; idempotent. */
  close(reason: Error): void {
    if (this.#closed) return;
    this.#closed = reason;
    for (const p of this.#pending.values()) p.reject(reason);
    this.#pending.clear();
    this.#buffer = Buffer.alloc(0);
  }

  #send(message: unknown): void {
    const body = Buffer.from(JSON.stringify(message));
    this.write(Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`), body]));
  }

  #dispatch(message: unknown): void {
    if (typeof message !== 'object' || message === null) return;
    const m = message as {
      id?: unknown;
      method?: unknown;
      params?: unknown;
      result?: unknown;
      error?: { message?: unknown } | null;
    };
    if (typeof m.method === 'string') {
      // A request from the server (it has an id) gets an answer; its notifications are not needed.
      if (typeof m.id === 'number' || typeof m.id === 'string')
        this.#send({ jsonrpc: '2.0', id: m.id, result: answerServerRequest(m.method, m.params) });
      return;
    }
    if (typeof m.id !== 'number') return;
    const pending = this.#pending.get(m.id);
    if (!pending) return;
    this.#pending.delete(m.id);
    if (m.error !== undefined) {
      const text = m.error?.message;
      pending.reject(
        new Error(`the language server failed: ${typeof text === 'string' ? text.slice(0, 300) : 'error'}`),
      );
    } else pending.resolve(m.result);
  }
}
