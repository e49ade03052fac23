import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PlaybookError } from '../core/index.js';
import {
  assertPlaybookName,
  folderBytes,
  isPlainDir,
  playbookFolders,
  readFileNoFollow,
  shownName,
} from './files.js';
import { parseFrontMatter, renderPlaybookMd, type PlaybookMeta } from './front-matter.js';

export interface PlaybookLimits {
  /** the markdown of one playbook */
  maxContentBytes: number;
  /** one playbook's playbook.ts */
  maxCodeBytes: number;
  /** everything in one tenant's store */
  maxTotalBytes: number;
}

export const DEFAULT_PLAYBOOK_LIMITS: PlaybookLimits = {
  maxContentBytes: 64 * 1024,
  maxCodeBytes: 256 * 1024,
  maxTotalBytes: 8 * 1024 * 1024,
};

export interface PlaybookSummary extends PlaybookMeta {
  folderName: string;
  /** shipped with the conductor (read-only), or the tenant's own */
  shipped: boolean;
  /** has a playbook.ts that importPlaybook(folderName) gives */
  hasCode: boolean;
}

export interface Playbook extends PlaybookSummary {
  /** which file the notes are in */
  file: 'playbook.md' | 'SKILL.md';
  /** that file's text, front matter and all */
  markdown: string;
  code?: string;
}

export interface CreatePlaybookInput {
  folderName: string;
  name: string;
  description: string;
  content: string;
  code?: string;
  author?: string;
  version?: string;
  tags?: string[];
  source?: string;
}

export interface PlaybookStore {
  /** false when the tenant's policy forbids create_playbook */
  readonly canCreate: boolean;
  readonly limits: PlaybookLimits;
  list(): Promise<PlaybookSummary[]>;
  get(folderName: string): Promise<Playbook>;
  /** writes (or replaces) one of the tenant's own playbooks */
  create(input: CreatePlaybookInput): Promise<PlaybookSummary>;
  /** the text of a playbook's playbook.ts, for importPlaybook */
  code(folderName: string): Promise<string>;
}

export interface PlaybookStoreOptions {
  /** the read-only playbooks shipped with the conductor */
  shippedDir: string;
  /** this tenant's own store (made on the first create) */
  dir: string;
  canCreate: boolean;
  limits?: Partial<PlaybookLimits>;
}

const NOTES = ['playbook.md', 'SKILL.md'] as const;
const CODE = 'playbook.ts';

type Found = { dir: string; shipped: boolean };

/**
 * One tenant's playbooks: its own folder beside the shipped ones. Shipped ones win a name (a folder planted in the
 * tenant's store cannot shadow one), and cannot be replaced. Nothing here follows a symbolic link: folders are
 * checked with lstat and files opened with O_NOFOLLOW. Writes go to a fresh hidden folder first and are renamed
 * into place, so a reader never sees half a playbook.
 */
export function createPlaybookStore(opts: PlaybookStoreOptions): PlaybookStore {
  const limits = { ...DEFAULT_PLAYBOOK_LIMITS, ...opts.limits };
  let writes: Promise<unknown> = Promise.resolve();
  const get = async (folderName: string): Promise<Playbook> => {
    const found = await findPlaybook(opts, folderName);
    if (!found) throw new PlaybookError('not_found', `no playbook ${shownName(folderName)}`);
    return readPlaybook(folderName, found, limits);
  };
  return {
    canCreate: opts.canCreate,
    limits,
    get,
    list: () => listPlaybooks(opts, limits),
    async code(folderName) {
      const playbook = await get(folderName);
      if (playbook.code === undefined)
        throw new PlaybookError('no_code', `playbook ${shownName(folderName)} has no playbook.ts to import`);
      return playbook.code;
    },
    create(input) {
      // One write at a time per tenant, so two at once cannot both pass the total cap.
      const done = writes.then(() => write(opts, limits, input));
      writes = done.catch(() => undefined);
      return done;
    },
  };
}

async function findPlaybook(opts: PlaybookStoreOptions, folderName: string): Promise<Found | undefined> {
  assertPlaybookName(folderName);
  const shipped = join(opts.shippedDir, folderName);
  if (await isPlainDir(shipped)) return { dir: shipped, shipped: true };
  const own = join(opts.dir, folderName);
  // The tenant's store itself is checked too: a link in its place is never followed.
  if ((await isPlainDir(opts.dir)) && (await isPlainDir(own))) return { dir: own, shipped: false };
  return undefined;
}

async function readPlaybook(folderName: string, found: Found, limits: PlaybookLimits): Promise<Playbook> {
  const label = `playbook ${shownName(folderName)}`;
  for (const file of NOTES) {
    const markdown = await readFileNoFollow(
      join(found.dir, file),
      limits.maxContentBytes,
      `${label}'s ${file}`,
    );
    if (markdown === undefined) continue;
    const code = await readFileNoFollow(join(found.dir, CODE), limits.maxCodeBytes, `${label}'s ${CODE}`);
    const { meta } = parseFrontMatter(markdown);
    return { ...meta, folderName, shipped: found.shipped, hasCode: code !== undefined, file, markdown, code };
  }
  throw new PlaybookError('not_found', `${label} has neither a playbook.md nor a SKILL.md`);
}

