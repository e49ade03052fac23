import type { SandboxSource } from './executor.js';
import type { ContainerBudget, ContainerLease } from './limiter.js';
import { disposeSandbox, prepareSandbox, type PrepareDeps, type PreparedSandbox } from './prepared.js';
import { profileKey, type SandboxProfile } from './profile.js';

/**
 * Warm pool of single-use containers: started, runtime connected, waiting for code. Each is handed out once and
 * removed after its execution, so nothing of one execution can reach the next. Pools are kept per profile key
 * (image + policy + permissions + tenant + workspace), so a changed policy is never served an old container.
 *
 * Every container (idle, starting, running, being removed) holds a place in one ContainerBudget shared with the
 * cold path. The pool only takes places nobody waits for, and gives up an idle container when an execution waits,
 * so the budget bounds the total and executions always win. A profile is only kept warm once it has been used (or
 * `warm` was called): a hundred configured tenants cost nothing until they run code.
 */
export interface WarmPool extends SandboxSource {
  /** Starts keeping `size` idle containers for this profile (done implicitly by the first acquire). */
  warm(profile: SandboxProfile): void;
  /** Idle containers ready now, per profile key. */
  idleCount(profile?: SandboxProfile): number;
  /**
   * Stops keeping containers for this profile (a reload replaced it): its idle ones are removed, and one still being
   * made is removed when ready. The next acquire of the same profile starts over.
   */
  forget(profile: SandboxProfile): void;
  /** Stops refilling and removes every idle container. */
  close(): Promise<void>;
}

export interface PoolOptions {
  size: number;
  /** an idle container older than this is recycled */
  maxIdleAgeMs: number;
  /** what makes a cold container when the pool is empty; it takes its place in `budget` itself */
  cold: SandboxSource;
  budget: ContainerBudget;
  /** first pause after a failed refill (the engine or image is gone); doubles up to 30 s. Default 1 s. */
  retryMs?: number;
}

/** Resolves with a container just made for this profile, or undefined: go cold. */
type Waiter = (sandbox: PreparedSandbox | undefined) => void;

interface Slot {
  profile: SandboxProfile;
  idle: PreparedSandbox[];
  filling: number;
  waiters: Waiter[];
  lastUsedAt: number;
  failures: number;
  retryAt: number;
  retryTimer?: NodeJS.Timeout;
  /** forgotten: nothing is added to it any more */
  gone?: boolean;
}

const MAX_RETRY_MS = 30_000;

class Pool implements WarmPool {
  readonly #slots = new Map<string, Slot>();
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #deps: PrepareDeps;
  readonly #opts: PoolOptions;
  readonly #retryMs: number;
  readonly #recycler: NodeJS.Timeout;
  /** fires on close: containers still being made for the pool are undone rather than finished */
  readonly #closing = new AbortController();
  #closed = false;
  #refillQueued = false;

