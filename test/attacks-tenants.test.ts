import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { createHash } from 'node:crypto';
import { chown, lstat, mkdir, mkdtemp, readdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { LABEL_TENANT } from '../src/docker/index.js';
import { expectNoLeftovers, startHttpServer, waitForManaged, mcpPackage } from './helpers.js';

const docker = inject('docker');
const sha = (t: string) => createHash('sha256').update(t).digest('hex');
const asRoot = process.getuid?.() === 0;
const everything = mcpPackage('server-everything');

/** The `server` labels of one metric in a Prometheus text exposition, with their values. */
function serverLabels(metrics: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of metrics.split('\n')) {
    const m = new RegExp(`^${name}\\{.*server="([^"]*)".*\\} (\\d+)$`).exec(line);
    if (m) out.set(m[1]!, (out.get(m[1]!) ?? 0) + Number(m[2]));
  }
  return out;
}

/** A tenants file (token `<id>-token`, the default policy unless given) in a fresh directory. */
async function tenantsFile(
  entries: (string | { id: string; [field: string]: unknown })[],
): Promise<{ dir: string; tenants: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'mcpc-tenants-'));
  const tenants = join(dir, 'tenants.json');
  const list = entries.map((e) => (typeof e === 'string' ? { id: e } : e));
  await writeFile(
    tenants,
    JSON.stringify({ tenants: list.map((t) => ({ tokenSha256: sha(`${t.id}-token`), ...t })) }),
  );
  return { dir, tenants };
}

