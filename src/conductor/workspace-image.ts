import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { ConfigError } from '../core/index.js';

/**
 * The host facts and tools a workspace quota needs: the kernel's mount table, which file backs a loop device, and
 * the e2fsprogs/util-linux commands. Nothing here decides anything (workspace-quota.ts does).
 */

export interface MountEntry {
  mountPoint: string;
  fsType: string;
  source: string;
}

/** `\040` and friends: how mountinfo writes spaces, tabs, newlines and backslashes in paths. */
const unescape = (field: string) =>
  field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));

/** /proc/self/mountinfo: `id parent major:minor root mountpoint options [optional...] - fstype source super`. */
export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    const fields = left?.split(' ');
    const tail = right?.split(' ');
    if (!fields || fields.length < 6 || !tail || tail.length < 2) continue;
    entries.push({ mountPoint: unescape(fields[4]!), fsType: tail[0]!, source: unescape(tail[1]!) });
  }
  return entries;
}

export async function readMounts(): Promise<MountEntry[]> {
  return parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'));
}

/** What is mounted at `dir` now (the topmost mount, as the kernel lists it last); undefined when nothing is. */
export async function mountAt(dir: string): Promise<MountEntry | undefined> {
  return (await readMounts()).filter((m) => m.mountPoint === dir).at(-1);
}

const LOOP_DEVICE = /^\/dev\/(loop\d+)$/;

/** The file a loop device reads from, as the kernel resolved it when the device was set up. */
export async function loopBackingFile(device: string): Promise<string | undefined> {
  const name = LOOP_DEVICE.exec(device)?.[1];
  if (!name) return undefined;
  const text = await readFile(`/sys/block/${name}/loop/backing_file`, 'utf8').catch(() => undefined);
  return text?.replace(/\n$/, '');
}

/** The loop devices backed by `file` (a mounted image, or one still held by a container that outlived its mount). */
export async function loopDevicesOf(file: string): Promise<string[]> {
  const names = (await readdir('/sys/block').catch(() => [] as string[])).filter((n) => /^loop\d+$/.test(n));
  const found: string[] = [];
  for (const name of names) if ((await loopBackingFile(`/dev/${name}`)) === file) found.push(`/dev/${name}`);
  return found;
}

const exec = promisify(execFile);

/** The host commands the quota uses, and the package that brings each on Debian. */
export const QUOTA_TOOLS: Record<string, string> = {
  'mkfs.ext4': 'e2fsprogs',
  e2fsck: 'e2fsprogs',
  resize2fs: 'e2fsprogs',
  fallocate: 'util-linux',
  losetup: 'mount',
  mount: 'mount',
  umount: 'mount',
};

/**
 * Runs one of QUOTA_TOOLS; a failure says which command, what it printed, and what to install when it is missing.
 * `okExitCodes` are exit codes that are no failure (e2fsck's 1: errors found and corrected).
 */
export async function runTool(tool: string, args: string[], okExitCodes: number[] = []): Promise<string> {
  try {
    return (await exec(tool, args, { timeout: 120_000 })).stdout;
  } catch (error) {
    const e = error as Omit<NodeJS.ErrnoException, 'code'> & {
      code?: string | number;
      stdout?: string;
      stderr?: string;
    };
    if (typeof e.code === 'number' && okExitCodes.includes(e.code)) return e.stdout ?? '';
    if (e.code === 'ENOENT')
      throw new ConfigError(`${tool} is not installed (apt-get install ${QUOTA_TOOLS[tool]})`, {
        cause: error,
      });
    const said = (e.stderr ?? '').trim().split('\n').slice(-2).join(' ');
    throw new ConfigError(`${tool} ${args.join(' ')} failed: ${said || e.message}`, { cause: error });
  }
}
