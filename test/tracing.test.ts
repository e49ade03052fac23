import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ExecutionResult } from '../src/core/index.js';
import { expectNoLeftovers, fixturePolicy, repoRoot, startConductor, mcpPackage } from './helpers.js';
import { startTarget } from './fixtures/https-target.mjs';
import { attrs, jsonSpans, startReceiver, type JsonExport } from './otlp-receiver.js';

const docker = inject('docker');
const everything = mcpPackage('server-everything');
const metaServer = join(repoRoot, 'test/fixtures/meta-server.mjs');

interface UpstreamRequest {
  method: string;
  headers: IncomingHttpHeaders;
  meta?: Record<string, unknown>;
}

/** A stateless Streamable HTTP MCP server (the real SDK's) on loopback that keeps what each POST carried. */
async function startHttpUpstream(): Promise<{
  url: string;
  requests: UpstreamRequest[];
  close: () => Promise<void>;
}> {
  const requests: UpstreamRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST') return void res.writeHead(405).end();
      const body = JSON.parse(Buffer.concat(chunks).toString()) as {
        method: string;
        params?: { _meta?: Record<string, unknown> };
      };
      requests.push({ method: body.method, headers: req.headers, meta: body.params?._meta });
      const mcp = new McpServer({ name: 'traced-http', version: '1.0.0' });
      mcp.registerTool('seen', { inputSchema: {} }, () => ({ content: [{ type: 'text', text: 'ok' }] }));
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      res.on('close', () => void transport.close());
      void mcp.connect(transport).then(() => transport.handleRequest(req, res, body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const CALLER_TRACE = '0af7651916cd43dd8448eb211c80319c';
const CALLER_SPAN = 'b7ad6b7169203331';
const MARKER = 'code-marker-7f3a';

describe.skipIf(!docker)('traces over OTLP/HTTP (real Docker, real exporter, loopback receiver)', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let mcpConfig: string;

  beforeAll(async () => {
    receiver = await startReceiver();
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-trace-'));
    mcpConfig = join(dir, 'mcp.json');
    await writeFile(
      mcpConfig,
      JSON.stringify({
        mcpServers: { everything: { command: process.execPath, args: [everything, 'stdio'] } },
      }),
    );
  });

  afterAll(async () => {
    await receiver?.close();
    await expectNoLeftovers();
  });

  it('http/json: one trace per execution, continuing the caller’s traceparent, with no code or arguments', async () => {
    const c = await startConductor('stdio', {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'conductor-under-test',
      MCP_CONDUCTOR_MCP_CONFIG: mcpConfig,
      MCP_CONDUCTOR_POLICY: fixturePolicy('small'),
      MCP_CONDUCTOR_POOL_SIZE: '1',
    });
    try {
      const code = [
        `// ${MARKER}`,
        "const e = await mcpFactory.load('everything');",
        `await e.callTool('echo', { message: 'argument-${MARKER}' });`,
        '42',
      ].join('\n');
      const traced = (await c.client.callTool(
        {
          name: 'run_deno_code',
          arguments: { deno_code: code },
          _meta: { traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01` },
        },
        undefined,
        { timeout: 120_000 },
      )) as CallToolResult;
      expect((traced.structuredContent as ExecutionResult).returnValue).toBe(42);
      expect((await c.run('1 + 1')).result.returnValue).toBe(2);
    } finally {
      // Shutting down exports what the batch still holds, the removals included.
      await c.close();
    }

    const bodies = receiver.exports.filter((e) => e.contentType.includes('json'));
    expect(bodies.length).toBeGreaterThan(0);
    for (const b of bodies) expect(b.path).toBe('/v1/traces');
    const text = bodies.map((b) => b.body.toString()).join('\n');
    for (const hidden of [MARKER, 'Echo:', 'mcpFactory.load(']) expect(text).not.toContain(hidden);
    const parsed = bodies.map((b) => JSON.parse(b.body.toString()) as JsonExport);
    const service = attrs(parsed[0]!.resourceSpans[0]!.resource.attributes);
    expect(service['service.name']).toBe('conductor-under-test');
    const spans = parsed.flatMap((p) => p.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)));

    const traced = spans.filter((s) => s.traceId === CALLER_TRACE);
    const byName = (name: string) => traced.filter((s) => s.name === name);
    expect(traced.map((s) => s.name).sort()).toEqual(
      [
        'mcpFactory.callTool',
        'mcpFactory.load',
        'queue',
        'run_deno_code',
        'sandbox.acquire',
        'sandbox.remove',
        'sandbox.run',
      ].sort(),
    );
    const [root] = byName('run_deno_code');
    expect(root!.parentSpanId).toBe(CALLER_SPAN);
    for (const name of ['queue', 'sandbox.acquire', 'sandbox.run', 'sandbox.remove'])
      expect(byName(name)[0]!.parentSpanId).toBe(root!.spanId);
    const [run] = byName('sandbox.run');
    for (const name of ['mcpFactory.load', 'mcpFactory.callTool'])
      expect(byName(name)[0]!.parentSpanId).toBe(run!.spanId);
    const rootAttrs = attrs(root!.attributes);
    expect(rootAttrs).toMatchObject({
      'mcp_conductor.tenant': 'local',
      'mcp_conductor.status': 'success',
      'mcp_conductor.exit_reason': 'completed',
    });
    expect(rootAttrs['mcp_conductor.execution_id']).toMatch(/^[0-9a-f-]{36}$/);
    // Whether the pool had the container ready depends on timing; the unit test pins the mapping.
    expect(['pool', 'cold']).toContain(
      attrs(byName('sandbox.acquire')[0]!.attributes)['mcp_conductor.sandbox.source'],
    );
    expect(attrs(byName('mcpFactory.callTool')[0]!.attributes)).toEqual({
      'mcp_conductor.mcp.server': 'everything',
      'mcp_conductor.mcp.op': 'callTool',
      'mcp_conductor.mcp.tool': 'echo',
      'mcp_conductor.mcp.status': 'ok',
    });

    // The call without a traceparent is a trace of its own, its root without a parent.
    const roots = spans.filter((s) => s.name === 'run_deno_code' && s.traceId !== CALLER_TRACE);
    expect(roots).toHaveLength(1);
    expect(roots[0]!.parentSpanId ?? '').toBe('');
    expect(spans.filter((s) => s.traceId === roots[0]!.traceId)).toHaveLength(5);
  });

  it('http/protobuf by default, and nothing is exported without an endpoint', async () => {
    receiver.exports.length = 0;
    const plain = await startConductor('stdio', { MCP_CONDUCTOR_POOL_SIZE: '0' });
    try {
      expect((await plain.run('3')).result.returnValue).toBe(3);
    } finally {
      await plain.close();
    }
    expect(receiver.exports).toHaveLength(0);

    const c = await startConductor('stdio', {
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/custom/traces`,
      MCP_CONDUCTOR_POOL_SIZE: '0',
    });
    try {
      const r = (await c.client.callTool(
        {
          name: 'run_deno_code',
          arguments: { deno_code: '7' },
          _meta: { traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01` },
        },
        undefined,
        { timeout: 120_000 },
      )) as CallToolResult;
      expect((r.structuredContent as ExecutionResult).returnValue).toBe(7);
    } finally {
      await c.close();
    }
    expect(receiver.exports.length).toBeGreaterThan(0);
    const body = Buffer.concat(receiver.exports.map((e) => e.body));
    for (const e of receiver.exports) {
      expect(e.path).toBe('/custom/traces');
      expect(e.contentType).toBe('application/x-protobuf');
    }
    // Protobuf keeps ids as raw bytes and names as UTF-8: the caller's trace id and the span names are in the body.
    expect(body.includes(Buffer.from(CALLER_TRACE, 'hex'))).toBe(true);
    expect(body.includes(Buffer.from(CALLER_SPAN, 'hex'))).toBe(true);
    for (const name of ['run_deno_code', 'sandbox.acquire', 'sandbox.run', 'sandbox.remove', 'mcp-conductor'])
      expect(body.includes(Buffer.from(name))).toBe(true);
    expect(body.toString('latin1')).not.toContain('resourceSpans');
  });

  it('upstream servers are told the trace: the traceparent header (HTTP) and _meta (both), parented on the mcpFactory span', async () => {
    receiver.exports.length = 0;
    const upstream = await startHttpUpstream();
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-trace-up-'));
    const config = join(dir, 'mcp.json');
    await writeFile(
      config,
      JSON.stringify({
        mcpServers: {
          web: { url: upstream.url },
          local: { command: process.execPath, args: [metaServer] },
        },
      }),
    );
    const code = [
      "await (await mcpFactory.load('web')).callTool('seen', {});",
      "return await (await mcpFactory.load('local')).callTool('meta', {});",
    ].join('\n');
    let continued: unknown;
    let fresh: unknown;
    const c = await startConductor('stdio', {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      MCP_CONDUCTOR_MCP_CONFIG: config,
      MCP_CONDUCTOR_POLICY: fixturePolicy('small'),
      MCP_CONDUCTOR_POOL_SIZE: '0',
    });
    try {
      const r = (await c.client.callTool(
        {
          name: 'run_deno_code',
          arguments: { deno_code: code },
          _meta: { traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01`, tracestate: 'vendor=abc' },
        },
        undefined,
        { timeout: 120_000 },
      )) as CallToolResult;
      continued = (r.structuredContent as ExecutionResult).returnValue;
      fresh = (await c.run(code)).result.returnValue;
    } finally {
      await c.close();
      await upstream.close();
    }

    const spans = jsonSpans(receiver.exports);
    const callSpan = (traceId: string, server: string) =>
      spans.find(
        (s) =>
          s.traceId === traceId &&
          s.name === 'mcpFactory.callTool' &&
          attrs(s.attributes)['mcp_conductor.mcp.server'] === server,
      )!;
    const calls = upstream.requests.filter((q) => q.method === 'tools/call');
    expect(calls).toHaveLength(2);
    // The connection's own requests (initialize, its notification) belong to no execution: no trace context.
    for (const q of upstream.requests.filter((q) => q.method !== 'tools/call'))
      expect(q.headers.traceparent).toBeUndefined();

    // Continuing the caller's trace: its trace id and tracestate, the conductor's own mcpFactory span as the parent.
    const web = callSpan(CALLER_TRACE, 'web');
    const local = callSpan(CALLER_TRACE, 'local');
    const parent = `00-${CALLER_TRACE}-${web.spanId}-01`;
    expect(calls[0]!.headers.traceparent).toBe(parent);
    expect(calls[0]!.headers.tracestate).toBe('vendor=abc');
    expect(calls[0]!.meta).toEqual({ traceparent: parent, tracestate: 'vendor=abc' });
    expect(continued).toEqual({
      traceparent: `00-${CALLER_TRACE}-${local.spanId}-01`,
      tracestate: 'vendor=abc',
    });
    const [run] = spans.filter((s) => s.traceId === CALLER_TRACE && s.name === 'sandbox.run');
    expect(web.parentSpanId).toBe(run!.spanId);

    // A call without a traceparent: the new trace's id is the one the upstreams were told.
    const root = spans.find((s) => s.name === 'run_deno_code' && s.traceId !== CALLER_TRACE)!;
    expect(root.parentSpanId ?? '').toBe('');
    const freshParent = `00-${root.traceId}-${callSpan(root.traceId, 'web').spanId}-01`;
    expect(calls[1]!.headers.traceparent).toBe(freshParent);
    expect(calls[1]!.headers.tracestate).toBeUndefined();
    expect(fresh).toEqual({ traceparent: `00-${root.traceId}-${callSpan(root.traceId, 'local').spanId}-01` });
  });
});

/**
 * NODE_OPTIONS for a conductor that writes to `log` every @opentelemetry module it resolves (a module loader hook
 * of Node's, registered before the conductor's first import), so a test sees what was loaded, not only what was sent.
 */
async function moduleLogOptions(dir: string, log: string): Promise<string> {
  const hook = join(dir, 'otel-hook.mjs');
  await writeFile(
    hook,
    [
      "import { appendFileSync } from 'node:fs';",
      'let log;',
      'export function initialize(data) { log = data.log; }',
      'export async function resolve(specifier, context, next) {',
      '  const r = await next(specifier, context);',
      "  if (r.url.includes('@opentelemetry')) appendFileSync(log, r.url + '\\n');",
      '  return r;',
      '}',
    ].join('\n'),
  );
  const preload = join(dir, 'otel-preload.mjs');
  await writeFile(
    preload,
    [
      "import { register } from 'node:module';",
      `register(${JSON.stringify(pathToFileURL(hook).href)}, { data: { log: ${JSON.stringify(log)} } });`,
    ].join('\n'),
  );
  await writeFile(log, '');
  return `--import=${pathToFileURL(preload).href}`;
}

describe.skipIf(!docker)('what tracing loads (real Docker, a module loader hook in the conductor)', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  beforeAll(async () => {
    receiver = await startReceiver();
  });

  afterAll(async () => {
    await receiver?.close();
    await expectNoLeftovers();
  });

  /** Runs one trivial execution in a stdio conductor with `env`; returns the @opentelemetry modules it resolved. */
  async function modulesLoaded(env: Record<string, string>): Promise<string[]> {
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-otel-load-'));
    const log = join(dir, 'modules.log');
    const c = await startConductor('stdio', {
      NODE_OPTIONS: await moduleLogOptions(dir, log),
      MCP_CONDUCTOR_POOL_SIZE: '0',
      ...env,
    });
    try {
      expect((await c.run('6 * 7')).result.returnValue).toBe(42);
    } finally {
      await c.close();
    }
    return (await readFile(log, 'utf8')).split('\n').filter(Boolean);
  }

  it('no endpoint: not one @opentelemetry module is loaded and nothing is sent', async () => {
    receiver.exports.length = 0;
    expect(
      await modulesLoaded({ OTEL_SERVICE_NAME: 'unused', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }),
    ).toEqual([]);
    expect(receiver.exports).toHaveLength(0);
  });

  it('OTEL_SDK_DISABLED=true with an endpoint set: nothing loaded, nothing sent', async () => {
    receiver.exports.length = 0;
    const loaded = await modulesLoaded({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '10',
      OTEL_SDK_DISABLED: 'true',
    });
    expect(loaded).toEqual([]);
    expect(receiver.exports).toHaveLength(0);
  });

  it('with an endpoint: the SDK and only the chosen protocol’s exporter are loaded (the hook sees imports)', async () => {
    receiver.exports.length = 0;
    const loaded = await modulesLoaded({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
    expect(loaded.some((u) => u.includes('/@opentelemetry/sdk-trace/'))).toBe(true);
    expect(loaded.some((u) => u.includes('/@opentelemetry/exporter-trace-otlp-proto/'))).toBe(true);
    expect(loaded.some((u) => u.includes('/@opentelemetry/exporter-trace-otlp-http/'))).toBe(false);
    expect(receiver.exports.length).toBeGreaterThan(0);
  });
});

describe.skipIf(!docker)('egress requests in the trace (real Docker, real gateway, loopback target)', () => {
  const TOKEN = 'ghp_traceTestRealValue0123456789abcdef';

  it('one egress span per request under sandbox.run, the one past maxResponseBytes failed; no path, query or secret', async () => {
    const receiver = await startReceiver();
    const target = await startTarget();
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-trace-egress-'));
    const allowed = `127.0.0.1:${target.port}`;
    const policy = join(dir, 'policy.json');
    await writeFile(
      policy,
      JSON.stringify({
        description: 'traced egress',
        container: { runtime: 'runc' },
        egress: {
          allow: [allowed],
          secrets: { GITHUB_TOKEN: { env: 'TEST_GH_TOKEN', hosts: [allowed] } },
          maxResponseBytes: 4096,
        },
      }),
    );
    const c = await startConductor('stdio', {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      MCP_CONDUCTOR_POLICY: policy,
      MCP_CONDUCTOR_POOL_SIZE: '0',
      TEST_GH_TOKEN: TOKEN,
    });
    try {
      const r = await c.run(`
        const h = { authorization: 'Bearer ' + Deno.env.get('GITHUB_TOKEN') };
        const a = await fetch('http://${allowed}/private-path?q=${MARKER}', { method: 'POST', headers: h, body: 'x' });
        await a.text();
        try { await (await fetch('http://${allowed}/sized?n=100000')).arrayBuffer(); } catch {}
        return a.status;`);
      expect(r.result.returnValue).toBe(200);
    } finally {
      await c.close();
      await target.close();
      await receiver.close();
    }
    const text = receiver.exports.map((e) => e.body.toString()).join('\n');
    for (const hidden of [TOKEN, MARKER, 'private-path', 'Bearer']) expect(text).not.toContain(hidden);
    const spans = jsonSpans(receiver.exports);
    const [run] = spans.filter((s) => s.name === 'sandbox.run');
    const egress = spans.filter((s) => s.name === 'egress');
    expect(egress).toHaveLength(2);
    for (const s of egress) expect(s.parentSpanId).toBe(run!.spanId);
    const [ok, cut] = [
      egress.find((s) => attrs(s.attributes)['http.request.method'] === 'POST')!,
      egress.find((s) => attrs(s.attributes)['http.request.method'] === 'GET')!,
    ];
    expect(attrs(ok.attributes)).toMatchObject({
      'server.address': allowed,
      'mcp_conductor.egress.outcome': 'ok',
      'mcp_conductor.egress.rule': allowed,
      'http.response.status_code': 200,
    });
    expect(ok.status?.code ?? 0).not.toBe(2);
    expect(attrs(cut.attributes)).toMatchObject({
      'server.address': allowed,
      'mcp_conductor.egress.outcome': 'too_large',
    });
    expect(Number(attrs(cut.attributes)['mcp_conductor.egress.response_bytes'])).toBeLessThanOrEqual(4096);
    expect(cut.status?.code).toBe(2);
  });
});
