import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PolicySchema } from '../src/config/policy.js';
import {
  expectNoLeftovers,
  freePort,
  killProcess,
  repoRoot,
  startConductor,
  startHttpMcpServer,
  type Conductor,
  mcpPackage,
} from './helpers.js';

const docker = inject('docker');

/** Files in /tmp and sockets on the container's own loopback: the fds code can open with ordinary grants. */
const RUN_ARGS = 'allow-read=/tmp,allow-write=/tmp,allow-net=127.0.0.1';

/** A shipped policy as the conductor reads it, so the expected limits follow its file. */
const shipped = (name: 'default' | 'strict') =>
  PolicySchema.parse(JSON.parse(readFileSync(join(repoRoot, 'policies', `${name}.json`), 'utf8')));

/**
 * What code with no permissions could do with Deno's internals: write a result frame of its own on the runtime's
 * connection (a return value nested 100,000 deep, which the host once parsed and then overflowed its stack on).
 */
const FORGED_RESULT = `
const internal = Deno[Deno.internal];
if (internal === undefined) return { hidden: true, symbols: Object.getOwnPropertySymbols(Deno).map(String) };
const core = internal.core;
const rid = Number(Object.entries(core.resources()).find(([, name]) => name === 'unixStream')[0]);
const value = '['.repeat(100000) + ']'.repeat(100000);
const body = new TextEncoder().encode(JSON.stringify({ t: 'result', ok: true, value, valueTruncated: false }));
const frame = new Uint8Array(4 + body.length);
new DataView(frame.buffer).setUint32(0, body.length);
frame.set(body, 4);
await core.writeAll(rid, frame);
await new Promise((r) => setTimeout(r, 3000));
return 'forged';`;

/** Terminal escapes: OSC 52 (write the clipboard), BEL, a C1 CSI (clear the screen), DEL, a carriage return. */
const ESCAPES = 'a\\x1b]52;c;ZXZpbA==\\x07b\\x9b2Jc\\r\\x7fd\\te';
const SHOWN = 'a\\u001b]52;c;ZXZpbA==\\u0007b\\u009b2Jc\\u000d\\u007fd\te';

/** Opens fds until the kernel refuses one (or far past any sane limit), then says how many it got and why it stopped. */
const FD_FLOOD = (open: string) => `
const held = [];
let error = 'never refused';
try { for (let i = 0; i < 20000; i++) held.push(...(await (${open})())); } catch (e) { error = e.name + ': ' + e.message; }
const opened = held.length;
for (const r of held) try { r.close(); } catch {}
return { opened, error };`;

/**
 * Hostile code against the runtime itself and the limits of its container, under runc (`default`) and gVisor
 * (`strict`), as root as in production.
 */
describe.skipIf(!docker).each(['default', 'strict'] as const)(
  'the runtime and its container under the %s policy',
  (policy) => {
    let c: Conductor;
    let maxOpenFiles: number;

    beforeAll(async () => {
      maxOpenFiles = shipped(policy).container.maxOpenFiles;
      c = await startConductor('stdio', { MCP_CONDUCTOR_POLICY: policy, MCP_CONDUCTOR_RUN_ARGS: RUN_ARGS });
    });

    afterAll(async () => {
      await c?.close();
      await expectNoLeftovers();
    });

    it("Deno's internals are out of reach: no forging the runtime's result frame", async () => {
      const r = await c.run(FORGED_RESULT);
      expect(r.text).toBe('Execution successful\nReturn value: {"hidden":true,"symbols":[]}');
      // The host's bound on a result's nesting is above anything the runtime renders: Maps nest three JSON levels.
      const deep = await c.run("let v = 1;\nfor (let i = 0; i < 150; i++) v = new Map([['k', [v]]]);\nv");
      expect(deep.result.status).toBe('success');
      expect(deep.text).toContain('{"$type":"MaxDepth"');
      // Node compatibility (which Deno bootstraps from its internals) still works without the global.
      const node = await c.run(
        "import { inspect } from 'node:util';\nimport process from 'node:process';\n[inspect(new Map([[1, 2]])), typeof process.version]",
      );
      expect(node.result.returnValue).toEqual(['Map(1) { 1 => 2 }', 'string']);
    });

    it('terminal escapes reach the model escaped, and structuredContent keeps them exact', async () => {
      const r = await c.run(
        `console.log('${ESCAPES}');\nconsole.error('${ESCAPES}');\nthrow new Error('${ESCAPES}');`,
      );
      // eslint-disable-next-line no-control-regex -- the point: none may be left
      expect(r.text).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
      expect(r.text).toContain(`--- stdout ---\n${SHOWN}\n\n--- stderr ---\n${SHOWN}\n`);
      expect(r.text).toContain(`--- error ---\nError: ${SHOWN}`);
      const exact = 'a\x1b]52;c;ZXZpbA==\x07b\x9b2Jc\r\x7fd\te';
      expect(r.result.stdout).toBe(`${exact}\n`);
      expect(r.result.stderr).toBe(`${exact}\n`);
      expect(r.result.error?.message).toBe(exact);
    });

    it('opening files until refused stops at the nofile limit, said by the kernel', async () => {
      const r = await c.run(
        FD_FLOOD("async () => [await Deno.open('/tmp/f', { write: true, create: true })]"),
      );
      const v = r.result.returnValue as { opened: number; error: string };
      expect(v.error).toMatch(/Too many open files/);
      expect(v.opened).toBeLessThan(maxOpenFiles);
      expect(v.opened).toBeGreaterThan(maxOpenFiles - 100);
      expect((await c.run('"still serving"')).result.returnValue).toBe('still serving');
    });

    it('opening loopback sockets until refused stops at the nofile limit too', async () => {
      const r = await c.run(`const l = Deno.listen({ hostname: '127.0.0.1', port: 0 });
${FD_FLOOD('async () => [await Deno.connect({ hostname: "127.0.0.1", port: l.addr.port }), await l.accept()]')}`);
      const v = r.result.returnValue as { opened: number; error: string };
      expect(v.error).toMatch(/Too many open files/);
      expect(v.opened).toBeLessThan(maxOpenFiles);
      expect(v.opened).toBeGreaterThan(maxOpenFiles - 100);
    });
  },
);

