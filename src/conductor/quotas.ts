import type { Quotas } from '../config/tenants.js';
import { createRateWindow, type RateWindow } from '../core/index.js';

/** One tenant's rate windows: kept by the conductor per tenant, so every context of that tenant shares them. */
export interface TenantRates {
  executions?: RateWindow;
  mcpCalls?: RateWindow;
}

/** The windows a tenant's quotas ask for; `scope` names the tenant in refusals (empty for the local one). */
export function createTenantRates(quotas: Quotas, scope: string): TenantRates {
  const { executionsPerMinute, mcpCallsPerMinute } = quotas;
  return {
    ...(executionsPerMinute
      ? { executions: createRateWindow({ limit: executionsPerMinute, what: `executions${scope}` }) }
      : {}),
    ...(mcpCallsPerMinute
      ? { mcpCalls: createRateWindow({ limit: mcpCallsPerMinute, what: `mcpFactory calls${scope}` }) }
      : {}),
  };
}
