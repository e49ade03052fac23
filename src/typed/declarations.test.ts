import { execFileSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { docComment, toolDeclarations, type ToolListing } from './declarations.js';
import { sanitizeSchema } from './schema.js';

// A file: URL: a plain path would load the file a second time, as another module.
const runtimeTypes = new URL('../../images/deno/runtime/mcp-factory.d.ts', import.meta.url).href;

/** `deno check` of `code` against the runtime's declarations and `declarations`; the TS error lines. */
async function denoCheck(declarations: string, code: string): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'typed-test-'));
  await writeFile(join(dir, 'tools.d.ts'), `/// <reference path="${runtimeTypes}" />\n${declarations}`);
  await writeFile(join(dir, 'code.ts'), `${code}\nexport {};\n`);
  const deno = createRequire(import.meta.url).resolve('deno/bin.cjs');
  try {
    execFileSync(
      process.execPath,
      [deno, 'check', '--quiet', '--no-config', '--no-lock', 'code.ts', 'tools.d.ts'],
      {
        cwd: dir,
        env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' },
        stdio: 'pipe',
      },
    );
    return [];
  } catch (error) {
    const out = String((error as { stderr?: Buffer }).stderr ?? '');
    return out.split('\n').filter((l) => /TS\d+ \[ERROR\]|at file:/.test(l));
  }
}

const echo: ToolListing = {
  name: 'echo',
  description: 'Echoes */ back',
  inputSchema: {
    type: 'object',
    properties: { message: { type: 'string', description: 'what to echo' } },
    required: ['message'],
  },
};
const sum: ToolListing = {
  name: 'get-sum',
  inputSchema: {
    type: 'object',
    properties: { a: { type: 'number' }, b: { type: 'number' } },
    required: ['a', 'b'],
  },
  outputSchema: { type: 'object', properties: { result: { type: 'number' } }, required: ['result'] },
};

describe('sanitizeSchema', () => {
  it('drops what the generator would paste as code or resolve outside the document', () => {
    const out = sanitizeSchema({
      type: 'object',
      tsType: 'any; } declare global { var pwned: 1 } {',
      properties: {
        a: { $ref: 'http://127.0.0.1:1/evil.json' },
        b: { $ref: '/etc/passwd' },
        c: { $ref: '#/definitions/C' },
        tsType: { type: 'string' },
      },
      definitions: { C: { type: 'string', tsEnumNames: ['x'] } },
      $id: 'http://127.0.0.1:1/base/',
      title: 'Promise',
    });
    expect(JSON.stringify(out)).not.toMatch(/pwned|evil|passwd|tsEnumNames|\$id|title/);
    expect(out.properties).toEqual({
      a: {},
      b: {},
      c: { $ref: '#/definitions/C' },
      tsType: { type: 'string' },
    });
  });

  it('bounds depth, node count and entries, and keeps __proto__ as a plain property name', () => {
    let deep: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 5000; i++) deep = { type: 'object', properties: { x: deep } };
    expect(JSON.stringify(sanitizeSchema(deep)).length).toBeLessThan(2000);
    const wide = { type: 'string', enum: Array.from({ length: 100_000 }, (_, i) => `v${i}`) };
    expect((sanitizeSchema(wide).enum as unknown[]).length).toBe(300);
    const proto = sanitizeSchema(
      JSON.parse('{"type":"object","properties":{"__proto__":{"type":"string"}}}'),
    );
    expect(Object.keys(proto.properties as object)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).type).toBeUndefined();
  });
});

describe('toolDeclarations', () => {
  it('types echo and get-sum so that deno check catches a wrong argument, an unknown tool and a wrong use of the output', async () => {
    const ts = await toolDeclarations('everything', [echo, sum]);
    expect(ts).toContain('Echoes *\\/ back');
    const errors = await denoCheck(
      ts,
      [
        "const s = await mcpFactory.load('everything');",
        "await s.callTool('echo', { message: 'fine' });",
        "const r = await s.callTool('get-sum', { a: 1, b: 2 });",
        'const n: number = r.result;',
        "await s.callTool('echo', { message: 42 });",
        "await s.callTool('ecko', { message: 'x' });",
        'const t: string = r.result;',
        "const loose = await mcpFactory.load('other');",
        "await loose.callTool('anything', { a: 1 });",
        'console.log(n, t);',
      ].join('\n'),
    );
    const lines = errors.filter((l) => l.includes('code.ts')).map((l) => /code\.ts:(\d+)/.exec(l)![1]);
    expect(lines).toEqual(['5', '6', '7']);
  }, 60_000);

  it('stays valid TypeScript for odd and hostile schemas', async () => {
    const odd: ToolListing[] = [
      {
        name: "we'ird */ name\n@x",
        description: '*/ declare global { var pwned: 1 } /*',
        inputSchema: {
          type: 'object',
          properties: {
            "a'b": { type: 'string', description: 'x */ y' },
            'line\nbreak': { type: ['string', 'null'] },
            '*/': { enum: ['a"b', "c'd", '*/', '\u2028', 1, null, true] },
            node: { $ref: '#' },
            list: {
              type: 'array',
              minItems: 50,
              maxItems: 50,
              items: { type: 'array', minItems: 50, items: {} },
            },
            far: { $ref: 'http://127.0.0.1:1/x.json' },
          },
          required: ["a'b"],
        },
        outputSchema: {
          type: 'object',
          additionalProperties: { anyOf: [{ type: 'string' }, { type: 'integer' }] },
        },
      },
      { name: '123', inputSchema: 'not a schema' },
      { name: 'Tool', inputSchema: { type: 'object', properties: { x: { $ref: '#/definitions/missing' } } } },
    ];
    const ts = await toolDeclarations('odd-server */', odd);
    // Hostile text survives only inside comments.
    const code = ts.split('\n').filter((l) => !/^\s*(\*|\/\/|\/\*\*)/.test(l));
    expect(code.join('\n')).not.toMatch(/pwned|declare global/);
    expect(ts.length).toBeLessThan(20_000);
    expect(
      await denoCheck(ts, "const s = await mcpFactory.load('odd-server */');\nconsole.log(s.name);"),
    ).toEqual([]);
  }, 60_000);

  it('never reads or fetches a $ref that leaves the document', async () => {
    let requests = 0;
    const server = createServer((_, res) => (requests++, res.end('{"type":"string"}')));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    await toolDeclarations('s', [
      {
        name: 't',
        inputSchema: {
          type: 'object',
          properties: { a: { $ref: `http://127.0.0.1:${port}/x.json` }, b: { $ref: 'file:///etc/passwd' } },
        },
      },
    ]);
    server.close();
    expect(requests).toBe(0);
  });
});

describe('docComment', () => {
  it('cannot be closed early and starts no tag', () => {
    expect(docComment('a */ b\n@deprecated c')).toBe('/**\n * a *\\/ b\n * \\@deprecated c\n */\n');
    expect(docComment('   ')).toBe('');
  });
});
