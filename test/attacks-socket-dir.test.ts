/**
 * Hostile code against the one host directory a sandbox sees: its per-execution socket directory, bind-mounted at
 * /run/conductor with the MCP socket and (under an egress policy) the gateway's socket in it. Deno's grant on a
 * socket's path covers everything below it, so code with no permissions of its own can try to remove a socket and
 * put a file or a tree in its place, fill it, or write beside it. The host must see zero bytes written, under runc
 * and gVisor, with no permissions and with unscoped read and write.
 */
import { lstat, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { expectNoLeftovers, freePort, socketBaseDir, startConductor, type Conductor } from './helpers.js';

const docker = inject('docker');
const SOCKETS = ['mcp.sock', 'egress.sock'];
/** Every attempt against each socket path, then whether both sockets still serve (`closed`: nothing listens). */
const attack = (closed: string) => `
const attempt = async (f) => { try { await f(); return 'done'; } catch (e) { return e.name + ': ' + e.message; } };
const chunk = new Uint8Array(1 << 20).fill(120);
const out = {};
for (const name of ${JSON.stringify(SOCKETS)}) {
  const S = '/run/conductor/' + name;
  out[name] = {
    remove: await attempt(() => Deno.remove(S)),
    fill: await attempt(async () => {
      const f = await Deno.open(S, { write: true, create: true });
      try { for (let i = 0; i < 8; i++) await f.write(chunk); } finally { f.close(); }
    }),
    tree: await attempt(async () => { let p = S; for (let i = 0; i < 20; i++) { p += '/' + 'd'.repeat(100); await Deno.mkdir(p); } }),
    rename: await attempt(() => Deno.rename(S, S + '.moved')),
  };
}
out.beside = await attempt(() => Deno.writeTextFile('/run/conductor/beside', 'x'));
// Give the host a moment to look while anything made above would still be there.
await new Promise((r) => setTimeout(r, 500));
out.mcp = await mcpFactory.list();
out.egress = await attempt(() => fetch('http://${closed}/'));
return out;`;

/**
 * Watches the host's socket directories while runs are in flight: each must stay a directory only the conductor can
 * write, holding nothing but its sockets. Returns what broke that rule.
 */
function watchSocketDirs(): { stop(): Promise<string[]> } {
  const problems = new Set<string>();
  let watching = true;
  const uid = process.getuid?.();
  const loop = (async () => {
    while (watching) {
      for (const name of await readdir(socketBaseDir).catch(() => [] as string[])) {
        const dir = join(socketBaseDir, name);
        const st = await lstat(dir).catch(() => undefined);
        if (!st) continue;
        if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0)
          problems.add(`${name} is not a directory only the conductor can write (uid ${st.uid})`);
        for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
          if (!SOCKETS.includes(e.name) || !e.isSocket())
            problems.add(`${name}/${e.name} is not a socket of ours`);
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    stop: async () => {
      watching = false;
      await loop;
      return [...problems];
    },
  };
}

describe.skipIf(!docker).each([
  { runtime: 'runc' as const, runArgs: undefined, grants: 'no permissions' },
  { runtime: 'runsc' as const, runArgs: undefined, grants: 'no permissions' },
  { runtime: 'runc' as const, runArgs: 'allow-read,allow-write', grants: 'unscoped read and write' },
  { runtime: 'runsc' as const, runArgs: 'allow-read,allow-write', grants: 'unscoped read and write' },
])('the socket directory under $runtime with egress and $grants', ({ runtime, runArgs }) => {
  let dir: string;
  let c: Conductor;
  /** An address the policy allows, where nothing listens: a fetch there is answered by the gateway itself. */
  let closed: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mcpc-sockdir-'));
    const policy = join(dir, 'policy.json');
    closed = `127.0.0.1:${await freePort()}`;
    await writeFile(
      policy,
      JSON.stringify({
        description: 'socket dir attack',
        container: { runtime },
        egress: { allow: [closed] },
      }),
    );
    c = await startConductor('stdio', {
      MCP_CONDUCTOR_POLICY: policy,
      MCP_CONDUCTOR_POOL_SIZE: '0',
      ...(runArgs ? { MCP_CONDUCTOR_RUN_ARGS: runArgs } : {}),
    });
  });

  afterAll(async () => {
    await c?.close();
    await expectNoLeftovers();
    await rm(dir, { recursive: true, force: true });
  });

  it('no removing a socket, no file, no tree, no rename, nothing beside: zero bytes on the host', async () => {
    const watch = watchSocketDirs();
    const r = await c.run(attack(closed), 30_000);
    expect(await watch.stop()).toEqual([]);
    expect(r.result.status, r.text).toBe('success');
    const v = r.result.returnValue as Record<string, Record<string, string> | string | unknown[]>;
    // The directory is not the sandbox user's and is mounted read-only: the kernel refuses every change.
    const refused = /^(PermissionDenied|NotCapable|Error: Read-only file system)/;
    for (const name of SOCKETS) {
      const s = v[name] as Record<string, string>;
      expect(s.remove, name).toMatch(refused);
      // Opening a socket is ENXIO; O_CREAT on an existing one changes nothing.
      expect(s.fill, name).toMatch(/No such device or address|Read-only file system/);
      expect(s.tree, name).toMatch(/^NotADirectory/);
      expect(s.rename, name).toMatch(refused);
    }
    expect(v.beside).toMatch(refused);
    // Both sockets still serve: the MCP one lists (no servers), the gateway answers for the closed port itself.
    expect(v.mcp).toEqual([]);
    expect(v.egress).toMatch(/^TypeError: egress: /);
  });
});
