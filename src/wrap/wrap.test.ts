import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { locateDenoBinary } from '../image/deno-binary.js';
import { wrapUserCode } from './wrap.js';

const deno = locateDenoBinary(process.arch === 'x64' ? 'x86_64' : process.arch).path;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

type Outcome = { value?: unknown; error?: string; stack?: string };

/**
 * Runs each wrapped module for real with Deno, in one process, and returns each result (or error). A function result
 * becomes `function <name>` so tests can see which function came back.
 */
function runAll(sources: string[]): Outcome[] {
  const dir = mkdtempSync(join(tmpdir(), 'wrap-'));
  dirs.push(dir);
  const runner: string[] = ['const out = [];'];
  sources.forEach((src, i) => {
    const w = wrapUserCode(src);
    if (!w.ok) throw new Error(`did not wrap: ${w.error.message}\n${src}`);
    writeFileSync(join(dir, `code${i}.ts`), w.module);
    runner.push(
      `try { const v = await (await import('./code${i}.ts')).default(); out.push({ value: v === undefined ? '<undefined>' : typeof v === 'function' ? 'function ' + v.name : v }); } catch (e) { out.push({ error: String(e), stack: e.stack }); }`,
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
  // The code's own console output comes first; the runner's line is the last one.
  return JSON.parse(stdout.trimEnd().split('\n').at(-1)!) as Outcome[];
}

/** Each case's result from a real Deno run, or its error. */
function resultsOf(cases: Record<string, string>): Record<string, unknown> {
  const names = Object.keys(cases);
  const outcomes = runAll(Object.values(cases));
  return Object.fromEntries(names.map((n, i) => [n, outcomes[i]!.value ?? outcomes[i]!.error]));
}

function refusal(source: string) {
  const w = wrapUserCode(source);
  if (w.ok) throw new Error(`wrapped, but should have been refused:\n${source}`);
  return w.error;
}

describe('wrapUserCode', () => {
  it('keeps every user line on its line number, line 1 behind the wrapper’s prefix', () => {
    const src = "const a = 1;\nimport * as path from 'node:path';\nconst b = 2;\na + b";
    const w = wrapUserCode(src);
    expect(w.ok).toBe(true);
    if (!w.ok) return;
    const lines = w.module.split('\n');
    expect(lines[0]!.endsWith('; const a = 1;')).toBe(true);
    expect(lines[0]!.startsWith("import * as path from 'node:path';")).toBe(true);
    expect(lines[1]!.trim()).toBe(';');
    expect(lines[2]).toBe('const b = 2;');
  });

  it('hoists each import as its own statement, without its comments, on line 1', () => {
    const w = wrapUserCode(
      "import { a } from 'x'\nimport {\n  b, // the b\n  /* and */ c,\n} from 'y'\nimport 'z'\n1",
    );
    expect(w.ok).toBe(true);
    if (!w.ok) return;
    const lines = w.module.split('\n');
    expect(lines).toHaveLength(7 + 3);
    expect(lines[0]).toMatch(
      /^import \{ a \} from 'x'; import \{\s+b,\s+c,\s+\} from 'y'; import 'z'; export default async function/,
    );
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
  });

  it('refuses the export forms that have no meaning here, naming the line and a way out', () => {
    expect(refusal("const a = 1;\nexport { a } from './x';")).toEqual({
      name: 'SyntaxError',
      message: '`export … from` is not supported: import the module and return what you need',
      line: 2,
      column: 1,
    });
    expect(refusal("export * from './x';").message).toContain('`export * from` is not supported');
    expect(refusal("export * as ns from './x';").message).toContain('`export … from` is not supported');
    expect(refusal('const x = 1;\n  export { x as default };')).toMatchObject({
      message: '`export { x as default }` is not supported: use `export default x` or `return x`',
      line: 2,
      column: 3,
    });
    expect(refusal('const x = 1;\nexport = x;').message).toContain('`export =` is not supported');
    expect(refusal('export default 1;\nexport default 2;')).toMatchObject({
      message: 'only one `export default` is allowed',
      line: 2,
    });
    expect(refusal('export default abstract class {}').message).toContain('needs a class name');
    expect(refusal("import fs = require('fs');").message).toContain('not supported');
  });

  it('runs for real: every import form hoisted, return, last expression, await, TypeScript', () => {
    expect(
      resultsOf({
        simple: '1 + 1',
        importForms:
          "const n = 3;\nimport { basename } from 'node:path';\nimport * as util from 'node:util';\nimport def from 'node:path';\nimport type { Buffer } from 'node:buffer';\nimport 'node:url';\n[basename('/a/b.txt'), typeof util.format, typeof def.join, n]",
        returnInIf: 'const a = 2;\nif (a > 1) {\n  return a * 10;\n}\nreturn 0;',
        returnInTry: 'try { return "in try" } finally {}',
        returnNotTaken: "const a = 2\nif (a > 5) return 'big'\na * 100",
        lastExpressionNotLast: 'const x = 5;\nx * 2\nconst later = 1;',
        noExpression: 'const nothing = 1;',
        empty: '',
        onlyComment: '// only a comment',
        topLevelAwait: 'await new Promise((r) => setTimeout(r, 5));\nconst v = await Promise.resolve(7);\nv',
        typescript:
          'interface P { x: number }\nenum E { A = 3 }\nfunction id<T>(v: T): T { return v; }\nconst p = { x: 1 } as P;\nid<number>(p.x + E.A) satisfies number',
        multiLineExpression: '[\n  1,\n  2,\n].map((n) => n * 2)',
        sequence: '1, 2, 3',
        hashbang: '#!/usr/bin/env -S deno run\n"hashbang"',
        objectLiteral: '({ a: 1 })',
        innerReturn: 'function inner() { return 5; }\ninner() + 1',
        forAwait: 'for await (const x of [Promise.resolve(1)]) { }\n"done"',
        trailingComment: 'const s = "a";\ns\n// trailing comment',
        anonymousFunctionKeepsNoName: '() => 1',
      }),
    ).toEqual({
      simple: 2,
      importForms: ['b.txt', 'function', 'function', 3],
      returnInIf: 20,
      returnInTry: 'in try',
      returnNotTaken: 200,
      lastExpressionNotLast: 10,
      noExpression: '<undefined>',
      empty: '<undefined>',
      onlyComment: '<undefined>',
      topLevelAwait: 7,
      typescript: 4,
      multiLineExpression: [2, 4],
      sequence: 3,
      hashbang: 'hashbang',
      objectLiteral: { a: 1 },
      innerReturn: 6,
      forAwait: 'done',
      trailingComment: 'a',
      anonymousFunctionKeepsNoName: 'function ',
    });
  });

  it('runs for real: imports without semicolons, with comments, and next to code that ASI could merge', () => {
    expect(
      resultsOf({
        noSemicolon: "import { basename } from 'node:path'\nbasename('/a/b.txt')",
        twoNoSemicolon:
          "import { basename } from 'node:path'\nimport { format } from 'node:util'\nformat('%s!', basename('/x/y'))",
        multiLineWithComments:
          "import {\n  basename, // the file name\n  /* and the folder */ dirname,\n} from 'node:path' // trailing\n[basename('/a/b'), dirname('/a/b')]",
        slashesInsideTheSpecifier:
          'import data from \'data:application/json,{"url":"https://example.com/a"}\' with { type: "json" }\ndata.url',
        commentBeforeImportOnLineOne: "/* header */ import { sep } from 'node:path'\nsep",
        asiAcrossARemovedImport:
          "const f = (n: number) => n + 1\nconst v = f\nimport 'node:url'\n(5)\ntypeof v",
        importAfterCode: "const a = [1]\nimport { join } from 'node:path'\njoin('a', String(a[0]))",
      }),
    ).toEqual({
      noSemicolon: 'b.txt',
      twoNoSemicolon: 'y!',
      multiLineWithComments: ['b', '/a'],
      slashesInsideTheSpecifier: 'https://example.com/a',
      commentBeforeImportOnLineOne: '/',
      asiAcrossARemovedImport: 'function',
      importAfterCode: 'a/1',
    });
  });

  it('runs for real: export default is the result unless a return runs; other exports are declarations', () => {
    expect(
      resultsOf({
        defaultNotLast: 'export default 1;\nconsole.log(2)',
        defaultLast: 'export default { from: "export default" };',
        defaultNoSemicolon: 'const a = 3\nexport default a * 2\nconst b = 1',
        defaultParenthesized: 'export default (1, 2);',
        defaultCommentBetweenKeywords: 'export /* default */ default\n  "spaced"',
        defaultThenReturnNotTaken: "const a = 2;\nexport default a * 2;\nif (a > 5) return 'big';",
        defaultThenReturnTaken: "export default 'default';\nif (Math.PI > 3) return 'returned';",
        returnBeforeDefault: "if (Math.PI > 3) return 'early';\nexport default 'late';",
        defaultAwait: 'export default await Promise.resolve("awaited")',
        namedFunction: "export default function greet() { return 'hi'; }\ngreet()",
        namedFunctionUsedBefore:
          "const g = greet();\nexport default function greet() { return 'hi'; }\nreturn g",
        anonymousFunction: 'export default function () {}',
        anonymousArrow: 'export default () => 1',
        namedClass: 'export default class Point { x = 1 }\nnew Point().x',
        anonymousClass: 'export default class { }',
        typeOnlyDefault: 'export default interface I { a: number }\nconst i: I = { a: 2 };\ni.a',
        namedExports:
          'export const q = 4;\nexport let r = 1;\nexport function f() { return q + r; }\nexport class C { v = 2 }\nexport enum E { A = 10 }\nexport type T = number;\nexport interface I { n: T }\nconst i: I = { n: f() };\nexport { i }\nexport type { I as J }\n[i.n, new C().v, E.A]',
        exportListNotLast: 'const z = 9;\nexport { z }\n(z)',
      }),
    ).toEqual({
      defaultNotLast: 1,
      defaultLast: { from: 'export default' },
      defaultNoSemicolon: 6,
      defaultParenthesized: 2,
      defaultCommentBetweenKeywords: 'spaced',
      defaultThenReturnNotTaken: 4,
      defaultThenReturnTaken: 'returned',
      returnBeforeDefault: 'early',
      defaultAwait: 'awaited',
      namedFunction: 'function greet',
      namedFunctionUsedBefore: 'hi',
      anonymousFunction: 'function ',
      anonymousArrow: 'function ',
      namedClass: 'function Point',
      anonymousClass: 'function ',
      typeOnlyDefault: 2,
      namedExports: [5, 2, 10],
      exportListNotLast: 9,
    });
  });

  it('leaves stack traces pointing at the user’s line', () => {
    const [plain, imports, exported] = runAll([
      'const a = 1;\n\n\nfunction boom() {\n  throw new Error("boom");\n}\nboom();',
      "import { basename } from 'node:path'\nimport {\n  format, // comment\n} from 'node:util'\nfunction boom() {\n  throw new Error(format('%s', basename('/x/boom')));\n}\nboom()",
      'export default {\n  a: 1,\n  b: (() => {\n    throw new Error("in export");\n  })(),\n}',
    ]);
    expect(plain!.error).toBe('Error: boom');
    expect(plain!.stack).toMatch(/code0\.ts:5:\d+/);
    expect(imports!.error).toBe('Error: boom');
    expect(imports!.stack).toMatch(/code1\.ts:6:\d+/);
    expect(exported!.error).toBe('Error: in export');
    expect(exported!.stack).toMatch(/code2\.ts:4:\d+/);
  });
});
