// The upstream pool against real server processes (no Docker): restarts, and what clients may read of a failure.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createSilentLogger } from '../src/obs/index.js';
import { createUpstreamPool, describeUpstreamFailure, type UpstreamPool } from '../src/proxy/upstreams.js';
import {
  freePort,
  killProcess as kill,
  repoRoot,
  startHttpMcpServer as startHttp,
  mcpPackage,
} from './helpers.js';

const everything = mcpPackage('server-everything');
const logger = createSilentLogger();

const echo = (pool: UpstreamPool, message: string) =>
  pool.use('http', async (c) => {
    const r = await c.callTool({ name: 'echo', arguments: { message } });
    return (r.content as { text: string }[])[0]!.text;
  });

describe('upstream pool', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  it('reconnects to a Streamable HTTP server that was killed mid-call and restarted on the same port', async () => {
    const port = await freePort();
    let server = await startHttp(port);
    cleanup.push(() => kill(server));
    const pool = createUpstreamPool({
      servers: { http: { url: `http://127.0.0.1:${port}/mcp`, headers: {} } },
      logger,
      version: '1.0.0',
      maxReplyBytes: 1 << 20,
    });
    cleanup.push(() => pool.close());
    expect(await echo(pool, 'one')).toBe('Echo: one');

    // Killed mid-call: the waiting call fails at once with a clear error instead of waiting for its timeout.
    const long = pool
      .use('http', (c) =>
        c.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 30, steps: 3 } }),
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    await kill(server);
    const error = await long;
    expect(performance.now() - t0).toBeLessThan(5000);
    const text = describeUpstreamFailure(error);
    expect(text).toMatch(/closed|connection|lost|reset/);
    expect(text).not.toContain(String(port));

    server = await startHttp(port);
    expect(await echo(pool, 'two')).toBe('Echo: two');
    expect(await echo(pool, 'three')).toBe('Echo: three');
  });

  it('reconnects when the server restarts between two calls', async () => {
    const port = await freePort();
    let server = await startHttp(port);
    cleanup.push(() => kill(server));
    const pool = createUpstreamPool({
      servers: { http: { url: `http://127.0.0.1:${port}/mcp`, headers: {} } },
      logger,
      version: '1.0.0',
      maxReplyBytes: 1 << 20,
    });
    cleanup.push(() => pool.close());
    const first = await pool.get('http');
    expect(await echo(pool, 'before')).toBe('Echo: before');
    // Restarted between two calls, with no request in flight: the next call still works, on a new session.
    await kill(server);
    server = await startHttp(port);
    expect(await echo(pool, 'after')).toBe('Echo: after');
    expect(await pool.get('http')).not.toBe(first);
  });

  it('retries once, on a new session, a request that a restarted server refused for its unknown session', async () => {
    const port = await freePort();
    const script = [join(repoRoot, 'test/fixtures/session-http-server.mjs')];
    let server = await startHttp(port, script);
    cleanup.push(() => kill(server));
    const pool = createUpstreamPool({
      servers: { s: { url: `http://127.0.0.1:${port}/mcp`, headers: {} } },
      logger,
      version: '1.0.0',
      maxReplyBytes: 1 << 20,
    });
    cleanup.push(() => pool.close());
    const pid = () =>
      pool.use('s', async (c) => {
        const r = await c.callTool({ name: 'pid', arguments: {} });
        return (r.content as { text: string }[])[0]!.text;
      });
    const before = await pid();
    const first = await pool.get('s');
    // No stream is open between calls, so nothing notices the restart until the next request gets a 404.
    await kill(server);
    server = await startHttp(port, script);
    const after = await pid();
    expect(after).not.toBe(before);
    expect(after).toBe(String(server.pid));
    expect(await pool.get('s')).not.toBe(first);
  });

  it('reports a missing command, a missing directory and a refused connection without host paths or URLs', async () => {
    const port = await freePort();
    const pool = createUpstreamPool({
      servers: {
        missing: { command: '/nonexistent/secret-dir/mcp-server', args: [], env: {} },
        nocwd: {
          command: process.execPath,
          args: [everything, 'stdio'],
          env: {},
          cwd: '/nonexistent/secret-cwd',
        },
        exits: { command: process.execPath, args: ['-e', 'process.exit(2)'], env: {} },
        refused: { url: `http://127.0.0.1:${port}/mcp`, headers: { Authorization: 'Bearer s3cret' } },
      },
      logger,
      version: '1.0.0',
      maxReplyBytes: 1 << 20,
    });
    cleanup.push(() => pool.close());
    const message = (name: string) =>
      pool.get(name).then(
        () => 'connected',
        (e: unknown) => (e as Error).message,
      );
    expect(await message('missing')).toBe(
      'could not start MCP server "missing": command not found (or its working directory does not exist)',
    );
    expect(await message('nocwd')).toContain('could not start MCP server "nocwd": command not found');
    expect(await message('exits')).toBe(
      'could not start MCP server "exits": it exited before it was ready (its stderr is in the conductor log)',
    );
    const refused = await message('refused');
    expect(refused).toBe('could not start MCP server "refused": connection refused');
    for (const text of [await message('missing'), await message('nocwd'), refused]) {
      expect(text).not.toMatch(/nonexistent|secret|127\.0\.0\.1|s3cret/);
    }
  });
});

