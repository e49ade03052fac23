import type { EgressRequest } from '../core/index.js';
import { EgressFailure } from './refusal.js';

/**
 * One execution's door to its gateway: shut until the execution opens it and again once it ends; counts every
 * request that knocks (refused ones included) against the policy's maxRequests; hands each request's record on.
 */
export class Admission {
  readonly #ended = new AbortController();
  #listener: ((record: EgressRequest) => void) | undefined;
  #requests = 0;
  #overLimitRecorded = false;

  constructor(readonly maxRequests: number) {}

  /** requests received so far, refused ones included */
  get requests(): number {
    return this.#requests;
  }

  /** aborts when the execution ends: every request in flight stops with it */
  get ended(): AbortSignal {
    return this.#ended.signal;
  }

  open(listener: (record: EgressRequest) => void): void {
    this.#listener = listener;
  }

  /** Counts the request and says why it may not go out, if it may not. */
  admit(): EgressFailure | undefined {
    if (!this.#listener || this.#ended.signal.aborted)
      return new EgressFailure('denied', 'no execution is running on this gateway');
    this.#requests++;
    if (this.#requests <= this.maxRequests) return undefined;
    return new EgressFailure(
      'limit',
      `the policy allows ${this.maxRequests} HTTP requests per execution (egress.maxRequests); this one was refused`,
    );
  }

  /** Hands on how a request ended. */
  record(record: EgressRequest): void {
    // Past the cap only the first refusal is recorded: a loop of refused requests must not grow the audit.
    if (record.outcome === 'limit') {
      if (this.#overLimitRecorded) return;
      this.#overLimitRecorded = true;
    }
    try {
      this.#listener?.(record);
    } catch {
      // A broken listener must not break the sandbox's request.
    }
  }

  /** The execution ended: refuse from now on and stop what is in flight. */
  end(): void {
    this.#ended.abort(new EgressFailure('aborted', 'the execution ended'));
  }

  /** Nobody hears of requests any more (once those cut short by the end have been recorded). */
  detach(): void {
    this.#listener = undefined;
  }
}
