import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EventStream, ExecutionEvent } from '../core/index.js';

/** The Prometheus metrics of one conductor process (a registry per process, no global default). */
export function createMetrics(gauges: { activeExecutions?: () => number; openSessions?: () => number } = {}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'mcp_conductor_' });
  return {
    registry,
    executions: new Counter({
      name: 'mcp_conductor_executions_total',
      help: 'Calls of run_deno_code by tenant and status (success, error, timeout, cancelled, rejected, failed)',
      labelNames: ['tenant', 'status'] as const,
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'mcp_conductor_execution_duration_seconds',
      help: 'Time from code delivery to result',
      labelNames: ['tenant'] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
      registers: [registry],
    }),
    active: new Gauge({
      name: 'mcp_conductor_active_executions',
      help: 'Executions running now',
      registers: [registry],
      collect() {
        this.set(gauges.activeExecutions?.() ?? 0);
      },
    }),
    sessions: new Gauge({
      name: 'mcp_conductor_open_sessions',
      help: 'Streamable HTTP sessions open now',
      registers: [registry],
      collect() {
        this.set(gauges.openSessions?.() ?? 0);
      },
    }),
    egressRequests: new Counter({
      name: 'mcp_conductor_egress_requests_total',
      help: 'HTTP(S) requests from sandboxed code through the egress gateway, by the policy entry that allowed them (unlisted when none did) and outcome',
      labelNames: ['host', 'outcome'] as const,
      registers: [registry],
    }),
    egressBytes: new Counter({
      name: 'mcp_conductor_egress_response_bytes_total',
      help: 'Response body bytes the egress gateway delivered to sandboxed code, by the policy entry',
      labelNames: ['host'] as const,
      registers: [registry],
    }),
    configReloads: new Counter({
      name: 'mcp_conductor_config_reloads_total',
      help: 'Changes to mcp.json, the policies or the tenants file, by result: applied, or failed (the last good configuration stays)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    traceExportFailures: new Counter({
      name: 'mcp_conductor_trace_export_failures_total',
      help: 'Trace exports (batches of spans) that failed and were lost, by kind: http_<status>, unavailable, timeout, network, other',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    mcpCalls: new Counter({
      name: 'mcp_conductor_mcp_calls_total',
      help: 'mcpFactory calls from sandboxed code by upstream server and status',
      labelNames: ['server', 'status'] as const,
      registers: [registry],
    }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;

/**
 * Counts every call's outcome, every mcpFactory call and egress request from the execution events. Returns the
 * unsubscribe function. `servers(tenant)` are the server names that tenant may use: the sandbox names the server of
 * an mcpFactory call, so any other name counts as `unknown` (a series per made-up name otherwise).
 */
export function countExecutions(
  bus: EventStream<ExecutionEvent>,
  metrics: Metrics,
  servers: (tenant: string) => readonly string[],
): () => void {
  return bus.subscribe((e) => {
    if (e.type === 'finished') {
      metrics.executions.inc({ tenant: e.tenant, status: e.status });
      if (e.resources) metrics.duration.observe({ tenant: e.tenant }, e.durationMs / 1000);
    } else if (e.type === 'mcp_call') {
      const server = e.server === '-' || servers(e.tenant).includes(e.server) ? e.server : 'unknown';
      metrics.mcpCalls.inc({ server, status: e.status });
    } else if (e.type === 'egress') {
      // Labelled by the policy's own entry, never by the name the sandbox sent.
      const host = e.rule ?? 'unlisted';
      metrics.egressRequests.inc({ host, outcome: e.outcome });
      if (e.bytes > 0) metrics.egressBytes.inc({ host }, e.bytes);
    }
  });
}
