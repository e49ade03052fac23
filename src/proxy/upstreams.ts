import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport, SseError } from '@modelcontextprotocol/sdk/client/sse.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { FetchLike, Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { AsyncLocalStorage } from 'node:async_hooks';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { McpServers, UpstreamServer } from '../config/mcp-config.js';
import { UpstreamError, type TraceContext } from '../core/index.js';
import type { Logger } from '../obs/index.js';
import { cappedFetch, ReplyTooLargeError } from './reply-cap.js';

/** SDK clients to the configured upstream MCP servers: started on first use, shared, restarted after a crash. */
export interface UpstreamPool {
  names(): string[];
  /** the server's shared client, connected on first use */
  get(name: string): Promise<Client>;
  /**
   * Runs `fn` with the server's client. A failure showing the connection is dead drops the client, so the next use
   * reconnects. A request the server refused because it no longer knows the session (it restarted) never ran, so it
   * is retried once on a fresh connection. `signal` stops the wait for a connection, not the shared connect.
   * `trace` goes with the HTTP requests `fn` makes, as W3C `traceparent`/`tracestate` headers.
   */
  use<T>(
    name: string,
    fn: (client: Client) => Promise<T>,
    signal?: AbortSignal,
    trace?: TraceContext,
  ): Promise<T>;
  close(): Promise<void>;
}

export interface UpstreamPoolOptions {
  servers: McpServers;
  logger: Logger;
  connectTimeoutMs?: number;
  /** the client version upstream servers are told (the conductor's) */
  version: string;
  /** the largest message taken from a server (the policy's limits.maxMcpReplyBytes), enforced as it arrives */
  maxReplyBytes: number;
}

/** The SDK's stdio transport reads up to one pipe buffer at a time: its limit covers a whole message plus that. */
const PIPE_READ_BYTES = 64 * 1024;
/** What the SDK's stdio transport says when a message outgrows its buffer (it then closes the connection). */
const STDIO_OVERFLOW = /^ReadBuffer exceeded maximum size/;

/** How the SDK's SSE transport fails a message the server would not take (it keeps no status code). */
const SSE_POST_FAILED = /^Error POSTing to endpoint \(HTTP (\d{3})\)/;

/** The HTTP status an SSE server refused a posted message with, if that is what `error` is. */
function ssePostStatus(error: unknown): number | undefined {
  const status = error instanceof Error ? SSE_POST_FAILED.exec(error.message)?.[1] : undefined;
  return status === undefined ? undefined : Number(status);
}

/** The server refused a request for its session id: it restarted or expired the session, and ran nothing. */
function isSessionLost(error: unknown): boolean {
  if (ssePostStatus(error) === 404) return true;
  return (
    error instanceof StreamableHTTPError &&
    (error.code === 404 || (error.code === 400 && /session/i.test(error.message)))
  );
}

/** An HTTP transport error after which the connection cannot serve requests: the server died or forgot us. */
function isConnectionBroken(error: unknown): boolean {
  // The SSE stream carries every answer: once it failed (the transport would reconnect into a new, uninitialized
  // session), nothing more arrives on this connection.
  if (isSessionLost(error) || error instanceof SseError) return true;
  // undici: `TypeError: fetch failed` (refused, reset) and `terminated` (a response stream cut off).
  if (error instanceof TypeError) return true;
  const message = error instanceof Error ? error.message : '';
  return /^(SSE stream disconnected|Failed to reconnect|Maximum reconnection attempts)/.test(message);
}

const SYSTEM_ERRORS: Record<string, string> = {
  ENOENT: 'command not found (or its working directory does not exist)',
  EACCES: 'permission denied (the command is not executable)',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  ETIMEDOUT: 'connection timed out',
  EPIPE: 'the server stopped reading',
  UND_ERR_SOCKET: 'connection lost',
};

