import type { IncomingMessage } from 'node:http';
import type { HeaderPair, SecretSet } from './secrets.js';

// Hop-by-hop headers (RFC 9110 7.6.1) and what the gateway sets itself; the sandbox's values never go through.
const DROPPED_REQUEST = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'expect',
  'accept-encoding',
]);
const DROPPED_RESPONSE = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'content-encoding',
]);

const isOurs = (name: string) => name.startsWith('x-mcp-conductor');

/** The lower-case names a Connection header lists: hop-by-hop for this message too. */
const connectionNamed = (values: readonly string[]) =>
  new Set(values.flatMap((v) => v.split(',').map((t) => t.trim().toLowerCase())));

/** The sandbox's headers as pairs, without hop-by-hop ones (also those its Connection header names). */
export function requestHeaderPairs(rawHeaders: readonly string[]): HeaderPair[] {
  const pairs: HeaderPair[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) pairs.push([rawHeaders[i]!, rawHeaders[i + 1]!]);
  const named = connectionNamed(pairs.filter(([n]) => n.toLowerCase() === 'connection').map(([, v]) => v));
  return pairs.filter(([n]) => {
    const lower = n.toLowerCase();
    return !DROPPED_REQUEST.has(lower) && !named.has(lower) && !isOurs(lower);
  });
}

/** The upstream's headers as the sandbox gets them: end-to-end ones only, every secret value replaced. */
export function responseHeaders(
  upRes: IncomingMessage,
  secrets: SecretSet,
): Record<string, string | string[]> {
  const named = connectionNamed([String(upRes.headers.connection ?? '')]);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(upRes.headers)) {
    if (value === undefined || DROPPED_RESPONSE.has(name) || named.has(name) || isOurs(name)) continue;
    out[name] = Array.isArray(value) ? value.map((v) => secrets.redact(v)) : secrets.redact(value);
  }
  return out;
}
