import { parse, type ParseError } from '@babel/parser';
import type { ExportDefaultDeclaration, Node, Statement } from '@babel/types';

export const USER_CODE_FILENAME = 'code.ts';

/**
 * Where a stretch of the module came from: module offsets [moduleStart, moduleEnd) are the user's text from
 * userStart on (`exact`), or stand for the statement at userStart as a whole (a hoisted import, rewritten onto
 * line 1). Module text outside every segment is the wrapper's own.
 */
export interface Segment {
  moduleStart: number;
  moduleEnd: number;
  userStart: number;
  exact: boolean;
}

export type WrapResult =
  | { ok: true; module: string; segments: Segment[] }
  | { ok: false; error: { name: 'SyntaxError'; message: string; line: number; column: number } };

const RESULT = '__conductor$result';
/** The function the wrapper puts the user's code in: the top frame of every stack it throws. */
export const MAIN_FUNCTION_NAME = '__conductorMain';
const MAIN = MAIN_FUNCTION_NAME;

type Range = { start: number; end: number };
type Edit = Range & { text: string };

class Refusal extends Error {
  constructor(
    message: string,
    readonly node: Node,
  ) {
    super(message);
  }
}

function fail(message: string, line: number, column: number): WrapResult {
  return { ok: false, error: { name: 'SyntaxError', message, line, column } };
}

/** Spaces for every character of the range except line breaks, so lines and columns keep their places. */
function blank(source: string, start: number, end: number): string {
  return source.slice(start, end).replace(/[^\n\r\u2028\u2029]/g, ' ');
}

/** Only the line breaks of the range, for replacements that cannot keep the columns but must keep the lines. */
function lineBreaks(source: string, start: number, end: number): string {
  return source.slice(start, end).replace(/[^\n\r\u2028\u2029]/g, '');
}

/**
 * Replaces a complete top-level statement (or its leading keywords) by an empty statement of the same shape: the `;`
 * keeps the neighbours apart, so `f` + newline + `import …` + newline + `(x)` does not become `f(x)`.
 */
function emptyStatement(source: string, start: number, end: number): Edit {
  return { start, end, text: `;${blank(source, start + 1, end)}` };
}

/**
 * An import declaration as one line for the module's first line: comments inside it become a space (a `//` comment
 * would swallow the rest of line 1) and it always ends with `;` (the next import or `export default` follows it).
 */
function importLine(source: string, st: Node, comments: Range[]): string {
  let text = '';
  let at = st.start!;
  for (const c of comments) {
    if (c.start < st.start! || c.end > st.end!) continue;
    text += `${source.slice(at, c.start)} `;
    at = c.end;
  }
  text += source.slice(at, st.end!);
  text = text.replace(/[\n\r\u2028\u2029]+/g, ' ').trim();
  return text.endsWith(';') ? text : `${text};`;
}

/** The end of the `default` keyword of `export default`, skipping comments between the two keywords. */
function afterDefaultKeyword(source: string, st: ExportDefaultDeclaration, comments: Range[]): number {
  let from = st.start! + 'export'.length;
  for (;;) {
    const at = source.indexOf('default', from);
    if (at < 0 || at >= st.declaration.start!) throw new Error('export default without its keyword');
    const inComment = comments.find((c) => c.start <= at && at < c.end);
    if (!inComment) return at + 'default'.length;
    from = inComment.end;
  }
}

/** Where an expression statement's value ends: before its `;`, after any parentheses babel leaves outside it. */
function valueEnd(source: string, st: Node): number {
  return source[st.end! - 1] === ';' ? st.end! - 1 : st.end!;
}

/**
 * `export default X` assigns the result when it runs (the code goes on, and a later `return` still wins); a named
 * function or class stays a declaration, so the code can also use it by name.
 */
function exportDefaultEdits(source: string, st: ExportDefaultDeclaration, comments: Range[]): Edit[] {
  const decl = st.declaration;
  const keywordsEnd = afterDefaultKeyword(source, st, comments);
  if (decl.type.startsWith('TS')) return [emptyStatement(source, st.start!, keywordsEnd)];
  if ((decl.type === 'FunctionDeclaration' || decl.type === 'ClassDeclaration') && decl.id) {
    return [
      emptyStatement(source, st.start!, keywordsEnd),
      { start: st.end!, end: st.end!, text: `;${RESULT} = ${decl.id.name};` },
    ];
  }
  if (decl.type === 'ClassDeclaration' && decl.abstract) {
    throw new Refusal('`export default abstract class` needs a class name', st);
  }
  // `(0, X)`: an anonymous function or class must not take the variable's name.
  const end = valueEnd(source, st);
  return [
    {
      start: st.start!,
      end: keywordsEnd,
      text: `;${RESULT} = (0, ${lineBreaks(source, st.start!, keywordsEnd)}`,
    },
    { start: end, end, text: ');' },
  ];
}

