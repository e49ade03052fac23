/**
 * At most `limit` calls in flight at once; more wait their turn (Promise.all over many calls is normal code). The
 * per-execution call cap bounds how many can wait. A freed place passes straight to the next waiter.
 */
export class CallGate {
  readonly #limit: number;
  readonly #waiting: (() => void)[] = [];
  #inFlight = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Resolves with a place, or rejects with the signal's reason if it fires first. */
  async enter(signal: AbortSignal): Promise<void> {
    if (this.#inFlight < this.#limit) {
      this.#inFlight++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = this.#waiting.indexOf(wake);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(signal.reason as Error);
      };
      const wake = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      this.#waiting.push(wake);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  leave(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#inFlight--;
  }
}
