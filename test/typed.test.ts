import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ExecutionResult } from '../src/core/index.js';
import { expectNoLeftovers, startConductor, TRANSPORTS, type Conductor, mcpPackage } from './helpers.js';

const docker = inject('docker');
const everything = mcpPackage('server-everything');

describe.skipIf(!docker).each(TRANSPORTS)('typed tools and the type check over %s', (transport) => {
  let c: Conductor;
  const run = async (code: string, check: boolean) => {
    const r = (await c.client.callTool(
      { name: 'run_deno_code', arguments: { deno_code: code, check } },
      undefined,
      { timeout: 300_000 },
    )) as CallToolResult;
    const text = r.content.map((x) => (x.type === 'text' ? x.text : '')).join('');
    return { text, result: r.structuredContent as ExecutionResult, isError: r.isError === true };
  };

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-typed-'));
    const config = join(dir, 'mcp.json');
    await writeFile(
      config,
      JSON.stringify({
        mcpServers: { everything: { command: process.execPath, args: [everything, 'stdio'] } },
      }),
    );
    c = await startConductor(transport, { MCP_CONDUCTOR_MCP_CONFIG: config });
  });

  afterAll(async () => {
    await c?.close();
    await expectNoLeftovers();
  });

  it("gives declarations of server-everything's tools that compile under deno check", async () => {
    const r = (await c.client.callTool({
      name: 'get_tools',
      arguments: { server: 'everything', format: 'typescript' },
    })) as CallToolResult;
    const ts = r.content.map((x) => (x.type === 'text' ? x.text : '')).join('');
    expect(ts).toContain('"echo": { input: McpTools.Everything.Echo.Input');
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-typed-'));
    const runtime = new URL('../images/deno/runtime/mcp-factory.d.ts', import.meta.url).href;
    await writeFile(join(dir, 'everything.d.ts'), `/// <reference path="${runtime}" />\n${ts}`);
    await writeFile(
      join(dir, 'use.ts'),
      "const s = await mcpFactory.load('everything');\nconst t = await s.callTool('get-structured-content', { location: 'Chicago' });\nconst n: number = t.temperature;\nconsole.log(n);\nexport {};\n",
    );
    const deno = createRequire(import.meta.url).resolve('deno/bin.cjs');
    // Rejects, with the errors, when the declarations or their use do not compile. Not execFileSync: a blocked
    // event loop would miss the server closing the idle keep-alive connection, and the next request would fail.
    await promisify(execFile)(
      process.execPath,
      [deno, 'check', '--quiet', '--no-config', '--no-lock', 'use.ts', 'everything.d.ts'],
      {
        cwd: dir,
        env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' },
      },
    );
  });

  it('reports a type error on line 2 at line 2 and runs nothing', async () => {
    const r = await run("console.log('must not print');\nconst n: number = 'text';\nn", true);
    expect(r.isError).toBe(true);
    expect(r.result.status).toBe('type_error');
    expect(r.result.stdout).toBe('');
    expect(r.result.typeErrors).toEqual([
      { line: 2, column: 7, code: 'TS2322', message: "Type 'string' is not assignable to type 'number'." },
    ]);
    expect(r.text.split('\n').slice(0, 3)).toEqual([
      'Type check failed: the code was not run',
      '--- type errors ---',
      "code.ts:2:7 TS2322: Type 'string' is not assignable to type 'number'.",
    ]);
    expect(r.text).not.toContain('must not print');
  });

  it("catches a wrong argument type for echo, and a last expression's error at the caller's column", async () => {
    const r = await run(
      "const s = await mcpFactory.load('everything');\nawait s.callTool('echo', { message: 42 });\nMath.max('a', 1)",
      true,
    );
    expect(r.result.status).toBe('type_error');
    const where = r.result.typeErrors!.map((e) => [e.line, e.column, e.code]);
    expect(where).toEqual([
      [2, 28, 'TS2322'],
      [3, 10, 'TS2345'],
    ]);
  });

  it('runs code that passes the check as usual, and reports an import that is not pre-cached', async () => {
    const ok = await run(
      "import { z } from 'npm:zod@^3';\nconst s = await mcpFactory.load('everything');\nconst echoed = await s.callTool('echo', { message: 'typed' });\nz.string().parse(String(echoed))",
      true,
    );
    expect(ok.result.error).toBeUndefined();
    expect(ok.result.status).toBe('success');
    expect(ok.result.returnValue).toContain('typed');
    expect(ok.result.resources.checkMs).toBeGreaterThan(0);
    const missing = await run("import pad from 'npm:left-pad@^1';\npad('x', 3)", true);
    expect(missing.result.status).toBe('type_error');
    expect(missing.result.typeErrors![0]).toMatchObject({ line: 1, code: 'not-installed-npm' });
    // Without check the same mistake is the runtime's to report.
    const unchecked = await run("const n: number = 'text';\nn", false);
    expect(unchecked.result.status).toBe('success');
  });
});
