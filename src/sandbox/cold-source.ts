import type { SandboxSource } from './executor.js';
import type { ContainerBudget } from './limiter.js';
import { prepareSandbox, type PrepareDeps } from './prepared.js';

/** Prepares a fresh container for every execution, on the caller's path, once the budget has room for it. */
export function createColdSource(deps: PrepareDeps, budget: ContainerBudget): SandboxSource {
  return {
    // budget.acquire() is called synchronously, so the place is claimed in call order.
    acquire: async (profile, signal) => prepareSandbox(deps, profile, await budget.acquire(signal), signal),
  };
}