const FLOOD = join(repoRoot, 'test', 'fixtures', 'flood-server.mjs');

/** Tries one mcpFactory call; a refusal comes back as `code: message`. */
const TRY =
  'const tryOp = async (f) => { try { return await f(); } catch (e) { return e.code + ": " + e.message; } };';

/** Upstream MCP servers (real ones, from npm, and a flooding one over stdio and both kinds of HTTP) for one conductor. */
async function startWithUpstreams(policy: unknown): Promise<{ c: Conductor; upstreams: ChildProcess[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'mcpc-upstreams-'));
  const [ssePort, jsonPort] = [await freePort(), await freePort()];
  const upstreams = [
    await startHttpMcpServer(ssePort, [FLOOD, 'http']),
    await startHttpMcpServer(jsonPort, [FLOOD, 'http-json']),
  ];
  const everything = { command: process.execPath, args: [mcpPackage('server-everything'), 'stdio'] };
  await writeFile(
    join(dir, 'mcp.json'),
    JSON.stringify({
      mcpServers: {
        everything,
        listed: everything,
        flood: { command: process.execPath, args: [FLOOD] },
        'flood-sse': { url: `http://127.0.0.1:${ssePort}/mcp` },
        'flood-json': { url: `http://127.0.0.1:${jsonPort}/mcp` },
      },
    }),
  );
  await writeFile(join(dir, 'policy.json'), JSON.stringify(policy));
  const c = await startConductor('stdio', {
    MCP_CONDUCTOR_MCP_CONFIG: join(dir, 'mcp.json'),
    MCP_CONDUCTOR_POLICY: join(dir, 'policy.json'),
  });
  return { c, upstreams };
}

const FLOOD_ALL = (mb: number) => `${TRY}
const flood = async (name, mb) => tryOp(async () => 'got ' + (await (await mcpFactory.load(name)).callTool('flood', { mb })).length);
const out = {};
for (const name of ['flood', 'flood-sse', 'flood-json']) out[name] = [await flood(name, ${mb}), await flood(name, 0.5)];
return out;`;

const tooLarge = (server: string, limit: number) =>
  `too_large: The reply of MCP server "${server}" was over the policy's limit of ${limit} bytes (limits.maxMcpReplyBytes)`;

/**
 * The upstream side: a server the policy restricts to some tools, and allowlisted tools that answer with far more
 * than the sandbox should get. The code is hostile, and so, as far as sizes go, are the upstreams.
 */