  constructor(deps: PrepareDeps, opts: PoolOptions) {
    this.#deps = deps;
    this.#opts = opts;
    this.#retryMs = opts.retryMs ?? 1000;
    opts.budget.listen({
      // Room freed that no execution wanted: refill, most recently used profiles first.
      onRoom: () => {
        if (this.#refillQueued || this.#closed) return;
        this.#refillQueued = true;
        setImmediate(() => {
          this.#refillQueued = false;
          this.#byRecentUse().forEach((slot) => this.#refill(slot));
        });
      },
      // An execution waits for room: give up the idle container of the least recently used profile.
      onWait: () => {
        const slot = this.#byRecentUse()
          .reverse()
          .find((s) => s.idle.length > 0);
        const victim = slot?.idle.shift();
        if (victim) this.#discard(victim);
      },
    });
    this.#recycler = setInterval(() => this.#recycle(), Math.max(250, Math.floor(opts.maxIdleAgeMs / 4)));
    this.#recycler.unref();
  }

  warm(profile: SandboxProfile): void {
    if (!this.#closed) this.#refill(this.#slotFor(profile));
  }

  idleCount(profile?: SandboxProfile): number {
    if (profile) return this.#slots.get(profileKey(profile))?.idle.length ?? 0;
    return [...this.#slots.values()].reduce((n, s) => n + s.idle.length, 0);
  }

  async acquire(profile: SandboxProfile, signal?: AbortSignal): Promise<PreparedSandbox> {
    const slot = this.#slotFor(profile);
    let sandbox = slot.idle.shift();
    // The link closes the moment the process dies, before the engine reports the exit: never hand that out.
    while (sandbox && !sandbox.socket.alive) {
      this.#discard(sandbox);
      sandbox = slot.idle.shift();
    }
    if (sandbox) {
      this.#refill(slot);
      return sandbox;
    }
    // A container already starting for this profile is ready no later than a cold one would be.
    if (!this.#closed && slot.filling > slot.waiters.length) {
      const handed = await this.#awaitFill(slot, signal);
      if (handed) return handed;
    }
    // Claim the execution's place in the budget before the refill can take it.
    const cold = this.#opts.cold.acquire(profile, signal);
    this.#refill(slot);
    return cold;
  }

  forget(profile: SandboxProfile): void {
    const key = profileKey(profile);
    const slot = this.#slots.get(key);
    if (!slot) return;
    this.#slots.delete(key);
    this.#empty(slot);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#closing.abort(new Error('the warm pool is closing'));
    clearInterval(this.#recycler);
    for (const slot of this.#slots.values()) this.#empty(slot);
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /** Idle containers removed, waiters sent cold, no refill: the slot is out of use. */
  #empty(slot: Slot): void {
    slot.gone = true;
    clearTimeout(slot.retryTimer);
    slot.waiters.splice(0).forEach((w) => w(undefined));
    slot.idle.splice(0).forEach((s) => this.#discard(s));
  }

  /** The next container made for this profile; a caller whose signal fires leaves the line (the container goes idle). */
  #awaitFill(slot: Slot, signal: AbortSignal | undefined): Promise<PreparedSandbox | undefined> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<PreparedSandbox | undefined>((resolve, reject) => {
      const onAbort = () => {
        const i = slot.waiters.indexOf(take);
        if (i >= 0) slot.waiters.splice(i, 1);
        reject(signal!.reason as Error);
      };
      const take: Waiter = (sandbox) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(sandbox);
      };
      slot.waiters.push(take);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #track(p: Promise<unknown>): void {
    this.#inFlight.add(p);
    void p.finally(() => this.#inFlight.delete(p)).catch(() => undefined);
  }

  #discard(sandbox: PreparedSandbox): void {
    this.#track(
      disposeSandbox(this.#deps.docker, sandbox).catch((err: unknown) =>
        this.#deps.logger.warn({ err }, 'could not remove an idle container'),
      ),
    );
  }

  /** A container that dies while idle (or whose engine stops answering) is dropped at once and replaced. */
  #watch(slot: Slot, sandbox: PreparedSandbox): void {
    const drop = (why: string) => {
      const i = slot.idle.indexOf(sandbox);
      if (i < 0) return;
      slot.idle.splice(i, 1);
      this.#deps.logger.warn({ executionId: sandbox.executionId, why }, 'dropping an idle sandbox');
      this.#discard(sandbox);
      this.#refill(slot);
    };
    sandbox.exited.then(
      () => drop('it exited'),
      () => drop('the engine stopped answering'),
    );
  }

  async #fill(slot: Slot, lease: ContainerLease): Promise<void> {
    slot.filling++;
    try {
      const sandbox = await prepareSandbox(this.#deps, slot.profile, lease, this.#closing.signal);
      slot.filling--;
      slot.failures = 0;
      if (this.#closed || slot.gone) return this.#discard(sandbox);
      this.#watch(slot, sandbox);
      const waiter = slot.waiters.shift();
      if (waiter) {
        waiter(sandbox);
        this.#refill(slot);
      } else slot.idle.push(sandbox);
    } catch (err) {
      slot.filling--;
      if (this.#closed) return;
      slot.failures++;
      const pause = Math.min(MAX_RETRY_MS, this.#retryMs * 2 ** (slot.failures - 1));
      slot.retryAt = Date.now() + pause;
      this.#deps.logger.warn({ err, retryInMs: pause }, 'could not prepare a pooled container');
      // Whoever counted on this container goes cold, and so gets the error (or a container) of its own.
      while (slot.waiters.length > slot.filling) slot.waiters.shift()?.(undefined);
      if (!this.#closed && !slot.retryTimer) {
        slot.retryTimer = setTimeout(() => {
          slot.retryTimer = undefined;
          this.#refill(slot);
        }, pause);
        slot.retryTimer.unref();
      }
    }
  }

  #refill(slot: Slot): void {
    if (this.#closed || slot.gone || Date.now() < slot.retryAt) return;
    while (slot.idle.length + slot.filling < this.#opts.size) {
      const lease = this.#opts.budget.tryAcquire();
      if (!lease) return;
      this.#track(this.#fill(slot, lease));
    }
  }

  #recycle(): void {
    const now = Date.now();
    for (const slot of this.#slots.values()) {
      const stale = slot.idle.filter((s) => now - s.createdAt > this.#opts.maxIdleAgeMs);
      if (stale.length === 0) continue;
      slot.idle = slot.idle.filter((s) => !stale.includes(s));
      stale.forEach((s) => this.#discard(s));
      this.#refill(slot);
    }
  }

  #byRecentUse(): Slot[] {
    return [...this.#slots.values()].sort((a, b) => b.lastUsedAt - a.lastUsedAt);
  }

  #slotFor(profile: SandboxProfile): Slot {
    const key = profileKey(profile);
    let slot = this.#slots.get(key);
    if (!slot) {
      slot = { profile, idle: [], filling: 0, waiters: [], lastUsedAt: 0, failures: 0, retryAt: 0 };
      this.#slots.set(key, slot);
    }
    slot.lastUsedAt = Date.now();
    return slot;
  }
}

export function createWarmPool(deps: PrepareDeps, opts: PoolOptions): WarmPool {
  return new Pool(deps, opts);
}
