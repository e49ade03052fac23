/** Option parsers and defaults for `mcp-conductor serve` (pure, so they are unit-tested apart from the CLI). */

export const SERVE_DEFAULTS = {
  /** longer than the default policy's maxTimeoutMs (120 s), so a running execution can always finish */
  graceMs: 130_000,
  sessionIdleTimeoutMs: 30 * 60_000,
  maxSessions: 1000,
} as const;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration: a bare number is milliseconds; or a number with `ms`, `s`, `m` or `h` (`30s`, `2m`, `1.5s`).
 * Throws with a message naming the option when the text is not one, or is outside [minMs, maxMs].
 */
export function parseDurationMs(text: string, what: string, minMs = 0, maxMs = 24 * 3_600_000): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(text);
  if (!m)
    throw new Error(`${what} must be a duration: milliseconds, or a number with ms, s, m or h (e.g. 30s)`);
  const ms = Math.round(Number(m[1]) * UNIT_MS[(m[2] ?? 'ms').toLowerCase()]!);
  if (ms < minMs || ms > maxMs)
    throw new Error(`${what} must be between ${minMs} ms and ${maxMs} ms; got ${ms} ms`);
  return ms;
}

export function parseCount(text: string, what: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || n < min || n > max)
    throw new Error(`${what} must be a whole number from ${min} to ${max}`);
  return n;
}

export function parsePort(text: string, what = 'port'): number {
  const n = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isInteger(n) || n < 0 || n > 65535)
    throw new Error(`${what} must be a whole number from 0 to 65535`);
  return n;
}
