import type { McpSessionServer } from './types.js';
import type { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';

export interface Session {
  tenant: string;
  /** the caller that opened it (Caller.identity): no other may use it */
  identity: string;
  transport: WebStandardStreamableHTTPServerTransport;
  server: McpSessionServer;
  lastSeenMs: number;
  /** POST requests whose response has not finished yet (a tool call in progress) */
  busy: number;
}

export interface SessionStoreOptions {
  /** open sessions across all tenants */
  maxSessions: number;
  /** a session with no request for this long, and none in progress, is closed */
  idleTimeoutMs: number;
  now?: () => number;
}

/**
 * Whether a new session may be opened now: a refusal, or room (made, at the tenant's cap, by closing that tenant's
 * least recently used idle session: `evicted` says how long it had been idle).
 */
export type Admission =
  | { refusal: { status: 429 | 503; message: string }; evicted?: undefined }
  | { refusal?: undefined; evicted?: { idleMs: number } };

/**
 * The open Streamable HTTP sessions: per-tenant and global caps, and an idle sweep so abandoned sessions (a client
 * that vanished without DELETE) do not hold their tenant's places for ever. One-shot clients (an Inspector CLI)
 * leave a session behind on every call, so a tenant at its cap gives up its least recently used idle session
 * rather than refuse the next one; a session with a request in progress is never closed for another.
 */
export function createSessionStore(opts: SessionStoreOptions) {
  const now = opts.now ?? Date.now;
  const sessions = new Map<string, Session>();
  /** sessions of a tenant that is gone, closed once the request they are busy with has answered */
  const ending = new WeakSet<Session>();
  /** sessions whose initialize request is being handled, per tenant: they count against the caps */
  const opening = new Map<string, number>();

  const countFor = (tenant: string) => {
    let n = opening.get(tenant) ?? 0;
    for (const s of sessions.values()) if (s.tenant === tenant) n++;
    return n;
  };
  const totalOpening = () => [...opening.values()].reduce((a, b) => a + b, 0);

  const drop = (id: string) => {
    const s = sessions.get(id);
    if (!s) return;
    sessions.delete(id);
    void s.server.close().catch(() => undefined);
  };

  const sweep = () => {
    const cutoff = now() - opts.idleTimeoutMs;
    for (const [id, s] of sessions) if (s.busy === 0 && s.lastSeenMs < cutoff) drop(id);
  };
  const timer = setInterval(sweep, Math.max(100, Math.min(opts.idleTimeoutMs / 4, 30_000)));
  timer.unref();

  return {
    get size() {
      return sessions.size;
    },
    get(id: string) {
      return sessions.get(id);
    },
    admit(tenant: string, tenantMax: number): Admission {
      let evicted: { idleMs: number } | undefined;
      if (countFor(tenant) >= tenantMax) {
        let lru: [string, Session] | undefined;
        for (const entry of sessions)
          if (
            entry[1].tenant === tenant &&
            entry[1].busy === 0 &&
            (!lru || entry[1].lastSeenMs < lru[1].lastSeenMs)
          )
            lru = entry;
        if (!lru)
          return {
            refusal: {
              status: 429,
              message: `tenant ${tenant} has ${tenantMax} open sessions, its limit, each with a request in progress: end one (DELETE /mcp) or wait for one to finish`,
            },
          };
        drop(lru[0]);
        evicted = { idleMs: now() - lru[1].lastSeenMs };
      }
      if (sessions.size + totalOpening() >= opts.maxSessions)
        return { refusal: { status: 503, message: 'too many open sessions on this server' } };
      return { evicted };
    },
    /** Reserves a place while the initialize request runs; the returned function releases it. */
    reserve(tenant: string): () => void {
      opening.set(tenant, (opening.get(tenant) ?? 0) + 1);
      let held = true;
      return () => {
        if (!held) return;
        held = false;
        const n = (opening.get(tenant) ?? 1) - 1;
        if (n > 0) opening.set(tenant, n);
        else opening.delete(tenant);
      };
    },
    add(id: string, session: Omit<Session, 'lastSeenMs' | 'busy'>) {
      sessions.set(id, { ...session, lastSeenMs: now(), busy: 0 });
    },
    /** The session was closed by its client (DELETE) or its transport. */
    remove: drop,
    touch(s: Session) {
      s.lastSeenMs = now();
      if (ending.has(s) && s.busy === 0) for (const [id, open] of sessions) if (open === s) drop(id);
    },
    /** The tenant is gone (a reload removed it): its idle sessions close now, the busy ones once they answer. */
    endTenant(tenant: string) {
      for (const [id, s] of sessions)
        if (s.tenant !== tenant) continue;
        else if (s.busy === 0) drop(id);
        else ending.add(s);
    },
    sweep,
    /** Waits (up to `maxWaitMs`) for responses in progress, then closes every session. */
    async closeAll(maxWaitMs: number): Promise<void> {
      clearInterval(timer);
      const until = now() + maxWaitMs;
      while ([...sessions.values()].some((s) => s.busy > 0) && now() < until)
        await new Promise((r) => setTimeout(r, 50));
      const all = [...sessions.values()];
      sessions.clear();
      await Promise.allSettled(all.map((s) => s.server.close()));
    },
  };
}

/** Calls `done` once the response body has been fully sent or the client went away. */
export function onResponseEnd(res: Response, done: () => void): Response {
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    done();
  };
  if (!res.body) {
    finish();
    return res;
  }
  const reader: ReadableStreamDefaultReader<Uint8Array> = res.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const chunk = await reader.read();
        if (chunk.done) {
          finish();
          controller.close();
        } else controller.enqueue(chunk.value);
      } catch (error) {
        finish();
        controller.error(error);
      }
    },
    async cancel(reason) {
      finish();
      await reader.cancel(reason);
    },
  });
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}

/**
 * Ends a streaming response at `atMs` (a token's expiry): the client sees the stream close and reconnects, which
 * needs a valid token again. Timers past Node's limit (about 24 days) are not set.
 */
export function endResponseAt(res: Response, atMs: number, now: () => number = Date.now): Response {
  const delayMs = atMs - now();
  if (!res.body || delayMs > 2 ** 31 - 1) return res;
  const reader: ReadableStreamDefaultReader<Uint8Array> = res.body.getReader();
  let timer: NodeJS.Timeout | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      timer = setTimeout(
        () => {
          void reader.cancel('the access token expired').catch(() => undefined);
          controller.close();
        },
        Math.max(0, delayMs),
      );
      timer.unref();
    },
    async pull(controller) {
      try {
        const chunk = await reader.read();
        if (chunk.done) {
          clearTimeout(timer);
          controller.close();
        } else controller.enqueue(chunk.value);
      } catch (error) {
        clearTimeout(timer);
        controller.error(error);
      }
    },
    async cancel(reason) {
      clearTimeout(timer);
      await reader.cancel(reason);
    },
  });
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}
