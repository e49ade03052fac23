import { chmod, mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/index.js';
import { sandboxUser } from '../sandbox/index.js';
import { describeWorkspaceAccess, prepareWorkspace, workspaceWriteProblem } from './workspace.js';

const user = { uid: 1000, gid: 1000 };
const dir = (uid: number, gid: number, mode: number) => ({ uid, gid, mode: 0o40000 | mode });

describe('workspaceWriteProblem', () => {
  it('judges by the one class the user falls in, as the kernel does', () => {
    expect(workspaceWriteProblem(dir(1000, 5, 0o700), user, 'W')).toBeUndefined();
    expect(workspaceWriteProblem(dir(5, 1000, 0o070), user, 'W')).toBeUndefined();
    expect(workspaceWriteProblem(dir(5, 5, 0o777), user, 'W')).toBeUndefined();
    // The owner's bits count for the owner even when the group's or others' would allow it.
    expect(workspaceWriteProblem(dir(1000, 1000, 0o577), user, 'W')).toBeDefined();
    // Writing without search (x) creates nothing.
    expect(workspaceWriteProblem(dir(1000, 1000, 0o600), user, 'W')).toBeDefined();
    // A workspace a root conductor gave to nobody is not a desktop user's any more.
    expect(workspaceWriteProblem(dir(65534, 65534, 0o755), user, 'W')).toBeDefined();
  });

  it('says who cannot write what, and what to do', () => {
    const text = workspaceWriteProblem(dir(65534, 65534, 0o755), user, '$MCP_CONDUCTOR_WORKSPACE');
    expect(text).toContain('owner 65534:65534, mode 755) is not writable by 1000:1000');
    expect(text).toContain('chown 1000:1000 "$MCP_CONDUCTOR_WORKSPACE"');
    expect(text).toContain('take allow-write=/workspace out of the grant');
  });
});

describe('prepareWorkspace', () => {
  const asRoot = process.getuid?.() === 0;

  it.skipIf(asRoot)(
    'not as root: changes nothing, and refuses a directory it cannot write when code writes it',
    async () => {
      const root = await mkdtemp(join(tmpdir(), 'ws-'));
      const before = await stat(root);
      expect(await prepareWorkspace(root, undefined, true)).toBe(root);
      expect((await stat(root)).mode).toBe(before.mode);
      await chmod(root, 0o500);
      await expect(prepareWorkspace(root, undefined, true)).rejects.toThrow(ConfigError);
      await expect(prepareWorkspace(root, undefined, true)).rejects.toThrow(
        /\$MCP_CONDUCTOR_WORKSPACE, owner/,
      );
      expect(await prepareWorkspace(root, undefined, false)).toBe(root);
      await chmod(root, 0o700);
    },
  );

  it.skipIf(!asRoot)(
    'as root: gives the directory itself to nobody, and refuses one nobody cannot write',
    async () => {
      const root = await mkdtemp(join(tmpdir(), 'ws-'));
      await prepareWorkspace(root, undefined, true);
      const st = await stat(root);
      expect([st.uid, st.gid]).toEqual([65534, 65534]);
      await chmod(root, 0o555);
      await expect(prepareWorkspace(root, undefined, true)).rejects.toThrow(/not writable by 65534:65534/);
    },
  );
});

describe('describeWorkspaceAccess', () => {
  it('says whom code runs as and what start-up does, changing nothing', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ws-'));
    const [uid, gid] = [process.getuid?.() ?? 0, process.getgid?.() ?? 0];
    const me = { uid, gid };
    expect(await describeWorkspaceAccess(root, true, false, me)).toContain(
      `writable by that user; code runs as ${uid}:${gid}, the conductor's own uid and gid; start-up changes nothing`,
    );
    expect(await describeWorkspaceAccess(join(root, 'later'), true, false, me)).toContain(
      'does not exist yet: start-up makes it',
    );
    // As root, judged as start-up leaves it: nobody's, with its mode.
    await chmod(root, 0o500);
    await expect(describeWorkspaceAccess(root, true, true, sandboxUser(0, 0))).rejects.toThrow(
      /owner 65534:65534, mode 500\) is not writable by 65534:65534/,
    );
    expect(await describeWorkspaceAccess(root, false, true, sandboxUser(0, 0))).toContain(
      "not written (the grant does not write /workspace); code runs as 65534:65534 (nobody): as root, start-up makes the directory itself (not its contents) nobody's",
    );
    await chmod(root, 0o700);
  });
});
