import { X509Certificate } from 'node:crypto';
import { readFile as fsReadFile } from 'node:fs/promises';
import { rootCertificates } from 'node:tls';
import type { EgressPolicy, HostRule } from '../config/egress-policy.js';
import { ConfigError } from '../core/index.js';
import { loadSecrets, type LoadedSecret } from './secrets.js';
import { compileRules } from './target.js';

/** A policy's egress section made ready at start-up: rules parsed, secrets read, CA bundle loaded. */
export interface EgressSetup {
  policy: EgressPolicy;
  rules: HostRule[];
  secrets: LoadedSecret[];
  /** the CAs trusted for targets when the policy adds a caFile (Node's built-in store plus it); else the default */
  ca: string[] | undefined;
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
  readFile: (path: string) => Promise<string> = (p) => fsReadFile(p, 'utf8'),
): Promise<EgressSetup> {
  const secrets = await loadSecrets(policyLabel, egress, env, readFile);
  const ca = egress.caFile
    ? [...rootCertificates, ...(await loadCaFile(`policy ${policyLabel}`, egress.caFile, readFile))]
    : undefined;
  return { policy: egress, rules: compileRules(egress.allow), secrets, ca };
}
