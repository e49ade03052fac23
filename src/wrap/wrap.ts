import { parse, type ParseError } from '@babel/parser';
import type { Node, Statement } from '@babel/types';

export const USER_CODE_FILENAME = 'code.ts';

export type WrapResult =
  | { ok: true; module: string; line1Offset: number }
  | { ok: false; error: { name: 'SyntaxError'; message: string; line: number; column: number } };

const RESULT = '__conductor$result';
const MAIN = '__conductorMain';

type Edit = { start: number; end: number; text: string };

function fail(message: string, line: number, column: number): WrapResult {
  return { ok: false, error: { name: 'SyntaxError', message, line, column } };
}

/** Spaces for every character of the range except line breaks, so lines and columns keep their places. */
function blank(source: string, start: number, end: number): string {
  return source.slice(start, end).replace(/[^\n\r\u2028\u2029]/g, ' ');
}

const FUNCTION_TYPES = new Set([
  'FunctionDeclaration',
  'FunctionExpression',
  'ArrowFunctionExpression',
  'ObjectMethod',
  'ClassMethod',
  'ClassPrivateMethod',
  'ClassDeclaration',
  'ClassExpression',
  'ClassProperty',
  'ClassPrivateProperty',
  'StaticBlock',
  'TSModuleDeclaration',
]);

/** Whether a `return` sits in top-level code (not inside any function or class). */
function hasTopLevelReturn(node: unknown): boolean {
  if (!node || typeof node !== 'object') return false;
  if (Array.isArray(node)) return node.some(hasTopLevelReturn);
  const n = node as Node;
  if (typeof n.type !== 'string') return false;
  if (n.type === 'ReturnStatement') return true;
  if (FUNCTION_TYPES.has(n.type)) return false;
  for (const [key, value] of Object.entries(n)) {
    if (key === 'loc' || key === 'leadingComments' || key === 'trailingComments' || key === 'innerComments')
      continue;
    if (value && typeof value === 'object' && hasTopLevelReturn(value)) return true;
  }
  return false;
}

/**
 * Turns the model's code into an ES module whose default export is an async function that runs it and returns the
 * result: static imports are hoisted (they cannot live inside a function), a top-level `return` returns, and
 * otherwise the last top-level expression statement is the result. Line N of the code stays line N of the module;
 * only line 1 gains a prefix (`line1Offset` characters) so stack traces point at the user's own lines.
 */
export function wrapUserCode(source: string): WrapResult {
  let program;
  try {
    program = parse(source, {
      sourceType: 'module',
      plugins: ['typescript', 'explicitResourceManagement', 'importAttributes', 'topLevelAwait'],
      allowReturnOutsideFunction: true,
      allowAwaitOutsideFunction: true,
      errorRecovery: false,
    }).program;
  } catch (error) {
    const e = error as ParseError & { loc?: { line: number; column: number }; message: string };
    const message = e.message.replace(/\s*\(\d+:\d+\)$/, '');
    return fail(message, e.loc?.line ?? 1, (e.loc?.column ?? 0) + 1);
  }

  const imports: string[] = [];
  const edits: Edit[] = [];
  const body: Statement[] = program.body;
  if (program.interpreter) {
    edits.push({
      start: program.interpreter.start!,
      end: program.interpreter.end!,
      text: blank(source, program.interpreter.start!, program.interpreter.end!),
    });
  }
  for (const st of body) {
    const where = (n: Node) => [n.loc!.start.line, n.loc!.start.column + 1] as const;
    if (st.type === 'ImportDeclaration') {
      imports.push(source.slice(st.start!, st.end!).replace(/[\r\n\u2028\u2029]+/g, ' '));
      edits.push({ start: st.start!, end: st.end!, text: blank(source, st.start!, st.end!) });
    } else if (st.type === 'TSImportEqualsDeclaration') {
      return fail('`import x = require(...)` is not supported; use a static import', ...where(st));
    } else if (st.type === 'ExportNamedDeclaration' && st.declaration && !st.source) {
      const declStart = st.declaration.start!;
      edits.push({ start: st.start!, end: declStart, text: blank(source, st.start!, declStart) });
    } else if (st.type === 'ExportNamedDeclaration' || st.type === 'ExportAllDeclaration') {
      return fail('exports are not supported: return the value instead', ...where(st));
    }
  }

  const returns = hasTopLevelReturn(body);
  let resultStatement: Statement | undefined;
  if (!returns) {
    for (let i = body.length - 1; i >= 0; i--) {
      const st = body[i]!;
      if (st.type === 'ExpressionStatement' || st.type === 'ExportDefaultDeclaration') {
        resultStatement = st;
        break;
      }
    }
  }
  // A lone string statement at the top is a directive in the AST ("use strict"), but still an expression.
  const directive = !returns && !resultStatement ? program.directives.at(-1) : undefined;
  let captures = false;
  if (resultStatement?.type === 'ExpressionStatement' || directive) {
    const node = (resultStatement ?? directive)!;
    // The statement's range, not the expression's: babel leaves the parentheses of `({ a: 1 })` outside it.
    const start = node.start!;
    const end = source[node.end! - 1] === ';' ? node.end! - 1 : node.end!;
    edits.push({ start, end: start, text: `${RESULT} = (` }, { start: end, end, text: ');' });
    captures = true;
  } else if (resultStatement?.type === 'ExportDefaultDeclaration') {
    // `export default f` is the result, like a return of f (a declaration becomes a named expression).
    const decl = resultStatement.declaration;
    edits.push(
      { start: resultStatement.start!, end: decl.start!, text: `${RESULT} = ` },
      { start: decl.end!, end: decl.end!, text: ';' },
    );
    captures = true;
  }

  edits.sort((a, b) => a.start - b.start || a.end - b.end);
  let out = '';
  let at = 0;
  for (const e of edits) {
    out += source.slice(at, e.start) + e.text;
    at = Math.max(at, e.end);
  }
  out += source.slice(at);

  const prefix = `${imports.join(' ')}${imports.length ? ' ' : ''}export default async function ${MAIN}() { ${captures ? `let ${RESULT}; ` : ''}`;
  const suffix = `\n${captures ? `return ${RESULT};\n` : ''}}\n`;
  return { ok: true, module: prefix + out + suffix, line1Offset: prefix.length };
}
