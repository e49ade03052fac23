import { constants } from 'node:fs';
import { lstat, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PlaybookError } from '../core/index.js';

/** `folder_name` (the original project's rule): also what keeps every path below the store's own directory. */
export const PLAYBOOK_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;

export function isPlaybookName(value: unknown): value is string {
  return typeof value === 'string' && PLAYBOOK_NAME.test(value);
}

/** The name as a message may show it: hostile names are cut and have their control characters escaped. */
export function shownName(value: string): string {
  const cut = value.length > 80 ? `${value.slice(0, 80)}…` : value;
  return JSON.stringify(cut);
}

export function assertPlaybookName(value: string): void {
  if (!isPlaybookName(value))
    throw new PlaybookError(
      'invalid_name',
      `invalid playbook name ${shownName(value)}: use 1-64 characters a-z, 0-9 and "-", starting with a letter or digit`,
    );
}

const errno = (error: unknown) => (error as NodeJS.ErrnoException).code;

/**
 * A regular file's text, opened without following a symbolic link (O_NOFOLLOW) and read through that handle, so
 * a link planted in the store is never read through; undefined when there is no such file.
 */
export async function readFileNoFollow(
  path: string,
  maxBytes: number,
  what: string,
): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if (errno(error) === 'ENOENT') return undefined;
    if (errno(error) === 'ELOOP')
      throw new PlaybookError(
        'invalid',
        `${what} is a symbolic link: the conductor never follows links there`,
      );
    throw error;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new PlaybookError('invalid', `${what} is not a regular file`);
    if (st.size > maxBytes) throw new PlaybookError('too_large', `${what} is larger than ${maxBytes} bytes`);
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/** Whether `path` is a real directory (not a link to one); false when it does not exist. */
export async function isPlainDir(path: string): Promise<boolean> {
  try {
    const st = await lstat(path);
    return st.isDirectory();
  } catch (error) {
    if (errno(error) === 'ENOENT') return false;
    throw error;
  }
}

/** The names of the playbook folders in `dir` (real directories with valid names; links are skipped). */
export async function playbookFolders(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries
      .filter((e) => e.isDirectory() && isPlaybookName(e.name))
      .map((e) => e.name)
      .sort();
  } catch (error) {
    if (errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR') return [];
    throw error;
  }
}

/** Bytes of the regular files directly in a folder (links and subfolders count for nothing: they are never read). */
export async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isFile()) total += (await lstat(join(dir, entry.name))).size;
  }
  return total;
}
