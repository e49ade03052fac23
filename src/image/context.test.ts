import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import {
  createBuildContext,
  dockerfileFor,
  hashEntries,
  linkIdenticalFiles,
  type ImageEntry,
} from './context.js';

async function listTar(
  stream: NodeJS.ReadableStream,
): Promise<Map<string, { mode: number; body: string; type: string; link?: string }>> {
  const extract = tar.extract();
  const out = new Map<string, { mode: number; body: string; type: string; link?: string }>();
  const done = (async () => {
    for await (const entry of extract) {
      let body = '';
      for await (const chunk of entry) body += (chunk as Buffer).toString();
      out.set(entry.header.name, {
        mode: entry.header.mode ?? 0,
        body,
        type: entry.header.type ?? 'file',
        link: entry.header.linkname ?? undefined,
      });
    }
  })();
  stream.pipe(extract);
  await done;
  return out;
}

describe('build context', () => {
  it('streams a Dockerfile and a rootfs with parents, modes and root ownership', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ctx-'));
    await writeFile(join(dir, 'bin'), 'ELF');
    await writeFile(join(dir, 'a.txt'), 'A');
    const entries: ImageEntry[] = [
      { kind: 'file', path: '/usr/local/bin/deno', mode: 0o755, hostPath: join(dir, 'bin') },
      { kind: 'content', path: '/etc/passwd', mode: 0o644, content: Buffer.from('nobody') },
      { kind: 'dir', path: '/tmp', mode: 0o1777 },
      { kind: 'tree', path: '/opt/cache', hostPath: dir },
    ];
    const files = await listTar(createBuildContext(entries, dockerfileFor({ A: 'b' })));
    expect(files.get('Dockerfile')?.body).toContain('FROM scratch');
    expect(files.get('Dockerfile')?.body).toContain('ENV A="b"');
    expect(files.get('Dockerfile')?.body).toContain('USER 65534:65534');
    expect(dockerfileFor({}, [['/bin/x', 'a b']])).toMatch(/\nRUN \["\/bin\/x","a b"\]\nUSER 65534:65534\n/);
    expect(files.get('rootfs/usr/local/bin/deno')).toMatchObject({ mode: 0o755, body: 'ELF' });
    expect(files.get('rootfs/usr/local')?.type).toBe('directory');
    expect(files.get('rootfs/tmp')).toMatchObject({ mode: 0o1777, type: 'directory' });
    expect(files.get('rootfs/opt/cache/a.txt')).toMatchObject({ mode: 0o644, body: 'A' });
  });

  it('hashes content, paths and modes: any change gives a new tag, no change the same', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ctx-'));
    const f = join(dir, 'f');
    await writeFile(f, 'one');
    const base: ImageEntry[] = [{ kind: 'file', path: '/f', mode: 0o644, hostPath: f }];
    const h1 = await hashEntries(base, 'deps');
    expect(await hashEntries(base, 'deps')).toBe(h1);
    expect(await hashEntries(base, 'deps+zod')).not.toBe(h1);
    expect(await hashEntries([{ ...base[0]!, mode: 0o755 } as ImageEntry], 'deps')).not.toBe(h1);
    await writeFile(f, 'two');
    expect(await hashEntries(base, 'deps')).not.toBe(h1);
  });

  it('writes symlinks as links and stores identical files once, as hard links', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ctx-'));
    await writeFile(join(dir, 'a'), 'same bytes');
    await writeFile(join(dir, 'b'), 'same bytes');
    await writeFile(join(dir, 'c'), 'other bytes');
    const entries = await linkIdenticalFiles([
      { kind: 'file', path: '/usr/bin/tool', mode: 0o755, hostPath: join(dir, 'a') },
      { kind: 'file', path: '/usr/lib/tool/tool', mode: 0o755, hostPath: join(dir, 'b') },
      { kind: 'file', path: '/usr/lib/tool/same-but-0644', mode: 0o644, hostPath: join(dir, 'b') },
      { kind: 'file', path: '/usr/lib/tool/other', mode: 0o755, hostPath: join(dir, 'c') },
      { kind: 'symlink', path: '/usr/lib/tool/tool-alias', target: 'tool' },
    ]);
    expect(entries.map((e) => e.kind)).toEqual(['file', 'hardlink', 'file', 'file', 'symlink']);
    const files = await listTar(createBuildContext(entries, dockerfileFor({})));
    expect(files.get('rootfs/usr/bin/tool')).toMatchObject({ type: 'file', body: 'same bytes' });
    // the extractor applies a link's mode to the shared file: it must be the file's own
    expect(files.get('rootfs/usr/bin/tool')).toMatchObject({ mode: 0o755 });
    expect(files.get('rootfs/usr/lib/tool/tool')).toMatchObject({
      type: 'link',
      link: 'rootfs/usr/bin/tool',
      mode: 0o755,
    });
    expect(files.get('rootfs/usr/lib/tool/tool-alias')).toMatchObject({ type: 'symlink', link: 'tool' });
    expect(files.get('rootfs/usr/lib/tool/same-but-0644')).toMatchObject({ type: 'file', mode: 0o644 });
    // a link's target is part of the hash
    const h = await hashEntries(entries, '');
    const retargeted = entries.map((e) => (e.kind === 'symlink' ? { ...e, target: 'other' } : e));
    expect(await hashEntries(retargeted, '')).not.toBe(h);
  });
});
