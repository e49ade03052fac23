import { createHash } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { chmod, mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostname } from 'node:os';
import { readSettings } from '../config/env.js';
import { DockerUnavailableError } from '../core/index.js';
import {
  LABEL_IMAGE_BOM,
  LABEL_IMAGE_RECIPE,
  type ContainerMount,
  type ImageInfo,
  type ListedImage,
} from '../docker/index.js';
import { freePort } from '../../test/helpers.js';
import { startTestIssuer } from '../../test/fixtures/token-issuer.js';
import type { IssuerConfig } from '../config/oauth.js';
import { describeIssuer } from '../http/index.js';
import { doctorExitCode, runDoctor, type Check, type DoctorDocker } from './doctor.js';
import { QUOTA_IN_CONTAINER } from './workspace-quota.js';
import { planImage, toCycloneDx } from '../image/index.js';
import { sandboxUser } from '../sandbox/index.js';

const paths = {
  imageDir: new URL('../../images/deno', import.meta.url).pathname,
  policiesDir: new URL('../../policies', import.meta.url).pathname,
  playbooksDir: new URL('../../playbooks', import.meta.url).pathname,
};
const architecture = process.arch === 'arm64' ? 'aarch64' : 'x86_64';

/** A fake engine for this pure logic: fixed info and a fixed list of sandbox images. */
function fakeDocker(
  images: ListedImage[],
  opts: { down?: boolean; runtimes?: string[]; containers?: Record<string, ContainerMount[]> } = {},
): DoctorDocker {
  return {
    info: () =>
      opts.down
        ? Promise.reject(new DockerUnavailableError('The Docker engine is not reachable (ENOENT)'))
        : Promise.resolve({
            serverVersion: '27.0',
            architecture,
            runtimes: opts.runtimes ?? ['runc', 'runsc'],
          }),
    inspectImage: (ref: string): Promise<ImageInfo | undefined> => {
      const i = images.find((x) => x.tags.includes(ref));
      return Promise.resolve(i && { id: i.id, labels: i.labels, sizeBytes: i.sizeBytes });
    },
    listImages: () => Promise.resolve(images),
    containerMounts: (id: string) => {
      const mounts = opts.containers?.[id];
      return Promise.resolve(mounts && { hostname: hostname(), mounts });
    },
  };
}

const image = (tag: string, labels: Record<string, string> = {}): ListedImage => ({
  id: `sha256:${tag.length}`,
  tags: [tag],
  labels,
  sizeBytes: 133_000_000,
  createdMs: 0,
});

/** server-everything, a real upstream the upstream checks start */
const everything = new URL(
  '../../node_modules/@modelcontextprotocol/server-everything/dist/index.js',
  import.meta.url,
).pathname;

/** An mcp.json holding `config`, in a directory of its own. */
async function mcpConfigFile(config: unknown): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), 'doctor-')), 'mcp.json');
  await writeFile(file, JSON.stringify(config));
  return file;
}

const bomLabel = JSON.stringify(
  toCycloneDx(
    {
      deno: { packageName: '@deno/linux-x64-glibc', version: '2.9.6', sha256: 'ab'.repeat(32) },
      packages: [
        {
          ecosystem: 'npm',
          name: 'zod',
          version: '3.25.76',
          integrity: 'sha512-AA==',
          specifiers: ['npm:zod@^3'],
          dependencies: [],
        },
        {
          ecosystem: 'jsr',
          name: '@std/path',
          version: '1.1.2',
          integrity: 'cd'.repeat(32),
          specifiers: [],
          dependencies: [],
        },
      ],
      tools: [
        {
          program: 'git',
          path: '/usr/bin/git',
          debian: { name: 'git', version: '1:2.39.5-0+deb12u3', architecture: 'amd64' },
        },
      ],
      system: [],
      distribution: 'debian',
    },
    { name: 'mcp-conductor-sandbox', version: 'x' },
  ),
);
const settings = (env: Record<string, string> = {}) => readSettings(env);
const byName = (checks: Check[], name: string) => checks.find((c) => c.name === name);
const wanted = async () => planImage({ docker: fakeDocker([]), imageDir: paths.imageDir });

