import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { ConductorSettings } from '../config/env.js';
import { policyFile } from '../config/load-policy.js';
import { brokenEntryLine } from '../config/mcp-config.js';
import { secretFileNames } from '../config/secret-files.js';
import type { Tenant, TenantsFile } from '../config/tenants.js';
import { ConfigError } from '../core/index.js';
import type { AdminInputs } from './admin-inputs.js';
import type { ReloadPlan } from './conductor.js';

/** The configuration as read at one moment, every part validated. */
export interface ConfigSnapshot {
  inputs: AdminInputs;
  /** serve's tenants file; undefined for the local context alone */
  tenantsFile: TenantsFile | undefined;
  /** per context ('local' or a tenant id): a hash of what shapes it (tenant entry, policy, upstream servers) */
  fingerprints: ReadonlyMap<string, string>;
  /** the files it came from, to be watched */
  files: string[];
  /** what mcp.json's reading said about entries it left out */
  warnings: string[];
}

export interface SnapshotSource {
  settings: ConductorSettings;
  policiesDir: string;
  /** serve with a tenants file: its tenants; otherwise the local context only */
  tenants: boolean;
}

const hash = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex');

/** Reads and validates the whole configuration: a problem anywhere is a ConfigError, and nothing changes. */
export async function readConfigSnapshot(src: SnapshotSource, inputs: AdminInputs): Promise<ConfigSnapshot> {
  const { settings } = src;
  const tenantsFile = src.tenants ? await inputs.tenantsFile() : undefined;
  const contexts: { id: string; policy: string; tenant?: Tenant }[] = tenantsFile
    ? tenantsFile.tenants.map((t) => ({ id: t.id, policy: t.policy, tenant: t }))
    : [{ id: 'local', policy: settings.policy }];
  const fingerprints = new Map<string, string>();
  const secretFiles = new Set<string>();
  let warnings: string[] = [];
  for (const c of contexts) {
    const policy = await inputs.policy(c.policy);
    // Its secrets too: a policy whose secret is missing would fail at its first execution. A rotated value changes
    // the context (only its digest goes into the fingerprint).
    const egress = await inputs.egress(c.policy);
    const secrets = (egress?.secrets ?? []).map((s) => [s.name, hash(s.value())]);
    const mcp = await inputs.mcpConfig(c.id);
    // A broken entry turns off only its server, as at start-up: said on every reload that keeps it broken.
    const broken = (mcp?.broken ?? []).map((b) => brokenEntryLine(b.name, b.problem));
    warnings = [...(mcp?.warnings ?? []), ...broken];
    fingerprints.set(
      c.id,
      hash({ tenant: c.tenant ?? null, policy, servers: mcp?.mcpServers ?? null, secrets }),
    );
    for (const spec of Object.values(policy.egress?.secrets ?? {}))
      if ('file' in spec) secretFiles.add(spec.file);
  }
  const policyFiles = contexts.flatMap((c) => policyFile(c.policy, src.policiesDir) ?? []);
  const { secretsDir } = settings;
  // Only watched here: where such a directory cannot be read, the reading of what uses it says so.
  const dirFiles = secretsDir
    ? (await secretFileNames(secretsDir).catch(() => [])).map((n) => join(secretsDir, n))
    : [];
  const files = [
    ...(settings.mcpConfigPath ? [settings.mcpConfigPath] : []),
    ...(src.tenants && settings.tenantsPath ? [settings.tenantsPath] : []),
    ...new Set(policyFiles),
    // Secrets rotate without a restart: the policies' secret files and those of MCP_CONDUCTOR_SECRETS_DIR.
    ...new Set([...secretFiles, ...dirFiles]),
  ];
  return { inputs, tenantsFile, fingerprints, files, warnings };
}

/**
 * What changes from one snapshot to the next: the contexts whose fingerprint differs, was added or went. The
 * identity provider section is published at start (/.well-known) and so is not changed live.
 */
export function planReload(before: ConfigSnapshot, after: ConfigSnapshot): ReloadPlan {
  if (hash(before.tenantsFile?.oauth ?? null) !== hash(after.tenantsFile?.oauth ?? null))
    throw new ConfigError('the tenants file’s "oauth" section changed: restart the conductor to apply that');
  const ids = new Set([...before.fingerprints.keys(), ...after.fingerprints.keys()]);
  const changed = new Set(
    [...ids].filter((id) => before.fingerprints.get(id) !== after.fingerprints.get(id)),
  );
  return { inputs: after.inputs, tenants: after.tenantsFile?.tenants, changed };
}
