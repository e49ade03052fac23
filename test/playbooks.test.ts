import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  expectNoLeftovers,
  fixturePolicy,
  repoRoot,
  startConductor,
  startHttpServer,
  TRANSPORTS,
  type Conductor,
  mcpPackage,
} from './helpers.js';

const docker = inject('docker');
const sha = (t: string) => createHash('sha256').update(t).digest('hex');

const textOf = (r: CallToolResult) => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
async function tool(client: Client, name: string, args: Record<string, unknown> = {}) {
  const r = (await client.callTool({ name, arguments: args })) as CallToolResult;
  return { text: textOf(r), isError: r.isError === true };
}
async function promptText(client: Client, name: string, args: Record<string, string>): Promise<string> {
  const content = (await client.getPrompt({ name, arguments: args })).messages[0]!.content;
  return content.type === 'text' ? content.text : '';
}

/** A saved playbook whose code calls a real upstream through mcpFactory. */
const ECHO_PLAYBOOK = {
  folder_name: 'echo-twice',
  name: 'Echo twice',
  description: 'echoes a message through the everything server, twice at once',
  content: '# Echo twice\n`await (await importPlaybook("echo-twice")).echoTwice("hi")`',
  code: [
    'export async function echoTwice(message: string): Promise<unknown[]> {',
    "  const s = await mcpFactory.load('everything');",
    "  return Promise.all([s.callTool('echo', { message }), s.callTool('echo', { message: message + '!' })]);",
    '}',
    'export const permissions = PERMISSIONS;',
  ].join('\n'),
  tags: ['mcp', 'test'],
};