describe('upstream pool over HTTP+SSE', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  const ssePool = (url: string, extra: Partial<Parameters<typeof createUpstreamPool>[0]> = {}) => {
    const pool = createUpstreamPool({
      servers: { http: { url, headers: { 'X-Api-Key': 'k-1' }, transport: 'sse' } },
      logger,
      version: '1.0.0',
      maxReplyBytes: 1 << 20,
      ...extra,
    });
    cleanup.push(() => pool.close());
    return pool;
  };

  it('calls server-everything over SSE, and reconnects after the server was killed and restarted', async () => {
    const port = await freePort();
    let server = await startHttp(port, [everything, 'sse']);
    cleanup.push(() => kill(server));
    const pool = ssePool(`http://127.0.0.1:${port}/sse`);
    expect(await echo(pool, 'one')).toBe('Echo: one');
    const first = await pool.get('http');
    await kill(server);
    server = await startHttp(port, [everything, 'sse']);
    // The broken event stream drops the client; the next call opens a new stream and session.
    await expect.poll(() => echo(pool, 'two').catch(() => 'failed'), { timeout: 10_000 }).toBe('Echo: two');
    expect(await pool.get('http')).not.toBe(first);
  });

  it('sends the configured headers on the stream and every message, and the trace on the call', async () => {
    const port = await freePort();
    const server = await startHttp(port, [join(repoRoot, 'test/fixtures/sse-headers-server.mjs')]);
    cleanup.push(() => kill(server));
    const pool = ssePool(`http://127.0.0.1:${port}/sse`);
    const traceparent = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`;
    const seen = await pool.use(
      'http',
      async (c) => {
        const r = await c.callTool({ name: 'headers', arguments: {} });
        return JSON.parse((r.content as { text: string }[])[0]!.text) as Record<
          string,
          Record<string, string>
        >;
      },
      undefined,
      { traceparent, tracestate: 'v=1' },
    );
    expect(seen.get).toMatchObject({ 'x-api-key': 'k-1', accept: 'text/event-stream' });
    expect(seen.get).not.toHaveProperty('traceparent');
    expect(seen.post).toMatchObject({ 'x-api-key': 'k-1', traceparent, tracestate: 'v=1' });
  });

  it('fails a reply over the cap with the policy limit and drops the connection', async () => {
    const port = await freePort();
    const server = await startHttp(port, [everything, 'sse']);
    cleanup.push(() => kill(server));
    const pool = ssePool(`http://127.0.0.1:${port}/sse`, { maxReplyBytes: 4096 });
    expect(await echo(pool, 'small')).toBe('Echo: small');
    const first = await pool.get('http');
    await expect(echo(pool, 'x'.repeat(8192))).rejects.toThrow(/over the policy's limit of 4096 bytes/);
    expect(await echo(pool, 'again')).toBe('Echo: again');
    expect(await pool.get('http')).not.toBe(first);
  });

  it('gives up on a server that opens the event stream and never names its endpoint, within the timeout', async () => {
    const silent = createServer((_, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': hello\n\n');
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    cleanup.push(() => {
      const closed = new Promise((r) => silent.close(r));
      silent.closeAllConnections();
      return closed;
    });
    const { port } = silent.address() as AddressInfo;
    const pool = ssePool(`http://127.0.0.1:${port}/sse`, { connectTimeoutMs: 500 });
    const t0 = performance.now();
    await expect(pool.get('http')).rejects.toThrow(
      'could not start MCP server "http": it did not answer initialize in time',
    );
    expect(performance.now() - t0).toBeLessThan(3000);
  });

  it('reports a refused connection without the URL or headers', async () => {
    const port = await freePort();
    const pool = ssePool(`http://127.0.0.1:${port}/sse`);
    const error = await pool.get('http').catch((e: unknown) => e as Error);
    expect((error as Error).message).toMatch(/^could not start MCP server "http": /);
    expect((error as Error).message).not.toMatch(/127\.0\.0\.1|k-1/);
  });
});
