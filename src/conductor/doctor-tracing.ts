import { connect } from 'node:net';
import type { TracingSettings } from '../config/otel-env.js';

/** How long the doctor waits for the collector's port. */
const CONNECT_TIMEOUT_MS = 3_000;

/** Opens (and closes) a TCP connection to the URL's host and port; rejects saying why it could not. */
function probeConnection(url: string, timeoutMs = CONNECT_TIMEOUT_MS): Promise<void> {
  const u = new URL(url);
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const fail = (why: string) => (socket.destroy(), reject(new Error(why)));
    socket.setTimeout(timeoutMs, () => fail(`no answer within ${timeoutMs} ms`));
    socket.once('connect', () => (socket.end(), resolve()));
    socket.once('error', (error: NodeJS.ErrnoException) => fail(error.code ?? error.message));
  });
}

/**
 * The doctor's `traces` line: off (and why), or where spans go and whether that endpoint takes a connection now.
 * An endpoint that refuses fails the check: every span would be lost.
 */
export async function describeTracing(
  tracing: TracingSettings | undefined,
  env: Record<string, string | undefined>,
): Promise<string> {
  if (!tracing)
    return env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true'
      ? 'off (OTEL_SDK_DISABLED=true)'
      : 'off (set OTEL_EXPORTER_OTLP_ENDPOINT to export traces)';
  const where = `${tracing.url} (${tracing.protocol}, service.name ${tracing.serviceName})`;
  try {
    await probeConnection(tracing.url);
  } catch (error) {
    throw new Error(
      `${where} does not accept a connection (${error instanceof Error ? error.message : String(error)}): spans would be lost`,
    );
  }
  return `${where} accepts connections; batches every ${tracing.batch.scheduledDelayMillis} ms`;
}