describe('doctor', () => {
  it('passes, exit status 0, when the image the inputs give is there, and lists what it holds', async () => {
    const plan = await wanted();
    const checks = await runDoctor(
      fakeDocker([image(plan.tag, { [LABEL_IMAGE_BOM]: bomLabel })]),
      settings(),
      paths,
      {},
    );
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(byName(checks, 'image')?.detail).toContain(`${plan.tag} present (133.0 MB`);
    expect(byName(checks, 'packages')?.detail).toBe(
      'Deno 2.9.6; 2 package(s): npm:zod@3.25.76, jsr:@std/path@1.1.2; tools: git (deb git 1:2.39.5-0+deb12u3)',
    );
    expect(doctorExitCode(checks)).toBe(0);
  });

  it('fails the packages check for an image without a readable bill of materials', async () => {
    const plan = await wanted();
    const checks = await runDoctor(
      fakeDocker([image(plan.tag, { [LABEL_IMAGE_BOM]: '{' })]),
      settings(),
      paths,
      {},
    );
    expect(byName(checks, 'packages')).toMatchObject({
      ok: false,
      detail: expect.stringContaining('--force') as string,
    });
  });

  it('says "not built" when the repository has no image at all', async () => {
    const plan = await wanted();
    const checks = await runDoctor(fakeDocker([]), settings(), paths, {});
    expect(byName(checks, 'image')).toMatchObject({ ok: false });
    expect(byName(checks, 'image')?.detail).toMatch(/^not built: .* is missing: run `mcp-conductor image`/);
    expect(byName(checks, 'image')?.detail).toContain(plan.tag);
    expect(doctorExitCode(checks)).toBe(1);
  });

  it('says "stale (have X, inputs now give Y)" when only images of other inputs exist', async () => {
    const plan = await wanted();
    const old = 'mcp-conductor-sandbox:0123456789abcdef';
    const checks = await runDoctor(
      fakeDocker([image(old, { [LABEL_IMAGE_RECIPE]: 'other' })]),
      settings(),
      paths,
      {},
    );
    const detail = byName(checks, 'image')?.detail ?? '';
    expect(byName(checks, 'image')?.ok).toBe(false);
    expect(detail).toContain(`stale: the engine has ${old}, but the inputs now give ${plan.tag}`);
    expect(doctorExitCode(checks)).toBe(1);
  });

  it('accepts an imported image of the same recipe whose tag this host would not compute', async () => {
    const plan = await wanted();
    const imported = 'mcp-conductor-sandbox:fedcba9876543210';
    const checks = await runDoctor(
      fakeDocker([image(imported, { [LABEL_IMAGE_RECIPE]: plan.recipeHash, [LABEL_IMAGE_BOM]: bomLabel })]),
      settings(),
      paths,
      {},
    );
    expect(byName(checks, 'image')).toMatchObject({ ok: true });
    expect(byName(checks, 'image')?.detail).toContain(`${imported} present`);
    expect(byName(checks, 'image')?.detail).toContain(`a build here would give ${plan.tag}`);
    expect(byName(checks, 'packages')?.detail).toContain('npm:zod@3.25.76');
    expect(doctorExitCode(checks)).toBe(0);
  });

  it('still checks the policy, RUN_ARGS and mcp.json when Docker is down, and exits 1 saying why', async () => {
    const checks = await runDoctor(
      fakeDocker([], { down: true }),
      settings({ MCP_CONDUCTOR_POLICY: 'no-such-policy', MCP_CONDUCTOR_RUN_ARGS: 'allow-bogus' }),
      paths,
      {},
    );
    expect(byName(checks, 'docker')).toMatchObject({ ok: false });
    expect(byName(checks, 'docker')?.detail).toContain('not reachable');
    expect(byName(checks, 'policy')).toMatchObject({ ok: false });
    expect(byName(checks, 'policy')?.detail).toContain('no-such-policy');
    expect(byName(checks, 'permissions')).toMatchObject({ ok: false });
    expect(byName(checks, 'permissions')?.detail).toContain('allow-bogus');
    expect(byName(checks, 'image')?.detail).toContain('not checked');
    expect(checks.map((c) => c.name)).toEqual([
      'docker',
      'policy',
      'image',
      'permissions',
      'workspace',
      'playbooks',
      'traces',
      'mcp config',
    ]);
    expect(doctorExitCode(checks)).toBe(1);
  });

  it('fails for a workspace the sandbox user cannot write when the grant writes it, and says what to do', async () => {
    const workspace = await mkdtemp(join(tmpdir(), 'doctor-ws-'));
    await chmod(workspace, 0o500);
    const env = { MCP_CONDUCTOR_WORKSPACE: workspace, MCP_CONDUCTOR_RUN_ARGS: 'allow-write=/workspace' };
    const checks = await runDoctor(fakeDocker([], { down: true }), settings(env), paths, {});
    const user = sandboxUser();
    expect(byName(checks, 'workspace')).toMatchObject({ ok: false });
    expect(byName(checks, 'workspace')?.detail).toContain(
      `not writable by ${user.uid}:${user.gid}, the user sandboxed code runs as`,
    );
    expect(byName(checks, 'workspace')?.detail).toContain(`chown ${user.uid}:${user.gid} "${workspace}"`);
    // Read-only code does not need to write it: the same directory passes.
    const reading = await runDoctor(
      fakeDocker([], { down: true }),
      settings({ ...env, MCP_CONDUCTOR_RUN_ARGS: 'allow-read=/workspace' }),
      paths,
      {},
    );
    expect(byName(reading, 'workspace')).toMatchObject({ ok: true });
    expect(byName(reading, 'workspace')?.detail).toContain('not written');
    await chmod(workspace, 0o700);
  });

  it('with Docker down and a good config, only Docker fails', async () => {
    const checks = await runDoctor(fakeDocker([], { down: true }), settings(), paths, {});
    expect(checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['docker', 'image']);
    expect(byName(checks, 'policy')).toMatchObject({ ok: true });
  });

  it('prints the permissions in force: the policy’s own, or RUN_ARGS replacing them', async () => {
    const strict = await runDoctor(fakeDocker([]), settings({ MCP_CONDUCTOR_POLICY: 'strict' }), paths, {});
    expect(byName(strict, 'permissions')?.detail).toBe('read: /workspace (from the policy "strict")');
    const plain = await runDoctor(fakeDocker([]), settings(), paths, {});
    expect(byName(plain, 'permissions')?.detail).toMatch(/^none .*\(from the policy "default"\)$/);
    const granted = await runDoctor(
      fakeDocker([]),
      settings({ MCP_CONDUCTOR_RUN_ARGS: 'allow-read=/workspace,allow-net' }),
      paths,
      {},
    );
    expect(byName(granted, 'permissions')?.detail).toBe(
      'read: /workspace; net: any host (from MCP_CONDUCTOR_RUN_ARGS)',
    );
  });

  it('checks each tenant’s workspace against the user code runs as and its own policy’s grant', async () => {
    const root = await mkdtemp(join(tmpdir(), 'doctor-ws-'));
    const writer = join(root, 'writer.json');
    await writeFile(writer, JSON.stringify({ deno: { permissions: { write: ['/workspace'] } } }));
    const tenant = (id: string, policy: string) => ({
      id,
      tokenSha256: createHash('sha256').update(id).digest('hex'),
      policy,
    });
    const file = join(root, 'tenants.json');
    await writeFile(file, JSON.stringify({ tenants: [tenant('acme', writer), tenant('globex', 'strict')] }));
    await mkdir(join(root, 'acme'), { mode: 0o500 });
    const env = { MCP_CONDUCTOR_TENANTS: file, MCP_CONDUCTOR_WORKSPACE: root };
    const checks = await runDoctor(fakeDocker([]), settings(env), paths, {});
    expect(byName(checks, 'workspace')).toMatchObject({ ok: false });
    expect(byName(checks, 'workspace')?.detail).toContain(`the workspace (${join(root, 'acme')}, owner`);
    await chmod(join(root, 'acme'), 0o700);
    const fixed = await runDoctor(fakeDocker([]), settings(env), paths, {});
    expect(byName(fixed, 'workspace')?.detail).toMatch(
      new RegExp(
        `^${join(root, 'acme')} writable by that user; .*; ${join(root, 'globex')} does not exist yet`,
      ),
    );
  });

  it('counts the shipped playbooks and each tenant’s own, and fails a store path that is a link', async () => {
    const root = await mkdtemp(join(tmpdir(), 'doctor-pb-'));
    const tenant = (id: string, policy: string) => ({
      id,
      tokenSha256: createHash('sha256').update(id).digest('hex'),
      policy,
    });
    const file = join(root, 'tenants.json');
    await writeFile(
      file,
      JSON.stringify({ tenants: [tenant('acme', 'default'), tenant('globex', 'strict')] }),
    );
    const store = join(root, 'playbooks');
    await mkdir(join(store, 'acme', 'weekly-report'), { recursive: true });
    await mkdir(join(store, 'acme', 'Not A Name'));
    const env = { MCP_CONDUCTOR_TENANTS: file, MCP_CONDUCTOR_PLAYBOOKS: store };
    const checks = await runDoctor(fakeDocker([]), settings(env), paths, {});
    expect(byName(checks, 'playbooks')).toEqual({
      name: 'playbooks',
      ok: true,
      detail: `3 shipped (csv-processing, paginate-results, parallel-mcp-calls); tenant acme: 1 saved at ${join(store, 'acme')}, saving allowed; tenant globex: none saved yet at ${join(store, 'globex')}, saving off by policy`,
    });
    await symlink(join(store, 'acme'), join(store, 'globex'));
    const linked = await runDoctor(fakeDocker([]), settings(env), paths, {});
    expect(byName(linked, 'playbooks')).toEqual({
      name: 'playbooks',
      ok: false,
      detail: `tenant globex: ${join(store, 'globex')} is a symbolic link; the store never follows one: make it a directory`,
    });
  });

  it('checks each tenant’s policy and the runtime it needs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'doctor-'));
    const file = join(dir, 'tenants.json');
    const tenant = (id: string, policy: string) => ({
      id,
      tokenSha256: createHash('sha256').update(id).digest('hex'),
      policy,
      servers: [],
    });
    await writeFile(
      file,
      JSON.stringify({ tenants: [tenant('acme', 'default'), tenant('globex', 'strict')] }),
    );
    const env = { MCP_CONDUCTOR_TENANTS: file };
    const ok = await runDoctor(fakeDocker([]), settings(env), paths, {});
    expect(byName(ok, 'tenants')).toMatchObject({ ok: true });
    const noRunsc = await runDoctor(fakeDocker([], { runtimes: ['runc'] }), settings(env), paths, {});
    expect(byName(noRunsc, 'tenants')).toMatchObject({
      ok: false,
      detail: 'tenant globex: its policy needs the runsc runtime',
    });
    await writeFile(file, JSON.stringify({ tenants: [tenant('acme', 'nope')] }));
    const bad = await runDoctor(fakeDocker([]), settings(env), paths, {});
    expect(byName(bad, 'tenants')?.detail).toContain('tenant acme: there is no policy named "nope"');
  });

  it('with a workspace quota, checks what the host must offer and where each image stands', async () => {
    const root = await mkdtemp(join(tmpdir(), 'doctor-ws-'));
    const file = join(root, 'tenants.json');
    const tokenSha256 = createHash('sha256').update('acme').digest('hex');
    await writeFile(file, JSON.stringify({ tenants: [{ id: 'acme', tokenSha256, workspaceQuotaMb: 32 }] }));
    const env = { MCP_CONDUCTOR_TENANTS: file, MCP_CONDUCTOR_WORKSPACE: root };
    const checks = await runDoctor(fakeDocker([]), settings(env), paths, { PATH: process.env.PATH });
    if (process.getuid?.() === 0) expect(byName(checks, 'quota host')).toMatchObject({ ok: true });
    else
      expect(byName(checks, 'quota host')?.detail).toBe('workspace quotas need the conductor to run as root');
    expect(byName(checks, 'quotas')).toMatchObject({ ok: true });
    expect(byName(checks, 'quotas')?.detail).toContain(`${root}/acme: image created at start (32 MB)`);
    // Files already in the workspace would vanish under the image: the conductor refuses, and so does the doctor.
    await mkdir(join(root, 'acme'));
    await writeFile(join(root, 'acme', 'notes.txt'), 'x');
    const refused = await runDoctor(fakeDocker([]), settings(env), paths, {});
    expect(byName(refused, 'quotas')).toMatchObject({
      ok: false,
      detail: `${root}/acme has files that its quota image would hide: move them away`,
    });
    // Without any quota there is nothing to check.
    const plain = await runDoctor(fakeDocker([]), settings(), paths, {});
    expect(byName(plain, 'quotas')).toBeUndefined();
  });

  it('fails the runtimes check when the policy needs a runtime the engine lacks', async () => {
    const plan = await wanted();
    const checks = await runDoctor(
      fakeDocker([image(plan.tag)], { runtimes: ['runc'] }),
      settings({ MCP_CONDUCTOR_POLICY: 'strict' }),
      paths,
      {},
    );
    expect(byName(checks, 'runtimes')).toMatchObject({ ok: false });
    expect(byName(checks, 'runtimes')?.detail).toContain('needs the runsc runtime');
    expect(doctorExitCode(checks)).toBe(1);
  });

  // Docker down: these checks do not need it, and the image planning would only slow them.
  it('shows the egress rules in force, and fails naming the secret whose source is missing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'doctor-'));
    const policy = join(dir, 'egress.json');
    await writeFile(
      policy,
      JSON.stringify({
        egress: {
          allow: ['api.github.com', '*.example.com'],
          secrets: { GITHUB_TOKEN: { env: 'GH_TOKEN', hosts: ['api.github.com'] } },
          maxRequests: 5,
        },
      }),
    );
    const env = { MCP_CONDUCTOR_POLICY: policy };
    const ok = await runDoctor(fakeDocker([], { down: true }), settings(env), paths, {
      GH_TOKEN: 'ghp_0123456789',
    });
    expect(byName(ok, 'egress')).toMatchObject({
      ok: true,
      detail:
        'allow api.github.com, *.example.com; secrets GITHUB_TOKEN (env GH_TOKEN) → api.github.com; built-in CA store; at most 5 requests per execution, 10485760 bytes per response, 30000 ms per request',
    });
    expect(JSON.stringify(ok)).not.toContain('ghp_0123456789');
    const missing = await runDoctor(fakeDocker([], { down: true }), settings(env), paths, {});
    expect(byName(missing, 'egress')).toMatchObject({
      ok: false,
      detail: `policy "${policy}": egress secret GITHUB_TOKEN: the environment variable GH_TOKEN is not set`,
    });
    const none = await runDoctor(fakeDocker([], { down: true }), settings(), paths, {});
    expect(byName(none, 'egress')?.detail).toMatch(/^none: code reaches no HTTP\(S\) API/);
  });

  it('warns about grants that do nothing: allow-net under network none, allow-run of a program not in the image', async () => {
    const checks = await runDoctor(
      fakeDocker([], { down: true }),
      settings({ MCP_CONDUCTOR_RUN_ARGS: 'allow-net=api.github.com,allow-run=git,gh,/usr/bin/git' }),
      paths,
      {},
    );
    expect(byName(checks, 'grants')).toEqual({
      name: 'grants',
      ok: true,
      warning: true,
      detail:
        'allow-net does nothing under network "none" (the container has no network); add an egress section to reach HTTP(S) APIs; allow-run grants gh, which the image does not contain (add it to images/deno/image.json tools)',
    });
    expect(
      byName(await runDoctor(fakeDocker([], { down: true }), settings(), paths, {}), 'grants'),
    ).toBeUndefined();
  });

  describe('in a container', () => {
    const id = 'c0ffee'.padEnd(64, '0');
    // What /proc/self/mountinfo shows in a Docker container: the engine's own files for it, bind-mounted.
    const proc = (containerId: string) => (path: string) =>
      path.endsWith('mountinfo')
        ? Promise.resolve(
            `95 76 254:0 /var/lib/docker/containers/${containerId}/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw\n`,
          )
        : Promise.resolve('0::/\n');
    const env = { MCP_CONDUCTOR_SOCKET_DIR: '/srv/mcpc/sockets', MCP_CONDUCTOR_WORKSPACE: '/srv/mcpc/ws' };
    const doctor = (mounts: ContainerMount[], containerId = id) =>
      runDoctor(
        fakeDocker([], { containers: { [id]: mounts } }),
        settings(env),
        paths,
        {},
        { readProc: proc(containerId) },
      );

    it('passes when the engine mounts both at the same paths on the host', async () => {
      const checks = await doctor([{ type: 'bind', source: '/srv/mcpc', destination: '/srv/mcpc' }]);
      expect(byName(checks, 'container')).toEqual({
        name: 'container',
        ok: true,
        detail: `in container ${id.slice(0, 12)}: MCP_CONDUCTOR_SOCKET_DIR /srv/mcpc/sockets and MCP_CONDUCTOR_WORKSPACE /srv/mcpc/ws are the same paths on the host`,
      });
    });

    it('explains a path the engine would look for elsewhere, and one not mounted at all', async () => {
      const checks = await doctor([
        { type: 'volume', source: '/var/lib/docker/volumes/v/_data', destination: '/srv/mcpc/ws' },
      ]);
      const detail = byName(checks, 'container')?.detail ?? '';
      expect(byName(checks, 'container')?.ok).toBe(false);
      expect(detail).toContain('the engine resolves bind mounts on the host');
      expect(detail).toContain('MCP_CONDUCTOR_SOCKET_DIR /srv/mcpc/sockets is not mounted from the host');
      expect(detail).toContain(
        'MCP_CONDUCTOR_WORKSPACE /srv/mcpc/ws is /var/lib/docker/volumes/v/_data on the host',
      );
      expect(doctorExitCode(checks)).toBe(1);
    });

    it('refuses workspace quotas in a container, whatever the user: the mount would not reach sandboxes', async () => {
      const root = await mkdtemp(join(tmpdir(), 'doctor-ws-'));
      const file = join(root, 'tenants.json');
      const tokenSha256 = createHash('sha256').update('acme').digest('hex');
      await writeFile(file, JSON.stringify({ tenants: [{ id: 'acme', tokenSha256, workspaceQuotaMb: 32 }] }));
      const checks = await runDoctor(
        fakeDocker([], { containers: { [id]: [] } }),
        settings({ ...env, MCP_CONDUCTOR_TENANTS: file }),
        paths,
        { PATH: process.env.PATH },
        { readProc: proc(id) },
      );
      expect(byName(checks, 'quota host')).toEqual({
        name: 'quota host',
        ok: false,
        detail: QUOTA_IN_CONTAINER,
      });
      expect(doctorExitCode(checks)).toBe(1);
    });

    it('says it cannot check in a container the engine does not know', async () => {
      const checks = await doctor([], 'feed'.padEnd(64, '0'));
      expect(byName(checks, 'container')?.ok).toBe(true);
      expect(byName(checks, 'container')?.detail).toMatch(/^in a container the engine does not know/);
    });
  });
});

