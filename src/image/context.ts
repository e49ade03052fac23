import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';

/** One file of the image: either copied from the host or given as content. Paths are absolute in the image. */
export type ImageEntry =
  | { kind: 'file'; path: string; mode: number; hostPath: string }
  | { kind: 'content'; path: string; mode: number; content: Buffer }
  | { kind: 'dir'; path: string; mode: number }
  /** a symbolic link; `target` as the host's readlink gives it (relative or absolute) */
  | { kind: 'symlink'; path: string; target: string }
  /** a hard link to an earlier `file` entry of the same bytes and mode (the tar header sets the shared mode) */
  | { kind: 'hardlink'; path: string; target: string; mode: number }
  /** a host directory copied recursively: files 0644 (0755 if executable), dirs 0755 */
  | { kind: 'tree'; path: string; hostPath: string };

const DOCKERFILE_NAME = 'Dockerfile';

/**
 * A content hash of every input: paths, modes and bytes of each entry (trees excluded: they are outputs of
 * other inputs, such as the dependency cache, whose identity is hashed by the caller through `extra`).
 */
export async function hashEntries(entries: ImageEntry[], extra: string): Promise<string> {
  const h = createHash('sha256');
  h.update(`extra\0${extra}\0`);
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const e of sorted) {
    if (e.kind === 'tree') continue;
    if (e.kind === 'symlink') {
      h.update(`symlink\0${e.path}\0${e.target}\0`);
      continue;
    }
    if (e.kind === 'hardlink') {
      h.update(`hardlink\0${e.path}\0${e.target}\0${e.mode.toString(8)}\0`);
      continue;
    }
    h.update(`${e.kind}\0${e.path}\0${e.mode.toString(8)}\0`);
    if (e.kind === 'content') h.update(e.content);
    else if (e.kind === 'file')
      for await (const chunk of createReadStream(e.hostPath)) h.update(chunk as Buffer);
    h.update('\0');
  }
  return h.digest('hex');
}

async function fileDigest(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Host files with the same bytes and mode (git is both /usr/bin/git and /usr/lib/git-core/git) are stored once:
 * the later ones become hard links to the first.
 */
export async function linkIdenticalFiles(entries: ImageEntry[]): Promise<ImageEntry[]> {
  const sizes = new Map<string, number>();
  const bySize = new Map<number, number>();
  for (const e of entries) {
    if (e.kind !== 'file') continue;
    const { size } = await stat(e.hostPath);
    sizes.set(e.path, size);
    bySize.set(size, (bySize.get(size) ?? 0) + 1);
  }
  const first = new Map<string, string>();
  const out: ImageEntry[] = [];
  for (const e of entries) {
    if (e.kind !== 'file' || (bySize.get(sizes.get(e.path)!) ?? 0) < 2) {
      out.push(e);
      continue;
    }
    const key = `${e.mode}:${await fileDigest(e.hostPath)}`;
    const target = first.get(key);
    if (target) out.push({ kind: 'hardlink', path: e.path, target, mode: e.mode });
    else {
      first.set(key, e.path);
      out.push(e);
    }
  }
  return out;
}

function tarName(path: string): string {
  return `rootfs${path}`;
}

async function addFile(pack: tar.Pack, name: string, mode: number, hostPath: string): Promise<void> {
  const { size } = await stat(hostPath);
  await new Promise<void>((resolve, reject) => {
    const sink = pack.entry({ name, size, mode, uid: 0, gid: 0, mtime: new Date(0) }, (err) =>
      err ? reject(err) : resolve(),
    );
    createReadStream(hostPath).on('error', reject).pipe(sink);
  });
}

async function addTree(pack: tar.Pack, imagePath: string, hostPath: string): Promise<void> {
  pack.entry({
    name: tarName(imagePath),
    type: 'directory',
    mode: 0o755,
    uid: 0,
    gid: 0,
    mtime: new Date(0),
  });
  const items = await readdir(hostPath, { withFileTypes: true });
  items.sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const item of items) {
    const src = join(hostPath, item.name);
    const dst = posix.join(imagePath, item.name);
    if (item.isDirectory()) await addTree(pack, dst, src);
    else if (item.isFile()) {
      const { mode } = await stat(src);
      await addFile(pack, tarName(dst), mode & 0o111 ? 0o755 : 0o644, src);
    }
  }
}

/**
 * Streams the build context: a Dockerfile that copies `rootfs/` into a FROM-scratch image, and the rootfs.
 * Entries are written one at a time as the engine reads, so nothing of the ~150 MB is held in memory.
 */
export function createBuildContext(entries: ImageEntry[], dockerfile: string): Readable {
  const pack = tar.pack();
  void (async () => {
    try {
      pack.entry({ name: DOCKERFILE_NAME, mode: 0o644, mtime: new Date(0) }, dockerfile);
      const parents = new Set<string>();
      const addParents = (p: string) => {
        const parts = p.split('/').filter(Boolean);
        for (let i = 1; i < parts.length; i++) {
          const dir = `/${parts.slice(0, i).join('/')}`;
          if (!parents.has(dir)) {
            parents.add(dir);
            pack.entry({
              name: tarName(dir),
              type: 'directory',
              mode: 0o755,
              uid: 0,
              gid: 0,
              mtime: new Date(0),
            });
          }
        }
      };
      for (const e of entries) {
        addParents(e.path);
        const header = { name: tarName(e.path), uid: 0, gid: 0, mtime: new Date(0) };
        if (e.kind === 'dir') {
          parents.add(e.path);
          pack.entry({ ...header, type: 'directory', mode: e.mode });
        } else if (e.kind === 'symlink')
          pack.entry({ ...header, type: 'symlink', linkname: e.target, mode: 0o777 });
        else if (e.kind === 'hardlink')
          pack.entry({ ...header, type: 'link', linkname: tarName(e.target), mode: e.mode });
        else if (e.kind === 'content') pack.entry({ ...header, mode: e.mode }, e.content);
        else if (e.kind === 'file') await addFile(pack, header.name, e.mode, e.hostPath);
        else await addTree(pack, e.path, e.hostPath);
      }
      pack.finalize();
    } catch (error) {
      pack.destroy(error as Error);
    }
  })();
  // tar-stream v3 packs are streamx streams; wrap so consumers get a Node Readable.
  return Readable.from(pack);
}

/**
 * The Dockerfile: the rootfs, the environment, then `run` commands (exec form: the image has no shell) executed as
 * root at build time, then the sandbox user.
 */
export function dockerfileFor(env: Record<string, string>, run: readonly (readonly string[])[] = []): string {
  const envLines = Object.entries(env)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `ENV ${k}=${JSON.stringify(v)}`);
  const runLines = run.map((argv) => `RUN ${JSON.stringify(argv)}`);
  return [
    'FROM scratch',
    'COPY rootfs/ /',
    ...envLines,
    ...runLines,
    'USER 65534:65534',
    'WORKDIR /',
    '',
  ].join('\n');
}

export async function readRuntimeFiles(dir: string): Promise<{ name: string; content: Buffer }[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.ts')).sort();
  return Promise.all(names.map(async (name) => ({ name, content: await readFile(join(dir, name)) })));
}
