import { createHash } from 'node:crypto';
import { chown, lstat, mkdir, mkdtemp, readdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { expectNoLeftovers, startHttpServer } from './helpers.js';

const docker = inject('docker');
const sha = (t: string) => createHash('sha256').update(t).digest('hex');
const asRoot = process.getuid?.() === 0;

/** A tenants file of these ids (token `<id>-token`, the default policy) in a fresh directory. */
async function tenantsFile(ids: string[]): Promise<{ dir: string; tenants: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'mcpc-tenants-'));
  const tenants = join(dir, 'tenants.json');
  await writeFile(
    tenants,
    JSON.stringify({ tenants: ids.map((id) => ({ id, tokenSha256: sha(`${id}-token`) })) }),
  );
  return { dir, tenants };
}

/**
 * Attacks on what `serve` does with the host around tenants: whoever can write the workspace root (another admin, a
 * tool, a tenant's own files synced there) must not steer the conductor to another part of the host.
 */
describe.skipIf(!docker)('hostile tenant workspaces under serve', () => {
  afterAll(async () => {
    await expectNoLeftovers();
  });

  it('a tenant workspace that is a symbolic link is refused at start-up, naming the tenant; its target is untouched', async () => {
    const { dir, tenants } = await tenantsFile(['acme', 'globex']);
    const workspace = join(dir, 'ws');
    const target = join(dir, 'elsewhere');
    await mkdir(workspace);
    await mkdir(target);
    await symlink(target, join(workspace, 'acme'));
    const start = startHttpServer({
      MCP_CONDUCTOR_TENANTS: tenants,
      MCP_CONDUCTOR_WORKSPACE: workspace,
      MCP_CONDUCTOR_POOL_SIZE: '0',
    });
    const refusal = await start.then(
      async (s) => (await s.stop(), 'started'),
      (error: Error) => error.message,
    );
    expect(refusal).toMatch(/the workspace of tenant "acme" is a symbolic link/);
    expect(refusal).not.toContain(target);
    const st = await lstat(target);
    // Not chowned to the sandbox user through the link, nothing created in it.
    expect([st.uid, st.gid]).toEqual([process.getuid?.(), process.getgid?.()]);
    expect(await readdir(target)).toEqual([]);
  });

  it.skipIf(!asRoot)(
    'a workspace that is already the sandbox user’s is left as it is at start-up',
    async () => {
      const { dir, tenants } = await tenantsFile(['acme', 'globex']);
      const workspace = join(dir, 'ws');
      await mkdir(join(workspace, 'acme'), { recursive: true });
      await chown(join(workspace, 'acme'), 65534, 65534);
      const before = await lstat(join(workspace, 'acme'));
      // chown changes the ctime even when the owner stays the same: an unchanged ctime means it was not called.
      await new Promise((r) => setTimeout(r, 50));
      const server = await startHttpServer({
        MCP_CONDUCTOR_TENANTS: tenants,
        MCP_CONDUCTOR_WORKSPACE: workspace,
        MCP_CONDUCTOR_POOL_SIZE: '0',
      });
      await server.stop();
      const after = await lstat(join(workspace, 'acme'));
      expect(after.ctimeMs).toBe(before.ctimeMs);
      // The one that was missing is made, as a plain directory of the sandbox user.
      const made = await lstat(join(workspace, 'globex'));
      expect(made.isDirectory()).toBe(true);
      expect([made.uid, made.gid]).toEqual([65534, 65534]);
    },
  );
});
