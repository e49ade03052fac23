import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../core/index.js';

/** Docker secrets are at most 500 KB: a bigger file in a secrets directory is a mistake worth naming. */
const MAX_SECRET_BYTES = 1024 * 1024;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The files of a secrets directory (Docker and Kubernetes mount secrets as files, e.g. under /run/secrets) as
 * variables for `${NAME}` in mcp.json: each regular file whose name is a variable name, its content without the one
 * trailing newline `echo … | docker secret create` adds. Other entries (dot files, Kubernetes' `..data` links,
 * directories) are skipped. A file's content never appears in an error.
 */
export async function readSecretFiles(dir: string): Promise<Record<string, string>> {
  const secrets: Record<string, string> = {};
  for (const name of await secretFileNames(dir)) {
    const path = join(dir, name);
    // Kubernetes mounts each key as a symlink into its ..data directory: follow links, but only to files.
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) continue;
    if (st.size > MAX_SECRET_BYTES)
      throw new ConfigError(`the secret file ${path} is larger than ${MAX_SECRET_BYTES} bytes`);
    secrets[name] = (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
  }
  return secrets;
}

/** The entries of a secrets directory that may be secrets (their names are variable names), sorted. */
export async function secretFileNames(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    throw new ConfigError(`MCP_CONDUCTOR_SECRETS_DIR ${dir} cannot be read`, { cause: error });
  }
  return names.filter((n) => NAME.test(n)).sort();
}

/**
 * The environment `${VAR}` in mcp.json is filled from: the process environment, plus the secret files for names it
 * does not set (an explicit variable wins).
 */
export async function withSecretFiles(
  env: Record<string, string | undefined>,
  secretsDir: string | undefined,
): Promise<Record<string, string | undefined>> {
  if (!secretsDir) return env;
  return { ...(await readSecretFiles(secretsDir)), ...env };
}
