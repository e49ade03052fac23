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

export interface FormatLimits {
  maxOutputBytes: number;
  maxReturnBytes: number;
}

/** The text the model reads: a status line, the return value, then the non-empty sections, each capped. */
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
  return parts.join('\n');
}
