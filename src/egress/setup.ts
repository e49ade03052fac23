import { X509Certificate } from 'node:crypto';
import { readFile as fsReadFile } from 'node:fs/promises';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import type { EgressPolicy, HostRule } from '../config/egress-policy.js';
import { ConfigError } from '../core/index.js';
import { loadSecrets, type LoadedSecret, type SecretSources } from './secrets.js';
import { compileRules } from './target.js';

/** A policy's egress section made ready at start-up: rules parsed, secrets read, CA bundle loaded. */
export interface EgressSetup {
  policy: EgressPolicy;
  rules: HostRule[];
  secrets: LoadedSecret[];
  /**
   * TLS to targets: TLS 1.2 or later, trusting Node's built-in store (plus the policy's caFile). Built once here: Node
   * would otherwise build it again for every new connection, and parsing the ~150 certificates of a CA bundle holds
   * the event loop (every tenant's) for a tenth of a second or more.
   */
  tls: SecureContext;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

async function loadCaFile(
  where: string,
  path: string,
  read: (p: string) => Promise<string>,
): Promise<string[]> {
  let text: string;
  try {
    text = await read(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError(`${where}: cannot read egress.caFile ${path} (${code})`, { cause: error });
  }
  const pems = text.match(PEM_CERT) ?? [];
  try {
    for (const pem of pems) new X509Certificate(pem);
  } catch (error) {
    throw new ConfigError(`${where}: egress.caFile ${path} holds a certificate that does not parse`, {
      cause: error,
    });
  }
  if (pems.length === 0) throw new ConfigError(`${where}: egress.caFile ${path} holds no PEM certificate`);
  return pems;
}

/** Reads what a policy's egress section needs; every problem is a ConfigError naming the policy. */
export async function loadEgressSetup(
  policyLabel: string,
  egress: EgressPolicy,
  env: Record<string, string | undefined>,
  sources: SecretSources = {},
): Promise<EgressSetup> {
  const readFile = sources.readFile ?? ((p: string) => fsReadFile(p, 'utf8'));
  const secrets = await loadSecrets(policyLabel, egress, env, { ...sources, readFile });
  const ca = egress.caFile
    ? [...rootCertificates, ...(await loadCaFile(`policy ${policyLabel}`, egress.caFile, readFile))]
    : undefined;
  const tls = createSecureContext({ minVersion: 'TLSv1.2', ...(ca ? { ca } : {}) });
  return { policy: egress, rules: compileRules(egress.allow), secrets, tls };
}
