import type { ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  expectNoLeftovers,
  freePort,
  killProcess,
  repoRoot,
  startConductor,
  startHttpMcpServer,
  TRANSPORTS,
  type Conductor,
  mcpPackage,
} from './helpers.js';

const docker = inject('docker');

describe.skipIf(!docker).each(TRANSPORTS)(
  'mcpFactory over %s against real upstream MCP servers',
  (transport) => {
    let c: Conductor;
    let httpUpstream: ChildProcess;
    let httpPort: number;
    let dataDir: string;

    /** server-everything over Streamable HTTP on loopback, on the same port every time it is (re)started. */
    const startHttpUpstream = async () => {
      httpUpstream = await startHttpMcpServer(httpPort, [mcpPackage('server-everything'), 'streamableHttp']);
    };
    const stopHttpUpstream = () => killProcess(httpUpstream);

    beforeAll(async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'mcpc-upstream-'));
      const doc = Array.from(
        { length: 1000 },
        (_, i) => `line ${i} lorem ipsum dolor sit amet, consectetur adipiscing`,
      ).join('\n');
      await writeFile(join(dataDir, 'doc.txt'), doc);
      httpPort = await freePort();
      await startHttpUpstream();
      const config = join(dataDir, 'mcp.json');
      await writeFile(
        config,
        JSON.stringify({
          mcpServers: {
            everything: {
              command: process.execPath,
              args: [mcpPackage('server-everything'), 'stdio'],
              env: { SECRET_FOR_UPSTREAM: '${TEST_UPSTREAM_SECRET}' },
            },
            'everything-http': { url: `http://127.0.0.1:${httpPort}/mcp` },
            memory: {
              command: process.execPath,
              args: [mcpPackage('server-memory')],
              env: { MEMORY_FILE_PATH: join(dataDir, 'memory.jsonl') },
            },
            files: { command: process.execPath, args: [mcpPackage('server-filesystem'), dataDir] },
            crashy: {
              command: process.execPath,
              args: [join(repoRoot, 'test', 'fixtures', 'crashy-server.mjs')],
            },
            probe: {
              command: process.execPath,
              args: [join(repoRoot, 'test', 'fixtures', 'probe-server.mjs')],
            },
          },
        }),
      );
      c = await startConductor(transport, {
        MCP_CONDUCTOR_MCP_CONFIG: config,
        TEST_UPSTREAM_SECRET: 'shh-42',
      });
    });

    afterAll(async () => {
      await c?.close();
      if (httpUpstream) await stopHttpUpstream();
      await expectNoLeftovers();
    });

    it('lists servers, loads one and lists its tools; the companion tools agree', async () => {
      const r = await c.run(
        "const names = await mcpFactory.list();\nconst s = await mcpFactory.load('everything');\nconst tools = await s.listTools();\n({ names, alias: await mcpFactory.listServers(), tools: tools.map((t) => t.name) })",
      );
      expect(r.result.error).toBeUndefined();
      const v = r.result.returnValue as { names: string[]; alias: string[]; tools: string[] };
      expect(v.names).toEqual(['crashy', 'everything', 'everything-http', 'files', 'memory', 'probe']);
      expect(v.alias).toEqual(v.names);
      expect(v.tools).toEqual(expect.arrayContaining(['echo', 'get-sum', 'get-structured-content']));
      const listed = await c.client.callTool({ name: 'list_mcp_servers', arguments: {} });
      expect(JSON.stringify(listed.content)).toContain('everything-http');
      const schema = await c.client.callTool({
        name: 'get_tools',
        arguments: { server: 'everything', tools: ['get-sum'] },
      });
      expect(JSON.stringify(schema.content)).toContain('inputSchema');
      const { tools } = await c.client.listTools();
      expect(tools.find((t) => t.name === 'run_deno_code')?.description).toContain('mcpFactory');
    });

    it('returns structured content, parsed JSON text, or text; a tool error throws with its text', async () => {
      const r = await c.run(`
const s = await mcpFactory.load('everything');
const weather = await s.callTool('get-structured-content', { location: 'Chicago' });
const echo = await s.callTool('echo', { message: 'hi' });
const raw = await s.callToolRaw('echo', { message: 'raw' });
const crashy = await mcpFactory.load('crashy');
let failure = '';
try { await crashy.callTool('fail', { why: 'testing' }); } catch (e) { failure = e.message; }
const env = await s.callTool('get-env', {});
return { weather, echo, raw: raw.content[0].text, failure, secret: env.SECRET_FOR_UPSTREAM, conductorEnvLeak: 'MCP_CONDUCTOR_MCP_CONFIG' in env };`);
      expect(r.result.error).toBeUndefined();
      expect(r.result.returnValue).toEqual({
        weather: {
          temperature: expect.any(Number) as number,
          conditions: expect.any(String) as string,
          humidity: expect.any(Number) as number,
        },
        echo: 'Echo: hi',
        raw: 'Echo: raw',
        failure: expect.stringContaining('failed because testing') as string,
        secret: 'shh-42',
        conductorEnvLeak: false,
      });
    });

    it('serves the whole API over the Streamable HTTP upstream exactly as over stdio', async () => {
      const r = await c.run(`
const out = {};
for (const name of ['everything', 'everything-http']) {
  const s = await mcpFactory.load(name);
  const tools = (await s.listTools()).map((t) => t.name);
  const weather = await s.callTool('get-structured-content', { location: 'Chicago' });
  const echo = await s.callTool('echo', { message: 'hi' });
  let toolError = null;
  try { await s.callTool('get-sum', { a: 'not a number', b: 1 }); } catch (e) { toolError = { name: e.name, message: e.message }; }
  const resources = await s.listResources();
  const doc = resources.find((x) => x.uri.startsWith('demo://resource/static/document/'));
  const read = await s.readResource(doc.uri);
  const prompts = (await s.listPrompts()).map((p) => p.name);
  const prompt = await s.getPrompt('args-prompt', { city: 'Paris', state: 'Texas' });
  out[name] = {
    tools: ['echo', 'get-sum', 'get-structured-content'].every((t) => tools.includes(t)),
    weather: Object.keys(weather).sort(),
    echo,
    toolError,
    read: read.contents[0].uri === doc.uri && read.contents[0].text.length > 0,
    prompts: prompts.includes('args-prompt') && prompts.includes('simple-prompt'),
    prompt: prompt.messages[0].content.text,
  };
}
return out;`);
      expect(r.result.error).toBeUndefined();
      const v = r.result.returnValue as Record<string, unknown>;
      const expected = {
        tools: true,
        weather: ['conditions', 'humidity', 'temperature'],
        echo: 'Echo: hi',
        toolError: {
          name: 'McpToolError',
          message: expect.stringContaining('Input validation error') as string,
        },
        read: true,
        prompts: true,
        prompt: "What's weather in Paris, Texas?",
      };
      expect(v['everything-http']).toEqual(expected);
      expect(v.everything).toEqual(expected);
    });

    it('runs 20 calls in parallel, over the HTTP upstream too', async () => {
      const r = await c.run(`
const s = await mcpFactory.load('everything-http');
const sums = await Promise.all(Array.from({ length: 20 }, (_, i) => s.callTool('get-sum', { a: i, b: 1000 })));
sums.map((t) => Number(String(t).match(/(\\d+)\\D*$/)[1]))`);
      expect(r.result.error).toBeUndefined();
      expect(r.result.returnValue).toEqual(Array.from({ length: 20 }, (_, i) => i + 1000));
    });

    it('keeps state in the memory server and reads files through the filesystem server', async () => {
      const r = await c.run(`
const mem = await mcpFactory.load('memory');
await mem.callTool('create_entities', { entities: [{ name: 'conductor', entityType: 'project', observations: ['runs code'] }] });
const graph = await mem.callTool('read_graph', {});
const files = await mcpFactory.load('files');
const names = (await files.listTools()).map((t) => t.name);
({ entity: graph.entities.find((e) => e.name === 'conductor')?.entityType, canRead: names.includes('read_text_file') })`);
      expect(r.result.error).toBeUndefined();
      expect(r.result.returnValue).toEqual({ entity: 'project', canRead: true });
    });

    it('returns three numbers from a 50 KB document without the document reaching the model', async () => {
      const doc = JSON.stringify(join(dataDir, 'doc.txt'));
      const r = await c.run(`
const files = await mcpFactory.load('files');
const res = await files.callToolRaw('read_text_file', { path: ${doc} });
const text = res.content.map((c) => c.text).join('');
({ bytes: new TextEncoder().encode(text).length, lines: text.split('\\n').length, words: text.split(/\\s+/).filter(Boolean).length })`);
      expect(r.result.error).toBeUndefined();
      const v = r.result.returnValue as { bytes: number; lines: number; words: number };
      expect(v.bytes).toBeGreaterThan(45_000);
      expect(v.lines).toBe(1000);
      expect(r.text.length).toBeLessThan(300);
    });

    it('reports an upstream that crashes mid-call, and restarts it for the next call', async () => {
      const r = await c.run(`
const s = await mcpFactory.load('crashy');
const before = await s.callTool('alive', {});
let crash = '';
try { await s.callTool('crash', {}); } catch (e) { crash = e.message; }
await new Promise((r) => setTimeout(r, 300));
const after = await s.callTool('alive', {});
({ crash, restarted: after.pid !== before.pid })`);
      expect(r.result.error).toBeUndefined();
      const v = r.result.returnValue as { crash: string; restarted: boolean };
      expect(v.crash).toMatch(/crashy/);
      expect(v.restarted).toBe(true);
    });

    it('cancels the upstream calls of an execution that ended, by result or by timeout', async () => {
      const ended = await c.run(`
const probe = await mcpFactory.load('probe');
await probe.callTool('cancelled', {});
void probe.callTool('hold', {}).catch(() => {});
await new Promise((r) => setTimeout(r, 300));
return 'done'`);
      expect(ended.result.returnValue).toBe('done');
      const killed = await c.run(
        "const probe = await mcpFactory.load('probe'); await probe.callTool('hold', {});",
        1500,
      );
      expect(killed.result.status).toBe('timeout');
      const r = await c.run(`
const probe = await mcpFactory.load('probe');
for (let i = 0; i < 50; i++) {
  const { cancelled } = await probe.callTool('cancelled', {});
  if (cancelled >= 2) return cancelled;
  await new Promise((r) => setTimeout(r, 100));
}
return (await probe.callTool('cancelled', {})).cancelled`);
      expect(r.result.returnValue).toBe(2);
    });

    it('names an unknown server clearly', async () => {
      const r = await c.run("await mcpFactory.load('nope')");
      expect(r.result.status).toBe('error');
      expect(r.result.error?.message).toContain('Unknown MCP server "nope". Available: crashy, everything');
    });

    it('ignores hostile frames written to the socket by sandboxed code', async () => {
      const r = await c.run(`
const conn = await Deno.connect({ transport: 'unix', path: '/run/conductor/mcp.sock' });
const header = new Uint8Array([0xff, 0xff, 0xff, 0xff]);
let wrote = 0;
try { wrote += await conn.write(header); wrote += await conn.write(new TextEncoder().encode('{"t":"call","id":1,"op":"rm -rf"}')); } catch { }
const buf = new Uint8Array(16);
const got = await conn.read(buf).catch(() => null);
try { conn.close(); } catch { }
const s = await mcpFactory.load('everything');
({ closedOnUs: got === null, stillWorks: await s.callTool('echo', { message: 'ok' }) })`);
      expect(r.result.error).toBeUndefined();
      expect(r.result.returnValue).toEqual({ closedOnUs: true, stillWorks: 'Echo: ok' });
      const after = await c.run('1 + 1');
      expect(after.result.returnValue).toBe(2);
    });

    // Last: it restarts the shared HTTP upstream.
    it('recovers when the HTTP upstream is killed mid-call and restarted on the same port', async () => {
      const during = c.run(`
const s = await mcpFactory.load('everything-http');
await s.callTool('echo', { message: 'up' });
const t0 = Date.now();
try { await s.callTool('trigger-long-running-operation', { duration: 60, steps: 2 }); return { finished: true }; }
catch (e) { return { message: e.message, code: e.code, ms: Date.now() - t0 }; }`);
      // Give the sandbox time to start and the long call time to begin, then kill the server under it.
      await new Promise((r) => setTimeout(r, 4000));
      await stopHttpUpstream();
      const r = await during;
      expect(r.result.error).toBeUndefined();
      const v = r.result.returnValue as { message: string; code: string; ms: number };
      expect(v.message).toContain('MCP server "everything-http"');
      expect(v.message).not.toMatch(/127\.0\.0\.1|\/mcp\b|node_modules/);
      expect(v.ms).toBeLessThan(20_000);
      await startHttpUpstream();
      const after = await c.run(
        "await (await mcpFactory.load('everything-http')).callTool('echo', { message: 'back' })",
      );
      expect(after.result.error).toBeUndefined();
      expect(after.result.returnValue).toBe('Echo: back');
    });
  },
);

describe.skipIf(!docker)('mcpFactory with no MCP servers configured', () => {
  let c: Conductor;

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-noservers-'));
    const config = join(dir, 'mcp.json');
    await writeFile(config, JSON.stringify({ mcpServers: {} }));
    c = await startConductor('stdio', { MCP_CONDUCTOR_MCP_CONFIG: config });
  });

  afterAll(async () => {
    await c?.close();
    await expectNoLeftovers();
  });

  it('lists no servers, and names a server unknown', async () => {
    const r = await c.run(`
const names = await mcpFactory.list();
let error = '';
try { await mcpFactory.load('github'); } catch (e) { error = e.message; }
({ names, alias: await mcpFactory.listServers(), error })`);
    expect(r.result.error).toBeUndefined();
    expect(r.result.returnValue).toEqual({
      names: [],
      alias: [],
      error: expect.stringContaining('Unknown MCP server "github"') as string,
    });
  });
});
