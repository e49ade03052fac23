import { execFile } from 'node:child_process';
import { readFile, realpath } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The Debian (or Ubuntu…) package a host file of the image came from, as dpkg knows it. */
export interface DebianPackage {
  name: string;
  version: string;
  architecture: string;
}

export type Dpkg = (args: string[]) => Promise<string>;

/** dpkg-query's stdout; its exit status is 1 when some path is unknown, which is an answer, not a failure. */
const dpkgQuery: Dpkg = async (args) => {
  try {
    return (await run('dpkg-query', args, { maxBuffer: 4 * 1024 * 1024 })).stdout;
  } catch (error) {
    const e = error as { stdout?: string; code?: unknown };
    if (typeof e.stdout === 'string' && e.code === 1) return e.stdout;
    throw error;
  }
};

/** With merged /usr, dpkg may know a library under /lib or /usr/lib: try the path, its real path and the other. */
async function candidates(path: string): Promise<string[]> {
  const real = await realpath(path).catch(() => path);
  const out = new Set<string>();
  for (const p of [path, real]) {
    out.add(p);
    out.add(p.startsWith('/usr/') ? p.slice(4) : `/usr${p}`);
  }
  return [...out];
}

/**
 * Which Debian package each host file belongs to, for those dpkg knows (none on a host without dpkg).
 * Returns path → package.
 */
export async function debianPackagesOf(
  paths: string[],
  dpkg: Dpkg = dpkgQuery,
): Promise<Map<string, DebianPackage>> {
  const found = new Map<string, DebianPackage>();
  if (paths.length === 0) return found;
  const tried = new Map<string, string[]>();
  for (const p of paths) tried.set(p, await candidates(p));
  let owners: string;
  try {
    owners = await dpkg(['-S', ...new Set([...tried.values()].flat())]);
  } catch {
    return found; // no dpkg here
  }
  const ownerOf = new Map<string, string>();
  for (const line of owners.split('\n')) {
    const m = /^([^\s,:]+(?::[\w-]+)?): (\/.*)$/.exec(line);
    if (m) ownerOf.set(m[2]!, m[1]!);
  }
  const names = new Set<string>();
  const byPath = new Map<string, string>();
  for (const [path, options] of tried) {
    const owner = options.map((o) => ownerOf.get(o)).find(Boolean);
    if (owner) {
      byPath.set(path, owner);
      names.add(owner);
    }
  }
  if (names.size === 0) return found;
  const versions = new Map<string, DebianPackage>();
  const listed = await dpkg([
    '-W',
    '-f',
    '${binary:Package}\t${Package}\t${Architecture}\t${Version}\n',
    ...names,
  ]);
  for (const line of listed.split('\n')) {
    const [binary, name, architecture, version] = line.split('\t');
    if (!binary || !name || !architecture || !version) continue;
    versions.set(binary, { name, version, architecture });
    versions.set(name, { name, version, architecture });
  }
  for (const [path, owner] of byPath) {
    const v = versions.get(owner);
    if (v) found.set(path, v);
  }
  return found;
}

/** `debian`, `ubuntu`…: the purl namespace of the host's packages. */
export async function distributionId(osRelease = '/etc/os-release'): Promise<string> {
  const text = await readFile(osRelease, 'utf8').catch(() => '');
  return /^ID="?([\w.-]+)"?$/m.exec(text)?.[1] ?? 'debian';
}
