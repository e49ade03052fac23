/** Why a rate limit refused: when one place frees up, and the sentence the caller reads. */
export interface RateRefusal {
  retryAfterMs: number;
  message: string;
}

/**
 * At most `limit` of something in any minute: a sliding window counted in one-second steps, so its memory is the
 * same whatever the limit. Only what is let through counts; a refusal costs nothing.
 */
export interface RateWindow {
  readonly limit: number;
  /** Counts one and returns undefined when under the limit; otherwise counts nothing and says when one frees. */
  take(): RateRefusal | undefined;
}

export interface RateWindowOptions {
  limit: number;
  /** what is counted, for the refusal: `executions for tenant acme` */
  what: string;
  windowMs?: number;
  /** the window is counted in this many steps (default one per second) */
  steps?: number;
  /** milliseconds from a clock that never goes back (default: the process's monotonic clock, not the wall clock) */
  clock?: () => number;
}

export function createRateWindow(opts: RateWindowOptions): RateWindow {
  // The wall clock can be stepped back (NTP, an operator): counted steps would then lie in the future and keep their
  // places until the clock caught up again, refusing a tenant for as long as the step was.
  const { limit, what, windowMs = 60_000, steps = 60, clock = () => performance.now() } = opts;
  const stepMs = windowMs / steps;
  // Slot i holds the count of step number epochs[i] (a step is floor(time / stepMs)); older steps are stale.
  const counts = new Array<number>(steps).fill(0);
  const epochs = new Array<number>(steps).fill(-Infinity);
  const live = (i: number, now: number) => now - epochs[i]! < steps;
  return {
    limit,
    take() {
      const now = Math.floor(clock() / stepMs);
      let used = 0;
      let oldest = Infinity;
      for (let i = 0; i < steps; i++) {
        if (!live(i, now) || counts[i] === 0) continue;
        used += counts[i]!;
        oldest = Math.min(oldest, epochs[i]!);
      }
      if (used >= limit) {
        // The oldest step leaves the window when `steps` steps have begun since it; that frees at least one place.
        const retryAfterMs = Math.max(1, Math.ceil((oldest + steps) * stepMs - clock()));
        const seconds = Math.ceil(retryAfterMs / 1000);
        return {
          retryAfterMs,
          message: `Too many ${what}: the limit is ${limit} per minute. The next one is possible in ${seconds} s.`,
        };
      }
      const slot = ((now % steps) + steps) % steps;
      if (epochs[slot] !== now) {
        epochs[slot] = now;
        counts[slot] = 0;
      }
      counts[slot]!++;
      return undefined;
    },
  };
}
