import { RandomIdGenerator, type IdGenerator } from '@opentelemetry/sdk-trace';

/**
 * Ids the execution chose itself (its trace id, each mcpFactory call's span id: an upstream was told them while the
 * call was in flight) given to the span started inside `with`; every other span gets random ones. The SDK asks the
 * generator synchronously inside `startSpan`, so the preset ids reach exactly that span.
 */
export class PresetIds implements IdGenerator {
  readonly #random = new RandomIdGenerator();
  #traceId: string | undefined;
  #spanId: string | undefined;

  generateTraceId(): string {
    return this.#traceId ?? this.#random.generateTraceId();
  }

  generateSpanId(): string {
    return this.#spanId ?? this.#random.generateSpanId();
  }

  /** Runs `start` (one startSpan) with these ids; the trace id is used only for a root span (a child has its parent's). */
  with<T>(ids: { traceId?: string; spanId?: string }, start: () => T): T {
    this.#traceId = ids.traceId;
    this.#spanId = ids.spanId;
    try {
      return start();
    } finally {
      this.#traceId = undefined;
      this.#spanId = undefined;
    }
  }
}
