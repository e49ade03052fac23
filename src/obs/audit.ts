import { createHash } from 'node:crypto';
import { appendFile } from 'node:fs/promises';
import type { ExecutionResult } from '../core/index.js';

/** One mcpFactory call an execution made, as the audit log records it (no arguments, no results). */
export interface McpCallRecord {
  server: string;
  op: string;
  /** tool or prompt name */
  name?: string;
  ok: boolean;
  /** why a call failed: denied, limit, timeout, upstream, ... */
  errorCode?: string;
}

/**
 * How one `run_deno_code` call ended, for metrics and audit. `rejected`: refused before it ran (over the
 * concurrency cap, shutting down); `failed`: the conductor could not run it (Docker unavailable, internal error).
 */
export interface ExecutionOutcome {
  status: ExecutionResult['status'] | 'rejected' | 'failed';
  code: string;
  /** set once a sandbox was assigned */
  executionId?: string;
  durationMs: number;
  resources?: ExecutionResult['resources'];
  /** the conductor's error when status is rejected or failed */
  error?: { code: string; message: string };
  mcpCalls: McpCallRecord[];
}

export interface AuditRecord {
  time: string;
  tenant: string;
  executionId?: string;
  codeSha256: string;
  codeBytes: number;
  durationMs: number;
  status: ExecutionOutcome['status'];
  resources?: ExecutionResult['resources'];
  error?: ExecutionOutcome['error'];
  mcpCalls: McpCallRecord[];
}

export interface AuditLog {
  record(tenant: string, outcome: ExecutionOutcome): void;
  /** Resolves when every record so far is on disk. */
  flush(): Promise<void>;
}

function toAuditRecord(tenant: string, outcome: ExecutionOutcome): AuditRecord {
  return {
    time: new Date().toISOString(),
    tenant,
    executionId: outcome.executionId,
    codeSha256: createHash('sha256').update(outcome.code).digest('hex'),
    codeBytes: Buffer.byteLength(outcome.code, 'utf8'),
    durationMs: outcome.durationMs,
    status: outcome.status,
    resources: outcome.resources,
    error: outcome.error,
    mcpCalls: outcome.mcpCalls,
  };
}

/** Append-only JSON lines; writes are serialised so lines never interleave. */
export function createAuditLog(path: string | undefined, onError: (error: unknown) => void): AuditLog {
  let tail: Promise<void> = Promise.resolve();
  return {
    record(tenant, outcome) {
      if (!path) return;
      const line = `${JSON.stringify(toAuditRecord(tenant, outcome))}\n`;
      tail = tail.then(() => appendFile(path, line, { mode: 0o600 })).catch(onError);
    },
    flush: () => tail,
  };
}