/** An SDK client of one tenant (token `<id>-token`); `run` gives the text of a run_deno_code result. */
async function connectTenant(url: string, id: string) {
  const client = new Client({ name: `attack-${id}`, version: '1' });
  const headers = { Authorization: `Bearer ${id}-token` };
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers } }),
  );
  const run = async (code: string) => {
    const r = (await client.callTool({ name: 'run_deno_code', arguments: { deno_code: code } }, undefined, {
      timeout: 300_000,
    })) as CallToolResult;
    return {
      text: r.content.map((c) => (c.type === 'text' ? c.text : '')).join(''),
      isError: r.isError === true,
    };
  };
  return { client, run };
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

  it('one tenant’s burst of large programs is refused or queued before any parsing, and another tenant runs meanwhile', async () => {
    const { dir, tenants } = await tenantsFile([{ id: 'bulk', maxConcurrent: 1, maxQueued: 2 }, 'other']);
    const server = await startHttpServer({
      MCP_CONDUCTOR_TENANTS: tenants,
      MCP_CONDUCTOR_WORKSPACE: join(dir, 'ws'),
      MCP_CONDUCTOR_POOL_SIZE: '1',
    });
    const bulk = await connectTenant(server.url, 'bulk');
    const other = await connectTenant(server.url, 'other');
    try {
      // About 1 MB (under the default policy's 1 MiB) of statements that end in a syntax error: seconds of parsing,
      // then a refusal, with no container. So whatever is parsed says so, and what is refused unparsed says that.
      const lines = 90_000;
      const big = `const a = [];\n${'a.push(1);\n'.repeat(lines)}a.length +`;
      const syntaxError = `Execution failed\n--- error ---\nSyntaxError: Unexpected token (code.ts:${lines + 2}:11)`;
      // The other tenant's first run warms its pool, so its run during the burst measures no container start.
      expect((await other.run('1 + 1')).text).toBe('Execution successful\nReturn value: 2');
      // The baseline, measured in this run: one such program alone.
      let t0 = performance.now();
      expect((await other.run(big)).text).toBe(syntaxError);
      const aloneMs = performance.now() - t0;
      await waitForManaged((l) => l.some((c) => c.state === 'running' && c.labels[LABEL_TENANT] === 'other'));

      // The burst; once 13 of its calls are answered (the conductor has read every request of it by then), the other
      // tenant's trivial run, while the burst's admitted programs are still being parsed.
      const answered: string[] = [];
      let thirteen!: () => void;
      const enough = new Promise<void>((resolve) => (thirteen = resolve));
      const burst = Array.from({ length: 16 }, () =>
        bulk.run(big).then((r) => {
          if (answered.push(r.text) === 13) thirteen();
        }),
      );
      await enough;
      t0 = performance.now();
      const trivial = await other.run('1 + 1');
      const trivialMs = performance.now() - t0;
      await Promise.all(burst);
      expect(trivial.text).toBe('Execution successful\nReturn value: 2');
      const tooMany =
        'Execution failed\n--- error ---\nToo many executions for tenant bulk: 1 running and 2 queued. Try again shortly.';
      // Refused without being parsed, at once: the first 13 answers. The one running and the two queued were parsed.
      expect(answered).toEqual([...Array<string>(13).fill(tooMany), ...Array<string>(3).fill(syntaxError)]);
      // Parsing runs off the event loop: the trivial run took well under the time parsing one of the burst's
      // programs does (it used to wait for all of the burst's parsing, which shared the event loop).
      expect(trivialMs).toBeLessThan(aloneMs / 2);
    } finally {
      await bulk.client.close();
      await other.client.close();
      await server.stop();
    }
  });

  it('server names the code makes up never become metric labels: one `unknown` series holds them all', async () => {
    const { dir, tenants } = await tenantsFile([{ id: 'acme', servers: ['everything'] }]);
    const mcpConfig = join(dir, 'mcp.json');
    await writeFile(
      mcpConfig,
      JSON.stringify({
        mcpServers: { everything: { command: process.execPath, args: [everything, 'stdio'] } },
      }),
    );
    const server = await startHttpServer({
      MCP_CONDUCTOR_TENANTS: tenants,
      MCP_CONDUCTOR_MCP_CONFIG: mcpConfig,
      MCP_CONDUCTOR_WORKSPACE: join(dir, 'ws'),
      MCP_CONDUCTOR_POOL_SIZE: '0',
    });
    const acme = await connectTenant(server.url, 'acme');
    try {
      const r = await acme.run(`
const codes = new Set();
for (let i = 0; i < 300; i++) {
  try { await mcpFactory.load('made-up-' + i); } catch (e) { codes.add(e.code); }
}
await mcpFactory.load('everything');
return [...codes];`);
      expect(r.text).toBe('Execution successful\nReturn value: ["unknown_server"]');
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).not.toContain('made-up');
      const calls = serverLabels(metrics, 'mcp_conductor_mcp_calls_total');
      expect([...calls.keys()].sort()).toEqual(['everything', 'unknown']);
      expect(calls.get('unknown')).toBe(300);
    } finally {
      await acme.client.close();
      await server.stop();
    }
  });

  it('/metrics (which names tenants) answers only to its own token when --metrics-token-file is given', async () => {
    const { dir, tenants } = await tenantsFile(['acme']);
    const tokenFile = join(dir, 'metrics-token');
    await writeFile(tokenFile, 'scrape-0123456789abcdef\n', { mode: 0o600 });
    const server = await startHttpServer(
      {
        MCP_CONDUCTOR_TENANTS: tenants,
        MCP_CONDUCTOR_WORKSPACE: join(dir, 'ws'),
        MCP_CONDUCTOR_POOL_SIZE: '0',
      },
      ['--metrics-token-file', tokenFile],
    );
    try {
      const scrape = (authorization?: string) =>
        fetch(`${server.url}/metrics`, { headers: authorization ? { authorization } : {} });
      for (const authorization of [undefined, 'Bearer wrong', 'Bearer acme-token', 'Basic c2NyYXBl']) {
        const refused = await scrape(authorization);
        expect(refused.status, authorization).toBe(401);
        expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="mcp-conductor metrics"');
        expect(await refused.text()).not.toContain('mcp_conductor_');
      }
      const ok = await scrape('Bearer scrape-0123456789abcdef');
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('mcp_conductor_active_executions');
    } finally {
      await server.stop();
    }
  });
});