describe.skipIf(!docker).each(TRANSPORTS)('playbooks over %s', (transport) => {
  let c: Conductor;
  let store: string;

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-playbooks-'));
    store = join(dir, 'playbooks');
    const secret = join(dir, 'secret.txt');
    await writeFile(secret, 'export const secret = "host file";');
    // Links planted in the store: the conductor must never read through them.
    await mkdir(join(store, 'linked-code'), { recursive: true });
    await writeFile(join(store, 'linked-code', 'playbook.md'), '---\nname: linked\n---\n');
    await symlink(secret, join(store, 'linked-code', 'playbook.ts'));
    await symlink(join(repoRoot, 'playbooks', 'csv-processing'), join(store, 'linked-folder'));
    const config = join(dir, 'mcp.json');
    await writeFile(
      config,
      JSON.stringify({
        mcpServers: {
          everything: { command: process.execPath, args: [mcpPackage('server-everything'), 'stdio'] },
        },
      }),
    );
    c = await startConductor(transport, {
      MCP_CONDUCTOR_PLAYBOOKS: store,
      MCP_CONDUCTOR_MCP_CONFIG: config,
      MCP_CONDUCTOR_RUN_ARGS: 'allow-read=/workspace',
      MCP_CONDUCTOR_POOL_SIZE: '1',
    });
  });

  afterAll(async () => {
    await c?.close();
    await expectNoLeftovers();
  });

  it('lists and shows the shipped playbooks; links planted in the store are not listed', async () => {
    const list = await tool(c.client, 'list_playbooks');
    expect(list.text.split('\n').map((l) => l.split(' ')[0])).toEqual([
      'csv-processing',
      'paginate-results',
      'parallel-mcp-calls',
    ]);
    const linked = await tool(c.client, 'get_playbook', { folder_name: 'linked-code' });
    expect(linked).toMatchObject({ isError: true });
    expect(linked.text).toContain('is a symbolic link');
    expect((await tool(c.client, 'get_playbook', { folder_name: 'linked-folder' })).text).toBe(
      'no playbook "linked-folder"',
    );
    const got = await tool(c.client, 'get_playbook', { folder_name: 'parallel-mcp-calls' });
    expect(got.text).toContain('await importPlaybook("parallel-mcp-calls")');
    expect(got.text).toContain('--- playbook.ts ---\n');
    expect(got.text).toContain('export async function callAll');
  });

  it('imports shipped playbooks: parallel calls to a real upstream, paging, CSV with the pre-cached packages', async () => {
    const r = await c.run(`
      const par = await importPlaybook('parallel-mcp-calls');
      const outcomes = await par.callAll([
        { server: 'everything', tool: 'get-sum', args: { a: 2, b: 3 } },
        { server: 'nowhere', tool: 'x' },
        { server: 'everything', tool: 'echo', args: { message: 'm' } },
      ]);
      const { paginate } = await importPlaybook('paginate-results');
      const paged = await paginate(async (cursor) => {
        const at = Number(cursor ?? 0);
        return { items: [at, at + 1, at + 2], next: at < 9 ? String(at + 3) : undefined };
      }, { maxItems: 8 });
      const csv = await importPlaybook('csv-processing');
      const rows = csv.parseCsv('region,amount\\nnorth,2\\nsouth,5\\nnorth,4\\n');
      const again = await importPlaybook('csv-processing');
      return {
        ok: outcomes.map((o) => o.ok),
        failed: outcomes[1].error,
        sum: JSON.stringify(outcomes[0].value),
        paged,
        north: csv.summarize(csv.groupBy(rows, 'region').north, 'amount'),
        sameModule: again === csv,
      };
    `);
    expect(r.text).toContain('Execution successful');
    const v = r.result.returnValue as Record<string, unknown>;
    expect(v.ok).toEqual([true, false, true]);
    expect(v.failed).toMatch(/^nowhere\.x: Unknown MCP server "nowhere"/);
    expect(v.sum).toContain('5');
    expect(v.paged).toEqual({ items: [0, 1, 2, 3, 4, 5, 6, 7], pages: 3, complete: false });
    expect(v.north).toEqual({ count: 2, sum: 6, min: 2, max: 4, mean: 3 });
    expect(v.sameModule).toBe(true);
  });

  it('saves a playbook whose code uses mcpFactory, and imports it with the caller’s permissions', async () => {
    const saved = await tool(c.client, 'create_playbook', ECHO_PLAYBOOK);
    expect(saved.text).toBe(
      'Saved playbook echo-twice. Import it with `await importPlaybook("echo-twice")`.',
    );
    expect(await readdir(join(store, 'echo-twice'))).toEqual(['playbook.md', 'playbook.ts']);
    expect((await tool(c.client, 'list_playbooks')).text).toContain(
      'echo-twice (Echo twice) — echoes a message through the everything server, twice at once [mcp, test] (saved, importPlaybook)',
    );
    const r = await c.run(`
      const m = await importPlaybook('echo-twice');
      const echoed = await m.echoTwice('hello');
      let readHost = 'refused';
      try { await Deno.readTextFile('/etc/hostname'); readHost = 'read'; } catch (e) { readHost = e.name; }
      return { echoed: JSON.stringify(echoed), perms: m.permissions, readHost };
    `);
    const v = r.result.returnValue as Record<string, unknown>;
    expect(v.echoed).toContain('Echo: hello');
    expect(v.echoed).toContain('Echo: hello!');
    expect(v.perms).toEqual({ read: ['/workspace'] });
    expect(v.readHost).toBe('NotCapable');
    const shippedOverwrite = await tool(c.client, 'create_playbook', {
      ...ECHO_PLAYBOOK,
      folder_name: 'csv-processing',
    });
    expect(shippedOverwrite).toMatchObject({ isError: true });
    expect(shippedOverwrite.text).toContain('shipped with the conductor and cannot be replaced');
  });

  it('answers hostile and missing names from the sandbox with errors naming the playbook, and keeps serving', async () => {
    await tool(c.client, 'create_playbook', {
      folder_name: 'broken',
      name: 'b',
      description: 'fails to load',
      content: 'x',
      code: 'throw new Error("boom at load");',
    });
    const r = await c.run(`
      const names = ['../x', 'a/b', 'Upper', 'a'.repeat(65), '', 'a\\0b', 'x'.repeat(300), 'nope', 'linked-code', 'broken'];
      const errors = [];
      for (const n of names) {
        try { await importPlaybook(n); errors.push('imported'); } catch (e) { errors.push(e.message); }
      }
      try { await importPlaybook(42); } catch (e) { errors.push(e.name + ': ' + e.message); }
      const s = await mcpFactory.load('everything');
      return { errors, still: JSON.stringify(await s.callTool('echo', { message: 'after' })) };
    `);
    const v = r.result.returnValue as { errors: string[]; still: string };
    const [dots, slash, upper, long, empty, nul, huge, nope, linked, broken, notString] = v.errors;
    expect(dots).toBe(
      'importPlaybook("../x"): invalid playbook name "../x": use 1-64 characters a-z, 0-9 and "-", starting with a letter or digit',
    );
    expect(slash).toContain('invalid playbook name "a/b"');
    expect(upper).toContain('invalid playbook name "Upper"');
    expect(long).toContain(`invalid playbook name "${'a'.repeat(65)}"`);
    expect(empty).toContain('importPlaybook(""): invalid playbook name ""');
    expect(nul).toContain('invalid playbook name "a\\u0000b"');
    expect(huge).toMatch(/^importPlaybook\("x{80}"\): invalid playbook: /);
    expect(nope).toBe('importPlaybook("nope"): no playbook "nope"');
    expect(linked).toContain(
      'importPlaybook("linked-code"): playbook "linked-code"\'s playbook.ts is a symbolic link',
    );
    expect(broken).toBe('importPlaybook("broken"): the playbook\'s code failed to load: boom at load');
    expect(notString).toBe('TypeError: importPlaybook: the name must be a string');
    expect(v.still).toContain('Echo: after');
  });

  it('gives a deeply frozen PERMISSIONS and WORKSPACE_DIR', async () => {
    const r = await c.run(`
      const tries = [];
      const attempt = (f) => { try { f(); tries.push('changed'); } catch (e) { tries.push(e.name); } };
      attempt(() => { PERMISSIONS.net = true; });
      attempt(() => { PERMISSIONS.read.push('/'); });
      attempt(() => { PERMISSIONS.read[0] = '/'; });
      attempt(() => { globalThis.PERMISSIONS = { read: true }; });
      attempt(() => { globalThis.WORKSPACE_DIR = '/'; });
      attempt(() => { globalThis.importPlaybook = () => 1; });
      return { tries, perms: PERMISSIONS, frozen: Object.isFrozen(PERMISSIONS) && Object.isFrozen(PERMISSIONS.read), ws: WORKSPACE_DIR };
    `);
    expect(r.result.returnValue).toEqual({
      tries: ['TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError'],
      perms: { read: ['/workspace'] },
      frozen: true,
      ws: '/workspace',
    });
  });

  it('writes the prompts from the live configuration', async () => {
    const { prompts } = await c.client.listPrompts();
    expect(prompts.map((p) => p.name).sort()).toEqual(['execute_task', 'usage_guide']);
    const task = await promptText(c.client, 'execute_task', {
      task: 'sum the sales',
      requirements: 'one call',
    });
    expect(task).toContain('Task:\nsum the sales');
    expect(task).toContain('Requirements:\none call');
    expect(task).toContain('MCP servers available: everything.');
    expect(task).toMatch(/npm:csv-parse@\^5 \(csv-parse 5\.\d+\.\d+\)/);
    expect(task).toContain('Permissions: read: /workspace');
    expect(task).toContain('Limits: 30000 ms by default');
    expect(task).toContain('- echo-twice (Echo twice)');
    const guide = await promptText(c.client, 'usage_guide', { topic: 'playbooks' });
    expect(guide).toContain('`WORKSPACE_DIR` is "/workspace"');
    expect(guide).toContain('- parallel-mcp-calls (Parallel MCP calls)');
    const { tools } = await c.client.listTools();
    const description = tools.find((t) => t.name === 'run_deno_code')!.description!;
    expect(description).toContain('await importPlaybook("folder-name")');
    expect(description).toContain('`PERMISSIONS` is the grant in force');
  });
});

