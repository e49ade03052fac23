import type { ErrorInfo, ExecutionResult, TypeErrorInfo } from '../core/index.js';
import type { Segment } from '../wrap/index.js';

/** The code to check: the wrapped module (what runs) and how its positions map back to the caller's code. */
export interface CheckRequest {
  code: string;
  module: string;
  segments: Segment[];
  timeoutMs: number;
  signal?: AbortSignal;
}

/** What a type check found: nothing, the code's type errors, or that it could not finish. */
export type CheckVerdict =
  | { kind: 'passed'; ms: number }
  | { kind: 'failed'; ms: number; errors: TypeErrorInfo[] }
  | { kind: 'unfinished'; ms: number; status: 'error' | 'timeout'; error: ErrorInfo };

/** Type-checks code before it runs (implemented in src/typed). Conductor-side failures reject with an AppError. */
export interface CodeChecker {
  check(request: CheckRequest): Promise<CheckVerdict>;
}

/** The result of a call whose check did not pass: the code did not run. */
export function uncheckedResult(verdict: Exclude<CheckVerdict, { kind: 'passed' }>): ExecutionResult {
  const base = {
    stdout: '',
    stderr: '',
    durationMs: verdict.ms,
    truncated: { stdout: false, stderr: false, returnValue: false },
    resources: { exitReason: 'rejected' as const, checkMs: verdict.ms },
  };
  if (verdict.kind === 'unfinished') return { ...base, status: verdict.status, error: verdict.error };
  const n = verdict.errors.length;
  return {
    ...base,
    status: 'type_error',
    error: {
      name: 'TypeCheckError',
      message: `The type check found ${n === 1 ? '1 error' : `${n} errors`}; the code was not run.`,
    },
    typeErrors: verdict.errors,
  };
}
