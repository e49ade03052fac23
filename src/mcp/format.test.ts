import { describe, expect, it } from 'vitest';
import { ExecutionResultSchema, type ExecutionResult } from '../core/index.js';
import { escapeControlChars, formatResultText } from './format.js';

const limits = { maxOutputBytes: 64, maxReturnBytes: 32 };

/** A result as the executor makes it; parsed by the schema so fixtures cannot drift from the contract. */
function result(fields: Partial<ExecutionResult> & Pick<ExecutionResult, 'status'>): ExecutionResult {
  return ExecutionResultSchema.parse({
    stdout: '',
    stderr: '',
    durationMs: 12,
    resources: { exitReason: fields.status === 'success' ? 'completed' : 'exception' },
    ...fields,
    truncated: { stdout: false, stderr: false, returnValue: false, ...fields.truncated },
  });
}

describe('formatResultText', () => {
  it('is the status line and the JSON return value, nothing else when the output is empty', () => {
    expect(formatResultText(result({ status: 'success', returnValue: { a: [1, 'x'] } }), limits)).toBe(
      'Execution successful\nReturn value: {"a":[1,"x"]}',
    );
  });

  it('shows falsy return values, and no return line when there is no value', () => {
    for (const [value, json] of [
      [null, 'null'],
      [0, '0'],
      [false, 'false'],
      ['', '""'],
      [[], '[]'],
    ] as const) {
      expect(formatResultText(result({ status: 'success', returnValue: value }), limits)).toBe(
        `Execution successful\nReturn value: ${json}`,
      );
    }
    expect(formatResultText(result({ status: 'success' }), limits)).toBe('Execution successful');
  });

  it('adds stdout and stderr sections, in that order, only when they are not empty', () => {
    expect(
      formatResultText(
        result({ status: 'success', returnValue: 3, stdout: 'hello\nworld\n', stderr: 'warn\n' }),
        limits,
      ),
    ).toBe('Execution successful\nReturn value: 3\n--- stdout ---\nhello\nworld\n\n--- stderr ---\nwarn\n');
    expect(formatResultText(result({ status: 'success', stderr: 'only err' }), limits)).toBe(
      'Execution successful\n--- stderr ---\nonly err',
    );
  });

  it('reports a failure with its stack, or its name and message when there is no stack', () => {
    const stack = 'Error: boom\n    at boom (code.ts:5:9)';
    expect(
      formatResultText(
        result({ status: 'error', stdout: 'before\n', error: { name: 'Error', message: 'boom', stack } }),
        limits,
      ),
    ).toBe(`Execution failed\n--- stdout ---\nbefore\n\n--- error ---\n${stack}`);
    expect(
      formatResultText(
        result({
          status: 'error',
          error: { name: 'SyntaxError', message: 'Unexpected token (code.ts:2:11)' },
        }),
        limits,
      ),
    ).toBe('Execution failed\n--- error ---\nSyntaxError: Unexpected token (code.ts:2:11)');
    // A message rewritten by the host (a limit was reached) no longer appears in the stack: both are shown.
    expect(
      formatResultText(
        result({
          status: 'error',
          error: {
            name: 'PidsLimitError',
            message: 'Too many processes.',
            stack: 'Error: spawn\n    at code.ts:1:1',
          },
        }),
        limits,
      ),
    ).toBe(
      'Execution failed\n--- error ---\nPidsLimitError: Too many processes.\nError: spawn\n    at code.ts:1:1',
    );
  });

  it('says when the execution timed out', () => {
    const text = formatResultText(
      result({
        status: 'timeout',
        stdout: 'tick\n',
        error: { name: 'TimeoutError', message: 'The code did not finish within 100 ms and was killed.' },
        resources: { exitReason: 'timeout' },
      }),
      limits,
    );
    expect(text).toBe(
      'Execution timed out\n--- stdout ---\ntick\n\n--- error ---\nTimeoutError: The code did not finish within 100 ms and was killed.',
    );
  });

  it('marks truncated output and return values with the limits that cut them', () => {
    expect(
      formatResultText(
        result({
          status: 'success',
          returnValue: '{"rows":[1,2,3,4,5,6,7,8,9,10,11',
          stdout: 'x'.repeat(64),
          stderr: 'line\n',
          truncated: { stdout: true, stderr: true, returnValue: true },
        }),
        limits,
      ),
    ).toBe(
      [
        'Execution successful',
        'Return value: {"rows":[1,2,3,4,5,6,7,8,9,10,11',
        '[return value truncated: only the first 32 bytes are shown]',
        '--- stdout ---',
        'x'.repeat(64),
        '[stdout truncated: only the first 64 bytes are shown]',
        '--- stderr ---',
        'line',
        '[stderr truncated: only the first 64 bytes are shown]',
      ].join('\n'),
    );
    // Output cut to nothing is still announced.
    expect(
      formatResultText(
        result({ status: 'success', truncated: { stdout: true, stderr: false, returnValue: false } }),
        limits,
      ),
    ).toBe('Execution successful\n--- stdout ---\n[stdout truncated: only the first 64 bytes are shown]');
  });

  it('says where the whole of a kept output is, and how much of it when the budget cut it', () => {
    const uri = (s: string) => `conductor://executions/e1/${s}`;
    const text = formatResultText(
      result({
        status: 'success',
        returnValue: '"abc',
        stdout: 'x'.repeat(64),
        truncated: { stdout: true, stderr: false, returnValue: true },
        retained: {
          stdout: { uri: uri('stdout'), bytes: 460000, complete: true },
          returnValue: { uri: uri('return'), bytes: 500, complete: false },
        },
      }),
      limits,
    );
    expect(text.split('\n')).toEqual([
      'Execution successful',
      'Return value: "abc',
      '[return value truncated: only the first 32 bytes are shown; the first 500 bytes (the retention limit) are at conductor://executions/e1/return (resources/read, for an hour)]',
      '--- stdout ---',
      'x'.repeat(64),
      '[stdout truncated: only the first 64 bytes are shown; all 460000 bytes are at conductor://executions/e1/stdout (resources/read, for an hour)]',
    ]);
  });

  it('escapes terminal control characters everywhere but keeps newlines and tabs', () => {
    const hostile = 'a\x1b]52;c;ZXZpbA==\x07b\x9b2Jc\r\x7fd\te\nf';
    const text = formatResultText(
      result({
        status: 'error',
        returnValue: hostile,
        stdout: hostile,
        stderr: hostile,
        error: { name: 'Error\x1b[31m', message: hostile },
      }),
      { maxOutputBytes: 1024, maxReturnBytes: 1024 },
    );
    // eslint-disable-next-line no-control-regex -- the point: none may be left
    expect(text).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
    const shown = 'a\\u001b]52;c;ZXZpbA==\\u0007b\\u009b2Jc\\u000d\\u007fd\te\nf';
    expect(text).toContain(`--- stdout ---\n${shown}\n--- stderr ---\n${shown}`);
    expect(text).toContain(`--- error ---\nError\\u001b[31m: ${shown}`);
    // JSON already wrote C0 as \u00XX; DEL and C1 it leaves raw, so they are escaped the same way.
    expect(text).toContain('Return value: "a\\u001b]52;c;ZXZpbA==\\u0007b\\u009b2Jc\\r\\u007fd\\te\\nf"');
    expect(escapeControlChars('plain\ttext\n')).toBe('plain\ttext\n');
    expect(escapeControlChars('evil\u202etxt.exe \u2066x\u2069')).toBe('evil\\u202etxt.exe \\u2066x\\u2069');
    expect(escapeControlChars('héllo ✓ 日本')).toBe('héllo ✓ 日本');
  });
});
