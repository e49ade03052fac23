import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { wrapUserCode } from './wrap.js';

const deno = join(
  dirname(createRequire(import.meta.url).resolve('@deno/linux-x64-glibc/package.json')),
  'deno',
);

/** Runs each wrapped module for real with Deno, in one process, and returns each result (or error). */
function runAll(sources: string[]): { value?: unknown; error?: string; stack?: string }[] {
  const dir = mkdtempSync(join(tmpdir(), 'wrap-'));
  const runner: string[] = ['const out = [];'];
  sources.forEach((src, i) => {
    const w = wrapUserCode(src);
    if (!w.ok) throw new Error(`did not wrap: ${w.error.message}`);
    writeFileSync(join(dir, `code${i}.ts`), w.module);
    runner.push(
      `try { const v = await (await import('./code${i}.ts')).default(); out.push({ value: v === undefined ? '<undefined>' : v }); } catch (e) { out.push({ error: String(e), stack: e.stack }); }`,
    );
  });
  runner.push('console.log(JSON.stringify(out));');
  writeFileSync(join(dir, 'run.ts'), runner.join('\n'));
  const stdout = execFileSync(
    deno,
    ['run', '--no-config', '--no-lock', `--allow-read=${dir}`, join(dir, 'run.ts')],
    {
      env: { PATH: process.env.PATH, NO_COLOR: '1', DENO_DIR: join(dir, '.deno') },
      encoding: 'utf8',
    },
  );
  return JSON.parse(stdout) as { value?: unknown; error?: string; stack?: string }[];
}

describe('wrapUserCode', () => {
  it('keeps every user line on its line number and reports the line-1 shift', () => {
    const src = "const a = 1;\nimport * as path from 'node:path';\nconst b = 2;\na + b";
    const w = wrapUserCode(src);
    expect(w.ok).toBe(true);
    if (!w.ok) return;
    const lines = w.module.split('\n');
    expect(lines[0]!.slice(w.line1Offset)).toBe('const a = 1;');
    expect(lines[0]!.startsWith("import * as path from 'node:path';")).toBe(true);
    expect(lines[1]!.trim()).toBe('');
    expect(lines[2]).toBe('const b = 2;');
  });

  it('reports syntax errors at the user’s line and column', () => {
    expect(wrapUserCode('const a = 1;\nconst b = ;')).toEqual({
      ok: false,
      error: {
        name: 'SyntaxError',
        message: expect.stringContaining('Unexpected token') as string,
        line: 2,
        column: 11,
      },
    });
    const ex = wrapUserCode("export { a } from './x';");
    expect(ex.ok).toBe(false);
    expect(!ex.ok && ex.error.message).toContain('exports are not supported');
    expect(wrapUserCode("import fs = require('fs');").ok).toBe(false);
  });

  it('runs for real: every import form hoisted, return, last expression, await, TypeScript, exports', () => {
    const cases = [
      '1 + 1',
      "const n = 3;\nimport { basename } from 'node:path';\nimport * as util from 'node:util';\nimport def from 'node:path';\nimport type { Buffer } from 'node:buffer';\nimport 'node:url';\n[basename('/a/b.txt'), typeof util.format, typeof def.join, n]",
      'const a = 2;\nif (a > 1) {\n  return a * 10;\n}\nreturn 0;',
      'try { return "in try" } finally {}',
      'const x = 5;\nx * 2\nconst later = 1;',
      'const nothing = 1;',
      '',
      '// only a comment',
      'await new Promise((r) => setTimeout(r, 5));\nconst v = await Promise.resolve(7);\nv',
      'interface P { x: number }\nenum E { A = 3 }\nfunction id<T>(v: T): T { return v; }\nconst p = { x: 1 } as P;\nid<number>(p.x + E.A) satisfies number',
      'export const q = 4;\nexport function f() { return q; }\nf() + 1',
      'export default { from: "export default" };',
      '[\n  1,\n  2,\n].map((n) => n * 2)',
      '1, 2, 3',
      '#!/usr/bin/env -S deno run\n"hashbang"',
      '({ a: 1 })',
      'function inner() { return 5; }\ninner() + 1',
      'for await (const x of [Promise.resolve(1)]) { }\n"done"',
      'const s = "a";\ns\n// trailing comment',
    ];
    const r = runAll(cases);
    expect(r.map((x) => x.value ?? x.error)).toEqual([
      2,
      ['b.txt', 'function', 'function', 3],
      20,
      'in try',
      10,
      '<undefined>',
      '<undefined>',
      '<undefined>',
      7,
      4,
      5,
      { from: 'export default' },
      [2, 4],
      3,
      'hashbang',
      { a: 1 },
      6,
      'done',
      'a',
    ]);
  });

  it('leaves stack traces pointing at the user’s line', () => {
    const [r] = runAll(['const a = 1;\n\n\nfunction boom() {\n  throw new Error("boom");\n}\nboom();']);
    expect(r!.error).toBe('Error: boom');
    expect(r!.stack).toMatch(/code0\.ts:5:\d+/);
  });
});
