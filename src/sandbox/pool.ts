import type { DockerPort } from '../docker/index.js';
import type { Logger } from '../obs/index.js';
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
}

const MAX_RETRY_MS = 30_000;

export function createWarmPool(
  deps: PrepareDeps & { docker: DockerPort; logger: Logger },
  opts: PoolOptions,
): WarmPool {
  const slots = new Map<string, Slot>();
  const inFlight = new Set<Promise<unknown>>();
  const { budget } = opts;
  const retryMs = opts.retryMs ?? 1000;
  let closed = false;
  let refillQueued = false;

  const track = (p: Promise<unknown>) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => undefined);
  };

  const discard = (sandbox: PreparedSandbox) =>
    track(
      disposeSandbox(deps.docker, sandbox).catch((err: unknown) =>
        deps.logger.warn({ err }, 'could not remove an idle container'),
      ),
    );

  // A container that dies while idle (or whose engine stops answering) is dropped at once and replaced.
  const watch = (slot: Slot, sandbox: PreparedSandbox) => {
    const drop = (why: string) => {
      const i = slot.idle.indexOf(sandbox);
      if (i < 0) return;
      slot.idle.splice(i, 1);
      deps.logger.warn({ executionId: sandbox.executionId, why }, 'dropping an idle sandbox');
      discard(sandbox);
      refill(slot);
    };
    sandbox.exited.then(
      () => drop('it exited'),
      () => drop('the engine stopped answering'),
    );
  };

  const fill = async (slot: Slot, lease: ContainerLease) => {
    slot.filling++;
    try {
      const sandbox = await prepareSandbox(deps, slot.profile, lease);
      slot.filling--;
      slot.failures = 0;
      if (closed) return discard(sandbox);
      watch(slot, sandbox);
      const waiter = slot.waiters.shift();
      if (waiter) {
        waiter(sandbox);
        refill(slot);
      } else slot.idle.push(sandbox);
    } catch (err) {
      slot.filling--;
      slot.failures++;
      const pause = Math.min(MAX_RETRY_MS, retryMs * 2 ** (slot.failures - 1));
      slot.retryAt = Date.now() + pause;
      deps.logger.warn({ err, retryInMs: pause }, 'could not prepare a pooled container');
      // Whoever counted on this container goes cold, and so gets the error (or a container) of its own.
      while (slot.waiters.length > slot.filling) slot.waiters.shift()?.(undefined);
      if (!closed && !slot.retryTimer) {
        slot.retryTimer = setTimeout(() => {
          slot.retryTimer = undefined;
          refill(slot);
        }, pause);
        slot.retryTimer.unref();
      }
    }
  };

  function refill(slot: Slot): void {
    if (closed || Date.now() < slot.retryAt) return;
    while (slot.idle.length + slot.filling < opts.size) {
      const lease = budget.tryAcquire();
      if (!lease) return;
      track(fill(slot, lease));
    }
  }

  const byRecentUse = () => [...slots.values()].sort((a, b) => b.lastUsedAt - a.lastUsedAt);

  budget.listen({
    // Room freed that no execution wanted: refill, most recently used profiles first.
    onRoom() {
      if (refillQueued || closed) return;
      refillQueued = true;
      setImmediate(() => {
        refillQueued = false;
        byRecentUse().forEach(refill);
      });
    },
    // An execution waits for room: give up the idle container of the least recently used profile.
    onWait() {
      const slot = byRecentUse()
        .reverse()
        .find((s) => s.idle.length > 0);
      const victim = slot?.idle.shift();
      if (victim) discard(victim);
    },
  });

  const slotFor = (profile: SandboxProfile): Slot => {
    const key = profileKey(profile);
    let slot = slots.get(key);
    if (!slot) {
      slot = { profile, idle: [], filling: 0, waiters: [], lastUsedAt: 0, failures: 0, retryAt: 0 };
      slots.set(key, slot);
    }
    slot.lastUsedAt = Date.now();
    return slot;
  };

  const recycler = setInterval(
    () => {
      const now = Date.now();
      for (const slot of slots.values()) {
        const stale = slot.idle.filter((s) => now - s.createdAt > opts.maxIdleAgeMs);
        if (stale.length === 0) continue;
        slot.idle = slot.idle.filter((s) => !stale.includes(s));
        stale.forEach(discard);
        refill(slot);
      }
    },
    Math.max(250, Math.floor(opts.maxIdleAgeMs / 4)),
  );
  recycler.unref();

  return {
    warm(profile) {
      if (!closed) refill(slotFor(profile));
    },
    idleCount(profile) {
      if (profile) return slots.get(profileKey(profile))?.idle.length ?? 0;
      return [...slots.values()].reduce((n, s) => n + s.idle.length, 0);
    },
    async acquire(profile) {
      const slot = slotFor(profile);
      let sandbox = slot.idle.shift();
      // The link closes the moment the process dies, before the engine reports the exit: never hand that out.
      while (sandbox && !sandbox.socket.alive) {
        discard(sandbox);
        sandbox = slot.idle.shift();
      }
      if (sandbox) {
        refill(slot);
        return sandbox;
      }
      // A container already starting for this profile is ready no later than a cold one would be.
      if (!closed && slot.filling > slot.waiters.length) {
        const handed = await new Promise<PreparedSandbox | undefined>((resolve) =>
          slot.waiters.push(resolve),
        );
        if (handed) return handed;
      }
      // Claim the execution's place in the budget before the refill can take it.
      const cold = opts.cold.acquire(profile);
      refill(slot);
      return cold;
    },
    async close() {
      closed = true;
      clearInterval(recycler);
      for (const slot of slots.values()) {
        clearTimeout(slot.retryTimer);
        slot.waiters.splice(0).forEach((w) => w(undefined));
        slot.idle.splice(0).forEach(discard);
      }
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}