describe('doctor: the identity provider of the tenants file', () => {
  it('reaches each issuer (discovery or jwksUri) and says what it found, or why not', async () => {
    const idp = await startTestIssuer('ES256');
    const down = `http://127.0.0.1:${await freePort()}`;
    const dir = await mkdtemp(join(tmpdir(), 'doctor-'));
    const file = join(dir, 'tenants.json');
    await writeFile(
      file,
      JSON.stringify({
        oauth: {
          audience: 'https://mcp.example.com/mcp',
          tenantClaim: 'azp',
          issuers: [
            { issuer: idp.issuer },
            { issuer: down },
            { issuer: 'https://x.example', jwksUri: idp.jwksUri },
          ],
        },
        tenants: [{ id: 'acme' }],
      }),
    );
    const probe = (issuer: IssuerConfig) => describeIssuer(issuer, { timeoutMs: 1_000 });
    const checks = await runDoctor(
      fakeDocker([]),
      settings({ MCP_CONDUCTOR_TENANTS: file }),
      paths,
      {},
      { issuer: probe },
    );
    expect(byName(checks, 'tenants')?.detail).toBe(
      '1 tenant(s): acme (policy default, its own permissions, OAuth only)',
    );
    expect(checks.filter((c) => c.name === 'oauth')).toEqual([
      {
        name: 'oauth',
        ok: true,
        detail: `${idp.issuer}: discovery found JWKS ${idp.jwksUri} with 1 key(s): ${idp.currentKid()} ES256; audience https://mcp.example.com/mcp, tenant from "azp"`,
      },
      { name: 'oauth', ok: false, detail: `${down}/.well-known/openid-configuration: unreachable` },
      {
        name: 'oauth',
        ok: true,
        detail: expect.stringMatching(
          /^https:\/\/x\.example: JWKS http:\/\/127\.0\.0\.1:\d+\/jwks with 1 key/,
        ) as string,
      },
    ]);
    await idp.close();
  });

  it('starts each upstream server and fails one whose command does not exist; warns about the VS Code shape', async () => {
    const file = await mcpConfigFile({
      servers: {
        everything: { type: 'stdio', command: process.execPath, args: [everything, 'stdio'] },
        gh: { command: 'mcp-server-that-is-not-installed', args: [] },
      },
    });
    const checks = await runDoctor(
      fakeDocker([], { down: true }),
      settings({ MCP_CONDUCTOR_MCP_CONFIG: file }),
      paths,
      {
        PATH: process.env.PATH,
      },
    );
    expect(byName(checks, 'mcp config')).toEqual({
      name: 'mcp config',
      ok: true,
      warning: true,
      detail:
        '2 upstream server(s): everything, gh; it uses VS Code\'s "servers" key: read as "mcpServers" (the Claude Desktop name)',
    });
    expect(checks.filter((c) => c.name === 'upstream')).toEqual([
      {
        name: 'upstream',
        ok: true,
        detail: expect.stringMatching(/^"everything" answers: \d+ tool\(s\) \(started with /) as string,
      },
      {
        name: 'upstream',
        ok: false,
        detail:
          'could not start MCP server "gh": command not found (or its working directory does not exist)',
      },
    ]);
    expect(doctorExitCode(checks)).toBe(1);
  }, 30_000);

  it('fails a broken mcp.json entry by name, says a disabled one is skipped, and still checks the good one', async () => {
    const file = await mcpConfigFile({
      mcpServers: {
        everything: { command: process.execPath, args: [everything, 'stdio'], transport: 'stdio' },
        broken: { type: 'sse', command: 'x' },
        off: { command: 'mcp-server-that-is-not-installed', disabled: true },
      },
    });
    const checks = await runDoctor(
      fakeDocker([], { down: true }),
      settings({ MCP_CONDUCTOR_MCP_CONFIG: file }),
      paths,
      { PATH: process.env.PATH },
    );
    expect(byName(checks, 'mcp config')).toEqual({
      name: 'mcp config',
      ok: true,
      warning: true,
      detail: '1 upstream server(s): everything; server "off" is disabled ("disabled": true): skipped',
    });
    expect(checks.filter((c) => c.name === 'upstream')).toEqual([
      {
        name: 'upstream',
        ok: false,
        detail:
          'server "broken" is off (its entry is invalid; the other servers still work): mcpServers.broken: "sse" is a server at a "url": "command" is for one the conductor starts',
      },
      {
        name: 'upstream',
        ok: true,
        detail: expect.stringMatching(/^"everything" answers: \d+ tool\(s\)/) as string,
      },
    ]);
    expect(doctorExitCode(checks)).toBe(1);
  }, 30_000);

  it('reports the tracing configuration and whether the endpoint takes a connection', async () => {
    const traces = async (env: Record<string, string>) =>
      byName(await runDoctor(fakeDocker([], { down: true }), settings(env), paths, env), 'traces');
    expect(await traces({})).toEqual({
      name: 'traces',
      ok: true,
      detail: 'off (set OTEL_EXPORTER_OTLP_ENDPOINT to export traces)',
    });
    expect(
      await traces({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1', OTEL_SDK_DISABLED: 'true' }),
    ).toMatchObject({ ok: true, detail: 'off (OTEL_SDK_DISABLED=true)' });

    const collector = createServer((socket) => socket.end());
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    const { port } = collector.address() as AddressInfo;
    try {
      expect(
        await traces({
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
          OTEL_SERVICE_NAME: 'agents',
          OTEL_BSP_SCHEDULE_DELAY: '1000',
        }),
      ).toEqual({
        name: 'traces',
        ok: true,
        detail: `http://127.0.0.1:${port}/v1/traces (http/protobuf, service.name agents) accepts connections; batches every 1000 ms`,
      });
    } finally {
      await new Promise((r) => collector.close(r));
    }
    // The same port, now closed: nothing listens there.
    expect(
      await traces({
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${port}/t`,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      }),
    ).toEqual({
      name: 'traces',
      ok: false,
      detail: `http://127.0.0.1:${port}/t (http/json, service.name mcp-conductor) does not accept a connection (ECONNREFUSED): spans would be lost`,
    });
  });
});
