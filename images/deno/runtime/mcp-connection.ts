/**
 * One execution's call channel to the conductor: each call is a `call` frame (or a `playbook` frame, for
 * importPlaybook) with a fresh integer id, answered by the `reply` frame with that id; replies may come in any
 * order, so calls run concurrently.
 */
import type { McpCallToolResult } from './mcp-factory.d.ts';
import { P } from './primordials.ts';

import type { Op } from './protocol.ts';
export type CallFields = {
  op: Op;
  server?: string;
  name?: string;
  uri?: string;
  args?: Record<string, unknown>;
};
type Reply = { ok: true; result: unknown } | { ok: false; error: { message: string; code: string } };

export class McpError extends Error {
  code: string;
  constructor(message: string, code: string) {
    super(message);
    this.name = 'McpError';
    this.code = code;
  }
}

export class McpToolError extends McpError {
  constructor(
    message: string,
    readonly server: string,
    readonly tool: string,
    readonly result: McpCallToolResult,
  ) {
    super(message, 'tool_error');
    this.name = 'McpToolError';
  }
}

/** Matches calls to replies. `send` writes a frame; `onBusy` says whether any call is waiting for a reply. */
export class McpConnection {
  #nextId = 1;
  #pending: Record<number, (reply: Reply) => void> = P.ObjectCreate(null);
  #count = 0;
  #closed: string | undefined;

  constructor(
    readonly send: (message: unknown) => Promise<boolean>,
    readonly onBusy: (busy: boolean) => void = () => {},
  ) {}

  call(fields: CallFields): Promise<unknown> {
    return this.request({ t: 'call', ...fields });
  }

  /** Sends one frame with a fresh id and resolves with its reply's result (rejects with its error). */
  async request(frame: { t: 'call' | 'playbook'; [key: string]: unknown }): Promise<unknown> {
    if (this.#closed !== undefined) throw new McpError(this.#closed, 'connection_closed');
    const id = this.#nextId++;
    const reply = await new P.PromiseCtor<Reply>((resolve) => {
      this.#pending[id] = resolve;
      if (this.#count++ === 0) this.onBusy(true);
      void this.#transmit({ ...frame, id });
    });
    // Created here, after the await, so the stack shows the user's awaiting frames.
    if (!reply.ok) throw new McpError(reply.error.message, reply.error.code);
    return reply.result;
  }

  async #transmit(message: unknown): Promise<void> {
    let ok = false;
    try {
      ok = await this.send(message);
    } catch {
      // Reported below like any failed write.
    }
    if (!ok) this.close('a call could not be written to it');
  }

  /** Handles a `reply` frame from the host; replies to unknown ids are ignored. */
  deliver(message: { id?: unknown; ok?: unknown; result?: unknown; error?: unknown }): void {
    const id = message.id;
    if (typeof id !== 'number') return;
    const resolve = this.#pending[id];
    if (resolve === undefined) return;
    delete this.#pending[id];
    if (--this.#count === 0) this.onBusy(false);
    if (message.ok === true) return resolve({ ok: true, result: message.result });
    const error = (
      typeof message.error === 'object' && message.error !== null ? message.error : {}
    ) as Record<string, unknown>;
    const text = typeof error.message === 'string' ? error.message : 'the host refused the call';
    resolve({
      ok: false,
      error: { message: text, code: typeof error.code === 'string' ? error.code : 'error' },
    });
  }

  /** Fails every waiting call and every later one. */
  close(reason: string): void {
    if (this.#closed !== undefined) return;
    this.#closed = `mcpFactory: the connection to the conductor closed (${reason})`;
    for (const id in this.#pending) {
      const resolve = this.#pending[id] as (reply: Reply) => void;
      delete this.#pending[id];
      resolve({ ok: false, error: { message: this.#closed, code: 'connection_closed' } });
    }
    if (this.#count > 0) this.onBusy(false);
    this.#count = 0;
  }
}
