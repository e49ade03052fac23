import type { ExecutionResult, RetainedRef } from '../core/index.js';

const HEADLINE = {
  success: 'Execution successful',
  error: 'Execution failed',
  timeout: 'Execution timed out',
  type_error: 'Type check failed: the code was not run',
} as const;

function truncationNote(what: string, limitBytes: number, kept: RetainedRef | undefined): string {
  const shown = `only the first ${limitBytes} bytes are shown`;
  if (!kept) return `[${what} truncated: ${shown}]`;
  const where = kept.complete
    ? `all ${kept.bytes} bytes are at ${kept.uri}`
    : `the first ${kept.bytes} bytes (the retention limit) are at ${kept.uri}`;
  return `[${what} truncated: ${shown}; ${where} (resources/read, for an hour)]`;
}

// C0 controls but \t and \n, DEL, C1 (0x9b alone is a CSI on some terminals), and the bidirectional overrides and
// isolates (they reorder what a client shows around the text).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text a model or a terminal shows, with every control character but newline and tab written as `\u001b`: the code's
 * output could otherwise carry terminal escapes (a colour is harmless; OSC 52 writes the clipboard, others retitle a
 * window or hide text; a bidi override makes `evil\u202etxt.exe` read as `evilexe.txt`). structuredContent keeps the exact characters, as JSON strings.
 */
export function escapeControlChars(text: string): string {
  return text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export interface FormatLimits {
  maxOutputBytes: number;
  maxReturnBytes: number;
}

/**
 * The text the model reads: a status line, the return value, then the non-empty sections, each capped, with
 * control characters escaped (JSON escapes C0 in the return value, but not DEL or C1).
 */
export function formatResultText(result: ExecutionResult, limits: FormatLimits): string {
  const parts: string[] = [HEADLINE[result.status]];
  if ('returnValue' in result && result.returnValue !== undefined) {
    const json = result.truncated.returnValue
      ? (result.returnValue as string)
      : JSON.stringify(result.returnValue);
    parts.push(
      `Return value: ${json}${result.truncated.returnValue ? `\n${truncationNote('return value', limits.maxReturnBytes, result.retained?.returnValue)}` : ''}`,
    );
  }
  const section = (title: 'stdout' | 'stderr', text: string, truncated: boolean) => {
    if (!text && !truncated) return;
    const note = truncationNote(title, limits.maxOutputBytes, result.retained?.[title]);
    parts.push(
      `--- ${title} ---\n${text}${truncated ? `${text === '' || text.endsWith('\n') ? '' : '\n'}${note}` : ''}`,
    );
  };
  if (result.typeErrors?.length) {
    const lines = result.typeErrors.map((e) => `code.ts:${e.line}:${e.column} ${e.code}: ${e.message}`);
    parts.push(`--- type errors ---\n${lines.join('\n')}`);
  }
  section('stdout', result.stdout, result.truncated.stdout);
  section('stderr', result.stderr, result.truncated.stderr);
  if (result.error && !result.typeErrors?.length) {
    const { name, message, stack } = result.error;
    const head = `${name}: ${message}`;
    parts.push(
      `--- error ---\n${stack && stack.includes(message) ? stack : stack ? `${head}\n${stack}` : head}`,
    );
  }
  return escapeControlChars(parts.join('\n'));
}
