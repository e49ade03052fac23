import { appendFile } from 'node:fs/promises';
import type {
  CallStatus,
  EgressRequest,
  EventStream,
  ExecutionEvent,
  ExecutionResult,
} from '../core/index.js';

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

export interface AuditRecord {
  time: string;
  tenant: string;
  executionId?: string;
  codeSha256: string;
  codeBytes: number;
  durationMs: number;
  status: CallStatus;
  resources?: ExecutionResult['resources'];
  error?: { code: string; message: string };
  mcpCalls: McpCallRecord[];
  /** HTTP(S) requests through the egress gateway (no query strings, headers or secret values) */
  egress: EgressRequest[];
}

export interface AuditLog {
  record(record: AuditRecord): void;
  /** Resolves when every record so far is on disk. */
  flush(): Promise<void>;
}

/** Append-only JSON lines (mode 0600); writes are serialised so lines never interleave. */
export function createAuditLog(path: string, onError: (error: unknown) => void): AuditLog {
  let tail: Promise<void> = Promise.resolve();
  return {
    record(record) {
      const line = `${JSON.stringify(record)}\n`;
      tail = tail.then(() => appendFile(path, line, { mode: 0o600 })).catch(onError);
    },
    flush: () => tail,
  };
}

/** A hostile execution may make thousands of calls: the record keeps the first ones. */
const MAX_AUDITED_CALLS = 1000;

interface Pending {
  codeSha256: string;
  codeBytes: number;
  executionId?: string;
  mcpCalls: McpCallRecord[];
  egress: EgressRequest[];
}

/**
 * Writes one audit record per `run_deno_code` call, refused ones included, from the execution events: the code's
 * hash (never the code), the execution id, every mcpFactory call and egress request and how it ended. Returns the unsubscribe function.
 */
export function auditExecutions(bus: EventStream<ExecutionEvent>, log: AuditLog): () => void {
  const pending = new Map<string, Pending>();
  return bus.subscribe((e) => {
    if (e.type === 'queued') {
      pending.set(e.callId, { codeSha256: e.codeSha256, codeBytes: e.codeBytes, mcpCalls: [], egress: [] });
      return;
    }
    const p = pending.get(e.callId);
    if (!p) return;
    if (e.type === 'started') p.executionId = e.executionId;
    else if (e.type === 'mcp_call' && p.mcpCalls.length < MAX_AUDITED_CALLS) {
      p.mcpCalls.push({
        server: e.server,
        op: e.op,
        ...(e.name ? { name: e.name } : {}),
        ok: e.status === 'ok',
        ...(e.errorCode ? { errorCode: e.errorCode } : {}),
      });
    } else if (e.type === 'egress') {
      // The gateway's maxRequests already bounds these (only the first refusal past it is reported).
      p.egress.push({
        method: e.method,
        host: e.host,
        ...(e.rule ? { rule: e.rule } : {}),
        path: e.path,
        ...(e.status !== undefined ? { status: e.status } : {}),
        outcome: e.outcome,
        bytes: e.bytes,
        ms: e.ms,
        secrets: e.secrets,
      });
    } else if (e.type === 'finished') {
      pending.delete(e.callId);
      log.record({
        time: new Date().toISOString(),
        tenant: e.tenant,
        executionId: e.executionId ?? p.executionId,
        codeSha256: p.codeSha256,
        codeBytes: p.codeBytes,
        durationMs: e.durationMs,
        status: e.status,
        resources: e.resources,
        error: e.error,
        mcpCalls: p.mcpCalls,
        egress: p.egress,
      });
    }
  });
}