describe.skipIf(!docker)('playbooks per tenant over serve', () => {
  let server: Awaited<ReturnType<typeof startHttpServer>>;
  let store: string;
  const connect = async (token: string) => {
    const client = new Client({ name: 'playbooks-test', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
      }),
    );
    return client;
  };
  const run = async (client: Client, code: string) =>
    ((await client.callTool({ name: 'run_deno_code', arguments: { deno_code: code } })) as CallToolResult)
      .structuredContent as { returnValue?: unknown };

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-playbooks-http-'));
    store = join(dir, 'playbooks');
    const tenants = join(dir, 'tenants.json');
    await writeFile(
      tenants,
      JSON.stringify({
        tenants: [
          { id: 'acme', tokenSha256: sha('acme-token'), policy: fixturePolicy('small') },
          { id: 'beta', tokenSha256: sha('beta-token'), policy: fixturePolicy('no-workspace-locked') },
        ],
      }),
    );
    server = await startHttpServer({
      MCP_CONDUCTOR_TENANTS: tenants,
      MCP_CONDUCTOR_PLAYBOOKS: store,
      MCP_CONDUCTOR_POOL_SIZE: '0',
    });
  });

  afterAll(async () => {
    await server?.stop();
    await expectNoLeftovers();
  });

  it('keeps each tenant to its own store, and honours a policy that forbids saving', async () => {
    const acme = await connect('acme-token');
    const beta = await connect('beta-token');
    const saved = await tool(acme, 'create_playbook', {
      folder_name: 'acme-only',
      name: 'Acme only',
      description: 'secret sauce',
      content: 'x',
      code: 'export const sauce = "acme";',
    });
    expect(saved.isError).toBe(false);
    expect(await readdir(store)).toEqual(['acme']);
    expect(await readdir(join(store, 'acme'))).toEqual(['acme-only']);
    expect((await tool(acme, 'list_playbooks')).text).toContain('acme-only');
    expect((await tool(beta, 'list_playbooks')).text).not.toContain('acme-only');
    expect((await tool(beta, 'get_playbook', { folder_name: 'acme-only' })).text).toBe(
      'no playbook "acme-only"',
    );
    const refused = await tool(beta, 'create_playbook', {
      folder_name: 'b',
      name: 'b',
      description: 'b',
      content: 'b',
    });
    expect(refused).toMatchObject({ isError: true });
    expect(refused.text).toBe('creating playbooks is not allowed by the policy of this conductor');
    expect(await promptText(beta, 'usage_guide', { topic: 'playbooks' })).toContain(
      'Saving new playbooks is not allowed for this caller.',
    );
    const fromAcme = await run(acme, `(await importPlaybook('acme-only')).sauce`);
    expect(fromAcme.returnValue).toBe('acme');
    const fromBeta = await run(
      beta,
      `let e = ''; try { await importPlaybook('acme-only'); } catch (x) { e = x.message; }
       ({ e, ws: WORKSPACE_DIR === undefined && 'WORKSPACE_DIR' in globalThis, perms: PERMISSIONS })`,
    );
    expect(fromBeta.returnValue).toEqual({
      e: 'importPlaybook("acme-only"): no playbook "acme-only"',
      ws: true,
      perms: {},
    });
    await acme.close();
    await beta.close();
  });

  it('type-checks code that uses the three globals against their declarations', async () => {
    const acme = await connect('acme-token');
    const check = async (code: string) =>
      (await acme.callTool(
        { name: 'run_deno_code', arguments: { deno_code: code, check: true } },
        undefined,
        { timeout: 300_000 },
      )) as CallToolResult;
    const good = await check(
      `const m = await importPlaybook<{ sauce: string }>('acme-only');\nconst dir: string | undefined = WORKSPACE_DIR;\nconst net = PERMISSIONS.net;\n({ sauce: m.sauce, dir, net: net ?? null })`,
    );
    expect(good.structuredContent).toMatchObject({
      status: 'success',
      returnValue: { sauce: 'acme', dir: '/workspace', net: null },
    });
    const bad = await check(`const n: number = WORKSPACE_DIR;\nPERMISSIONS.read = true;\nn`);
    expect(bad.structuredContent).toMatchObject({ status: 'type_error' });
    expect(textOf(bad)).toContain("Type 'string | undefined' is not assignable to type 'number'");
    expect(textOf(bad)).toContain("Cannot assign to 'read' because it is a read-only property");
    await acme.close();
  });
});
