import { readFile, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  cliPath,
  expectNoLeftovers,
  fixturePolicy,
  repoRoot,
  startConductor,
  TRANSPORTS,
  type Conductor,
  waitForManaged,
} from './helpers.js';

const docker = inject('docker');

describe.skipIf(!docker).each(TRANSPORTS)('run_deno_code over %s (real Docker, real Deno)', (transport) => {
  let c: Conductor;
  let workspace: string;

  beforeAll(async () => {
    workspace = await mkdtemp(join(tmpdir(), 'mcpc-ws-'));
    c = await startConductor(transport, {
      MCP_CONDUCTOR_WORKSPACE: workspace,
      MCP_CONDUCTOR_POLICY: fixturePolicy('small'),
      MCP_CONDUCTOR_RUN_ARGS: 'allow-read=/workspace,allow-write=/workspace',
    });
  });

  afterAll(async () => {
    await c?.close();
    await expectNoLeftovers();
  });

  it('returns the last expression and lists the tool with an output schema', async () => {
    const { tools } = await c.client.listTools();
    const tool = tools.find((t) => t.name === 'run_deno_code');
    expect(tool?.outputSchema).toBeDefined();
    // each specifier with the exact version the image's lock pinned (read from the image's bill of materials)
    const lock = JSON.parse(await readFile(join(repoRoot, 'images', 'deno', 'deno.lock'), 'utf8')) as {
      specifiers: Record<string, string>;
    };
    expect(tool?.description).toContain(`npm:zod@^3 (zod ${lock.specifiers['npm:zod@3']})`);
    expect(tool?.description).toContain('read: /workspace');
    const r = await c.run('const a = 20;\na + 22');
    expect(r.isError).toBe(false);
    expect(r.text.split('\n').slice(0, 2)).toEqual(['Execution successful', 'Return value: 42']);
    expect(r.result).toMatchObject({ status: 'success', returnValue: 42, stdout: '', stderr: '' });
  });

  it('hoists imports of pre-cached packages, runs TypeScript, top-level await and return', async () => {
    const code = [
      'interface Row { n: number }',
      'const rows: Row[] = [{ n: 1 }, { n: 2 }];',
      'await new Promise((r) => setTimeout(r, 10));',
      "import { z } from 'npm:zod@^3';",
      "import { format } from 'npm:date-fns@^3';",
      'const total = z.array(z.object({ n: z.number() })).parse(rows).reduce((s, r) => s + r.n, 0);',
      "return { total, year: format(new Date(Date.UTC(2020, 5, 1)), 'yyyy') };",
    ].join('\n');
    const r = await c.run(code);
    expect(r.result.returnValue).toEqual({ total: 3, year: '2020' });
  });

  it('separates stdout and stderr and renders values JSON cannot carry', async () => {
    const r = await c.run(
      "console.log('to out'); console.error('to err');\nconst o: any = { m: new Map([[1, 2n]]), s: new Set(['x']), d: new Date(0), u: undefined };\no.self = o;\no",
    );
    expect(r.result.stdout).toBe('to out\n');
    expect(r.result.stderr).toBe('to err\n');
    expect(r.result.returnValue).toEqual({
      m: { $type: 'Map', entries: [[1, { $type: 'BigInt', value: '2' }]] },
      s: { $type: 'Set', values: ['x'] },
      d: '1970-01-01T00:00:00.000Z',
      u: { $type: 'undefined' },
      self: { $type: 'Circular', path: '$' },
    });
    expect(r.text).toContain('--- stdout ---\nto out');
  });

  it('reports a thrown error with the user’s line number, as a result, not a protocol error', async () => {
    const r = await c.run('const x = 1;\n\nfunction f() {\n  throw new TypeError("bad " + x);\n}\nf();');
    expect(r.isError).toBe(true);
    expect(r.text.startsWith('Execution failed')).toBe(true);
    expect(r.result.status).toBe('error');
    expect(r.result.error?.name).toBe('TypeError');
    expect(r.result.error?.message).toBe('bad 1');
    expect(r.result.error?.stack).toContain('code.ts:4:');
    expect(r.result.error?.stack).not.toMatch(/data:|bootstrap|\/tmp\//);
    // The code's own top level is `at code.ts:6:1`: the wrapper's function is no frame of the user's.
    expect(r.result.error?.stack).toMatch(/\n {4}at code\.ts:6:1$/);
    expect(r.text).not.toContain('__conductorMain');
    // It did not exit on its own: no exit code, rather than null (the output schema has no type arrays).
    expect(r.result.resources).not.toHaveProperty('exitCode');
  });

  it('refuses a timeout past the policy’s maximum, which the input schema advertises', async () => {
    const { tools } = await c.client.listTools();
    const timeout = tools.find((t) => t.name === 'run_deno_code')?.inputSchema.properties?.timeout;
    // The fixture policy's limits.maxTimeoutMs
    const max = (
      JSON.parse(await readFile(fixturePolicy('small'), 'utf8')) as { limits: { maxTimeoutMs: number } }
    ).limits.maxTimeoutMs;
    expect(timeout).toMatchObject({ maximum: max });
    const refusal = await c.run('1', max + 1).then(
      (r) => r.text,
      (e: Error) => e.message,
    );
    expect(refusal).toContain(`timeout is at most ${max} ms`);
  });

  it('reports a syntax error at the user’s line without starting a container', async () => {
    const r = await c.run('const a = 1;\nconst b = ;\n');
    expect(r.isError).toBe(true);
    expect(r.result.error?.name).toBe('SyntaxError');
    expect(r.result.error?.message).toContain('code.ts:2:');
  });

  it('kills a busy loop at the deadline', async () => {
    const r = await c.run("globalThis.addEventListener?.('unload', () => {});\nwhile (true) {}", 1500);
    expect(r.text.startsWith('Execution timed out')).toBe(true);
    expect(r.result.status).toBe('timeout');
    expect(r.result.durationMs).toBeGreaterThanOrEqual(1500);
    expect(r.result.durationMs).toBeLessThan(10_000);
  });

  it('caps a flood on both streams while streaming', async () => {
    const r = await c.run(
      "const line = 'x'.repeat(1023) + '\\n';\nfor (let i = 0; i < 10 * 1024; i++) { console.log(line); console.error(line); }\n'done'",
    );
    expect(r.result.returnValue).toBe('done');
    expect(r.result.truncated).toEqual({ stdout: true, stderr: true, returnValue: false });
    expect(Buffer.byteLength(r.result.stdout)).toBeLessThanOrEqual(4096);
    expect(r.text).toContain('[stdout truncated: only the first 4096 bytes are shown; the first ');
    // 20 MiB of output against the default 16 MiB retention budget: both are kept, cut to fit it together.
    const { stdout, stderr } = r.result.retained!;
    expect([stdout!.complete, stderr!.complete]).toEqual([false, false]);
    expect(stdout!.bytes + stderr!.bytes).toBe(16 * 1024 * 1024);
  });

  it('truncates a huge return value with a flag', async () => {
    const r = await c.run("'y'.repeat(5_000_000)");
    expect(r.result.truncated.returnValue).toBe(true);
    expect(r.text).toContain('[return value truncated');
    expect(r.text.length).toBeLessThan(10_000);
  });

  it('denies what the admin did not grant, saying so and what is granted, not how to rerun Deno', async () => {
    const r = await c.run("await Deno.readTextFile('/etc/passwd')");
    expect(r.result.status).toBe('error');
    expect(r.result.error?.name).toBe('NotCapable');
    const read = 'read access to "/etc/passwd" is not granted by the administrator; granted read: /workspace';
    expect(r.result.error?.message).toBe(read);
    expect(r.text).toContain(`NotCapable: ${read}`);
    expect(r.text).not.toMatch(/run again|--allow-/);
    const net = await c.run("await fetch('http://127.0.0.1:8080/')");
    expect(net.result.status).toBe('error');
    expect(net.result.error?.message).toBe(
      'net access to "127.0.0.1:8080" is not granted by the administrator; granted net: none',
    );
    const env = await c.run('Deno.env.get("HOME")');
    expect(env.result.error?.name).toBe('NotCapable');
  });

  it('lets granted code use /workspace, which persists on the host', async () => {
    const r = await c.run(
      "await Deno.writeTextFile('/workspace/hello.txt', 'hi from the sandbox');\nawait Deno.readTextFile('/workspace/hello.txt')",
    );
    expect(r.result.returnValue).toBe('hi from the sandbox');
    expect(await readFile(join(workspace, 'hello.txt'), 'utf8')).toBe('hi from the sandbox');
  });

  it('gives each concurrent call its own container', async () => {
    const code = (i: number) =>
      `const marker = ${i};\n(globalThis as any).seen = ((globalThis as any).seen ?? 0) + 1;\nawait new Promise((r) => setTimeout(r, 300));\n({ marker, seen: (globalThis as any).seen })`;
    const results = await Promise.all([0, 1, 2, 3].map((i) => c.run(code(i))));
    expect(results.map((r) => r.result.returnValue)).toEqual(
      [0, 1, 2, 3].map((marker) => ({ marker, seen: 1 })),
    );
  });

  it('reports running out of memory', async () => {
    const r = await c.run('const keep: number[][] = [];\nwhile (true) keep.push(new Array(1e6).fill(1.5));');
    expect(r.result.status).toBe('error');
    expect(r.result.error?.name).toBe('OutOfMemoryError');
    expect(r.result.resources.exitReason).toBe('out_of_memory');
  });

  it('refuses code over the size limit', async () => {
    const r = await c.run(`// ${'z'.repeat(70_000)}\n1`);
    expect(r.result.error?.name).toBe('CodeTooLargeError');
  });

  it('runs code the way models write it: imports without semicolons, comments, export default', async () => {
    const code = [
      "import { z } from 'npm:zod@^3' // the schema library",
      'import {',
      '  format, // dates',
      "} from 'npm:date-fns@^3'",
      'const n = z.number().parse(41)',
      'export default { next: n + 1, year: format(new Date(Date.UTC(2021, 0, 1)), "yyyy") }',
      "console.log('after the export')",
    ].join('\n');
    const r = await c.run(code);
    expect(r.result.status).toBe('success');
    expect(r.result.returnValue).toEqual({ next: 42, year: '2021' });
    expect(r.result.stdout).toBe('after the export\n');
  });

  it('validates input and stays up', async () => {
    const bad = await c.client.callTool({ name: 'run_deno_code', arguments: { code: '1' } });
    expect(bad.isError).toBe(true);
    expect(JSON.stringify(bad.content)).toContain('deno_code');
    const r = await c.run('1 + 1');
    expect(r.result.returnValue).toBe(2);
  });
});

describe.skipIf(!docker)('executions under a cap of one, with no pool', () => {
  let c: Conductor;
  beforeAll(async () => {
    c = await startConductor('stdio', { MCP_CONDUCTOR_POOL_SIZE: '0', MCP_CONDUCTOR_MAX_CONCURRENCY: '1' });
  });
  afterAll(async () => {
    await c?.close();
    await expectNoLeftovers();
  });

  it('queues calls beyond the cap: their runs never overlap, and all succeed', async () => {
    const code =
      'const start = Date.now();\nawait new Promise((r) => setTimeout(r, 300));\n({ start, end: Date.now() })';
    const results = await Promise.all([0, 1, 2].map(() => c.run(code)));
    const spans = results
      .map((r) => r.result.returnValue as { start: number; end: number })
      .sort((a, b) => a.start - b.start);
    expect(spans).toHaveLength(3);
    for (let i = 1; i < spans.length; i++) expect(spans[i]!.start).toBeGreaterThanOrEqual(spans[i - 1]!.end);
  });

  it('removes each container after its execution while the server keeps running', async () => {
    for (let i = 0; i < 3; i++) expect((await c.run(`${i} + 1`)).result.returnValue).toBe(i + 1);
    expect(await waitForManaged((l) => l.length === 0)).toEqual([]);
  });
});

describe('start-up configuration errors', () => {
  it('refuses allow-all in MCP_CONDUCTOR_RUN_ARGS with a clear message', async () => {
    const run = promisify(execFile);
    const err = await run(process.execPath, [cliPath, 'stdio'], {
      env: { PATH: process.env.PATH, HOME: tmpdir(), MCP_CONDUCTOR_RUN_ARGS: 'allow-read,allow-all' },
    }).catch((e: { code: number; stderr: string }) => e);
    expect((err as { code: number }).code).toBe(1);
    expect((err as { stderr: string }).stderr).toMatch(/allow-all.*refused/);
  });

  it('names every problem of an invalid policy', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-pol-'));
    const file = join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ container: { memoryMb: 1, runtime: 'kata' } }));
    const run = promisify(execFile);
    const err = (await run(process.execPath, [cliPath, 'stdio'], {
      env: { PATH: process.env.PATH, HOME: tmpdir(), MCP_CONDUCTOR_POLICY: file },
    }).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(err.code).toBe(1);
    expect(err.stderr).toContain('container.memoryMb');
    expect(err.stderr).toContain('container.runtime');
  });
});
