import type { ExecutionResult } from '../core/index.js';
import type { PreparedSandbox } from './prepared.js';

/** Where output past the caps goes (src/retention implements it). */
export interface OutputKeeper {
  begin(
    tenant: string,
    executionId: string,
    budgetBytes: number,
  ): {
    writer(stream: 'stdout' | 'stderr' | 'return', threshold: number): { write(bytes: Buffer): void };
    finish(): Promise<
      { uri: string; stream: 'stdout' | 'stderr' | 'return'; bytes: number; complete: boolean }[]
    >;
  };
}

export interface KeptOutputs {
  /** for runInSandbox: how much of a long return value to send, and where its pieces go */
  returnValue: { retainBytes: number; onValuePart?: (text: string) => void };
  /** Stops keeping and adds to the result where the whole of each truncated output is. */
  attach(result: ExecutionResult): Promise<void>;
}

const NOTHING: KeptOutputs = { returnValue: { retainBytes: 0 }, attach: () => Promise.resolve() };
const FIELD = { stdout: 'stdout', stderr: 'stderr', return: 'returnValue' } as const;

/**
 * Tees one execution's whole output into the keeper: stdout and stderr as they pass the collectors (to disk only once
 * past maxOutputBytes), and the return value's pieces the runtime sends when it is past maxReturnBytes.
 */
export function keepOutputs(
  keeper: OutputKeeper | undefined,
  sandbox: PreparedSandbox,
  tenant: string,
  executionId: string,
): KeptOutputs {
  const { limits } = sandbox.profile.policy;
  if (!keeper || limits.maxRetainedBytes === 0) return NOTHING;
  const kept = keeper.begin(tenant, executionId, limits.maxRetainedBytes);
  const stops = (['stdout', 'stderr'] as const).map((stream) => {
    const writer = kept.writer(stream, limits.maxOutputBytes);
    return sandbox[stream].passed.subscribe((bytes) => writer.write(bytes));
  });
  const value = kept.writer('return', 0);
  return {
    returnValue: {
      retainBytes: limits.maxRetainedBytes,
      onValuePart: (text) => value.write(Buffer.from(text, 'utf8')),
    },
    async attach(result) {
      stops.forEach((stop) => stop());
      const refs = await kept.finish();
      const retained: NonNullable<ExecutionResult['retained']> = {};
      for (const { stream, uri, bytes, complete } of refs) {
        // Only what the result itself cut short: a stream that ended exactly at its cap has nothing more.
        const field = FIELD[stream];
        if (result.truncated[field]) retained[field] = { uri, bytes, complete };
      }
      if (Object.keys(retained).length > 0) result.retained = retained;
    },
  };
}