describe.skipIf(!docker)('upstream servers under a tool allowlist and the reply cap', () => {
  let c: Conductor;
  let upstreams: ChildProcess[] = [];

  beforeAll(async () => {
    ({ c, upstreams } = await startWithUpstreams({ mcp: { tools: { everything: ['echo'] } } }));
  });

  afterAll(async () => {
    await c?.close();
    for (const u of upstreams) await killProcess(u);
    await expectNoLeftovers();
  });

  it('a server restricted to some tools serves none of its resources or prompts', async () => {
    const r = await c.run(`${TRY}
const s = await mcpFactory.load('everything');
return {
  tools: (await s.listTools()).map((t) => t.name),
  echo: await s.callTool('echo', { message: 'hi' }),
  otherTool: await tryOp(() => s.callTool('get-sum', { a: 1, b: 2 })),
  resources: await tryOp(() => s.listResources()),
  read: await tryOp(() => s.readResource('demo://resource/static/document/architecture.md')),
  prompts: await tryOp(() => s.listPrompts()),
  prompt: await tryOp(() => s.getPrompt('simple-prompt', {})),
};`);
    expect(r.result.error).toBeUndefined();
    expect(r.result.returnValue).toEqual({
      tools: ['echo'],
      echo: 'Echo: hi',
      otherTool: 'denied: Tool "get-sum" of server "everything" is not allowed by the policy',
      resources: [],
      read: 'denied: Resource "demo://resource/static/document/architecture.md" of server "everything" is not allowed by the policy',
      prompts: [],
      prompt: 'denied: Prompt "simple-prompt" of server "everything" is not allowed by the policy',
    });
  });

  it('a reply over the cap fails that call with a clear error, over stdio, SSE and JSON; the next call works', async () => {
    const limit = PolicySchema.parse({}).limits.maxMcpReplyBytes;
    const r = await c.run(FLOOD_ALL(40), 60_000);
    expect(r.result.error).toBeUndefined();
    const half = `got ${512 * 1024}`;
    expect(r.result.returnValue).toEqual({
      flood: [expect.stringContaining(tooLarge('flood', limit)), half],
      'flood-sse': [expect.stringContaining(tooLarge('flood-sse', limit)), half],
      'flood-json': [expect.stringContaining(tooLarge('flood-json', limit)), half],
    });
  });
});

describe.skipIf(!docker)('upstream resources and prompts an admin lists, and a reply cap of its own', () => {
  let c: Conductor;
  let upstreams: ChildProcess[] = [];
  const doc = 'demo://resource/static/document/architecture.md';

  beforeAll(async () => {
    ({ c, upstreams } = await startWithUpstreams({
      limits: { maxMcpReplyBytes: 64 * 1024 },
      mcp: {
        tools: { everything: ['echo'], listed: ['*'] },
        resources: { everything: [doc], listed: ['*'] },
        prompts: { everything: ['simple-prompt'] },
      },
    }));
  });

  afterAll(async () => {
    await c?.close();
    for (const u of upstreams) await killProcess(u);
    await expectNoLeftovers();
  });

  it('serves exactly the listed resources and prompts; `*` stands for all of a kind', async () => {
    const r = await c.run(`${TRY}
const s = await mcpFactory.load('everything');
const listed = await mcpFactory.load('listed');
return {
  resources: (await s.listResources()).map((x) => x.uri),
  read: (await s.readResource('${doc}')).contents[0].uri,
  other: await tryOp(() => s.readResource('demo://resource/static/document/features.md')),
  prompts: (await s.listPrompts()).map((p) => p.name),
  prompt: (await s.getPrompt('simple-prompt', {})).messages.length > 0,
  otherPrompt: await tryOp(() => s.getPrompt('args-prompt', { city: 'Paris' })),
  listedTools: (await listed.listTools()).length > 1,
  listedResources: (await listed.listResources()).length > 1,
  listedPrompts: await tryOp(() => listed.getPrompt('simple-prompt', {})),
};`);
    expect(r.result.error).toBeUndefined();
    expect(r.result.returnValue).toEqual({
      resources: [doc],
      read: doc,
      other:
        'denied: Resource "demo://resource/static/document/features.md" of server "everything" is not allowed by the policy',
      prompts: ['simple-prompt'],
      prompt: true,
      otherPrompt: 'denied: Prompt "args-prompt" of server "everything" is not allowed by the policy',
      listedTools: true,
      listedResources: true,
      listedPrompts: 'denied: Prompt "simple-prompt" of server "listed" is not allowed by the policy',
    });
  });

  it("the policy's reply cap holds for every transport", async () => {
    const r = await c.run(FLOOD_ALL(0.1), 60_000);
    const limit = 64 * 1024;
    expect(r.result.returnValue).toEqual({
      flood: [
        expect.stringContaining(tooLarge('flood', limit)),
        expect.stringContaining(tooLarge('flood', limit)),
      ],
      'flood-sse': [
        expect.stringContaining(tooLarge('flood-sse', limit)),
        expect.stringContaining(tooLarge('flood-sse', limit)),
      ],
      'flood-json': [
        expect.stringContaining(tooLarge('flood-json', limit)),
        expect.stringContaining(tooLarge('flood-json', limit)),
      ],
    });
  });
});
