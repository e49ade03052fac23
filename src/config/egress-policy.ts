import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { HIDDEN_CHARS } from './permissions.js';

/**
 * One entry of `egress.allow` (or of a secret's `hosts`), parsed: `host`, `*.domain` (any subdomain, not the domain
 * itself) or either with `:port`. Without a port the entry covers 443 and 80.
 */
export interface HostRule {
  /** the entry as the policy wrote it, lower-cased: the name metrics and audit use */
  entry: string;
  kind: 'host' | 'wildcard';
  /** lower-case name, dotted IPv4, or IPv6 without brackets (for a wildcard: the domain after `*.`) */
  host: string;
  port?: number;
}

export const DEFAULT_PORTS: readonly number[] = [443, 80];

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Parses an entry, or says what is wrong with it. IP addresses must be written canonically (127.0.0.1, [::1]). */
export function parseHostRule(value: string): HostRule | string {
  if (HIDDEN_CHARS.test(value)) return 'contains a control or invisible character';
  const entry = value.toLowerCase();
  const m = /^(\[[^\]]*\]|[^:[\]]*)(?::(\d{1,5}))?$/.exec(entry);
  if (!m) return 'is not host, *.domain or either with :port (write an IPv6 address in brackets: [::1]:8443)';
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && (port < 1 || port > 65535)) return 'has a port outside 1-65535';
  let host = m[1] ?? '';
  const portPart = port === undefined ? {} : { port };
  if (host.startsWith('[')) {
    host = host.slice(1, -1);
    if (!isIPv6(host)) return 'has an invalid IPv6 address';
    const canonical = new URL(`http://[${host}]/`).hostname.slice(1, -1);
    return { entry, kind: 'host', host: canonical, ...portPart };
  }
  if (/^[\d.]+$/.test(host))
    return isIPv4(host) ? { entry, kind: 'host', host, ...portPart } : 'has an invalid IPv4 address';
  const wildcard = host.startsWith('*.');
  const name = wildcard ? host.slice(2) : host;
  const labels = name.split('.');
  if (name.length > 253 || !labels.every((l) => LABEL.test(l))) {
    return 'has an invalid host name (letters, digits, - and dots; a wildcard only as a whole first label: *.example.com)';
  }
  // A name the URL parser reads as an address (0x7f000001 is 127.0.0.1) would not mean what it says.
  if (!canParseAsName(name))
    return 'is an IP address in another notation, or no valid host name: write 127.0.0.1';
  if (wildcard && labels.length < 2)
    return 'is a wildcard over a top-level domain (write *.example.com, not *.com)';
  return { entry, kind: wildcard ? 'wildcard' : 'host', host: name, ...portPart };
}

function canParseAsName(name: string): boolean {
  try {
    return new URL(`http://${name}/`).hostname === name;
  } catch {
    return false;
  }
}

/** Whether `rule` covers a request to `host` (canonical, as parseHostRule gives it) on `port`. */
export function ruleMatches(rule: HostRule, host: string, port: number): boolean {
  if (rule.port === undefined ? !DEFAULT_PORTS.includes(port) : rule.port !== port) return false;
  return rule.kind === 'host' ? rule.host === host : host.endsWith(`.${rule.host}`);
}

const HostEntry = z
  .string()
  .min(1)
  .max(300)
  .superRefine((value, ctx) => {
    const rule = parseHostRule(value);
    if (typeof rule === 'string')
      ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value)} ${rule}` });
  });

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const EnvName = z.string().regex(ENV_NAME, 'must be an environment variable name (letters, digits, _)');
const AbsolutePath = z
  .string()
  .min(1)
  .refine((p) => p.startsWith('/') && !HIDDEN_CHARS.test(p), 'must be an absolute path');

const SecretHosts = z.array(HostEntry).min(1).describe('hosts whose requests get the real value');
export const EgressSecretSchema = z.union([
  z
    .object({
      env: EnvName.describe("the conductor's environment variable holding the value"),
      hosts: SecretHosts,
    })
    .strict(),
  z
    .object({
      file: AbsolutePath.describe('a file holding the value (surrounding whitespace is trimmed)'),
      hosts: SecretHosts,
    })
    .strict(),
]);
export type EgressSecret = z.infer<typeof EgressSecretSchema>;

/** The policy's `egress` section: what the gateway lets sandboxed code reach over its Unix socket. */
export const EgressPolicySchema = z
  .object({
    allow: z
      .array(HostEntry)
      .default([])
      .describe(
        'hosts code may reach over HTTP(S): `host`, `*.domain` or `host:port`; without a port, 443 and 80',
      ),
    secrets: z
      .record(z.string(), EgressSecretSchema)
      .default({})
      .describe(
        'NAME: {env or file, hosts}: Deno.env.get(NAME) gives a placeholder the gateway replaces, in request headers to those hosts only',
      ),
    caFile: AbsolutePath.optional().describe(
      'PEM file of extra CA certificates trusted for targets, beside the built-in store',
    ),
    maxRequests: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(100)
      .describe('HTTP requests per execution, refused ones included'),
    maxResponseBytes: z
      .number()
      .int()
      .min(1024)
      .max(1024 * 1024 * 1024)
      .default(10 * 1024 * 1024)
      .describe('largest response body (decoded); a larger one fails the fetch or its body read'),
    timeoutMs: z
      .number()
      .int()
      .min(100)
      .max(3_600_000)
      .default(30_000)
      .describe('time for one request, from sending it to the end of its response'),
  })
  .strict()
  .superRefine((egress, ctx) => {
    const allow = egress.allow.map(parseHostRule).filter((r): r is HostRule => typeof r !== 'string');
    for (const [name, secret] of Object.entries(egress.secrets)) {
      if (!ENV_NAME.test(name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['secrets', name],
          message: `the secret name ${JSON.stringify(name)} must be an environment variable name (letters, digits, _): code reads it with Deno.env.get`,
        });
      }
      secret.hosts.forEach((value, i) => {
        const rule = parseHostRule(value);
        if (typeof rule === 'string' || allowCovers(allow, rule)) return;
        ctx.addIssue({
          code: 'custom',
          path: ['secrets', name, 'hosts', i],
          message: `${JSON.stringify(value)} is not in egress.allow: a secret can only go to a host the policy allows`,
        });
      });
    }
  });
export type EgressPolicy = z.infer<typeof EgressPolicySchema>;

/** Whether every request `rule` covers is also covered by some entry of `allow` (for the ports it names). */
function allowCovers(allow: HostRule[], rule: HostRule): boolean {
  const ports = rule.port === undefined ? DEFAULT_PORTS : [rule.port];
  return ports.every((port) =>
    allow.some((a) => {
      if (rule.kind === 'host') return ruleMatches(a, rule.host, port);
      // A wildcard secret host is covered only by the same or a wider wildcard.
      const portOk = a.port === undefined ? DEFAULT_PORTS.includes(port) : a.port === port;
      return portOk && a.kind === 'wildcard' && (rule.host === a.host || rule.host.endsWith(`.${a.host}`));
    }),
  );
}
