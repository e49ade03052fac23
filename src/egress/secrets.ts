import { randomBytes } from 'node:crypto';
import { readFile as fsReadFile } from 'node:fs/promises';
import type { EgressPolicy, HostRule } from '../config/egress-policy.js';
import { ruleMatches } from '../config/egress-policy.js';
import { ConfigError } from '../core/index.js';
import { compileRules } from './target.js';

/** A declared secret with its value, loaded once at start-up. The value never leaves the conductor. */
export interface LoadedSecret {
  name: string;
  hosts: HostRule[];
  /** a function, so that neither JSON.stringify nor a logger ever prints the value by accident */
  value: () => string;
}

const MIN_SECRET_CHARS = 8;
const MAX_SECRET_CHARS = 8 * 1024;

/** Where secret sources are read besides the environment given. */
export interface SecretSources {
  /**
   * MCP_CONDUCTOR_SECRETS_DIR, when set: the environment given already holds its files (an `env` source may be
   * one of them); named here so that a missing source says where it was looked for.
   */
  secretsDir?: string;
  readFile?: (path: string) => Promise<string>;
}

/**
 * Reads every secret of a policy from the conductor's environment or a file. A missing or unusable source is a
 * ConfigError naming the policy and the secret (never the value), so a bad deployment stops at start-up.
 */
export async function loadSecrets(
  policyLabel: string,
  egress: EgressPolicy,
  env: Record<string, string | undefined>,
  { secretsDir, readFile = (p) => fsReadFile(p, 'utf8') }: SecretSources = {},
): Promise<LoadedSecret[]> {
  const out: LoadedSecret[] = [];
  for (const [name, spec] of Object.entries(egress.secrets)) {
    const where = `policy ${policyLabel}: egress secret ${name}`;
    let raw: string;
    if ('env' in spec) {
      const v = env[spec.env];
      if (v === undefined || v === '')
        throw new ConfigError(
          `${where}: the environment variable ${spec.env} is not set${secretsDir ? `, nor is there a file ${spec.env} in MCP_CONDUCTOR_SECRETS_DIR ${secretsDir}` : ''}`,
        );
      raw = v;
    } else {
      try {
        raw = await readFile(spec.file);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
        throw new ConfigError(`${where}: cannot read ${spec.file} (${code})`, { cause: error });
      }
    }
    const value = raw.trim();
    const source = 'env' in spec ? `the environment variable ${spec.env}` : spec.file;
    if (value.length < MIN_SECRET_CHARS || value.length > MAX_SECRET_CHARS) {
      throw new ConfigError(
        `${where}: the value from ${source} must have ${MIN_SECRET_CHARS} to ${MAX_SECRET_CHARS} characters (it is replaced wherever it appears in responses)`,
      );
    }
    // It goes into HTTP headers: only what a header value can carry unchanged.
    if (!/^[\x20-\x7e]+$/.test(value)) {
      throw new ConfigError(`${where}: the value from ${source} has characters an HTTP header cannot carry`);
    }
    out.push({ name, hosts: compileRules(spec.hosts), value: () => value });
  }
  return out;
}

/** What the sandbox sees instead of the value: opaque, different in every execution, safe in any header. */
function newPlaceholder(name: string): string {
  return `mcp-conductor-secret-${name}-${randomBytes(16).toString('hex')}`;
}

export type HeaderPair = [name: string, value: string];

export type Substitution =
  { ok: true; headers: HeaderPair[]; used: string[] } | { ok: false; message: string };

/** The secrets of one execution: its placeholders, substitution into requests and redaction of responses. */
export interface SecretSet {
  /** name → placeholder, for the runtime's Deno.env.get */
  readonly placeholders: Readonly<Record<string, string>>;
  /**
   * Puts the values in place of placeholders in header values (and inside `Authorization: Basic`), for a request to
   * `host:port`. A placeholder anywhere else (the URL, a header name) or on a request to a host the secret is not
   * for refuses the request.
   */
  substitute(url: string, headers: readonly HeaderPair[], host: string, port: number): Substitution;
  /** Value → placeholder everywhere in a text (response header values). */
  redact(text: string): string;
  /** the byte patterns of the values and their placeholders, for redacting response bodies as they stream */
  readonly patterns: readonly { find: Buffer; replace: Buffer }[];
}

const BASIC = /^(basic\s+)([A-Za-z0-9+/=]+)\s*$/i;

export function createSecretSet(secrets: readonly LoadedSecret[]): SecretSet {
  const entries = secrets.map((s) => ({ ...s, placeholder: newPlaceholder(s.name) }));
  const placeholders = Object.freeze(Object.fromEntries(entries.map((e) => [e.name, e.placeholder])));
  const found = (text: string) => entries.filter((e) => text.includes(e.placeholder));
  const replaceIn = (text: string) => entries.reduce((t, e) => t.split(e.placeholder).join(e.value()), text);

  return {
    placeholders,
    patterns: entries.map((e) => ({ find: Buffer.from(e.value()), replace: Buffer.from(e.placeholder) })),
    redact: (text) => entries.reduce((t, e) => t.split(e.value()).join(e.placeholder), text),
    substitute(url, headers, host, port) {
      const inUrl = found(url);
      if (inUrl.length > 0) {
        return {
          ok: false,
          message: `the URL carries the placeholder of ${inUrl[0]!.name}: secrets are put into request headers only (for example Authorization), never into URLs`,
        };
      }
      const used = new Set<(typeof entries)[number]>();
      const out: HeaderPair[] = [];
      for (const [name, value] of headers) {
        const inName = found(name);
        if (inName.length > 0)
          return { ok: false, message: `a header name carries the placeholder of ${inName[0]!.name}` };
        let text = value;
        const basic = BASIC.exec(value);
        const decoded = basic ? Buffer.from(basic[2]!, 'base64').toString('latin1') : '';
        const hits = [...found(value), ...found(decoded)];
        if (hits.length === 0) {
          out.push([name, value]);
          continue;
        }
        const stray = hits.find((e) => !e.hosts.some((r) => ruleMatches(r, host, port)));
        if (stray) {
          return {
            ok: false,
            message: `the request carries the placeholder of ${stray.name}, which the policy gives only to ${stray.hosts.map((r) => r.entry).join(', ')}`,
          };
        }
        hits.forEach((e) => used.add(e));
        text =
          basic && found(decoded).length > 0
            ? `${basic[1]}${Buffer.from(replaceIn(decoded), 'latin1').toString('base64')}`
            : replaceIn(value);
        out.push([name, text]);
      }
      return { ok: true, headers: out, used: [...used].map((e) => e.name).sort() };
    },
  };
}
