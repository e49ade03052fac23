import { isIPv6 } from 'node:net';
import { parseHostRule, ruleMatches, type HostRule } from '../config/egress-policy.js';

/** Where one proxied request wants to go, read from the request line the sandbox sent. */
export interface Target {
  scheme: 'http' | 'https';
  /** canonical: lower-case, punycode, dotted IPv4, IPv6 without brackets, no trailing dot */
  host: string;
  port: number;
  /** path and query as sent upstream */
  pathAndQuery: string;
  /** the path without its query, for the audit log */
  path: string;
  /** `host:port` as messages and the audit log show it (IPv6 in brackets) */
  authority: string;
}

const MAX_URL_CHARS = 16 * 1024;

/**
 * Parses the absolute-form request target of a proxy request (`GET https://api.github.com/x HTTP/1.1`). The WHATWG
 * parser canonicalises odd notations the sandbox might try (`0x7f000001`, `2130706433`, `%31%32%37...`, upper case),
 * so the host matched against the policy is the one the connection goes to. Returns a reason on failure.
 */
export function parseTarget(raw: string): Target | string {
  if (raw.length > MAX_URL_CHARS) return `the URL is longer than ${MAX_URL_CHARS} characters`;
  if (!/^https?:\/\//i.test(raw)) {
    return 'the gateway takes proxy requests with an absolute http:// or https:// URL (use fetch, node:http or node:https)';
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'the URL is not valid';
  }
  if (url.username !== '' || url.password !== '')
    return 'credentials in the URL are not passed on: send a header';
  let host = url.hostname;
  if (host.startsWith('[')) host = host.slice(1, -1);
  else if (host.endsWith('.')) host = host.slice(0, -1);
  if (host === '') return 'the URL has no host';
  const scheme = url.protocol === 'https:' ? 'https' : 'http';
  const port = url.port === '' ? (scheme === 'https' ? 443 : 80) : Number(url.port);
  const authority = `${isIPv6(host) ? `[${host}]` : host}:${port}`;
  return { scheme, host, port, pathAndQuery: `${url.pathname}${url.search}`, path: url.pathname, authority };
}

/** The policy's allow list, parsed once per policy. */
export function compileRules(allow: readonly string[]): HostRule[] {
  return allow.map((entry) => {
    const rule = parseHostRule(entry);
    // The policy schema has already refused bad entries: reaching this is a bug.
    if (typeof rule === 'string') throw new Error(`egress entry ${JSON.stringify(entry)} ${rule}`);
    return rule;
  });
}

/** The first entry allowing the target, or undefined. */
export function matchRule(rules: readonly HostRule[], host: string, port: number): HostRule | undefined {
  return rules.find((r) => ruleMatches(r, host, port));
}

/** Only an entry naming the host and its port exactly lets a request reach a non-public address. */
export const isExactEntry = (rule: HostRule) => rule.kind === 'host' && rule.port !== undefined;