function systemCode(error: unknown): string | undefined {
  for (let e = error, i = 0; e instanceof Error && i < 4; e = e.cause, i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/**
 * What a client may read about an upstream failure: the server's own error text, or a description of the transport
 * failure without host paths, URLs or headers (the full error goes to the conductor's log).
 */
export function describeUpstreamFailure(error: unknown): string {
  if (error instanceof McpError) {
    if (error.code === (ErrorCode.ConnectionClosed as number))
      return 'the connection to the server closed (it exited or went away)';
    return error.message;
  }
  if (error instanceof ReplyTooLargeError) return error.message;
  if (error instanceof UnauthorizedError) return 'the server refused the credentials (HTTP 401)';
  if (error instanceof StreamableHTTPError)
    return (error.code ?? 0) > 0
      ? `the server answered HTTP ${error.code}`
      : 'the server sent an unexpected response';
  if (error instanceof SseError)
    return (error.code ?? 0) > 0
      ? `the server's event stream failed (HTTP ${error.code})`
      : "the server's event stream failed";
  const posted = ssePostStatus(error);
  if (posted !== undefined) return `the server answered HTTP ${posted}`;
  const code = systemCode(error);
  if (code !== undefined) return SYSTEM_ERRORS[code] ?? `transport error ${code.replace(/[^A-Z0-9_]/g, '')}`;
  if (error instanceof Error && error.name === 'ZodError') return 'the server sent an invalid response';
  if (error instanceof TypeError) return 'the connection to the server failed';
  return 'unexpected transport error (see the conductor log)';
}

/** Waits for `promise` unless `signal` fires first; the work behind the promise goes on for its other users. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => (signal.removeEventListener('abort', onAbort), resolve(v)),
      (e: unknown) => (signal.removeEventListener('abort', onAbort), reject(e as Error)),
    );
  });
}

/**
 * A fetch that adds the trace context of the request being made. The client is shared by every execution, so the
 * context cannot be a transport header: it travels with the async context of the `use` that sends the request
 * (the SDK sends each request synchronously from its caller), and the connect, made outside any `use`, has none.
 */
function tracingFetch(base: FetchLike, current: AsyncLocalStorage<TraceContext>): FetchLike {
  return (url, init) => {
    const trace = current.getStore();
    if (!trace) return base(url, init);
    const headers = new Headers(init?.headers);
    headers.set('traceparent', trace.traceparent);
    if (trace.tracestate !== undefined) headers.set('tracestate', trace.tracestate);
    return base(url, { ...init, headers });
  };
}

/**
 * The SDK transport for one configured server: its own minimal environment, its stderr into our log, and no message
 * from it buffered past the reply cap (`onOverflow` is told when the connection has to go for one).
 */
function transportFor(
  name: string,
  server: UpstreamServer,
  log: Logger,
  opts: { maxReplyBytes: number; trace: AsyncLocalStorage<TraceContext> },
  onOverflow: () => void,
): StdioClientTransport | StreamableHTTPClientTransport | SSEClientTransport {
  const { maxReplyBytes } = opts;
  if ('command' in server) {
    // The upstream gets a minimal environment plus its own entry's, never the conductor's whole environment.
    const stdio = new StdioClientTransport({
      command: server.command,
      args: server.args,
      env: { ...getDefaultEnvironment(), ...server.env },
      cwd: server.cwd,
      stderr: 'pipe',
      maxBufferSize: maxReplyBytes + PIPE_READ_BYTES,
    });
    const stderr = stdio.stderr as Readable | null;
    if (stderr)
      createInterface({ input: stderr }).on('line', (line) => log.info({ stderr: line }, 'upstream stderr'));
    return stdio;
  }
  // Both HTTP transports send every request (and SSE its event stream) through the same capped, traced fetch.
  const http = {
    requestInit: { headers: server.headers },
    fetch: tracingFetch(cappedFetch(name, maxReplyBytes, onOverflow), opts.trace),
  };
  return server.transport === 'sse'
    ? new SSEClientTransport(new URL(server.url), http)
    : new StreamableHTTPClientTransport(new URL(server.url), http);
}

/** Why a server could not be started, in words a client may read. */
function startFailure(error: unknown): string {
  if (error instanceof McpError && error.code === (ErrorCode.RequestTimeout as number))
    return 'it did not answer initialize in time';
  if (error instanceof McpError && error.code === (ErrorCode.ConnectionClosed as number))
    return 'it exited before it was ready (its stderr is in the conductor log)';
  return describeUpstreamFailure(error);
}

/**
 * `client.connect` bounded as a whole: the SSE transport's start waits for the server's `endpoint` event with no
 * timeout of its own, so a server that opens the stream and says nothing would hold the connect forever.
 */
async function connectWithin(client: Client, transport: Transport, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new McpError(ErrorCode.RequestTimeout, 'the connection did not open in time')),
      timeoutMs,
    );
  });
  try {
    await Promise.race([client.connect(transport, { timeout: timeoutMs }), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts one upstream's client. `forget` is told when the connection is gone for good (the process died, an HTTP
 * server forgot its session) and answers whether this client was still the pool's current one.
 */
async function connectUpstream(
  name: string,
  server: UpstreamServer,
  opts: UpstreamPoolOptions,
  trace: AsyncLocalStorage<TraceContext>,
  forget: (client: Client) => boolean,
  overflowed: (client: Client) => void,
): Promise<Client> {
  const log = opts.logger.child({ upstream: name });
  const client = new Client({ name: 'mcp-conductor', version: opts.version });
  const { maxReplyBytes } = opts;
  const transport = transportFor(name, server, log, { maxReplyBytes, trace }, () => overflowed(client));
  if (transport instanceof StdioClientTransport) {
    // The SDK closes the connection itself; the requests it fails are then answered with the reason.
    client.onerror = (error) => {
      if (STDIO_OVERFLOW.test(error.message)) overflowed(client);
    };
  } else {
    // An HTTP server that dies does not close the transport: its session is gone and every later request would
    // fail. Close on the first sign of that (an SSE event over the cap, too); closing also fails the requests
    // still waiting on it.
    client.onerror = (error) => {
      if (!isConnectionBroken(error) || !forget(client)) return;
      log.warn({ err: error }, 'upstream connection broken; reconnecting on next use');
      // Deferred: the transport reports an error before the failed send rejects its request, and that request
      // must see the real error (a lost session is retried), not the "connection closed" of our own close.
      setImmediate(() => void client.close().catch(() => undefined));
    };
  }
  // A closed transport (the process died, the server went away) drops the client so the next use reconnects.
  client.onclose = () => {
    if (forget(client)) log.warn('upstream connection closed');
  };
  try {
    await connectWithin(client, transport, opts.connectTimeoutMs ?? 30_000);
  } catch (error) {
    log.warn({ err: error }, 'upstream failed to start');
    await client.close().catch(() => undefined);
    throw new UpstreamError(`could not start MCP server "${name}": ${startFailure(error)}`, { cause: error });
  }
  log.info('upstream connected');
  return client;
}

type Entry = { promise: Promise<Client>; client?: Client };

export function createUpstreamPool(opts: UpstreamPoolOptions): UpstreamPool {
  const servers = new Map(Object.entries(opts.servers));
  const entries = new Map<string, Entry>();
  const dead = new WeakSet<Client>();
  /** clients dropped for a message over the cap: what fails on them fails for that reason */
  const overflowed = new WeakSet<Client>();
  /** the trace context of the `use` whose request is being sent */
  const trace = new AsyncLocalStorage<TraceContext>();
  let closed = false;

  /** Forgets this client if it is still the current one, so the next use reconnects; true when it was. */
  const forget = (name: string, client: Client): boolean => {
    dead.add(client);
    if (entries.get(name)?.client !== client) return false;
    entries.delete(name);
    return true;
  };

  const connect = (name: string) =>
    connectUpstream(
      name,
      servers.get(name)!,
      opts,
      trace,
      (client) => forget(name, client),
      (client) => overflowed.add(client),
    );

  const get = (name: string): Promise<Client> => {
    if (closed) return Promise.reject(new UpstreamError('the conductor is shutting down'));
    if (!servers.has(name)) return Promise.reject(new UpstreamError(`Unknown MCP server "${name}"`));
    const existing = entries.get(name);
    if (existing) return existing.promise;
    const entry: Entry = { promise: connect(name) };
    entries.set(name, entry);
    entry.promise.then(
      (client) => {
        if (dead.has(client)) {
          if (entries.get(name) === entry) entries.delete(name);
        } else entry.client = client;
      },
      () => {
        if (entries.get(name) === entry) entries.delete(name);
      },
    );
    return entry.promise;
  };

  return {
    names: () => [...servers.keys()].sort(),
    get,
    async use(name, fn, signal, context) {
      for (let attempt = 0; ; attempt++) {
        const client = await abortable(get(name), signal);
        try {
          return await (context ? trace.run(context, () => fn(client)) : fn(client));
        } catch (error) {
          if (overflowed.has(client) && !(error instanceof ReplyTooLargeError))
            throw new ReplyTooLargeError(name, opts.maxReplyBytes, true);
          if (!isSessionLost(error)) throw error;
          if (forget(name, client)) void client.close().catch(() => undefined);
          if (attempt > 0 || signal?.aborted) throw error;
        }
      }
    },
    async close() {
      closed = true;
      const all = [...entries.values()];
      entries.clear();
      await Promise.allSettled(all.map(async (e) => (await e.promise).close()));
    },
  };
}
