import type { DockerPort } from '../docker/index.js';
import type { Logger } from '../obs/index.js';
import type { SandboxSource } from './executor.js';
import { disposeSandbox, prepareSandbox, type PrepareDeps, type PreparedSandbox } from './prepared.js';
import { profileKey, type SandboxProfile } from './profile.js';

/**
 * Warm pool of single-use containers: started, runtime connected, waiting for code. Each is handed out once and
 * removed after its execution, so nothing of one execution can reach the next. Pools are kept per profile key
 * (image + policy + permissions + tenant + workspace), so a changed policy is never served an old container.
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
  /** what makes a cold container when the pool is empty */
  cold: SandboxSource;
}

interface Slot {
  profile: SandboxProfile;
  idle: PreparedSandbox[];
  filling: number;
}

export function createWarmPool(
  deps: PrepareDeps & { docker: DockerPort; logger: Logger },
  opts: PoolOptions,
): WarmPool {
  const slots = new Map<string, Slot>();
  const inFlight = new Set<Promise<unknown>>();
  let closed = false;

  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => undefined);
    return p;
  };

  const discard = (sandbox: PreparedSandbox) =>
    void track(
      disposeSandbox(deps.docker, sandbox).catch((err: unknown) =>
        deps.logger.warn({ err }, 'could not remove an idle container'),
      ),
    );

  const refill = (slot: Slot) => {
    while (!closed && slot.idle.length + slot.filling < opts.size) {
      slot.filling++;
      void track(
        prepareSandbox(deps, slot.profile)
          .then((sandbox) => {
            if (closed) return discard(sandbox);
            slot.idle.push(sandbox);
            // A container that dies while idle is dropped at once and replaced.
            void sandbox.exited.then(() => {
              const i = slot.idle.indexOf(sandbox);
              if (i >= 0) {
                slot.idle.splice(i, 1);
                deps.logger.warn(
                  { executionId: sandbox.executionId },
                  'an idle sandbox exited; replacing it',
                );
                discard(sandbox);
                refill(slot);
              }
            });
          })
          .catch((err: unknown) => deps.logger.warn({ err }, 'could not prepare a pooled container'))
          .finally(() => {
            slot.filling--;
          }),
      );
    }
  };

  const slotFor = (profile: SandboxProfile): Slot => {
    const key = profileKey(profile);
    let slot = slots.get(key);
    if (!slot) {
      slot = { profile, idle: [], filling: 0 };
      slots.set(key, slot);
    }
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
    Math.max(1000, Math.floor(opts.maxIdleAgeMs / 4)),
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
      refill(slot);
      return sandbox ?? opts.cold.acquire(profile);
    },
    async close() {
      closed = true;
      clearInterval(recycler);
      for (const slot of slots.values()) {
        const idle = slot.idle;
        slot.idle = [];
        idle.forEach(discard);
      }
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}
