// The README's desktop set-up: a person who is not root, in the docker group, runs the conductor with
// allow-write=/workspace on a directory of theirs. Code must write it as them, and a workspace they cannot write
// must stop start-up and fail the doctor, saying what to do. Run as root (CI), the test makes such a user.
import { execFileSync, spawn } from 'node:child_process';
import { chown, mkdtemp, readFile, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { baseEnv, cliPath, expectNoLeftovers, startConductor, TRANSPORTS, type Launcher } from './helpers.js';

const docker = inject('docker');
const USER = 'mcpc-desktop';
const DOCKER_SOCKET = '/var/run/docker.sock';

interface DesktopUser {
  uid: number;
  gid: number;
  launcher: Launcher;
}

/** As root: a user with no home and no shell, in the group of the engine's socket (as `usermod -aG docker` does). */
async function desktopUser(): Promise<DesktopUser> {
  if (process.getuid?.() !== 0) return { uid: process.getuid!(), gid: process.getgid!(), launcher: [] };
  const id = (flag: string) => Number(execFileSync('id', [flag, USER], { encoding: 'utf8' }));
  try {
    id('-u');
  } catch {
    const group = String((await stat(DOCKER_SOCKET)).gid);
    execFileSync(
      'useradd',
      ['--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin'].concat([
        '--groups',
        group,
        USER,
      ]),
    );
  }
  return {
    uid: id('-u'),
    gid: id('-g'),
    launcher: ['setpriv', `--reuid=${USER}`, `--regid=${USER}`, '--init-groups'],
  };
}

/** A fresh directory of that user's, as a home or a workspace would be. */
async function dirOf(user: DesktopUser, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await chown(dir, user.uid, user.gid);
  return dir;
}

const grant = { MCP_CONDUCTOR_RUN_ARGS: 'allow-read=/workspace,allow-write=/workspace' };

/** Runs one CLI command as that user to its end; its exit status and everything it printed. */
async function runCli(user: DesktopUser, args: string[], env: Record<string, string>) {
  const [command, ...rest] = [...user.launcher, process.execPath, cliPath, ...args];
  const child = spawn(command!, rest, { env: await baseEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end(); // a stdio conductor that did start ends with its input
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, output };
}

describe.skipIf(!docker)('a desktop user who is not root', () => {
  let user: DesktopUser;
  let home: string;
  beforeAll(async () => {
    user = await desktopUser();
    home = await dirOf(user, 'mcpc-home-');
  });
  afterAll(async () => {
    await expectNoLeftovers();
    // That user's conductors keep their socket directories under their own uid's base directory.
    expect(await readdir(join(tmpdir(), `mcp-conductor-${user.uid}`)).catch(() => [])).toEqual([]);
  });

  it.each(TRANSPORTS)('writes /workspace as that user, who owns the file on the host (%s)', async (kind) => {
    const workspace = await dirOf(user, 'mcpc-desk-ws-');
    const env = { ...grant, HOME: home, MCP_CONDUCTOR_WORKSPACE: workspace, MCP_CONDUCTOR_POOL_SIZE: '0' };
    const conductor = await startConductor(kind, env, undefined, user.launcher);
    try {
      const code = `await Deno.writeTextFile('/workspace/note.txt', 'from ${kind}');
        return Deno.readTextFileSync('/workspace/note.txt');`;
      const { result, isError, text } = await conductor.run(code);
      expect(isError, text).toBe(false);
      expect(result.returnValue).toBe(`from ${kind}`);
    } finally {
      await conductor.close();
    }
    const file = join(workspace, 'note.txt');
    expect(await readFile(file, 'utf8')).toBe(`from ${kind}`);
    const [st, dir] = [await stat(file), await stat(workspace)];
    expect([st.uid, st.gid]).toEqual([user.uid, user.gid]);
    // The directory is still the user's: nothing was handed to nobody.
    expect([dir.uid, dir.gid]).toEqual([user.uid, user.gid]);
  });

  it('refuses, at start-up and in the doctor, a workspace that user cannot write, saying what to do', async () => {
    // Left nobody's by an earlier run as root, say.
    const workspace = await mkdtemp(join(tmpdir(), 'mcpc-desk-ws-'));
    await chown(workspace, 65534, 65534);
    const env = { ...grant, HOME: home, MCP_CONDUCTOR_WORKSPACE: workspace };
    const owner = `${user.uid}:${user.gid}`;
    const stdio = await runCli(user, ['stdio'], env);
    expect(stdio.code).not.toBe(0);
    expect(stdio.output).toContain(`owner 65534:65534, mode 700) is not writable by ${owner}`);
    expect(stdio.output).toContain(`chown ${owner} "$MCP_CONDUCTOR_WORKSPACE"`);
    expect(stdio.output).not.toContain('conductor ready');
    const doctor = await runCli(user, ['doctor'], env);
    expect(doctor.code).toBe(1);
    expect(doctor.output).toMatch(new RegExp(`FAIL +workspace +.*not writable by ${owner}`));
    expect(doctor.output).toContain(`chown ${owner} "${workspace}"`);
    // Read-only code does not need to write it: both pass.
    const reading = await runCli(user, ['doctor'], {
      ...env,
      MCP_CONDUCTOR_RUN_ARGS: 'allow-read=/workspace',
    });
    expect(reading.output).toMatch(/ok +workspace +.*not written/);
  });
});
