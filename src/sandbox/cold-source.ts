import type { SandboxSource } from './executor.js';
import { prepareSandbox, type PrepareDeps } from './prepared.js';

/** Prepares a fresh container for every execution, on the caller's path. */
export function createColdSource(deps: PrepareDeps): SandboxSource {
  return { acquire: (profile) => prepareSandbox(deps, profile) };
}
