import { createHash } from 'node:crypto';
import { appendFile } from 'node:fs/promises';
import type { ExecutionResult } from '../core/index.js';

export interface AuditRecord {
  time: string;
  tenant: string;
  executionId?: string;
  codeSha256: string;
  durationMs: number;
  status: ExecutionResult['status'];
  exitReason: string;
  mcpCalls: number;
}

export interface AuditLog {
  record(tenant: string, code: string, result: ExecutionResult, mcpCalls: number): void;
  /** Resolves when every record so far is on disk. */
  flush(): Promise<void>;
}

/** Append-only JSON lines; writes are serialised so lines never interleave. */
export function createAuditLog(path: string | undefined, onError: (error: unknown) => void): AuditLog {
  let tail: Promise<void> = Promise.resolve();
  return {
    record(tenant, code, result, mcpCalls) {
      if (!path) return;
      const rec: AuditRecord = {
        time: new Date().toISOString(),
        tenant,
        codeSha256: createHash('sha256').update(code).digest('hex'),
        durationMs: result.durationMs,
        status: result.status,
        exitReason: result.resources.exitReason,
        mcpCalls,
      };
      tail = tail.then(() => appendFile(path, `${JSON.stringify(rec)}\n`, { mode: 0o600 })).catch(onError);
    },
    flush: () => tail,
  };
}
