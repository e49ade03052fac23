import type { ExecutionResult, ExecutionStatus } from './result.js';

/**
 * What happens to one `run_deno_code` call, as a typed stream of events. The executor is the only producer; metrics,
 * audit, logging notifications and traces subscribe. Every event names its call (`callId`, fixed when the call is
 * queued) and tenant; `executionId` (the container's `mcp-conductor.execution-id` label) exists once a sandbox is
 * assigned, since a pooled container is made before the call that uses it.
 */
interface EventBase {
  callId: string;
  tenant: string;
}

interface ExecutionBase extends EventBase {
  executionId: string;
}

/** How a call ended: the code's own status, or the conductor's (`rejected`: refused before it ran; `failed`: could not run it). */
export type CallStatus = ExecutionStatus | 'cancelled' | 'rejected' | 'failed';

/** The outcome of one mcpFactory call as the dispatcher answered it. */
export type McpCallStatus = 'ok' | 'error' | 'denied' | 'timeout' | 'aborted';

/** How one HTTP(S) request through the egress gateway ended. */
export type EgressOutcome =
  'ok' | 'denied' | 'limit' | 'too_large' | 'timeout' | 'unreachable' | 'bad_request' | 'aborted';

/** One request the sandbox sent through the egress gateway: never a query string, a header or a secret value. */
export interface EgressRequest {
  method: string;
  /** `host:port` as requested, canonical and bounded (the sandbox chose it: not a metric label) */
  host: string;
  /** the policy's allow entry that matched: the metric label; absent when none did */
  rule?: string;
  /** the path without its query, at most 256 characters */
  path: string;
  /** the target's status, when it answered */
  status?: number;
  outcome: EgressOutcome;
  /** response body bytes delivered to the sandbox */
  bytes: number;
  ms: number;
  /** names of the secrets put into this request */
  secrets: string[];
}

/** The caller's W3C trace context (from the request's `_meta`), checked for its format, for traces to continue. */
export interface TraceContext {
  traceparent: string;
  tracestate?: string;
}

export type ExecutionEvent =
  | (EventBase & {
      type: 'queued';
      codeSha256: string;
      codeBytes: number;
      timeoutMs: number;
      trace?: TraceContext;
      /** when traces are exported: the trace of this call's spans (the caller's, or a new one) */
      traceId?: string;
    })
  /** the call has its concurrency place; a sandbox is being taken */
  | (EventBase & { type: 'admitted' })
  | (ExecutionBase & { type: 'started'; source: 'pool' | 'cold' })
  /** output the result keeps, as it arrives (never past the caps, never the end marker) */
  | (ExecutionBase & { type: 'output'; stream: 'stdout' | 'stderr'; text: string })
  | (ExecutionBase & {
      type: 'mcp_call';
      /** as the sandbox named it: hostile, bounded by the protocol schema; map it before using it as a label */
      server: string;
      op: string;
      name?: string;
      status: McpCallStatus;
      errorCode?: string;
      durationMs: number;
      /** when traces are exported: the id of this call's span, the parent the upstream server was told */
      spanId?: string;
    })
  | (ExecutionBase & { type: 'egress' } & EgressRequest)
  /** the code's own progress() report, as the socket checked and rate-capped it (message: hostile text, bounded) */
  | (ExecutionBase & { type: 'progress'; progress: number; total?: number; message?: string })
  | (EventBase & {
      type: 'finished';
      executionId?: string;
      status: CallStatus;
      durationMs: number;
      resources?: ExecutionResult['resources'];
      /** the conductor's error when the status is rejected or failed */
      error?: { code: string; message: string };
    })
  /** the container is gone (removal runs off the caller's path, after `finished`) */
  | (ExecutionBase & { type: 'removed' });

export type ExecutionEventType = ExecutionEvent['type'];

export type Listener<E> = (event: E) => void;

/** A synchronous, typed publish/subscribe channel. */
export interface EventStream<E> {
  emit(event: E): void;
  /** Returns the unsubscribe function. */
  subscribe(listener: Listener<E>): () => void;
}

/**
 * A listener that throws must not break the execution that emitted the event, nor the other listeners: its error
 * goes to `onListenerError` (the composition root logs it as the bug it is).
 */
export function createEventStream<E>(onListenerError: (error: unknown) => void = () => {}): EventStream<E> {
  const listeners = new Set<Listener<E>>();
  return {
    emit(event) {
      for (const listener of listeners) {
        try {
          listener(event);
        } catch (error) {
          onListenerError(error);
        }
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
