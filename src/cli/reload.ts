import {
  createAdminInputs,
  createReloader,
  planReload,
  readConfigSnapshot,
  type Conductor,
  type ConfigSnapshot,
  type Reloader,
  type ReloadOutcome,
  type ReloadPlan,
} from '../conductor/index.js';
import { policiesDir } from './paths.js';
import type { Basics } from './runtime.js';

export interface LiveConfigOptions {
  conductor: Conductor;
  /** serve with a tenants file: its tenants are reloaded too */
  tenants: boolean;
  /** after the conductor switched to the new contexts: what else the command must change (endpoints, auth) */
  onApplied?: (snapshot: ConfigSnapshot, plan: ReloadPlan) => Promise<void> | void;
  onOutcome?: (outcome: ReloadOutcome) => void;
}

/**
 * Keeps mcp.json, the policies in use and the tenants file in force as they change: watched (within about 2 s) and
 * on SIGHUP at once. A change that fails validation is one line on stderr and the last good configuration stays.
 */
export async function keepConfigurationLive(b: Basics, opts: LiveConfigOptions): Promise<Reloader> {
  const { settings, env, logger } = b;
  const source = { settings, policiesDir, tenants: opts.tenants };
  let current = await readConfigSnapshot(source, b.inputs);
  let starting = true;
  const reloader = createReloader<ConfigSnapshot>({
    files: () => current.files,
    load: () => readConfigSnapshot(source, createAdminInputs(settings, env, policiesDir)),
    apply: async (next) => {
      const plan = planReload(current, next);
      await opts.conductor.reload(plan);
      // Start-up said the warnings of what it read; the catch-up reload repeats none of them (each is said once).
      const said = new Set(starting ? current.warnings : []);
      current = next;
      await opts.onApplied?.(next, plan);
      for (const warning of next.warnings.filter((w) => !said.has(w)))
        logger.warn({ mcpConfig: settings.mcpConfigPath }, `MCP config: ${warning}`);
    },
    onOutcome: (outcome) => {
      if (starting && outcome.result === 'applied') return;
      if (outcome.result === 'failed')
        logger.error(
          { reason: outcome.reason },
          `configuration reload failed, the last good one stays in force: ${outcome.reason}`,
        );
      else if (outcome.result === 'applied') logger.info({ files: current.files }, 'configuration reloaded');
      opts.onOutcome?.(outcome);
    },
  });
  // The conductor read its files before the reloader first looked at them: a change made in between (a start takes
  // seconds) is caught up on now, quietly unless it fails.
  await reloader.reloadNow();
  starting = false;
  process.on('SIGHUP', () => void reloader.reloadNow());
  return reloader;
}