/** The edits that turn top-level `export` forms into plain code, or a refusal for forms that mean nothing here. */
function exportEdits(source: string, st: Statement, comments: Range[]): Edit[] {
  switch (st.type) {
    case 'ExportNamedDeclaration':
      if (st.source) {
        throw new Refusal('`export … from` is not supported: import the module and return what you need', st);
      }
      if (st.declaration) return [emptyStatement(source, st.start!, st.declaration.start!)];
      // `export { a, b }`: the names are already local; only a default export would change the result.
      if (st.specifiers.some((s) => s.exported.type === 'Identifier' && s.exported.name === 'default')) {
        throw new Refusal(
          '`export { x as default }` is not supported: use `export default x` or `return x`',
          st,
        );
      }
      return [emptyStatement(source, st.start!, st.end!)];
    case 'ExportAllDeclaration':
      throw new Refusal('`export * from` is not supported: import the module and return what you need', st);
    case 'TSExportAssignment':
      throw new Refusal('`export =` is not supported: use `return x` or `export default x`', st);
    case 'TSNamespaceExportDeclaration':
      throw new Refusal('`export as namespace` is not supported', st);
    case 'ExportDefaultDeclaration':
      return exportDefaultEdits(source, st, comments);
    default:
      return [];
  }
}

/**
 * Turns the model's code into an ES module whose default export is an async function that runs it and returns the
 * result. Static imports are hoisted (they cannot live inside a function); `export const`/`function`/… become plain
 * declarations. The result is chosen like this:
 * 1. a top-level `return x` ends the code with x;
 * 2. code that runs to its end gives x of `export default x` (evaluated where the statement stands; the code after it
 *    still runs) or, without one, the value of the last top-level expression statement.
 * Line N of the code stays line N of the module; only line 1 gains a prefix, and `segments` map every column back
 * (mapCodePositions), so stack traces and syntax errors point at the user's own lines and columns.
 */
export function wrapUserCode(source: string): WrapResult {
  let file;
  try {
    file = parse(source, {
      sourceType: 'module',
      plugins: ['typescript', 'explicitResourceManagement', 'importAttributes', 'topLevelAwait'],
      allowReturnOutsideFunction: true,
      allowAwaitOutsideFunction: true,
      errorRecovery: false,
    });
  } catch (error) {
    const e = error as ParseError & { loc?: { line: number; column: number }; message: string };
    const message = e.message.replace(/\s*\(\d+:\d+\)$/, '');
    return fail(message, e.loc?.line ?? 1, (e.loc?.column ?? 0) + 1);
  }
  const { program } = file;
  const comments = (file.comments ?? []).map((c) => ({ start: c.start!, end: c.end! }));

  const imports: { text: string; userStart: number; exact: boolean }[] = [];
  const edits: Edit[] = [];
  const body: Statement[] = program.body;
  if (program.interpreter) {
    const { start, end } = program.interpreter;
    edits.push({ start: start!, end: end!, text: blank(source, start!, end!) });
  }
  let exportDefault: Statement | undefined;
  try {
    for (const st of body) {
      if (st.type === 'ImportDeclaration') {
        const text = importLine(source, st, comments);
        imports.push({ text, userStart: st.start!, exact: text === source.slice(st.start!, st.end!) });
        edits.push(emptyStatement(source, st.start!, st.end!));
      } else if (st.type === 'TSImportEqualsDeclaration') {
        throw new Refusal('`import x = require(...)` is not supported; use a static import', st);
      } else {
        if (st.type === 'ExportDefaultDeclaration' && !st.declaration.type.startsWith('TS')) {
          if (exportDefault) throw new Refusal('only one `export default` is allowed', st);
          exportDefault = st;
        }
        edits.push(...exportEdits(source, st, comments));
      }
    }
  } catch (error) {
    if (!(error instanceof Refusal)) throw error;
    return fail(error.message, error.node.loc!.start.line, error.node.loc!.start.column + 1);
  }

  let captures = exportDefault !== undefined;
  if (!exportDefault) {
    const last = body.findLast((st) => st.type === 'ExpressionStatement');
    // A lone string statement at the top is a directive in the AST ("use strict"), but still an expression.
    const node: Node | undefined = last ?? program.directives.at(-1);
    if (node) {
      // The statement's range, not the expression's: babel leaves the parentheses of `({ a: 1 })` outside it.
      // `(0, x)`: an anonymous function or class must not take the variable's name.
      const end = valueEnd(source, node);
      edits.push(
        { start: node.start!, end: node.start!, text: `${RESULT} = (0, ` },
        { start: end, end, text: ');' },
      );
      captures = true;
    }
  }

  const segments: Segment[] = [];
  let prefix = '';
  for (const i of imports) {
    segments.push({ moduleStart: prefix.length, moduleEnd: prefix.length + i.text.length, ...i });
    prefix += `${i.text} `;
  }
  prefix += `export default async function ${MAIN}() { ${captures ? `let ${RESULT}; ` : ''}`;
  edits.sort((a, b) => a.start - b.start || a.end - b.end);
  let out = '';
  let at = 0;
  const copy = (end: number) => {
    if (end <= at) return;
    const moduleStart = prefix.length + out.length;
    segments.push({ moduleStart, moduleEnd: moduleStart + end - at, userStart: at, exact: true });
    out += source.slice(at, end);
  };
  for (const e of edits) {
    copy(e.start);
    out += e.text;
    at = Math.max(at, e.end);
  }
  copy(source.length);

  const suffix = `\n${captures ? `return ${RESULT};\n` : ''}}\n`;
  return { ok: true, module: prefix + out + suffix, segments };
}