async function listPlaybooks(opts: PlaybookStoreOptions, limits: PlaybookLimits): Promise<PlaybookSummary[]> {
  const shipped = await playbookFolders(opts.shippedDir);
  const mine = (await isPlainDir(opts.dir)) ? await playbookFolders(opts.dir) : [];
  const found: [string, Found][] = [
    ...shipped.map((n): [string, Found] => [n, { dir: join(opts.shippedDir, n), shipped: true }]),
    ...mine
      .filter((n) => !shipped.includes(n))
      .map((n): [string, Found] => [n, { dir: join(opts.dir, n), shipped: false }]),
  ];
  const listed = await Promise.all(
    found.map(([name, where]) =>
      readPlaybook(name, where, limits).then(
        ({ markdown: _m, code: _c, file: _f, ...summary }) => summary,
        // A folder that cannot be read (a link planted in it, an oversize file) is left out, not fatal.
        () => undefined,
      ),
    ),
  );
  return listed.filter((p): p is PlaybookSummary => p !== undefined);
}

function checkSizes(input: CreatePlaybookInput, limits: PlaybookLimits): { md: string; bytes: number } {
  const meta: PlaybookMeta = {
    name: input.name,
    description: input.description,
    author: input.author,
    version: input.version,
    source: input.source,
    tags: input.tags ?? [],
  };
  const md = renderPlaybookMd(meta, input.content);
  const mdBytes = Buffer.byteLength(md);
  if (mdBytes > limits.maxContentBytes)
    throw new PlaybookError(
      'too_large',
      `the playbook's notes are ${mdBytes} bytes with their front matter; at most ${limits.maxContentBytes} are allowed`,
    );
  const codeBytes = input.code === undefined ? 0 : Buffer.byteLength(input.code);
  if (codeBytes > limits.maxCodeBytes)
    throw new PlaybookError(
      'too_large',
      `the playbook's code is ${codeBytes} bytes; at most ${limits.maxCodeBytes} are allowed`,
    );
  return { md, bytes: mdBytes + codeBytes };
}

async function storeBytes(dir: string, except: string): Promise<number> {
  let total = 0;
  for (const name of await playbookFolders(dir))
    if (name !== except) total += await folderBytes(join(dir, name));
  return total;
}

async function write(
  opts: PlaybookStoreOptions,
  limits: PlaybookLimits,
  input: CreatePlaybookInput,
): Promise<PlaybookSummary> {
  const name = input.folderName;
  assertPlaybookName(name);
  if (!opts.canCreate)
    throw new PlaybookError('forbidden', 'creating playbooks is not allowed by the policy of this conductor');
  if (await isPlainDir(join(opts.shippedDir, name)))
    throw new PlaybookError(
      'exists',
      `playbook ${shownName(name)} is shipped with the conductor and cannot be replaced; choose another folder_name`,
    );
  const { md, bytes } = checkSizes(input, limits);
  await mkdir(opts.dir, { recursive: true, mode: 0o700 });
  if (!(await isPlainDir(opts.dir)))
    throw new PlaybookError(
      'invalid',
      'the playbook store is not a plain directory: the conductor never follows links there',
    );
  const used = await storeBytes(opts.dir, name);
  if (used + bytes > limits.maxTotalBytes)
    throw new PlaybookError(
      'too_large',
      `the playbook store would hold ${used + bytes} bytes; at most ${limits.maxTotalBytes} are allowed (replace or remove a playbook)`,
    );
  await replaceFolder(opts.dir, name, {
    'playbook.md': md,
    ...(input.code === undefined ? {} : { [CODE]: input.code }),
  });
  const { meta } = parseFrontMatter(md);
  return { ...meta, folderName: name, shipped: false, hasCode: input.code !== undefined };
}

/** Writes the files to a fresh hidden folder, then swaps it in: the old folder, if any, goes only after. */
async function replaceFolder(dir: string, name: string, files: Record<string, string>): Promise<void> {
  const temp = join(dir, `.new-${name}-${randomUUID()}`);
  const old = join(dir, `.old-${name}-${randomUUID()}`);
  await mkdir(temp, { mode: 0o700 });
  try {
    for (const [file, text] of Object.entries(files))
      await writeFile(join(temp, file), text, { flag: 'wx', mode: 0o600 });
    const target = join(dir, name);
    const existed = await rename(target, old).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return false;
        throw error;
      },
    );
    await rename(temp, target);
    if (existed) await rm(old, { recursive: true, force: true });
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}
