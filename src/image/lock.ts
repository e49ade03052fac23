import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ImageMissingError } from '../core/index.js';
import type { Registries } from './plan.js';

/** The lock file beside image.json: Deno's own format, so `deno cache --frozen` checks it. */
export const LOCK_FILE = 'deno.lock';
export const UPDATE_LOCK_HINT = '`mcp-conductor image --update-lock` (make image-lock)';

const PackageSchema = z.looseObject({
  integrity: z.string().min(1),
  dependencies: z.array(z.string()).optional(),
  tarball: z.string().optional(),
});

/** The parts of a Deno lock (version 5) the image build reads; Deno itself checks the rest. */
export const DenoLockSchema = z.looseObject({
  version: z.literal('5'),
  specifiers: z.record(z.string(), z.string()).default({}),
  jsr: z.record(z.string(), PackageSchema).default({}),
  npm: z.record(z.string(), PackageSchema).default({}),
});
export type DenoLock = z.infer<typeof DenoLockSchema>;

export interface LockFile {
  path: string;
  /** the bytes as committed: hashed into the image tag */
  text: string;
  lock: DenoLock;
}

export async function readLock(imageDir: string): Promise<LockFile> {
  const path = join(imageDir, LOCK_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ImageMissingError(
      `The image has no lock file (${path}): it pins every dependency of image.json with its integrity. Create it with ${UPDATE_LOCK_HINT}.`,
      { cause: error },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ImageMissingError(
      `The lock file ${path} is not valid JSON; recreate it with ${UPDATE_LOCK_HINT}.`,
      {
        cause: error,
      },
    );
  }
  const parsed = DenoLockSchema.safeParse(json);
  if (!parsed.success) {
    throw new ImageMissingError(
      `The lock file ${path} is not a Deno lock of version 5 (${parsed.error.issues[0]?.message ?? 'invalid'}); recreate it with ${UPDATE_LOCK_HINT}.`,
    );
  }
  return { path, text, lock: parsed.data };
}

/**
 * The lock as committed: Deno records an npm tarball's URL when it is not on the public registry, which would put
 * the mirror (and any credential in its URL) into the repository and tie every later build to that mirror. Without
 * it Deno takes the tarball from the packument of whichever registry the build uses, and still checks its integrity.
 */
export function normalizeLock(text: string, registries: Registries): string {
  const lock = JSON.parse(text) as { npm?: Record<string, { tarball?: string }> };
  const mirror = registries.npm;
  for (const entry of Object.values(lock.npm ?? {})) {
    if (entry.tarball && mirror && entry.tarball.startsWith(mirror.replace(/\/?$/, '/')))
      delete entry.tarball;
  }
  return `${JSON.stringify(lock, null, 2)}\n`;
}

/** `@scope/name@1.2.3` → `['@scope/name', '1.2.3']`. */
export function splitPackageId(id: string): [name: string, version: string] {
  const at = id.lastIndexOf('@');
  if (at <= 0) throw new Error(`not a package id: ${id}`);
  return [id.slice(0, at), id.slice(at + 1)];
}

/**
 * Deno's verdict on a frozen lock, as one sentence naming the package: the integrity of a download (npm tarball,
 * JSR version manifest, JSR file) that differs from the lock, or a dependency the lock does not cover.
 */
export function lockMismatch(stderr: string, lockPath: string, registries: Registries): string | undefined {
  const fix = `If the change is intended, update the lock with ${UPDATE_LOCK_HINT}; otherwise the registry${registries.npm || registries.jsr ? ' (mirror)' : ''} serves other bytes than when the lock was made.`;
  const jsrPackage = /Integrity check failed for package\.[\s\S]*?Package: (\S+)/.exec(stderr)?.[1];
  if (jsrPackage)
    return `jsr:${jsrPackage} does not match the lock file ${lockPath} (its version manifest has another hash). ${fix}`;
  const jsrFile = /Integrity check failed in package\.[\s\S]*?Specifier: (\S+)/.exec(stderr)?.[1];
  if (jsrFile) {
    const m = /(@[^/]+\/[^/]+)\/([^/]+)\/(.+)$/.exec(jsrFile);
    const what = m ? `jsr:${m[1]}@${m[2]} (its file /${m[3]})` : jsrFile;
    return `${what} does not match the lock file ${lockPath} (the file differs from its checksum in the locked manifest). ${fix}`;
  }
  const npmPackage = /Tarball checksum did not match [^\n]* for (\S+?)\.?\n/.exec(`${stderr}\n`)?.[1];
  if (npmPackage)
    return `npm:${npmPackage} does not match the lock file ${lockPath} (its tarball has another integrity). ${fix}`;
  if (/lockfile is out of date/.test(stderr)) {
    // Deno prints the lock's diff: a `+` line whose key has no `-` line is a specifier the lock lacks.
    const lines = [...stderr.matchAll(/^\s*\d+ \| ([+-])\s*"([^"]+)"/gm)];
    const removed = new Set(lines.filter((m) => m[1] === '-').map((m) => m[2]));
    const added = lines.filter((m) => m[1] === '+' && !removed.has(m[2])).map((m) => m[2]!);
    const what = added.length > 0 ? added.join(', ') : 'a dependency of image.json';
    return `${what} is not in the lock file ${lockPath}: image.json changed since the lock was made. Update the lock with ${UPDATE_LOCK_HINT}.`;
  }
  return undefined;
}
